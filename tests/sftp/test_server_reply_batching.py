"""The SFTP server sends the replies to requests it received together in
one channel write (``SFTPServer.REPLY_BATCH``), and never holds a reply
while it waits for more input (a client waiting for it would deadlock)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from ssh_sftp import SFTPServer
from ssh_sftp.local import LocalSFTPServerInterface
from ssh_transport import ServerInterface
from ssh_wire import Message

pytestmark = pytest.mark.timeout(30)

CMD_INIT, CMD_OPEN, CMD_READ, CMD_CLOSE = 1, 3, 5, 4
CMD_HANDLE, CMD_DATA, CMD_STATUS = 102, 103, 101


def _packet(t: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, t) + body


def _replies(buf: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 4 <= len(buf):
        n = struct.unpack_from(">I", buf, pos)[0]
        if pos + 4 + n > len(buf):
            break
        out.append((buf[pos + 4], buf[pos + 5 : pos + 4 + n]))
        pos += 4 + n
    return out


class ScriptedChannel:
    """A channel stand-in: each ``recv`` returns what ``next_input`` makes of
    the replies so far (b"" ends the session); every write is recorded."""

    def __init__(self, next_input: Callable[[list[tuple[int, bytes]]], bytes]) -> None:
        self.next_input = next_input
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def recv(self, n: int) -> bytes:
        return self.next_input(_replies(b"".join(self.writes)))

    def close(self) -> None:
        pass

    def get_id(self) -> int:
        return 0

    def get_transport(self) -> None:
        return None


def _serve(root: Path, next_input: Callable[[list[tuple[int, bytes]]], bytes]) -> ScriptedChannel:
    chan = ScriptedChannel(next_input)
    srv = SFTPServer(chan, "sftp", ServerInterface(), LocalSFTPServerInterface, root=str(root))
    srv.start_subsystem("sftp", None, chan)
    return chan


def _open_then(reads: Callable[[bytes], bytes]) -> Callable[[list[tuple[int, bytes]]], bytes]:
    """INIT, OPEN /f, then what ``reads(handle)`` gives, then the end."""
    steps = iter(range(4))

    def next_input(replies: list[tuple[int, bytes]]) -> bytes:
        step = next(steps, 3)
        if step == 0:
            return _packet(CMD_INIT, struct.pack(">I", 3))
        if step == 1:
            return _packet(CMD_OPEN, Message().add_int(1).add_string("/f").add_int(1).add_int(0).asbytes())
        if step == 2:
            t, body = replies[-1]
            assert t == CMD_HANDLE
            handle = Message(body[4:]).get_binary()
            return reads(handle)
        return b""

    return next_input


def _read_request(num: int, handle: bytes, offset: int, length: int) -> bytes:
    return _packet(CMD_READ, Message().add_int(num).add_string(handle).add_int64(offset).add_int(length).asbytes())


def test_pipelined_reads_are_answered_in_few_writes(tmp_path: Path) -> None:
    content = bytes(range(256)) * 2048  # 512 KiB
    (tmp_path / "f").write_bytes(content)
    chunk = 32 * 1024

    def reads(handle: bytes) -> bytes:
        # sixteen pipelined reads arrive in one piece, as OpenSSH's sftp sends them
        return b"".join(_read_request(10 + i, handle, i * chunk, chunk) for i in range(16))

    chan = _serve(tmp_path, _open_then(reads))
    replies = _replies(b"".join(chan.writes))
    data = [body for t, body in replies if t == CMD_DATA]
    assert len(data) == 16
    got = b"".join(Message(body[4:]).get_binary() for body in data)
    assert got == content
    ids = [struct.unpack_from(">I", body)[0] for t, body in replies if t == CMD_DATA]
    assert ids == list(range(10, 26))  # in order
    # VERSION, HANDLE, then 512 KiB of replies in REPLY_BATCH-sized writes (not 16)
    assert len(chan.writes) <= 2 + len(content) // SFTPServer.REPLY_BATCH + 1


def test_no_reply_waits_for_input(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    sent = {"requests": 0}

    def reads(handle: bytes) -> bytes:
        sent["requests"] += 1
        return _read_request(50, handle, 0, 10)

    steps = _open_then(reads)
    asked = {"n": 0}

    def next_input(replies: list[tuple[int, bytes]]) -> bytes:
        # before the server waits for input, it has answered all it was sent
        assert len(replies) == asked["n"], "a reply was held back while the server waited for input"
        chunk = steps(replies)
        if chunk:
            asked["n"] += 1
        return chunk

    chan = _serve(tmp_path, next_input)
    replies = _replies(b"".join(chan.writes))
    assert [t for t, _ in replies] == [2, CMD_HANDLE, CMD_DATA]  # VERSION, HANDLE, DATA
