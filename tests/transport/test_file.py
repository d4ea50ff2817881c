"""BufferedFile: reads, lines, iteration, write buffering modes, errors.

A tiny in-memory subclass serves reads in odd-sized chunks (so every code
path that stitches chunks together is exercised) and accepts writes a few
bytes at a time (so the write loop must carry on after partial writes).
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_transport.file import BufferedFile, FileClosedError


class MemFile(BufferedFile):
    """Reads from ``source`` at most ``chunk`` bytes per ``_read``; writes at
    most ``wchunk`` bytes per ``_write``, recording every call."""

    def __init__(
        self, source: bytes = b"", mode: str = "r", bufsize: int = -1, chunk: int = 7, wchunk: int = 5
    ) -> None:
        BufferedFile.__init__(self)
        self.source = source
        self.offset = 0
        self.chunk = chunk
        self.wchunk = wchunk
        self.read_calls: list[int] = []
        self.written = bytearray()
        self.write_calls: list[bytes] = []
        self._set_mode(mode, bufsize)

    def _read(self, size: int) -> bytes | None:
        self.read_calls.append(size)
        n = min(size, self.chunk)
        data = self.source[self.offset : self.offset + n]
        self.offset += len(data)
        return data or None

    def _write(self, data: bytes | memoryview) -> int:
        n = min(len(data), self.wchunk)
        piece = bytes(data[:n])
        self.write_calls.append(piece)
        self.written += piece
        return n

    def _get_size(self) -> int:
        return 100


class EOFErrorFile(MemFile):
    """Signals end of file with EOFError, as some streams do."""

    def _read(self, size: int) -> bytes | None:
        if self.offset >= len(self.source):
            raise EOFError
        return super()._read(size)


TEXT = b"first line\nsecond\n\nfourth without end"


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 10_000])
@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, TEXT),
        (-1, TEXT),
        (0, b""),
        (1, b"f"),
        (5, b"first"),
        (11, b"first line\n"),
        (len(TEXT), TEXT),
        (len(TEXT) + 50, TEXT),
    ],
)
def test_read_sizes(chunk: int, size: int | None, expected: bytes) -> None:
    f = MemFile(TEXT, "rb", chunk=chunk)
    assert f.read(size) == expected
    assert f.tell() == len(expected)
    assert f.read() == TEXT[len(expected) :]
    assert f.read() == b""
    assert f.read(10) == b""


@pytest.mark.parametrize("mode", ["r", "rb"])
def test_read_returns_bytes_in_every_mode(mode: str) -> None:
    assert MemFile("h\u00e9llo\n".encode(), mode).read() == "h\u00e9llo\n".encode()


def test_read_in_pieces_reassembles() -> None:
    data = bytes(range(256)) * 40
    f = MemFile(data, "rb", chunk=13)
    got = []
    for size in [1, 2, 1000, 3, 77, 5000, 100_000]:
        got.append(f.read(size))
    assert b"".join(got) == data


def test_unbuffered_read_asks_only_for_what_is_needed() -> None:
    f = MemFile(TEXT, "rb", chunk=100)
    assert f.read(4) == b"firs"
    assert f.read_calls == [4]


def test_buffered_read_reads_ahead() -> None:
    f = MemFile(TEXT, "rb", bufsize=30, chunk=100)
    assert f.read(4) == b"firs"
    assert f.read_calls == [30]
    assert f.read(6) == b"t line"
    assert f.read_calls == [30]  # served from the buffer
    assert f.tell() == 10


def test_eoferror_means_end_of_file() -> None:
    f = EOFErrorFile(TEXT, "rb", chunk=5)
    assert f.read() == TEXT
    f = EOFErrorFile(TEXT, "rb", chunk=5)
    assert f.readlines()[-1] == b"fourth without end"


def test_big_read_is_linear_and_exact() -> None:
    data = bytes(range(251)) * 40_000  # ~10 MB in 32 KiB chunks
    f = MemFile(data, "rb", chunk=32768)
    assert f.read(len(data) - 1) == data[:-1]
    assert f.read() == data[-1:]
    f = MemFile(data, "rb", chunk=32768)
    assert f.read() == data


def test_readinto() -> None:
    f = MemFile(TEXT, "rb", chunk=4)
    buf = bytearray(10)
    assert f.readinto(buf) == 10
    assert bytes(buf) == TEXT[:10]
    view = memoryview(bytearray(100))
    assert f.readinto(view) == len(TEXT) - 10
    assert bytes(view[: len(TEXT) - 10]) == TEXT[10:]


# -- lines --------------------------------------------------------------------

LINE_CASES = [
    # (data, mode, expected lines)
    (b"a\nb\nc", "r", ["a\n", "b\n", "c"]),
    (b"a\nb\n", "rb", [b"a\n", b"b\n"]),
    (b"", "r", []),
    (b"\n\n", "r", ["\n", "\n"]),
    (b"dos\r\nline\r\n", "r", ["dos\r\n", "line\r\n"]),
    (b"mac\rline\r", "r", ["mac\rline\r"]),
    (b"dos\r\nline\r\n", "rU", ["dos\n", "line\n"]),
    (b"mac\rline\r", "rU", ["mac\n", "line\n"]),
    (b"mix\nof\r\nall\rend", "rU", ["mix\n", "of\n", "all\n", "end"]),
    (b"mix\nof\r\nall\rend", "rbU", [b"mix\n", b"of\n", b"all\n", b"end"]),
    (b"cr\r\rblank", "rU", ["cr\n", "\n", "blank"]),
    (b"nul\x00inside\n", "rb", [b"nul\x00inside\n"]),
    ("\u00fcnicode \u2603\n".encode(), "r", ["\u00fcnicode \u2603\n"]),
    (b"bad \xff utf8\n", "r", ["bad \ufffd utf8\n"]),
]


@pytest.mark.parametrize("chunk", [1, 2, 5, 1000])
@pytest.mark.parametrize(("data", "mode", "expected"), LINE_CASES)
def test_readline_table(chunk: int, data: bytes, mode: str, expected: list[str | bytes]) -> None:
    f = MemFile(data, mode, chunk=chunk)
    got = []
    while True:
        line = f.readline()
        if not line:
            break
        got.append(line)
    assert got == expected
    assert f.tell() == len(data)
    assert f.readline() == (b"" if "b" in mode else "")


@pytest.mark.parametrize(("data", "mode", "expected"), LINE_CASES)
def test_iteration_and_readlines(data: bytes, mode: str, expected: list[str | bytes]) -> None:
    assert list(MemFile(data, mode, chunk=3)) == expected
    assert MemFile(data, mode, chunk=3).readlines() == expected
    assert list(MemFile(data, mode, chunk=3).xreadlines()) == expected


@pytest.mark.parametrize(
    ("data", "expected_newlines"),
    [
        (b"a\nb\n", "\n"),
        (b"a\r\nb\r\n", "\r\n"),
        (b"a\rb\r", "\r"),
        (b"a\nb\r\nc", ("\n", "\r\n")),
        (b"a\rb\nc\r\nd", ("\r", "\n", "\r\n")),
        (b"no newline", None),
    ],
)
@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_universal_newlines_records_styles(
    chunk: int, data: bytes, expected_newlines: str | tuple[str, ...] | None
) -> None:
    f = MemFile(data, "rU", chunk=chunk)
    f.readlines()
    assert f.newlines == expected_newlines


def test_newlines_not_tracked_without_universal_mode() -> None:
    f = MemFile(b"a\r\nb\n", "r")
    f.readlines()
    assert f.newlines is None


@pytest.mark.parametrize(
    ("data", "sizes", "expected"),
    [
        (b"abcdef\n", [3, 3, 3], [b"abc", b"def", b"\n"]),
        (b"ab\ncd\n", [10, 10], [b"ab\n", b"cd\n"]),
        (b"ab\ncd\n", [0, 2, 1], [b"", b"ab", b"\n"]),
        (b"abc", [-1], [b"abc"]),
        (b"abc", [None], [b"abc"]),
    ],
)
def test_readline_with_size(data: bytes, sizes: list[int | None], expected: list[bytes]) -> None:
    f = MemFile(data, "rb", chunk=2)
    assert [f.readline(s) for s in sizes] == expected


def test_readline_size_does_not_split_utf8_in_text_mode() -> None:
    f = MemFile("ab\u00e9cd\n".encode(), "r", chunk=1)
    assert f.readline(3) == "ab"
    assert f.readline() == "\u00e9cd\n"


def test_universal_crlf_split_by_size_limit() -> None:
    f = MemFile(b"ab\r\ncd\n", "rU", chunk=1)
    assert f.readline(3) == "ab\n"
    assert f.readline() == "cd\n"
    assert f.newlines == ("\r\n", "\n")


def test_mixing_read_readline_and_next() -> None:
    f = MemFile(b"one\ntwo\nthree\nfour\n", "rb", chunk=3)
    assert f.read(2) == b"on"
    assert f.readline() == b"e\n"
    assert next(f) == b"two\n"
    assert f.read(3) == b"thr"
    assert f.readlines() == [b"ee\n", b"four\n"]
    with pytest.raises(StopIteration):
        next(f)


def test_readlines_sizehint_stops_after_whole_lines() -> None:
    f = MemFile(b"aaaa\nbbbb\ncccc\ndddd\n", "rb", chunk=3)
    assert f.readlines(7) == [b"aaaa\n", b"bbbb\n"]
    assert f.readlines() == [b"cccc\n", b"dddd\n"]


def test_long_line_is_not_quadratic() -> None:
    data = b"x" * 3_000_000 + b"\n" + b"tail"
    f = MemFile(data, "rb", chunk=8192)
    assert f.readline() == data[:3_000_001]
    assert f.readline() == b"tail"


# -- writing -------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"bytes", "text \u2603", bytearray(b"ba"), memoryview(b"mv")])
def test_write_accepts_str_and_bytes_like(data: str | bytes | bytearray | memoryview) -> None:
    f = MemFile(mode="w")
    f.write(data)
    expected = data.encode() if isinstance(data, str) else bytes(data)
    assert bytes(f.written) == expected
    assert f.tell() == len(expected)


def test_unbuffered_writes_through_immediately() -> None:
    f = MemFile(mode="w", bufsize=0, wchunk=3)
    f.write(b"hello world")
    assert bytes(f.written) == b"hello world"
    assert f.write_calls == [b"hel", b"lo ", b"wor", b"ld"]


def test_line_buffered_flushes_at_newline() -> None:
    f = MemFile(mode="w", bufsize=1, wchunk=1000)
    f.write("partial")
    assert f.written == b""
    f.write(" line\nnext")
    assert bytes(f.written) == b"partial line\n"
    f.write(" more")
    assert bytes(f.written) == b"partial line\n"
    f.write("\n")
    assert bytes(f.written) == b"partial line\nnext more\n"
    f.write("a\nb\nc")
    assert bytes(f.written) == b"partial line\nnext more\na\nb\n"
    f.close()
    assert bytes(f.written) == b"partial line\nnext more\na\nb\nc"


@pytest.mark.parametrize("bufsize", [2, 10, 64])
def test_fully_buffered_writes_in_bufsize_batches(bufsize: int) -> None:
    f = MemFile(mode="wb", bufsize=bufsize, wchunk=1000)
    pieces = [b"abc", b"defgh", b"\n", b"ijklmnopqrstu", b"vwxyz"]
    total = b""
    for piece in pieces:
        f.write(piece)
        total += piece
        # never more than bufsize bytes held back
        assert len(total) - len(f.written) < bufsize
        assert total.startswith(bytes(f.written))
    f.flush()
    assert bytes(f.written) == total
    f.flush()
    assert bytes(f.written) == total


def test_big_buffered_write_goes_straight_through() -> None:
    f = MemFile(mode="wb", bufsize=16, wchunk=1 << 20)
    f.write(b"x" * 100)
    assert f.write_calls == [b"x" * 100]


def test_partial_writes_of_a_large_buffer_are_completed() -> None:
    data = bytes(range(256)) * 4096
    f = MemFile(mode="wb", wchunk=32768)
    f.write(data)
    assert bytes(f.written) == data
    assert len(f.write_calls) == len(data) // 32768


def test_writelines_adds_no_separators() -> None:
    f = MemFile(mode="w")
    f.writelines(["a", b"b", "c\n"])
    assert bytes(f.written) == b"abc\n"


def test_close_flushes_and_context_manager_closes() -> None:
    with MemFile(mode="w", bufsize=100) as f:
        f.write("kept back")
        assert f.written == b""
    assert f.closed
    assert bytes(f.written) == b"kept back"
    f.close()  # closing twice is fine


def test_garbage_collection_flushes() -> None:
    f = MemFile(mode="w", bufsize=100)
    written = f.written
    f.write("buffered")
    del f
    assert bytes(written) == b"buffered"


def test_zero_progress_write_is_an_error_not_a_hang() -> None:
    f = MemFile(mode="w", wchunk=0)
    with pytest.raises(OSError):
        f.write("x")


def test_append_mode_starts_at_size() -> None:
    f = MemFile(mode="a")
    assert f.tell() == 100
    f.write(b"12345")
    assert f.tell() == 105
    assert f.writable() and not f.readable()


# -- modes, flags and errors --------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "readable", "writable", "binary", "universal"),
    [
        ("r", True, False, False, False),
        ("rb", True, False, True, False),
        ("w", False, True, False, False),
        ("wb", False, True, True, False),
        ("r+", True, True, False, False),
        ("w+b", True, True, True, False),
        ("a", False, True, False, False),
        ("a+", True, True, False, False),
        ("x", False, True, False, False),
        ("rU", True, False, False, True),
    ],
)
def test_mode_flags(mode: str, readable: bool, writable: bool, binary: bool, universal: bool) -> None:
    f = MemFile(mode=mode)
    assert f.readable() is readable
    assert f.writable() is writable
    assert bool(f._flags & BufferedFile.FLAG_BINARY) is binary
    assert bool(f._flags & BufferedFile.FLAG_UNIVERSAL_NEWLINE) is universal
    assert bool(f._flags & BufferedFile.FLAG_APPEND) is ("a" in mode)
    assert not f.seekable()


@pytest.mark.parametrize(
    ("bufsize", "flags", "size"),
    [
        (-1, 0, 8192),
        (0, 0, 8192),
        (1, BufferedFile.FLAG_BUFFERED | BufferedFile.FLAG_LINE_BUFFERED, 8192),
        (2, BufferedFile.FLAG_BUFFERED, 2),
        (4096, BufferedFile.FLAG_BUFFERED, 4096),
    ],
)
def test_bufsize_flags(bufsize: int, flags: int, size: int) -> None:
    f = MemFile(mode="w", bufsize=bufsize)
    mask = BufferedFile.FLAG_BUFFERED | BufferedFile.FLAG_LINE_BUFFERED
    assert f._flags & mask == flags
    assert f._bufsize == size


def test_class_constants() -> None:
    assert (BufferedFile.SEEK_SET, BufferedFile.SEEK_CUR, BufferedFile.SEEK_END) == (0, 1, 2)
    assert BufferedFile._DEFAULT_BUFSIZE == 8192
    assert (BufferedFile.FLAG_READ, BufferedFile.FLAG_WRITE, BufferedFile.FLAG_APPEND) == (1, 2, 4)


@pytest.mark.parametrize(
    "op",
    [
        lambda f: f.read(),
        lambda f: f.read(3),
        lambda f: f.readline(),
        lambda f: f.readlines(),
        lambda f: f.write("x"),
        lambda f: f.writelines(["x"]),
        lambda f: iter(f),
        lambda f: next(f),
        lambda f: f.readinto(bytearray(2)),
    ],
)
def test_closed_file_raises_value_error_and_ioerror(op: object) -> None:
    f = MemFile(b"data\n", mode="r+")
    f.close()
    with pytest.raises(ValueError):
        op(f)  # type: ignore[operator]
    with pytest.raises(IOError):
        op(f)  # type: ignore[operator]
    with pytest.raises(FileClosedError):
        op(f)  # type: ignore[operator]


def test_wrong_direction_raises_ioerror() -> None:
    with pytest.raises(IOError):
        MemFile(b"x", mode="w").read()
    with pytest.raises(IOError):
        MemFile(b"x", mode="w").readline()
    with pytest.raises(IOError):
        MemFile(b"x", mode="r").write("x")
    with pytest.raises(io.UnsupportedOperation):
        MemFile(b"x", mode="r").write("x")


def test_seek_unsupported_on_base_class() -> None:
    f = MemFile(b"abc")
    with pytest.raises(IOError, match="does not support seeking"):
        f.seek(0)


def test_subclass_may_reset_rbuffer_to_bytes() -> None:
    """SFTP-style seek: positions set and the read buffer replaced by b''."""

    class Seekable(MemFile):
        def seek(self, offset: int, whence: int = 0) -> int:
            self.offset = self._pos = self._realpos = offset
            self._rbuffer = b""
            return offset

    f = Seekable(b"0123456789\nabc\n", "rb", bufsize=100)
    assert f.read(2) == b"01"
    f.seek(5)
    assert f.readline() == b"56789\n"
    f.seek(1)
    assert f.read(3) == b"123"
    f.seek(0)
    assert f.readlines() == [b"0123456789\n", b"abc\n"]


# -- random input ----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=300),
    chunk=st.integers(min_value=1, max_value=50),
    ops=st.lists(st.tuples(st.sampled_from(["read", "readline"]), st.integers(-1, 40)), max_size=20),
)
def test_any_mix_of_reads_returns_the_stream_in_order(data: bytes, chunk: int, ops: list[tuple[str, int]]) -> None:
    f = MemFile(data, "rb", chunk=chunk)
    got = bytearray()
    for op, size in ops:
        piece = f.read(size) if op == "read" else f.readline(size)
        if op == "readline" and size != 0 and piece and not piece.endswith(b"\n"):
            # a line without newline stops only at the size cap or at EOF
            assert len(piece) == size or f.read(1) == b""
        got += piece
        assert f.tell() == len(got)
    got += f.read()
    assert bytes(got) == data


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300), chunk=st.integers(min_value=1, max_value=50))
def test_universal_lines_match_python_splitlines(data: bytes, chunk: int) -> None:
    lines = MemFile(data, "rbU", chunk=chunk).readlines()
    expected = [line for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")]
    joined = b"\n".join(expected)
    assert b"".join(lines) == joined
    assert all(line.endswith(b"\n") for line in lines[:-1])
