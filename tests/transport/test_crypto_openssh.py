"""The packet layer and every key exchange against a real OpenSSH sshd.

A deliberately tiny client lives here: version exchange, KEXINIT offering one
algorithm of each kind, our ``Kex`` for the exchange, our ``derive_key``, then
``PacketWriter``/``PacketReader`` for everything after NEWKEYS (service
request, publickey auth, delayed zlib, a global request). Symmetric bugs that
round trips between our own writer and reader cannot see (key order,
nonces, MAC inputs, hash layouts) show up here as a failed MAC or signature.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ssh_keys import Ed25519Key
from ssh_transport.protocol.ciphers import CIPHERS
from ssh_transport.protocol.kex import KEX_ALGORITHMS, KexContext, derive_key
from ssh_transport.protocol.macs import MACS
from ssh_transport.protocol.packets import PacketReader, PacketWriter
from ssh_wire import Message
from support.peers import missing_peer, need_program
from support.sshd import SSHD, sshd_available, start_sshd

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

LEGACY_CONFIG = [
    "Ciphers +3des-cbc,aes128-cbc,aes192-cbc,aes256-cbc",
    "MACs +hmac-md5,hmac-md5-etm@openssh.com",
    "KexAlgorithms +diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1",
    "Compression yes",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """A private sshd that also enables the legacy algorithms."""
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed (apt-get install openssh-server)")
    with start_sshd(
        tmp_path_factory.mktemp("crypto-sshd"),
        LEGACY_CONFIG,
        host_key_types=("ed25519",),
        client_key_types=("ed25519",),
    ) as sshd:
        yield sshd


class MiniClient:
    """Just enough of an SSH client to exercise the crypto layer."""

    def __init__(self, sshd: SSHD) -> None:
        self.sock = socket.create_connection((sshd.host, sshd.port), timeout=15)
        self.sshd = sshd
        self.writer = PacketWriter()
        self.reader = PacketReader()
        self.session_id = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, payload: bytes) -> None:
        self.sock.sendall(self.writer.seal(payload))

    def recv(self) -> bytes:
        """The next payload that is not IGNORE/DEBUG."""
        while True:
            payload = self.reader.next_payload()
            if payload is None:
                view = self.reader.buffer_for_recv(65536)
                n = self.sock.recv_into(view)
                del view
                if not n:
                    raise EOFError(f"sshd closed the connection:\n{self.sshd.log()[-2000:]}")
                self.reader.commit(n)
                continue
            if payload[0] in (2, 4):
                continue
            return payload

    def version_exchange(self) -> tuple[bytes, bytes]:
        ours = b"SSH-2.0-CryptoTest_1.0"
        self.sock.sendall(ours + b"\r\n")
        data = b""
        while True:
            while b"\n" not in data:
                chunk = self.sock.recv(1)
                assert chunk, "no server version"
                data += chunk
            line, data = data.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if line.startswith(b"SSH-"):
                return ours, line

    def connect(self, kex: str, cipher: str, mac: str, compression: str = "none") -> None:
        v_c, v_s = self.version_exchange()
        m = Message().add_byte(20).add_bytes(os.urandom(16))
        m.add_list([kex, "kex-strict-c-v00@openssh.com"]).add_list(["ssh-ed25519"])
        m.add_list([cipher]).add_list([cipher]).add_list([mac]).add_list([mac])
        m.add_list([compression]).add_list([compression]).add_list([]).add_list([])
        m.add_boolean(False).add_int(0)
        i_c = m.asbytes()
        self.send(i_c)
        i_s = self.recv()
        assert i_s[0] == 20
        strict = b"kex-strict-s-v00@openssh.com" in i_s
        ctx = KexContext("client", v_c, v_s, i_c, i_s)
        ex = KEX_ALGORITHMS[kex](ctx)
        for p in ex.start():
            self.send(p)
        while not ex.done:
            for p in ex.handle(self.recv()):
                self.send(p)
        self._verify_host_signature(ex.host_key_blob, ex.signature, ex.exchange_hash)
        self.session_id = ex.exchange_hash
        self.send(b"\x15")
        self._install(ex.hash_name, ex.shared_secret, ex.exchange_hash, cipher, mac, compression, strict, "writer")
        assert self.recv() == b"\x15"
        self._install(ex.hash_name, ex.shared_secret, ex.exchange_hash, cipher, mac, compression, strict, "reader")

    def _install(
        self, hash_name: str, k: bytes, h: bytes, cipher: str, mac: str, comp: str, strict: bool, side: str
    ) -> None:
        spec = CIPHERS[cipher]
        mspec = None if spec.aead else MACS[mac]
        iv_l, key_l, mac_l = (b"A", b"C", b"E") if side == "writer" else (b"B", b"D", b"F")
        iv = derive_key(hash_name, k, h, self.session_id, iv_l, spec.iv_size)
        key = derive_key(hash_name, k, h, self.session_id, key_l, spec.key_size)
        mac_key = derive_key(hash_name, k, h, self.session_id, mac_l, mspec.key_size) if mspec else None
        end = self.writer if side == "writer" else self.reader
        end.set_keys(cipher, key, iv, mspec.name if mspec else None, mac_key)
        end.set_compression(comp)
        if strict:
            end.reset_sequence()

    @staticmethod
    def _verify_host_signature(blob: bytes, sig: bytes, h: bytes) -> None:
        kb = Message(blob, strict=True)
        assert kb.get_text() == "ssh-ed25519"
        public = Ed25519PublicKey.from_public_bytes(kb.get_string())
        sb = Message(sig, strict=True)
        assert sb.get_text() == "ssh-ed25519"
        public.verify(sb.get_string(), h)

    def service_and_noise(self) -> None:
        """IGNOREs of many sizes (server must open them all), then a service request."""
        for n in (0, 1, 15, 16, 17, 255, 4096, 32768, 100000):
            self.send(Message().add_byte(2).add_string(os.urandom(n)).asbytes())
        self.send(Message().add_byte(5).add_string("ssh-userauth").asbytes())
        reply = Message(self.recv(), strict=True)
        assert reply.get_byte() == b"\x06"
        assert reply.get_text() == "ssh-userauth"

    def publickey_auth(self) -> None:
        """Log in with the sshd fixture's ed25519 client key."""
        key = serialization.load_ssh_private_key(Path(self.sshd.client_keys["ed25519"]).read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        pub = Message().add_string("ssh-ed25519").add_string(key.public_key().public_bytes_raw()).asbytes()
        body = Message().add_byte(50).add_string(self.sshd.user).add_string("ssh-connection")
        body.add_string("publickey").add_boolean(True).add_string("ssh-ed25519").add_string(pub)
        signed = Message().add_string(self.session_id).add_bytes(body.asbytes()).asbytes()
        sig = Message().add_string("ssh-ed25519").add_string(key.sign(signed)).asbytes()
        self.send(body.asbytes() + Message().add_string(sig).asbytes())
        reply = self.recv()
        assert reply[0] == 52, (reply, self.sshd.log()[-2000:])

    def global_request_round_trip(self) -> None:
        big = os.urandom(20000)
        self.send(Message().add_byte(80).add_string("nosuch@example.com").add_boolean(True).add_string(big).asbytes())
        reply = self.recv()
        while reply[0] == 80:  # sshd's own hostkeys-00@openssh.com announcement
            reply = self.recv()
        assert reply[0] == 82


def _run(sshd: SSHD, kex: str, cipher: str, mac: str) -> None:
    client = MiniClient(sshd)
    try:
        client.connect(kex, cipher, mac)
        client.service_and_noise()
        client.publickey_auth()
        client.global_request_round_trip()
    finally:
        client.close()


OPENSSH_KEX = [k for k in KEX_ALGORITHMS if not k.startswith("mlkem")]


@pytest.mark.parametrize("kex", OPENSSH_KEX)
def test_every_kex_against_sshd(server: SSHD, kex: str) -> None:
    _run(server, kex, "chacha20-poly1305@openssh.com", "hmac-sha2-256")


@pytest.mark.parametrize("cipher", list(CIPHERS))
def test_every_cipher_against_sshd(server: SSHD, cipher: str) -> None:
    _run(server, "curve25519-sha256", cipher, "hmac-sha2-256-etm@openssh.com")


@pytest.mark.parametrize("mac", list(MACS))
@pytest.mark.parametrize("cipher", ["aes128-ctr", "aes256-cbc"])
def test_every_mac_against_sshd(server: SSHD, cipher: str, mac: str) -> None:
    _run(server, "curve25519-sha256", cipher, mac)


@pytest.mark.parametrize("cipher", ["chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes128-ctr"])
def test_delayed_zlib_against_sshd(server: SSHD, cipher: str) -> None:
    client = MiniClient(server)
    try:
        client.connect("curve25519-sha256", cipher, "hmac-sha2-256-etm@openssh.com", "zlib@openssh.com")
        client.service_and_noise()
        assert not client.writer.compressing
        client.publickey_auth()
        client.writer.enable_delayed_compression()
        client.reader.enable_delayed_compression()
        assert client.writer.compressing and client.reader.decompressing
        sealed_before = client.writer.bytes_sealed
        for _ in range(3):
            client.send(Message().add_byte(2).add_string(bytes(50000)).asbytes())
        # 150 kB of zeros deflate to almost nothing: proof compression is on.
        assert client.writer.bytes_sealed - sealed_before < 5000
        client.global_request_round_trip()
        client.global_request_round_trip()
    finally:
        client.close()


# -- OpenSSH's client against our server side of kex and framing -------------------


class MiniServer:
    """Accepts one connection, runs our server kex and packet layer, then
    answers userauth so that ``ssh`` reaches a known end."""

    def __init__(self, kex: str, cipher: str, mac: str, compression: str = "none", accept_none: bool = False) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(20)
        self.port = self.listener.getsockname()[1]
        self.choice = (kex, cipher, mac, compression)
        self.accept_none = accept_none
        self.host_key = Ed25519Key.generate()
        self.seen: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(20)
            try:
                self._session(conn)
            finally:
                conn.close()
        except BaseException as exc:  # reported by the test thread
            self.error = exc
        finally:
            self.listener.close()

    def _session(self, conn: socket.socket) -> None:
        kex, cipher, mac, comp = self.choice
        writer, reader = PacketWriter(), PacketReader()

        def send(payload: bytes) -> None:
            conn.sendall(writer.seal(payload))

        def recv() -> bytes | None:
            while True:
                payload = reader.next_payload()
                if payload is not None:
                    if payload[0] in (2, 4):
                        continue
                    self.seen.append(payload[0])
                    return payload
                data = conn.recv(65536)
                if not data:
                    return None
                reader.feed(data)

        v_s = b"SSH-2.0-MiniServer_1.0"
        conn.sendall(v_s + b"\r\n")
        raw = b""
        while b"\r\n" not in raw:
            chunk = conn.recv(1)
            assert chunk
            raw += chunk
        v_c, rest = raw.split(b"\r\n", 1)
        reader.feed(rest)
        m = Message().add_byte(20).add_bytes(os.urandom(16))
        m.add_list([kex, "kex-strict-s-v00@openssh.com"]).add_list(["ssh-ed25519"])
        m.add_list([cipher]).add_list([cipher]).add_list([mac]).add_list([mac])
        m.add_list([comp]).add_list([comp]).add_list([]).add_list([]).add_boolean(False).add_int(0)
        i_s = m.asbytes()
        send(i_s)
        i_c = recv()
        assert i_c is not None and i_c[0] == 20
        strict = b"kex-strict-c-v00@openssh.com" in i_c
        ctx = KexContext("server", v_c, v_s, i_c, i_s, host_key=self.host_key, host_key_algorithm="ssh-ed25519")
        ex = KEX_ALGORITHMS[kex](ctx)
        ex.start()
        while not ex.done:
            payload = recv()
            assert payload is not None, "client left during kex"
            for out in ex.handle(payload):
                send(out)
        send(b"\x15")
        sid = ex.exchange_hash
        spec = CIPHERS[cipher]
        mspec = None if spec.aead else MACS[mac]

        def keys(iv_l: bytes, key_l: bytes, mac_l: bytes) -> tuple:
            d = lambda letter, n: derive_key(ex.hash_name, ex.shared_secret, sid, sid, letter, n)  # noqa: E731
            return (
                cipher,
                d(key_l, spec.key_size),
                d(iv_l, spec.iv_size),
                mspec.name if mspec else None,
                d(mac_l, mspec.key_size) if mspec else None,
            )

        writer.set_keys(*keys(b"B", b"D", b"F"))
        writer.set_compression(comp)
        if strict:
            writer.reset_sequence()
        assert recv() == b"\x15"
        reader.set_keys(*keys(b"A", b"C", b"E"))
        reader.set_compression(comp)
        if strict:
            reader.reset_sequence()
        while (payload := recv()) is not None:
            kind = payload[0]
            if kind == 5:
                send(Message().add_byte(6).add_string("ssh-userauth").asbytes())
            elif kind == 50:
                req = Message(payload, strict=True)
                req.get_byte()
                req.get_text(), req.get_text()
                if req.get_text() == "none" and self.accept_none:
                    send(b"\x34")
                    writer.enable_delayed_compression()
                    reader.enable_delayed_compression()
                else:
                    send(Message().add_byte(51).add_list(["publickey"]).add_boolean(False).asbytes())
            elif kind == 90:
                chan = Message(payload, strict=True)
                chan.get_byte()
                chan.get_text()
                sender = chan.get_int()
                fail = Message().add_byte(92).add_int(sender).add_int(1).add_string("nope " + "z" * 5000)
                send(fail.add_string("").asbytes())
            elif kind == 80:
                g = Message(payload, strict=True)
                g.get_byte()
                g.get_text()
                if g.get_boolean():
                    send(b"\x52")
            elif kind == 1:
                return


def run_ssh(server: MiniServer, kex: str, cipher: str, mac: str, *extra: str) -> subprocess.CompletedProcess[str]:
    ssh = need_program("ssh")
    args = [ssh, "-F", "/dev/null", "-p", str(server.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
    args += ["-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=none"]
    args += ["-o", f"KexAlgorithms={kex}", "-o", f"Ciphers={cipher}", "-o", f"MACs={mac}"]
    args += ["-o", "HostKeyAlgorithms=ssh-ed25519", "-o", "ConnectTimeout=10", *extra, "-v", "root@127.0.0.1", "true"]
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=40, stdin=subprocess.DEVNULL)
    finally:
        server.thread.join(timeout=20)


@pytest.mark.parametrize("kex", OPENSSH_KEX)
def test_openssh_client_against_our_server_kex(kex: str) -> None:
    server = MiniServer(kex, "aes256-gcm@openssh.com", "hmac-sha2-256")
    out = run_ssh(server, kex, "aes256-gcm@openssh.com", "hmac-sha2-256")
    assert server.error is None, f"{server.error!r}\n{out.stderr}"
    assert "Permission denied (publickey)" in out.stderr, out.stderr
    assert 50 in server.seen  # a userauth request arrived under the new keys


@pytest.mark.parametrize(
    ("cipher", "mac"),
    [(c, "hmac-sha2-512-etm@openssh.com") for c in CIPHERS] + [("aes192-ctr", m) for m in MACS],
)
def test_openssh_client_against_our_server_framing(cipher: str, mac: str) -> None:
    server = MiniServer("curve25519-sha256", cipher, mac)
    out = run_ssh(server, "curve25519-sha256", cipher, mac)
    assert server.error is None, f"{server.error!r}\n{out.stderr}"
    assert "Permission denied (publickey)" in out.stderr, out.stderr


def test_openssh_client_with_delayed_zlib_against_our_server() -> None:
    server = MiniServer("curve25519-sha256", "chacha20-poly1305@openssh.com", "hmac-sha1", "zlib@openssh.com", True)
    out = run_ssh(server, "curve25519-sha256", "chacha20-poly1305@openssh.com", "hmac-sha1", "-o", "Compression=yes")
    assert server.error is None, f"{server.error!r}\n{out.stderr}"
    assert "open failed: administratively prohibited: nope" in out.stderr, out.stderr
    assert "compression: zlib@openssh.com" in out.stderr or "zlib@openssh.com" in out.stderr
    assert 90 in server.seen
