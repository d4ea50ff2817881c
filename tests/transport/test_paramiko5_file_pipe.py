"""BufferedFile over stand-in streams (paramiko's test doubles) and the
paramiko ``BufferedPipe``/``PipeTimeout`` API, including a concurrent
feeder and reader."""

from __future__ import annotations

import io
import threading
import time
from typing import Any
from unittest import mock

import pytest

from ssh_transport.buffered_pipe import BufferedPipe, PipeTimeout
from ssh_transport.file import BufferedFile


class StandIn(BufferedFile):
    """A file whose ``_read`` returns whatever ``source`` gives."""

    def __init__(self, source: Any, mode: str = "r", bufsize: int = -1) -> None:
        super().__init__()
        self.source = source
        self.calls = 0
        self.out = io.BytesIO()
        self._set_mode(mode, bufsize)

    def _read(self, size: int) -> Any:
        self.calls += 1
        return self.source(size)

    def _write(self, data: bytes | memoryview) -> int:
        self.out.write(data)
        return len(data)


EMPTY_ANSWERS = [lambda n: b"", lambda n: None, lambda n: bytearray(), lambda n: mock.MagicMock()]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("source", EMPTY_ANSWERS, ids=["bytes", "None", "bytearray", "MagicMock"])
@pytest.mark.parametrize("bufsize", [-1, 1, 4096])
def test_any_zero_length_read_is_end_of_file(source: Any, bufsize: int) -> None:
    """A truthy but empty object (a MagicMock channel's recv) must end the
    read, not make it loop and grow."""
    f = StandIn(source, "r", bufsize)
    assert f.read(100) == b""
    assert f.read() == b""
    assert f.readline() == ""
    assert f.readlines() == []
    assert list(f) == []
    assert f.calls <= 10
    fb = StandIn(source, "rb", bufsize)
    assert fb.readline() == b""
    buf = bytearray(4)
    assert fb.readinto(buf) == 0


@pytest.mark.timeout(10)
def test_partial_data_then_empty_stand_in() -> None:
    answers = iter([b"abc", mock.MagicMock()])
    f = StandIn(lambda n: next(answers), "rb")
    assert f.read(100) == b"abc"
    assert f.tell() == 3


def test_file_api_parity() -> None:
    assert (BufferedFile.FLAG_READ, BufferedFile.FLAG_WRITE, BufferedFile.FLAG_APPEND) == (1, 2, 4)
    assert (BufferedFile.FLAG_BINARY, BufferedFile.FLAG_BUFFERED, BufferedFile.FLAG_LINE_BUFFERED) == (16, 32, 64)
    assert BufferedFile.FLAG_UNIVERSAL_NEWLINE == 128
    assert BufferedFile._DEFAULT_BUFSIZE == 8192
    f = StandIn(lambda n: b"", "w")
    assert (f.readable(), f.writable(), f.seekable()) == (False, True, False)
    assert f.write("h\u00e9llo") is None
    assert f.out.getvalue() == "h\u00e9llo".encode()
    with pytest.raises(IOError):
        f.seek(0)
    with pytest.raises(IOError):
        f.read(1)
    f.close()
    assert f.closed
    with pytest.raises(IOError):
        f.write(b"x")
    with pytest.raises(ValueError):
        iter(f)


# -- BufferedPipe ------------------------------------------------------------------


def test_pipe_timeout_is_an_os_error() -> None:
    assert issubclass(PipeTimeout, OSError)
    assert issubclass(PipeTimeout, IOError)


@pytest.mark.timeout(10)
def test_pipe_feed_read_and_event() -> None:
    p = BufferedPipe()
    event = threading.Event()
    p.set_event(event)
    assert not event.is_set()
    assert not p.read_ready()
    p.feed("h\u00e9llo")
    assert event.is_set() and len(p) == 6 and p.read_ready()
    assert p.read(2) == b"h\xc3"
    assert event.is_set()
    assert p.read(100) == b"\xa9llo"
    assert not event.is_set() and not p.read_ready()
    p.feed(b"abc")
    assert p.read(0) == b""
    assert p.empty() == b"abc"
    assert len(p) == 0 and not event.is_set()
    assert p.empty() == b""


@pytest.mark.timeout(10)
def test_pipe_times_out() -> None:
    p = BufferedPipe()
    with pytest.raises(PipeTimeout):
        p.read(5, timeout=0.0)
    start = time.monotonic()
    with pytest.raises(PipeTimeout):
        p.read(5, timeout=0.2)
    assert time.monotonic() - start >= 0.19


@pytest.mark.timeout(10)
def test_pipe_close() -> None:
    p = BufferedPipe()
    p.feed(b"xyz")
    event = threading.Event()
    p.close()
    p.set_event(event)
    assert event.is_set()
    assert p.read(2) == b"xy"
    assert p.read(10) == b"z"
    assert p.read(10) == b""
    assert p.read(10, timeout=0) == b""  # closed and drained: no timeout
    assert event.is_set()
    p.feed(b"late")  # still readable, as in paramiko
    assert p.read(10) == b"late"


@pytest.mark.timeout(10)
def test_close_wakes_a_waiting_reader() -> None:
    p = BufferedPipe()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(p.read(10)))
    reader.start()
    time.sleep(0.05)
    p.close()
    reader.join(5)
    assert not reader.is_alive()
    assert got == [b""]


@pytest.mark.timeout(20)
def test_concurrent_feeder_and_reader_keep_every_byte_in_order() -> None:
    p = BufferedPipe()
    chunks = [bytes([i % 251]) * (1 + i % 97) for i in range(3000)]
    expected = b"".join(chunks)
    received = bytearray()
    errors: list[BaseException] = []

    def feeder() -> None:
        for c in chunks:
            p.feed(c)
        p.close()

    def reader() -> None:
        try:
            while True:
                data = p.read(513, timeout=5)
                if not data:
                    return
                received.extend(data)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=reader), threading.Thread(target=feeder)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert bytes(received) == expected


def test_buffered_file_is_a_closing_context_manager() -> None:
    from ssh_wire import ClosingContextManager

    assert issubclass(BufferedFile, ClosingContextManager)
    with StandIn(lambda n: b"", "w") as f:
        f.write(b"x")
    assert f.closed
