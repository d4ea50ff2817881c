"""``SSHClient.connect``'s timeouts hold against servers that misbehave
(``banner_timeout`` against one that never sends its banner, ``timeout``
against one that stops after it, ``auth_timeout`` against one that never
answers a login, ``channel_timeout`` against one that goes silent), and its
``keepalive_interval``/``keepalive_count_max`` (OpenSSH's
``ServerAliveInterval``/``ServerAliveCountMax``) drop a silent server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import paramiko
from support.polling import wait_until
from support.silent_peer import silent_listener
from support.stall_relay import QuietServer, Setup, relayed_server

pytestmark = pytest.mark.timeout(30)

SLACK = 1.0


@pytest.fixture
def client() -> Iterator[paramiko.SSHClient]:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        yield c
    finally:
        c.close()


def login(**kwargs: Any) -> dict[str, Any]:
    return {"username": "bob", "password": "pw", "allow_agent": False, "look_for_keys": False, **kwargs}


def test_banner_timeout_against_a_server_that_never_sends_its_banner(client: paramiko.SSHClient) -> None:
    with silent_listener() as (_, port):
        t0 = time.monotonic()
        with pytest.raises(paramiko.SSHException, match="Error reading SSH protocol banner"):
            client.connect("127.0.0.1", port, **login(banner_timeout=1))
        assert 0.9 <= time.monotonic() - t0 < 1 + SLACK
        assert client.get_transport() is None


def test_timeout_bounds_a_negotiation_that_never_finishes(client: paramiko.SSHClient) -> None:
    with silent_listener(b"SSH-2.0-OpenSSH_9.2\r\n") as (_, port):
        t0 = time.monotonic()
        with pytest.raises(paramiko.SSHException):
            client.connect("127.0.0.1", port, **login(timeout=1))
        assert time.monotonic() - t0 < 1 + SLACK


class StuckLogin(QuietServer):
    """Never answers a password: the hook blocks until released."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def check_auth_password(self, username: str, password: str) -> int:
        self.release.wait(20)
        return paramiko.AUTH_FAILED


def test_auth_timeout_against_a_server_that_never_answers_a_login(client: paramiko.SSHClient) -> None:
    release = threading.Event()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    server_t: list[paramiko.Transport] = []

    def serve_one() -> None:
        conn, _ = lsock.accept()
        st = paramiko.Transport(conn)
        st.add_server_key(paramiko.Ed25519Key.generate())
        server_t.append(st)
        with contextlib.suppress(paramiko.SSHException):
            st.start_server(server=StuckLogin(release))

    threading.Thread(target=serve_one, daemon=True).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(paramiko.AuthenticationException, match="timeout"):
            client.connect("127.0.0.1", lsock.getsockname()[1], **login(auth_timeout=1))
        assert 0.9 <= time.monotonic() - t0 < 1 + SLACK + 0.5  # + the key exchange
    finally:
        release.set()
        lsock.close()
        for st in server_t:
            st.close()


@pytest.fixture
def setup() -> Iterator[Setup]:
    with relayed_server() as s:
        yield s


def test_channel_timeout_when_the_server_goes_silent(client: paramiko.SSHClient, setup: Setup) -> None:
    client.connect(setup.relay.host, setup.relay.port, **login(channel_timeout=0.5))
    setup.relay.stall()
    t0 = time.monotonic()
    with pytest.raises(paramiko.SSHException, match="Timeout opening channel"):
        client.exec_command("true")
    assert time.monotonic() - t0 < 0.5 + SLACK


def test_exec_command_timeout_applies_to_reads(client: paramiko.SSHClient, setup: Setup) -> None:
    client.connect(setup.relay.host, setup.relay.port, **login())
    _, stdout, _ = client.exec_command("true", timeout=0.5)
    setup.relay.stall()
    t0 = time.monotonic()
    with pytest.raises(socket.timeout):
        stdout.read()
    assert time.monotonic() - t0 < 0.5 + SLACK


def test_keepalive_keywords_drop_a_silent_server(client: paramiko.SSHClient, setup: Setup) -> None:
    client.connect(
        setup.relay.host,
        setup.relay.port,
        keepalive_interval=0.2,
        keepalive_count_max=2,
        **login(),
    )
    t = client.get_transport()
    assert t is not None
    time.sleep(0.8)  # answered: still up
    assert t.is_active()
    assert set(setup.server_ifaces[0].globals) == {"keepalive@openssh.com"}
    setup.relay.stall()
    assert wait_until(lambda: not t.is_active(), 0.2 * 3 + 2)
    with pytest.raises(paramiko.SSHException):
        client.exec_command("true")


def test_no_keepalive_unless_asked(client: paramiko.SSHClient, setup: Setup) -> None:
    client.connect(setup.relay.host, setup.relay.port, **login())
    time.sleep(0.5)
    assert setup.server_ifaces[0].globals == []
