"""Our client ``Transport`` against OpenSSH's sshd: every client key type,
every kex, cipher, MAC and host key type forced one at a time, strict kex,
host key checking, compression, rekeying and many channels."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from ssh_transport import Transport
from ssh_transport.protocol.ciphers import CIPHERS
from ssh_transport.protocol.kex import KEX_ALGORITHMS
from ssh_transport.protocol.macs import MACS
from ssh_wire import SSHException
from support.peers import missing_peer
from support.sshd import SSHD, sshd_available, start_sshd

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

# OpenSSH 9.2 has no ML-KEM: that kex is tested ours-vs-ours.
SSHD_KEX = [k for k in KEX_ALGORITHMS if not k.startswith("mlkem")]
LEGACY_CONFIG = [
    "KexAlgorithms +diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1",
    "Ciphers +aes128-cbc,aes192-cbc,aes256-cbc,3des-cbc",
    "MACs +hmac-md5,hmac-md5-etm@openssh.com",
    "HostKeyAlgorithms +ssh-rsa",
    "PubkeyAcceptedAlgorithms +ssh-rsa",
]


@pytest.fixture(scope="module")
def legacy_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """An sshd that also allows the legacy algorithms (SHA-1, CBC, MD5)."""
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed")
    with start_sshd(tmp_path_factory.mktemp("legacy-sshd"), LEGACY_CONFIG) as server:
        yield server


def known_key(sshd: SSHD, kind: str) -> Any:
    """The server's host key of ``kind`` as known_hosts has it."""
    keys = ssh_keys.HostKeys(str(sshd.known_hosts)).lookup(f"[{sshd.host}]:{sshd.port}")
    assert keys is not None
    name = {"ed25519": "ssh-ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "ssh-rsa"}[kind]
    return keys[name]


def connect(
    sshd: SSHD,
    kind: str = "ed25519",
    configure: Callable[[Transport], None] | None = None,
    host_kind: str | None = None,
) -> Transport:
    """Connect, check the host key against known_hosts, log in with client key ``kind``."""
    t = Transport((sshd.host, sshd.port))
    if configure is not None:
        configure(t)
    try:
        key = ssh_keys.PKey.from_private_key_file(str(sshd.client_keys[kind]))
        expected = known_key(sshd, host_kind) if host_kind else None
        t.connect(hostkey=expected, username=sshd.user, pkey=key)
        if expected is None:
            got = t.get_remote_server_key()
            keys = ssh_keys.HostKeys(str(sshd.known_hosts)).lookup(f"[{sshd.host}]:{sshd.port}")
            assert keys is not None and keys[got.get_name()] == got
        assert t.is_authenticated()
    except BaseException:
        t.close()
        raise
    return t


def run(t: Transport, command: str, stdin: bytes = b"") -> tuple[bytes, bytes, int]:
    """Run ``command``; its stdout, stderr and exit status."""
    chan = t.open_session()
    try:
        assert chan.exec_command(command)

        def feed() -> None:
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()

        feeder = threading.Thread(target=feed)
        feeder.start()
        out = bytearray()
        while True:
            d = chan.recv(1 << 20)
            if not d:
                break
            out += d
        err = bytearray()
        while True:
            d = chan.recv_stderr(65536)
            if not d:
                break
            err += d
        feeder.join(60)
        return bytes(out), bytes(err), chan.recv_exit_status()
    finally:
        chan.close()


def check_exec(t: Transport) -> None:
    out, err, status = run(t, "echo out; echo err >&2; exit 5")
    assert (out, err, status) == (b"out\n", b"err\n", 5)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_publickey_auth_and_exec(sshd: SSHD, kind: str) -> None:
    t = connect(sshd, kind)
    try:
        check_exec(t)
        assert t._core is not None and t._core.neg.strict
        if kind == "rsa":
            ca = t._core.client_auth
            assert ca is not None and ca.server_sig_algs and "rsa-sha2-512" in ca.server_sig_algs
    finally:
        t.close()
    if kind == "rsa":
        assert "Accepted publickey" in sshd.log()


@pytest.mark.parametrize("kex", SSHD_KEX)
def test_each_kex(sshd: SSHD, legacy_sshd: SSHD, kex: str) -> None:
    server = legacy_sshd if KEX_ALGORITHMS[kex].legacy else sshd

    def configure(t: Transport) -> None:
        t.get_security_options().kex = (kex,)

    t = connect(server, configure=configure)
    try:
        assert t._core is not None and t._core.neg.negotiated is not None
        assert t._core.neg.negotiated.kex == kex
        check_exec(t)
    finally:
        t.close()


@pytest.mark.parametrize("cipher", list(CIPHERS))
def test_each_cipher(sshd: SSHD, legacy_sshd: SSHD, cipher: str) -> None:
    server = legacy_sshd if CIPHERS[cipher].legacy else sshd

    def configure(t: Transport) -> None:
        t.get_security_options().ciphers = (cipher,)

    t = connect(server, configure=configure)
    try:
        assert t._core is not None and t._core.negotiated_cipher == cipher
        check_exec(t)
        out, _, _ = run(t, "cat", b"0123456789" * 20000)
        assert out == b"0123456789" * 20000
    finally:
        t.close()


@pytest.mark.parametrize("mac", list(MACS))
def test_each_mac(sshd: SSHD, legacy_sshd: SSHD, mac: str) -> None:
    server = legacy_sshd if MACS[mac].legacy else sshd

    def configure(t: Transport) -> None:
        t.get_security_options().ciphers = ("aes128-ctr",)
        t.get_security_options().digests = (mac,)

    t = connect(server, configure=configure)
    try:
        assert t._core is not None and t._core.neg.negotiated is not None
        assert t._core.neg.negotiated.mac_cs == mac
        check_exec(t)
    finally:
        t.close()


@pytest.mark.parametrize(
    ("alg", "kind"),
    [
        ("ssh-ed25519", "ed25519"),
        ("ecdsa-sha2-nistp256", "ecdsa"),
        ("rsa-sha2-512", "rsa"),
        ("rsa-sha2-256", "rsa"),
        ("ssh-rsa", "rsa"),
    ],
)
def test_each_host_key_type(sshd: SSHD, legacy_sshd: SSHD, alg: str, kind: str) -> None:
    server = legacy_sshd if alg == "ssh-rsa" else sshd

    def configure(t: Transport) -> None:
        t.get_security_options().key_types = (alg,)

    t = connect(server, configure=configure, host_kind=kind)
    try:
        assert t._core is not None and t._core.neg.negotiated is not None
        assert t._core.neg.negotiated.host_key == alg
        check_exec(t)
    finally:
        t.close()


def test_ssh_rsa_host_key_not_offered_by_default(legacy_sshd: SSHD) -> None:
    t = connect(legacy_sshd, host_kind="rsa")
    try:
        assert t._core is not None and t._core.neg.negotiated is not None
        assert t._core.neg.negotiated.host_key == "rsa-sha2-512"
    finally:
        t.close()


def test_wrong_host_key_is_refused(sshd: SSHD) -> None:
    t = Transport((sshd.host, sshd.port))
    key = ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"]))
    before = sshd.log().count("Accepted publickey")
    try:
        with pytest.raises(SSHException, match="host key"):
            t.connect(hostkey=ssh_keys.Ed25519Key.generate(), username=sshd.user, pkey=key)
        assert not t.is_active()
    finally:
        t.close()
    assert sshd.log().count("Accepted publickey") == before


def test_strict_kex_can_be_turned_off(sshd: SSHD) -> None:
    t = connect(sshd)
    try:
        assert t.agreed_on_strict_kex
    finally:
        t.close()
    t = connect(sshd, configure=lambda t: setattr(t, "advertise_strict_kex", False))
    try:
        assert not t.agreed_on_strict_kex
        assert t._core is not None and not t._core.neg.strict
        check_exec(t)
    finally:
        t.close()


def test_delayed_compression(sshd: SSHD) -> None:
    t = connect(sshd, configure=lambda t: t.use_compression())
    try:
        assert t._core is not None and t._core.writer.compressing and t._core.reader.decompressing
        blob = b"squeeze me " * 100000
        out, _, status = run(t, "cat", blob)
        assert out == blob and status == 0
    finally:
        t.close()


def test_renegotiate_and_rekey_by_bytes(sshd: SSHD) -> None:
    t = connect(sshd)
    try:
        t.renegotiate_keys()
        t.rekey_bytes = 1 << 20
        blob = hashlib.sha256(b"x").digest() * (8 * (1 << 20) // 32)
        out, _, status = run(t, "cat", blob)
        assert out == blob and status == 0
        assert t._events.kex_count >= 8
    finally:
        t.close()


def test_fifty_channels(sshd: SSHD) -> None:
    t = connect(sshd)
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            data = hashlib.sha256(str(i).encode()).digest() * (1000 + 37 * i)
            out, _, _ = run(t, "cat", data)
            results[i] = hashlib.sha256(out).digest() if out == data else b"mismatch"
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors
        for i in range(50):
            data = hashlib.sha256(str(i).encode()).digest() * (1000 + 37 * i)
            assert results[i] == hashlib.sha256(data).digest()
    finally:
        t.close()


def test_sftp_subsystem_and_stderr_file(sshd: SSHD) -> None:
    t = connect(sshd)
    try:
        chan = t.open_session()
        assert chan.invoke_subsystem("sftp")
        chan.sendall(b"\x00\x00\x00\x05\x01\x00\x00\x00\x03")  # SSH_FXP_INIT v3
        reply = chan.recv(4)
        assert len(reply) == 4
        chan.close()
        chan = t.open_session()
        chan.exec_command("printf 'a\\nb\\n' >&2")
        assert chan.makefile_stderr("r").readlines() == ["a\n", "b\n"]
    finally:
        t.close()


BULK = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def bulk_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 256 MiB file of pseudo-random bytes and its sha256."""
    path = tmp_path_factory.mktemp("bulk") / "blob"
    digest = hashlib.sha256()
    block = hashlib.sha512(b"bulk").digest() * (1 << 14)  # 1 MiB
    with open(path, "wb") as f:
        for i in range(BULK // len(block)):
            chunk = block[i % 64 :] + block[: i % 64]
            f.write(chunk)
            digest.update(chunk)
    return path, digest.hexdigest()


def _bulk_both_ways(t: Transport, path: Path, digest: str) -> None:
    # receive: sshd cats the file to us
    chan = t.open_session()
    chan.exec_command(f"cat {path}")
    got = hashlib.sha256()
    total = 0
    while True:
        d = chan.recv(1 << 20)
        if not d:
            break
        got.update(d)
        total += len(d)
    assert total == BULK and got.hexdigest() == digest
    assert chan.recv_exit_status() == 0
    # send: we stream the file to sha256sum on the server
    chan = t.open_session()
    chan.exec_command("sha256sum")
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 22)
            if not block:
                break
            chan.sendall(block)
    chan.shutdown_write()
    out = chan.makefile("rb").read()
    assert out.split()[0].decode() == digest
    assert chan.recv_exit_status() == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bulk_256mib_each_way(sshd: SSHD, bulk_file: tuple[Path, str]) -> None:
    t = connect(sshd)
    try:
        _bulk_both_ways(t, *bulk_file)
    finally:
        t.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bulk_256mib_each_way_with_rekeys(sshd: SSHD, bulk_file: tuple[Path, str]) -> None:
    def configure(t: Transport) -> None:
        t.rekey_bytes = 16 << 20
        t.get_security_options().ciphers = ("aes128-gcm@openssh.com",)

    t = connect(sshd, configure=configure)
    try:
        _bulk_both_ways(t, *bulk_file)
        assert t._events.kex_count >= 30
    finally:
        t.close()


def test_env_pty_and_shell(sshd: SSHD) -> None:
    t = connect(sshd)
    try:
        chan = t.open_session()
        chan.set_environment_variable("TEST_VALUE", "forty-two")
        chan.exec_command("echo $TEST_VALUE")
        assert chan.makefile("r").read() == b"forty-two\n"  # read() gives bytes, as paramiko
        chan = t.open_session()
        assert chan.get_pty("xterm", 100, 30)
        assert chan.invoke_shell()
        chan.resize_pty(120, 40)
        chan.sendall(b"stty size; exit 3\n")
        out = b""
        chan.settimeout(20)
        while True:
            d = chan.recv(4096)
            if not d:
                break
            out += d
        assert b"40 120" in out
        assert chan.recv_exit_status() == 3
    finally:
        t.close()


def _echo_listener() -> tuple[socket.socket, int]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(5)

    def loop() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                while d := conn.recv(65536):
                    conn.sendall(d)

    threading.Thread(target=loop, daemon=True).start()
    return lsock, lsock.getsockname()[1]


def test_direct_tcpip_through_sshd(sshd: SSHD) -> None:
    lsock, port = _echo_listener()
    t = connect(sshd)
    try:
        chan = t.open_channel("direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 40000))
        chan.sendall(b"ping through sshd")
        chan.settimeout(10)
        got = b""
        while len(got) < 17:
            got += chan.recv(100)
        assert got == b"ping through sshd"
        chan.close()
    finally:
        t.close()
        lsock.close()


def test_remote_port_forward_with_sshd(sshd: SSHD) -> None:
    t = connect(sshd)
    arrived: list[Any] = []
    ready = threading.Event()

    def handler(chan: Any, origin: tuple[str, int], server: tuple[str, int]) -> None:
        arrived.append((chan, origin, server))
        ready.set()

    try:
        port = t.request_port_forward("127.0.0.1", 0, handler)
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            assert ready.wait(10)
            chan, origin, server = arrived[0]
            assert server == ("127.0.0.1", port) and origin[0] == "127.0.0.1"
            s.sendall(b"hello over -R")
            chan.settimeout(10)
            assert chan.recv(100) == b"hello over -R"
            chan.sendall(b"and back")
            assert s.recv(100) == b"and back"
            chan.close()
        t.cancel_port_forward("127.0.0.1", port)
    finally:
        t.close()
