"""Fuzz targets: each takes one input (bytes) and feeds it to one parser.

A target catches exactly the exceptions its entry point documents (mostly
``SSHException`` and its subclasses, ``ProtocolError`` among them); anything
else escapes and is a finding. ``TARGETS`` maps each name to its function;
``fuzz/run.py`` runs them under atheris, ``tests/fuzz`` under hypothesis and
over the kept corpus.

The inputs are shaped a little where pure noise would never get past the
first check (plain packet framing around payloads, a MAC computed over
fuzzed plaintext), so that the parsers behind those checks are reached.
"""

from __future__ import annotations

import atexit
import hmac
import io
import logging
import os
import shutil
import socket
import struct
import tempfile
import threading
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from aio_targets import aio_client, aio_server
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fuzz_provider import Bytes

import ssh_keys
from ssh_agent import Agent, relay_agent_messages
from ssh_keys import HostKeyEntry, HostKeys, PKey, key_from_blob
from ssh_keys.certificates import Certificate
from ssh_keys.skkeys import SKSignature
from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer, SocketStream
from ssh_transport.config import SSHConfig
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.constants import AUTH_FAILED, AUTH_SUCCESSFUL
from ssh_transport.protocol.core import SSHProtocol
from ssh_transport.protocol.negotiation import KexInit, host_key_from_blob, parse_ext_info
from ssh_transport.protocol.packets import PacketReader
from ssh_transport.server import ServerInterface
from ssh_wire import ConfigParseError, Message, SSHException

Target = Callable[[bytes], None]


class Finding(AssertionError):
    """A parser did something its documentation does not allow (not an exception escaping)."""


# -- shared helpers ---------------------------------------------------------------

_HOST_KEY = ssh_keys.Ed25519Key.generate()
_CLIENT_KEY = ssh_keys.Ed25519Key.generate()


def plain_packet(payload: bytes, block: int = 8) -> bytes:
    """Frame ``payload`` as an unencrypted SSH packet (RFC 4253 section 6)."""
    pad = block - (5 + len(payload)) % block
    if pad < 4:
        pad += block
    return struct.pack(">IB", 1 + len(payload) + pad, pad) + payload + bytes(pad)


def _payloads(src: Bytes, limit: int = 32) -> list[bytes]:
    """Split the input into up to ``limit`` length-prefixed payloads."""
    out: list[bytes] = []
    while src.remaining() and len(out) < limit:
        out.append(src.chunk())
    return out


def _drain(core: SSHProtocol, answer: Callable[[ev.Event], None] | None = None, limit: int = 10_000) -> None:
    """Take events until the core needs more input (or ``limit`` events)."""
    for _ in range(limit):
        event = core.next_event()
        if event is None:
            return
        if answer is not None:
            answer(event)
    raise Finding(f"core produced more than {limit} events from one input")


# -- packet reader ------------------------------------------------------------------


def packet_reader_plain(data: bytes) -> None:
    """Raw bytes into a ``PacketReader`` with no keys, fed in fuzzed pieces."""
    src = Bytes(data)
    reader = PacketReader(max_packet_length=src.pick(4) * 4096 + 64 or 35000)
    cut = src.u8() + 1
    stream = src.rest()
    try:
        for i in range(0, len(stream), cut):
            reader.feed(stream[i : i + cut])
            while (payload := reader.next_payload()) is not None:
                if len(payload) > reader.max_packet_length:
                    raise Finding("payload longer than the packet limit")
    except SSHException:
        pass


_KEY = bytes(range(16))
_IV = bytes(range(16, 32))
_MAC_KEY = bytes(range(32, 64))


def _ctr() -> Any:
    return Cipher(algorithms.AES(_KEY), modes.CTR(_IV)).encryptor()


def packet_reader_keyed(data: bytes) -> None:
    """Fuzzed plaintext packets encrypted and MACed with a known key
    (aes128-ctr with hmac-sha2-256, classic or encrypt-then-MAC), so the
    reader's checks after decryption see the fuzzed lengths and padding."""
    src = Bytes(data)
    etm = src.boolean()
    mac = "hmac-sha2-256-etm@openssh.com" if etm else "hmac-sha2-256"
    reader = PacketReader(max_packet_length=35000)
    reader.set_keys("aes128-ctr", _KEY, _IV, mac, _MAC_KEY)
    enc = _ctr()
    wire = bytearray()
    for seq, plain in enumerate(_payloads(src)):
        if etm:
            head, body = plain[:4], enc.update(plain[4:])
            tag = hmac.new(_MAC_KEY, struct.pack(">I", seq) + head + body, sha256).digest()
            wire += head + body + tag
        else:
            tag = hmac.new(_MAC_KEY, struct.pack(">I", seq) + plain, sha256).digest()
            wire += enc.update(plain) + tag
    try:
        reader.feed(bytes(wire))
        while reader.next_payload() is not None:
            pass
    except SSHException:
        pass


# -- protocol core --------------------------------------------------------------------


def _core_input(src: Bytes) -> bytes:
    """A banner, then either plain packets around fuzzed payloads or raw bytes."""
    head = b"SSH-2.0-fuzz\r\n" if src.pick(8) else src.chunk()
    if src.boolean():
        return head + b"".join(plain_packet(p) for p in _payloads(src))
    return head + src.rest()


def _core(role: str, data: bytes) -> None:
    src = Bytes(data)
    keys = {_HOST_KEY.get_name(): _HOST_KEY} if role == "server" else None
    core = SSHProtocol(role, host_keys=keys)
    core.start()
    stream = _core_input(src)
    try:
        for i in range(0, len(stream), 512):
            core.receive_data(stream[i : i + 512])
            _drain(core)
            core.data_to_send()
        core.receive_data(b"")
        _drain(core)
    except SSHException:
        pass


def core_client(data: bytes) -> None:
    """A client core fed a server's banner and packets (KEXINIT, kex replies ...)."""
    _core("client", data)


def core_server(data: bytes) -> None:
    """A server core fed a client's banner and packets (KEXINIT, kex init ...)."""
    _core("server", data)


class _Pair:
    """A client core and a server core after the first key exchange, in memory."""

    def __init__(self) -> None:
        self.client = SSHProtocol("client")
        self.server = SSHProtocol("server", host_keys={_HOST_KEY.get_name(): _HOST_KEY})
        self.client.start()
        self.server.start()
        for _ in range(50):
            moved = False
            for a, b in ((self.client, self.server), (self.server, self.client)):
                out = a.data_to_send()
                if out:
                    b.receive_data(out)
                    moved = True
                while b.next_event() is not None:
                    moved = True
            if not moved:
                return


def userauth_server(data: bytes) -> None:
    """After a real kex, fuzzed payloads sealed by the client reach the
    server's userauth (and, once the fuzzer logs in, connection) parsers.
    The first 16 bytes are the server's decisions (accept or refuse)."""
    src = Bytes(data)
    decide = Bytes(src.take(16))  # the server's decisions, in order
    pair = _Pair()
    server = pair.server

    def answer(event: ev.Event) -> None:
        if isinstance(event, ev.AuthRequested):
            if event.method == "keyboard-interactive" and decide.boolean():
                server.auth_info_request("n", "i", [("p", False)])
            else:
                server.auth_result(AUTH_SUCCESSFUL if decide.boolean() else AUTH_FAILED, ["password", "publickey"])
        elif isinstance(event, ev.AuthInfoResponded):
            server.auth_result(AUTH_SUCCESSFUL if decide.boolean() else AUTH_FAILED, ["password"])
        elif isinstance(event, ev.ChannelOpenRequested):
            if decide.boolean():
                server.accept_channel(event.chanid)
            else:
                server.reject_channel(event.chanid, 1, "no")
        elif isinstance(event, ev.ChannelRequestReceived) and event.want_reply:
            server.channel_request_reply(event.chanid, decide.boolean())
        elif isinstance(event, ev.GlobalRequestReceived) and event.want_reply:
            server.global_request_reply(decide.boolean())

    try:
        for payload in _payloads(src, 16):
            if not payload:
                continue
            pair.client.send(payload)
            server.receive_data(pair.client.data_to_send())
            _drain(server, answer)
            server.data_to_send()
    except SSHException:
        pass


def userauth_client(data: bytes) -> None:
    """After a real kex, the client asks to log in and the server answers
    with fuzzed payloads: the client's userauth and connection parsers."""
    src = Bytes(data)
    pair = _Pair()
    client = pair.client
    try:
        choice = src.pick(4)
        if choice == 0:
            client.auth_none("u")
        elif choice == 1:
            client.auth_password("u", "pw")
        elif choice == 2:
            client.auth_publickey("u", _CLIENT_KEY)
        else:
            client.auth_interactive("u")
        for payload in _payloads(src, 16):
            if not payload:
                continue
            pair.server.send(payload)
            client.receive_data(pair.server.data_to_send())
            for _ in range(10_000):
                event = client.next_event()
                if event is None:
                    break
                if isinstance(event, ev.AuthInfoRequested):
                    client.auth_info_response(["x"] * len(event.prompts))
            client.data_to_send()
    except SSHException:
        pass


def kex_messages(data: bytes) -> None:
    """The kex parsers that stand alone: KEXINIT, EXT_INFO, host key blobs."""
    src = Bytes(data)
    which = src.pick(3)
    body = src.rest()
    try:
        if which == 0:
            KexInit.parse(body)
        elif which == 1:
            parse_ext_info(body)
        else:
            host_key_from_blob(body)
    except SSHException:
        pass


# -- keys -------------------------------------------------------------------------------


def key_blob(data: bytes) -> None:
    """``key_from_blob`` on a public key blob, then a signature check with it
    (``verify_ssh_sig`` answers True or False, it does not raise)."""
    src = Bytes(data)
    blob, sig = src.chunk(), src.rest()
    try:
        key = key_from_blob(blob)
    except SSHException:
        return
    key.get_name()
    key.get_fingerprint()
    result = key.verify_ssh_sig(b"signed data", Message(sig))
    if result not in (True, False):
        raise Finding(f"verify_ssh_sig returned {result!r}")


def private_key(data: bytes) -> None:
    """``PKey.from_private_key`` on arbitrary text (no password: an encrypted
    key must raise ``PasswordRequiredException``, an ``SSHException``)."""
    try:
        PKey.from_private_key(io.StringIO(data.decode("latin-1")))
    except SSHException:
        pass


def certificate(data: bytes) -> None:
    """``Certificate.from_blob`` with and without signature verification."""
    src = Bytes(data)
    verify = src.boolean()
    try:
        cert = Certificate.from_blob(src.rest(), verify=verify)
    except SSHException:
        return
    str(cert)
    cert.principals  # noqa: B018 - reading it must not raise


def sk_signature(data: bytes) -> None:
    """A security-key signature blob, parsed and checked by an sk key
    built from a fuzzed public blob."""
    src = Bytes(data)
    blob, sig = src.chunk(), src.rest()
    try:
        SKSignature.from_blob(sig)
    except SSHException:
        pass
    try:
        key = key_from_blob(blob)
    except SSHException:
        return
    key.verify_ssh_sig(b"signed data", Message(sig))


def known_hosts(data: bytes) -> None:
    """known_hosts lines: each parsed alone, then all loaded as one file and looked up."""
    text = data.decode("utf-8", "replace")
    for line in text.splitlines():
        try:
            HostKeyEntry.from_line(line)
        except SSHException:
            pass
    hk = HostKeys()
    with tempfile.NamedTemporaryFile("w", suffix=".known_hosts", encoding="utf-8", errors="replace") as f:
        f.write(text)
        f.flush()
        try:
            hk.load(f.name)
        except SSHException:
            return
    hk.lookup("example.com")
    hk.lookup("[example.com]:2222")


def ssh_config(data: bytes) -> None:
    """``SSHConfig.from_text`` then a lookup. Text that could reach outside
    the process (Include of files, Match exec, DNS canonicalisation) is
    parsed but not looked up, and Include is left out altogether."""
    text = data.decode("utf-8", "replace")
    lowered = text.lower()
    if "include" in lowered:
        return
    try:
        config = SSHConfig.from_text(text)
    except ConfigParseError:
        return
    if "exec" in lowered or "canonical" in lowered:
        return
    try:
        config.lookup("example.com")
    except ConfigParseError:
        pass
    except SSHException:
        pass  # CouldNotCanonicalize and friends


# -- agent ---------------------------------------------------------------------------------


class _AgentPeer:
    """A fake agent on a UNIX socket: each connection gets the scripted reply bytes."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="fuzz-agent-")
        self.path = os.path.join(self.dir, "agent.sock")
        self.reply = b""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(4)
        atexit.register(shutil.rmtree, self.dir, True)
        threading.Thread(target=self._serve, name="fuzz-agent", daemon=True).start()

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass


_agent_peer: _AgentPeer | None = None


def agent_client(data: bytes) -> None:
    """Our ``Agent`` reading fuzzed answers: the identities list, then sign responses."""
    global _agent_peer
    if _agent_peer is None:
        _agent_peer = _AgentPeer()
    _agent_peer.reply = data
    try:
        agent = Agent(path=_agent_peer.path, timeout=2)
    except SSHException:
        return
    with agent:
        for key in agent.get_keys()[:4]:
            repr(key)
            key.get_name()
            try:
                key.get_bits()
                key.sign_ssh_data(b"data")
            except SSHException:
                pass


class _Script:
    """A channel-like end that reads from fixed bytes and records what is sent."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.sent = bytearray()

    def recv(self, n: int) -> bytes:
        out, self._data = self._data[:n], self._data[n:]
        return out

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def close(self) -> None:
        self._data = b""

    def get_id(self) -> int:
        return 0

    def get_name(self) -> str:
        return "fuzz"

    def get_transport(self) -> None:
        return None


def agent_relay(data: bytes) -> None:
    """``relay_agent_messages`` between a fuzzed requester and a fuzzed agent."""
    src = Bytes(data)
    requester, agent = _Script(src.chunk()), _Script(src.rest())
    relay_agent_messages(requester, agent, timeout=1)


# -- SFTP ------------------------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Collects records logged with a traceback: the SFTP server logs a
    request that failed with an unexpected exception that way."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


_sftp_root: str | None = None
_error_log = _ErrorLog()


def sftp_server(data: bytes) -> None:
    """Our ``SFTPServer`` (local-directory interface, confined to a scratch
    directory) reading fuzzed requests: a session ends on garbage, a bad
    request gets a status; a request that fails with an unexpected exception
    (logged with its traceback) is a finding."""
    global _sftp_root
    if _sftp_root is None:
        _sftp_root = tempfile.mkdtemp(prefix="fuzz-sftp-")
        atexit.register(shutil.rmtree, _sftp_root, True)
        logging.getLogger().addHandler(_error_log)
    for name in os.listdir(_sftp_root):
        path = os.path.join(_sftp_root, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    os.makedirs(os.path.join(_sftp_root, "d"))
    with open(os.path.join(_sftp_root, "f"), "wb") as f:
        f.write(b"0123456789" * 10)
    stream = _Script(data)
    server = SFTPServer(stream, "sftp", ServerInterface(), LocalSFTPServerInterface, root=_sftp_root)
    _error_log.records.clear()
    server.start_subsystem("sftp", None, stream)
    server.finish_subsystem()
    if _error_log.records:
        record = _error_log.records[0]
        raise Finding(f"SFTP server: {record.getMessage()}") from (record.exc_info[1] if record.exc_info else None)


def sftp_client(data: bytes) -> None:
    """Our ``SFTPClient`` reading a fuzzed VERSION and fuzzed replies while it
    runs a few ordinary operations; each may fail only with an ``OSError``
    (``IOError``, the SFTP status errors), ``EOFError`` (``SSH_FX_EOF``) or
    an ``SSHException`` (``SFTPError``, a dropped session)."""
    ours, theirs = socket.socketpair()
    ours.settimeout(3)
    theirs.settimeout(3)

    def peer() -> None:
        try:
            theirs.sendall(data)
            theirs.shutdown(socket.SHUT_WR)
            while theirs.recv(65536):
                pass
        except OSError:
            pass
        finally:
            theirs.close()

    thread = threading.Thread(target=peer, name="fuzz-sftp-peer", daemon=True)
    thread.start()
    allowed = (OSError, EOFError, SSHException)
    try:
        try:
            client = SFTPClient(SocketStream(ours))
        except allowed:
            return
        try:
            for op in (
                lambda: client.normalize("."),
                lambda: client.stat("f"),
                lambda: client.listdir("."),
                lambda: client.open("f").read(64),
                lambda: client.readlink("l"),
                lambda: client.statvfs("."),
            ):
                try:
                    op()
                except allowed:
                    pass
        finally:
            client.close()
    finally:
        ours.close()
        thread.join(5)


TARGETS: dict[str, Target] = {
    "packet_reader_plain": packet_reader_plain,
    "packet_reader_keyed": packet_reader_keyed,
    "core_client": core_client,
    "core_server": core_server,
    "userauth_server": userauth_server,
    "userauth_client": userauth_client,
    "kex_messages": kex_messages,
    "key_blob": key_blob,
    "private_key": private_key,
    "certificate": certificate,
    "sk_signature": sk_signature,
    "known_hosts": known_hosts,
    "ssh_config": ssh_config,
    "agent_client": agent_client,
    "agent_relay": agent_relay,
    "sftp_server": sftp_server,
    "sftp_client": sftp_client,
    "aio_server": aio_server,
    "aio_client": aio_client,
}
