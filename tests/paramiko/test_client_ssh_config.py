"""``SSHClient.load_ssh_config``: ``ServerAliveInterval`` and
``ServerAliveCountMax`` of the host's section drive the keepalive (a silent
server is dropped within interval x count), explicit ``connect`` keywords win
over the file, and an ``SSHConfig`` object can be handed over as Fabric
holds one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import paramiko
from support.polling import wait_until
from support.stall_relay import Setup, relayed_server

pytestmark = pytest.mark.timeout(30)

CONFIG = "Host 127.0.0.1\n    ServerAliveInterval 1\n    ServerAliveCountMax 1\nHost *\n    ServerAliveInterval 60\n"


@pytest.fixture
def client() -> Iterator[paramiko.SSHClient]:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def setup() -> Iterator[Setup]:
    with relayed_server() as s:
        yield s


def login(**kwargs: Any) -> dict[str, Any]:
    return {"username": "bob", "password": "pw", "allow_agent": False, "look_for_keys": False, **kwargs}


def test_config_file_drops_a_silent_server(client: paramiko.SSHClient, setup: Setup, tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(CONFIG)
    config = client.load_ssh_config(path)
    assert config.lookup("127.0.0.1")["serveraliveinterval"] == "1"
    client.connect(setup.relay.host, setup.relay.port, **login())
    t = client.get_transport()
    assert t is not None
    assert wait_until(lambda: "keepalive@openssh.com" in setup.server_ifaces[0].globals, 5)
    assert t.is_active()  # answered
    setup.relay.stall()
    assert wait_until(lambda: not t.is_active(), 1 * (1 + 1) + 2)
    with pytest.raises(paramiko.SSHException):
        client.exec_command("true")


def test_config_object_as_fabric_holds_it(client: paramiko.SSHClient, setup: Setup) -> None:
    client.load_ssh_config(paramiko.SSHConfig.from_text(CONFIG))
    client.connect(setup.relay.host, setup.relay.port, **login())
    t = client.get_transport()
    assert t is not None
    setup.relay.stall()
    assert wait_until(lambda: not t.is_active(), 1 * (1 + 1) + 2)


def test_explicit_keywords_win(client: paramiko.SSHClient, setup: Setup) -> None:
    client.load_ssh_config(paramiko.SSHConfig.from_text(CONFIG))
    client.connect(setup.relay.host, setup.relay.port, keepalive_interval=30, **login())
    time.sleep(1.5)  # past the file's interval: no request with ours
    assert setup.server_ifaces[0].globals == []


def test_other_hosts_sections_do_not_apply(client: paramiko.SSHClient, setup: Setup) -> None:
    client.load_ssh_config(paramiko.SSHConfig.from_text("Host elsewhere\n    ServerAliveInterval 1\n"))
    client.connect(setup.relay.host, setup.relay.port, **login())
    time.sleep(1.5)
    assert setup.server_ifaces[0].globals == []


def test_default_config_path(client: paramiko.SSHClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert client.load_ssh_config().lookup("x").get("serveraliveinterval") is None  # no file: empty
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(CONFIG)
    assert client.load_ssh_config().lookup("127.0.0.1")["serveralivecountmax"] == "1"
