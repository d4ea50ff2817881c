"""Keepalives with real OpenSSH: sshd answers our ``keepalive@openssh.com``
probes (the session stays up), our keepalive drops an sshd that went silent
(behind a relay that stops forwarding) within interval x (count + 1);
OpenSSH's ``ssh -o ServerAliveInterval`` is answered by our server, and
sshd's ``ClientAliveInterval`` probes are answered by our client."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ssh_keys
from ssh_transport import Transport
from ssh_wire import SSHException
from support.peers import missing_peer, need_program
from support.polling import wait_until
from support.sshd import SSHD, sshd_available, start_sshd
from support.sshserver import ExecServer, serve
from support.stall_relay import StallRelay

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def login(host: str, port: int, sshd: SSHD) -> Transport:
    t = Transport(socket.create_connection((host, port)))
    t.start_client(timeout=20)
    t.auth_publickey(sshd.user, ssh_keys.Ed25519Key.from_private_key_file(str(sshd.client_keys["ed25519"])))
    return t


def run(t: Transport, command: str) -> bytes:
    chan = t.open_session(timeout=10)
    chan.settimeout(20)
    chan.exec_command(command)
    out = b""
    while data := chan.recv(4096):
        out += data
    chan.close()
    return out


def test_sshd_answers_our_keepalives_and_the_session_stays_up(sshd: SSHD) -> None:
    t = login(sshd.host, sshd.port, sshd)
    try:
        t.set_keepalive(0.3, max_missed=2)
        # unanswered, the session would be dropped after 0.6-0.9 s
        time.sleep(2.5)
        assert t.is_active()
        assert run(t, "echo alive") == b"alive\n"
    finally:
        t.close()


def test_our_keepalive_drops_an_sshd_that_went_silent(sshd: SSHD) -> None:
    with StallRelay((sshd.host, sshd.port)) as relay:
        t = login(relay.host, relay.port, sshd)
        try:
            assert run(t, "echo before") == b"before\n"
            interval, count = 0.4, 3
            t.set_keepalive(interval, max_missed=count)
            time.sleep(1.0)  # probes answered meanwhile
            assert t.is_active()
            relay.stall()
            t0 = time.monotonic()
            assert wait_until(lambda: not t.is_active(), interval * (count + 1) + 2)
            took = time.monotonic() - t0
            assert interval * (count - 1) <= took <= interval * (count + 1) + 1.0
            assert "keepalive" in str(t.get_exception())
            with pytest.raises(SSHException, match="keepalive"):
                t.open_session()
        finally:
            t.close()


def test_openssh_server_alive_interval_is_answered_by_our_server(sshd: SSHD) -> None:
    ssh = need_program("ssh")
    key = ssh_keys.Ed25519Key.from_private_key_file(str(sshd.client_keys["ed25519"]))
    host_key = ssh_keys.Ed25519Key.generate()
    with serve([host_key], make_server=lambda: ExecServer(authorized=[key])) as server:
        known = sshd.workdir / f"known_hosts_ours.{server.port}"
        known.write_text(f"[127.0.0.1]:{server.port} {host_key.get_name()} {host_key.get_base64()}\n")
        started = time.monotonic()
        # Unanswered, ssh gives up ("Timeout, server not responding") after ~2 s.
        proc = subprocess.run(
            [
                ssh,
                "-F",
                "/dev/null",
                "-p",
                str(server.port),
                "-i",
                str(sshd.client_keys["ed25519"]),
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ServerAliveInterval=1",
                "-o",
                "ServerAliveCountMax=1",
                "tester@127.0.0.1",
                "sleep 4; echo done",
            ],
            capture_output=True,
            timeout=40,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert proc.stdout == b"done\n"
        assert time.monotonic() - started >= 4
        assert b"not responding" not in proc.stderr


@pytest.fixture(scope="module")
def impatient_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """An sshd that probes its clients every second and drops one that misses one."""
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed (apt-get install openssh-server)")
    workdir: Path = tmp_path_factory.mktemp("sshd-alive")
    with start_sshd(
        workdir,
        ["ClientAliveInterval 1", "ClientAliveCountMax 1"],
        host_key_types=("ed25519",),
        client_key_types=("ed25519",),
    ) as server:
        yield server


def test_sshd_client_alive_probes_are_answered_by_our_client(impatient_sshd: SSHD) -> None:
    t = login(impatient_sshd.host, impatient_sshd.port, impatient_sshd)
    try:
        # an idle session: sshd asks every second, and would hang up after ~2 s unanswered
        time.sleep(3.5)
        assert t.is_active()
        assert run(t, "echo still") == b"still\n"
    finally:
        t.close()
    assert "not responding" not in impatient_sshd.log()
