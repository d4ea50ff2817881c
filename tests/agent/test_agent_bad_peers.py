"""Agents that misbehave: garbage, truncated or oversized replies, failures,
silence. The only outcome is ``SSHException``, quickly, never a hang."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_peer import make_keypair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssh_agent import MAX_AGENT_MESSAGE, Agent, AgentSSH
from ssh_agent.protocol import frame, read_frame
from ssh_wire import Message, ProtocolError, SSHException

pytestmark = pytest.mark.timeout(60)

HOLD = object()  # script step: keep the connection open without answering


class Stall(bytes):
    """Script step: send these bytes, then hold the connection open."""


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def sstr(b: bytes) -> bytes:
    return u32(len(b)) + b


def identities(*entries: tuple[bytes, bytes]) -> bytes:
    body = bytes([12]) + u32(len(entries)) + b"".join(sstr(blob) + sstr(c) for blob, c in entries)
    return u32(len(body)) + body


class FakeAgent:
    """A UNIX-socket server that answers each request with the next scripted
    bytes; after the script it closes, or holds the connection open (HOLD)."""

    def __init__(self, path: str, script: list[object]) -> None:
        self.path = path
        self.script = script
        self.requests: list[bytes] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.listener.settimeout(10)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            for step in self.script:
                try:
                    self.requests.append(read_frame(conn, time.monotonic() + 10))
                except SSHException:
                    return
                if step is HOLD:
                    self.stop.wait(20)
                    return
                assert isinstance(step, bytes)
                conn.sendall(step)
                if isinstance(step, Stall):
                    self.stop.wait(20)
                    return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(10)


MakeFake = Callable[[list[object]], FakeAgent]


@pytest.fixture
def fake_agent(tmp_path: Path) -> Iterator[MakeFake]:
    made: list[FakeAgent] = []

    def make(script: list[object]) -> FakeAgent:
        fake = FakeAgent(str(tmp_path / f"fake{len(made)}.sock"), script)
        made.append(fake)
        return fake

    try:
        yield make
    finally:
        for fake in made:
            fake.close()


@pytest.fixture(scope="module")
def ed25519_blob(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_keypair(tmp_path_factory.mktemp("badpeer"), "ed25519").blob


GARBAGE_REPLIES = {
    "http garbage": b"HTTP/1.1 400 Bad Request\r\n\r\n",
    "oversized length": u32(MAX_AGENT_MESSAGE + 1) + b"\x0c",
    "huge length": b"\xff\xff\xff\xff",
    "zero length": u32(0),
    "truncated then close": u32(100) + b"\x0c\x00\x00",
    "header only then close": b"\x00\x00",
    "failure": u32(1) + b"\x05",
    "old failure code": u32(1) + b"\x66",
    "unknown type": u32(1) + b"\x63",
    "sign response instead": u32(5) + b"\x0e" + u32(0),
    "count beyond body": u32(5) + b"\x0c" + u32(3),
    "too many keys claimed": u32(5) + b"\x0c" + u32(100_000),
    "trailing bytes": u32(7) + b"\x0c" + u32(0) + b"xy",
    "blob without type name": identities((b"\x00\x00", b"c")),
    "blob with bad type name": identities((sstr(b"\xff\xfe"), b"c")),
    "string length too long": u32(13) + b"\x0c" + u32(1) + u32(1000) + b"abc",
}


@pytest.mark.parametrize("reply", list(GARBAGE_REPLIES.values()), ids=list(GARBAGE_REPLIES))
def test_bad_identities_answer(fake_agent: MakeFake, reply: bytes) -> None:
    fake = fake_agent([reply])
    with pytest.raises(SSHException):
        Agent(path=fake.path, timeout=5)
    assert fake.requests == [b"\x0b"]


@pytest.mark.parametrize("step", [HOLD, Stall(u32(20) + b"\x0c"), Stall(b"\x00")], ids=["silence", "stall", "stall2"])
def test_silent_agent_times_out(fake_agent: MakeFake, step: object) -> None:
    fake = fake_agent([step])
    started = time.monotonic()
    with pytest.raises(SSHException, match="timed out"):
        Agent(path=fake.path, timeout=0.3)
    assert time.monotonic() - started < 10


def test_agent_that_closes_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "closer.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with pytest.raises(SSHException):
            Agent(path=path, timeout=5)
    finally:
        t.join(10)
        listener.close()


SIGN_REPLIES = {
    "failure": u32(1) + b"\x05",
    "extension failure": u32(1) + b"\x1c",
    "identities instead": identities(),
    "empty signature string": u32(5) + b"\x0e" + u32(0),
    "signature blob truncated": u32(13) + b"\x0e" + u32(8) + sstr(b"ssh-ed25519")[:8],
    "trailing bytes after blob": u32(1 + 13 + 1) + b"\x0e" + sstr(sstr(b"x") + sstr(b"")) + b"!",
    "trailing bytes in blob": u32(1 + 4 + 24) + b"\x0e" + sstr(sstr(b"ssh-ed25519") + sstr(b"") + b"!"),
    "signature of another type": u32(1 + 4 + 19) + b"\x0e" + sstr(sstr(b"ssh-rsa") + sstr(b"\x01" * 4)),
    "truncated then close": u32(50) + b"\x0e\x00",
}


@pytest.mark.parametrize("reply", list(SIGN_REPLIES.values()), ids=list(SIGN_REPLIES))
def test_bad_sign_response(fake_agent: MakeFake, ed25519_blob: bytes, reply: bytes) -> None:
    fake = fake_agent([identities((ed25519_blob, b"k")), reply])
    with Agent(path=fake.path, timeout=5) as agent:
        (key,) = agent.get_keys()
        assert key.comment == "k"
        with pytest.raises(SSHException):
            key.sign_ssh_data(b"data")
    request = Message(fake.requests[1], strict=True)
    assert request.get_byte() == b"\x0d"
    assert request.get_string() == ed25519_blob
    assert request.get_string() == b"data"
    assert request.get_int() == 0
    request.expect_end()


def test_rsa_sha2_request_answered_with_sha1_is_refused(fake_agent: MakeFake, tmp_path: Path) -> None:
    rsa_blob = make_keypair(tmp_path, "rsa").blob
    sha1_sig = sstr(sstr(b"ssh-rsa") + sstr(b"\x01" * 256))
    fake = fake_agent([identities((rsa_blob, b"r")), u32(len(sha1_sig) + 1) + b"\x0e" + sha1_sig])
    with Agent(path=fake.path, timeout=5) as agent:
        (key,) = agent.get_keys()
        with pytest.raises(SSHException, match="rsa-sha2-512"):
            key.sign_ssh_data(b"data", "rsa-sha2-512")
    request = Message(fake.requests[1], strict=True)
    request.get_byte()
    request.get_string()
    request.get_string()
    assert request.get_int() == 4  # SSH_AGENT_RSA_SHA2_512


def test_unknown_key_type_is_listed_not_fatal(fake_agent: MakeFake) -> None:
    blob = sstr(b"unknown-key@example.com") + sstr(b"\x01" * 32) + sstr(b"ssh:")
    fake = fake_agent([identities((blob, "ключ".encode()), (blob, b"\xff\xfe"))])
    with Agent(path=fake.path, timeout=5) as agent:
        first, second = agent.get_keys()
        assert first.get_name() == "unknown-key@example.com"
        assert first.comment == "ключ"
        assert second.comment == "\ufffd\ufffd"
        assert first.inner_key is None
        assert not first.verify_ssh_sig(b"x", Message(sstr(b"unknown-key@example.com") + sstr(b"")))


def test_frame_refuses_oversized_requests() -> None:
    with pytest.raises(SSHException):
        frame(b"\x0d" * (MAX_AGENT_MESSAGE + 1))


def connect_over_socketpair(reply: bytes, timeout: float = 2.0) -> AgentSSH:
    """An AgentSSH whose 'agent' already said ``reply`` and then hung up."""
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(reply)
        theirs.shutdown(socket.SHUT_WR)
        agent = AgentSSH(timeout)
        agent._connect(ours)
        return agent
    finally:
        theirs.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_random_replies_only_raise_sshexception(reply: bytes) -> None:
    try:
        agent = connect_over_socketpair(reply)
    except SSHException:
        return
    for key in agent.get_keys():
        assert isinstance(key.get_name(), str)
    agent._close()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_identities_only_raise_sshexception(data: st.DataObject) -> None:
    blob = sstr(b"ssh-ed25519") + sstr(bytes(range(32)))
    good = identities((blob, b"comment"), (blob, b"second"))
    pos = data.draw(st.integers(0, len(good) - 1))
    mutated = bytearray(good)
    action = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    if action == "flip":
        mutated[pos] ^= data.draw(st.integers(1, 255))
    elif action == "truncate":
        del mutated[pos:]
    else:
        mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        agent = connect_over_socketpair(bytes(mutated))
    except SSHException:
        return
    assert len(agent.get_keys()) <= 2
    agent._close()


def test_protocol_errors_are_sshexceptions() -> None:
    with pytest.raises(ProtocolError):
        connect_over_socketpair(u32(0))
    assert issubclass(ProtocolError, SSHException)
