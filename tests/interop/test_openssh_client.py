"""OpenSSH's ``ssh`` against our server ``Transport`` (``support.sshserver``):
exec with output and exit status for each kex, cipher, MAC and host key
type; publickey, password and keyboard-interactive logins; ``ssh -L`` and
``ssh -R`` forwarding; compression and rekeying driven by OpenSSH."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from ssh_transport.protocol.ciphers import CIPHERS
from ssh_transport.protocol.kex import KEX_ALGORITHMS
from ssh_transport.protocol.macs import MACS
from support.peers import need_program
from support.sshd import free_port, keygen
from support.sshserver import ExecServer, RunningServer, serve

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

OPENSSH_KEX = [k for k in KEX_ALGORITHMS if not k.startswith("mlkem")]


@dataclass
class Setup:
    """Our running server and what ``ssh`` needs to reach it."""

    server: RunningServer
    keys: dict[str, Path]
    known_hosts: Path

    def args(self, kind: str = "ed25519", *extra: str, batch: bool = True) -> list[str]:
        """Arguments for ``ssh`` to log in to our server with client key ``kind``."""
        args = [
            "ssh",
            "-F",
            "/dev/null",
            "-p",
            str(self.server.port),
            "-i",
            str(self.keys[kind]),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            f"BatchMode={'yes' if batch else 'no'}",
            *extra,
        ]
        return args

    def run(
        self,
        *extra: str,
        command: str = "echo out; echo err >&2; exit 7",
        kind: str = "ed25519",
        stdin: bytes = b"",
        batch: bool = True,
        prefix: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``ssh`` with ``extra`` options and ``command``."""
        return subprocess.run(
            [*prefix, *self.args(kind, *extra, batch=batch), "tester@127.0.0.1", command],
            input=stdin,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    need_program("ssh")
    need_program("ssh-keygen")
    work = tmp_path_factory.mktemp("ourserver")
    keys = {k: keygen(work / f"client_{k}", k) for k in ("ed25519", "ecdsa", "rsa")}
    authorized = [ssh_keys.PKey.from_private_key_file(str(p)) for p in keys.values()]
    host_keys = [ssh_keys.Ed25519Key.generate(), ssh_keys.ECDSAKey.generate(), ssh_keys.RSAKey.generate(2048)]

    def configure(t: Any) -> None:
        t.get_security_options().kex = tuple(KEX_ALGORITHMS)
        t.get_security_options().ciphers = tuple(CIPHERS)
        t.get_security_options().digests = tuple(MACS)
        t.get_security_options().key_types = (
            "ssh-ed25519",
            "ecdsa-sha2-nistp256",
            "rsa-sha2-512",
            "rsa-sha2-256",
            "ssh-rsa",
        )
        t.use_compression()

    with serve(host_keys, lambda: ExecServer(password="secret", authorized=authorized), configure) as running:
        known = work / "known_hosts"
        known.write_text("".join(f"[127.0.0.1]:{running.port} {k.get_name()} {k.get_base64()}\n" for k in host_keys))
        yield Setup(running, keys, known)


def _ok(r: subprocess.CompletedProcess[bytes]) -> None:
    assert r.stdout == b"out\n", r.stderr
    assert r.stderr.endswith(b"err\n"), r.stderr
    assert r.returncode == 7


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_publickey_exec(setup: Setup, kind: str) -> None:
    _ok(setup.run(kind=kind))


@pytest.mark.parametrize("kex", OPENSSH_KEX)
def test_each_kex(setup: Setup, kex: str) -> None:
    _ok(setup.run("-o", f"KexAlgorithms={kex}"))


@pytest.mark.parametrize("cipher", list(CIPHERS))
def test_each_cipher(setup: Setup, cipher: str) -> None:
    r = setup.run("-c", cipher, command="cat", stdin=b"x" * 300000)
    assert r.returncode == 0 and r.stdout == b"x" * 300000, r.stderr


@pytest.mark.parametrize("mac", list(MACS))
def test_each_mac(setup: Setup, mac: str) -> None:
    _ok(setup.run("-c", "aes128-ctr", "-m", mac))


@pytest.mark.parametrize("alg", ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"])
def test_each_host_key_type(setup: Setup, alg: str) -> None:
    _ok(setup.run("-o", f"HostKeyAlgorithms={alg}"))


def test_password_login(setup: Setup) -> None:
    sshpass = need_program("sshpass")
    r = setup.run(
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "PubkeyAuthentication=no",
        batch=False,
        prefix=(sshpass, "-p", "secret"),
    )
    _ok(r)
    bad = setup.run(
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "NumberOfPasswordPrompts=1",
        batch=False,
        prefix=(sshpass, "-p", "wrong"),
    )
    assert bad.returncode != 0 and bad.stdout == b""


def test_keyboard_interactive_login(setup: Setup) -> None:
    sshpass = need_program("sshpass")
    r = setup.run(
        "-o",
        "PreferredAuthentications=keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
        batch=False,
        prefix=(sshpass, "-p", "secret"),
    )
    _ok(r)


def test_strict_kex_and_compression_with_openssh(setup: Setup) -> None:
    r = setup.run("-C", "-v", command="head -c 200000 /dev/zero | tr '\\0' a")
    assert r.returncode == 0 and r.stdout == b"a" * 200000
    core = setup.server.transports[-1]._core
    assert core is not None and core.neg.strict
    assert b"compression: zlib@openssh.com" in r.stderr


def _ok_verbose(r: subprocess.CompletedProcess[bytes]) -> None:
    """As ``_ok`` when ``-v`` debug lines follow the command's stderr."""
    assert (r.stdout, r.returncode) == (b"out\n", 7) and b"\nerr\n" in r.stderr


def test_openssh_sees_strict_kex_and_server_sig_algs(setup: Setup) -> None:
    r = setup.run("-vvv")
    _ok_verbose(r)
    assert b"will use strict KEX ordering" in r.stderr
    assert b"kex_input_ext_info: server-sig-algs=<ssh-ed25519" in r.stderr
    assert setup.server.transports[-1].agreed_on_strict_kex


def test_server_without_strict_kex_or_server_sig_algs(setup: Setup) -> None:
    """Transport(strict_kex=False, server_sig_algs=False) as paramiko: no
    strict-kex marker, no EXT_INFO; OpenSSH still logs in."""

    def configure(t: Any) -> None:
        t.advertise_strict_kex = False
        t.server_sig_algs = False

    authorized = [ssh_keys.PKey.from_private_key_file(str(setup.keys["ed25519"]))]
    host_key = ssh_keys.Ed25519Key.generate()
    with serve([host_key], lambda: ExecServer(authorized=authorized), configure) as running:
        known = setup.known_hosts.with_name("known_hosts_nostrict")
        known.write_text(f"[127.0.0.1]:{running.port} {host_key.get_name()} {host_key.get_base64()}\n")
        r = Setup(running, setup.keys, known).run("-vvv")
        _ok_verbose(r)
        assert b"kex-strict-s-v00@openssh.com" not in r.stderr
        assert b"will use strict KEX ordering" not in r.stderr
        assert b"SSH2_MSG_EXT_INFO received" not in r.stderr
        assert not running.transports[-1].agreed_on_strict_kex


def test_openssh_initiated_rekey(setup: Setup) -> None:
    blob = os.urandom(1 << 22)
    r = setup.run("-o", "RekeyLimit=256K", "-v", command="sha256sum", stdin=blob)
    assert r.returncode == 0
    assert r.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    assert r.stderr.count(b"SSH2_MSG_KEXINIT sent") >= 5


def _echo_server() -> tuple[socket.socket, int]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(5)

    def loop() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return

            def echo(c: socket.socket) -> None:
                with c:
                    while True:
                        d = c.recv(65536)
                        if not d:
                            return
                        c.sendall(d)

            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return lsock, lsock.getsockname()[1]


def _roundtrip(port: int, data: bytes, attempts: int = 100) -> bytes:
    for _ in range(attempts):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                got = bytearray()
                while True:
                    d = s.recv(65536)
                    if not d:
                        return bytes(got)
                    got += d
        except (ConnectionRefusedError, ConnectionResetError):
            time.sleep(0.1)
    raise AssertionError("forwarded port never answered")


def _ssh_forward(setup: Setup, *forward: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*setup.args("ed25519", "-N", "-o", "ExitOnForwardFailure=yes", *forward), "tester@127.0.0.1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_local_forward_through_direct_tcpip(setup: Setup) -> None:
    lsock, echo_port = _echo_server()
    local = free_port()
    proc = _ssh_forward(setup, "-L", f"{local}:127.0.0.1:{echo_port}")
    try:
        data = os.urandom(500000)
        assert _roundtrip(local, data) == data
    finally:
        proc.terminate()
        proc.wait(10)
        lsock.close()
    assert any(e == f"direct-tcpip:{echo_port}" for s in setup.server.servers for e in s.events)


def test_remote_forward_through_tcpip_forward(setup: Setup) -> None:
    lsock, echo_port = _echo_server()
    remote = free_port()
    proc = _ssh_forward(setup, "-R", f"{remote}:127.0.0.1:{echo_port}")
    try:
        data = os.urandom(300000)
        assert _roundtrip(remote, data) == data
    finally:
        proc.terminate()
        proc.wait(10)
        lsock.close()
    assert any(e == f"tcpip-forward:{remote}" for s in setup.server.servers for e in s.events)
