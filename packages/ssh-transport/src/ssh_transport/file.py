"""``BufferedFile``: a Python file object over any byte stream.

Channels (``ChannelFile``) and SFTP (``SFTPFile``) subclass it. The subclass
protocol, as in paramiko:

* ``_read(size) -> bytes | None``: up to ``size`` bytes; ``None``, ``b""`` or
  ``EOFError`` mean end of file.
* ``_write(data) -> int``: write some of ``data`` (``bytes`` or a
  ``memoryview``) and say how much; ``BufferedFile`` loops until all is written.
* ``_get_size() -> int`` (optional): the file's size, for append mode and for
  seeking from the end.
* ``__init__`` calls ``BufferedFile.__init__(self)`` and then
  ``self._set_mode(mode, bufsize)``.

State kept here and shared with subclasses: ``_closed``, ``_flags``, ``_pos``
(the position the user sees), ``_realpos`` (the position of the underlying
stream, ahead of ``_pos`` by what is buffered for reading), ``_rbuffer``,
``_wbuffer`` (a ``BytesIO``), ``_bufsize`` and ``_size``. A subclass that can
seek overrides ``seek`` and, after moving, sets ``_pos``/``_realpos`` and
empties ``_rbuffer`` (assigning ``b""`` is fine).

As in paramiko: ``read`` always returns ``bytes``; ``readline``,
``readlines`` and iteration return ``str`` (decoded as UTF-8) unless the mode
has ``'b'``. ``write`` takes ``str`` (encoded as UTF-8) or bytes-like data.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from ssh_wire import ClosingContextManager

__all__ = ["BufferedFile", "FileClosedError"]

# What readline/readlines/iteration give: ``str`` in text mode, ``bytes`` in
# binary mode (the mode is only known at run time).
Line = Any

_F = TypeVar("_F", bound="BufferedFile")


class FileClosedError(OSError, ValueError):
    """An operation on a closed file.

    Both an ``IOError`` (what paramiko raised) and a ``ValueError`` (what
    Python's own files raise), so either ``except`` clause catches it.
    """


class BufferedFile(ClosingContextManager):
    """Reusable base class that implements Python file semantics (buffered
    reads, readline, iteration, buffered or line-buffered writes) on top of a
    subclass's raw ``_read``/``_write``."""

    SEEK_SET = io.SEEK_SET
    SEEK_CUR = io.SEEK_CUR
    SEEK_END = io.SEEK_END

    _DEFAULT_BUFSIZE = 8192
    # How much ``read()`` with no size asks ``_read`` for at a time.
    _READ_ALL_CHUNK = 256 * 1024

    FLAG_READ = 0x1
    FLAG_WRITE = 0x2
    FLAG_APPEND = 0x4
    FLAG_BINARY = 0x10
    FLAG_BUFFERED = 0x20
    FLAG_LINE_BUFFERED = 0x40
    FLAG_UNIVERSAL_NEWLINE = 0x80

    def __init__(self) -> None:
        """Set up empty buffers; subclasses then call ``_set_mode``."""
        self.newlines: str | tuple[str, ...] | None = None
        self._flags = 0
        self._bufsize = self._DEFAULT_BUFSIZE
        self._wbuffer = io.BytesIO()
        self._rbuffer: bytes | bytearray = bytearray()
        self._at_trailing_cr = False
        self._closed = False
        self._pos = 0
        self._realpos = 0
        self._size = 0

    def __del__(self) -> None:
        """Flush what is still buffered when the file is garbage collected."""
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        """Class name, mode flags and state, for debugging."""
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} flags=0x{self._flags:x} {state}>"

    # -- context manager and iteration -------------------------------------

    def __enter__(self: _F) -> _F:
        """Use the file in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the file when the ``with`` block ends."""
        self.close()

    def __iter__(self) -> Iterator[Line]:
        """The file is its own line iterator; raises ValueError if closed."""
        if self._closed:
            raise FileClosedError("I/O operation on closed file")
        return self

    def __next__(self) -> Line:
        """The next line; ``StopIteration`` at end of file. Mixing with
        ``readline`` is fine."""
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    next = __next__

    def xreadlines(self) -> Iterator[Line]:
        """Identical to ``iter(f)`` (the pre-iterator file interface)."""
        return iter(self)

    # -- state -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once ``close`` has been called."""
        return self._closed

    def close(self) -> None:
        """Flush buffered writes and close; later reads and writes fail."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True

    def readable(self) -> bool:
        """True if the file was opened for reading."""
        return bool(self._flags & self.FLAG_READ)

    def writable(self) -> bool:
        """True if the file was opened for writing (or appending)."""
        return bool(self._flags & self.FLAG_WRITE)

    def seekable(self) -> bool:
        """False here; subclasses that support ``seek`` say True."""
        return False

    def tell(self) -> int:
        """The current position (bytes read or written so far, or set by
        ``seek``); not meaningful for streams in append mode."""
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the position; the base class cannot, and raises IOError."""
        raise io.UnsupportedOperation("File does not support seeking.")

    # -- reading -------------------------------------------------------------

    def _check_readable(self) -> bytearray:
        """The read buffer, as a bytearray, if reading is allowed."""
        if self._closed:
            raise FileClosedError("File is closed")
        if not self._flags & self.FLAG_READ:
            raise io.UnsupportedOperation("File is not open for reading")
        buf = self._rbuffer
        if type(buf) is not bytearray:
            buf = self._rbuffer = bytearray(buf)
        return buf

    def _fill(self, size: int) -> bytes:
        """One call to the subclass's ``_read``; ``b""`` at end of file.

        Any zero-length answer ends the read, judged by ``len`` rather than
        truth: a stand-in object that is truthy but empty (a test double for
        a channel) would otherwise make ``read`` loop and grow forever.
        """
        try:
            data = self._read(size)
        except EOFError:
            return b""
        if data is None or len(data) == 0:
            return b""
        self._realpos += len(data)
        return data

    def read(self, size: int | None = None) -> bytes:
        """Read up to ``size`` bytes (all that remains if ``size`` is None or
        negative), fewer only at end of file; ``b""`` at end of file."""
        buf = self._check_readable()
        self._at_trailing_cr = False
        if size is None or size < 0:
            chunks = [bytes(buf)]
            buf.clear()
            while True:
                data = self._fill(self._READ_ALL_CHUNK)
                if not data:
                    break
                chunks.append(data)
            result = b"".join(chunks)
            self._pos += len(result)
            return result
        if len(buf) >= size:
            result = bytes(buf[:size])
            del buf[:size]
            self._pos += size
            return result
        need = size - len(buf)
        chunks = [bytes(buf)] if buf else []
        buf.clear()
        buffered = bool(self._flags & self.FLAG_BUFFERED)
        while need > 0:
            data = self._fill(max(self._bufsize, need) if buffered else need)
            if not data:
                break
            if len(data) > need:
                buf += memoryview(data)[need:]
                data = data[:need]
            chunks.append(data)
            need -= len(data)
        # a single piece is returned as it is (no copy of a big read)
        result = chunks[0] if len(chunks) == 1 and type(chunks[0]) is bytes else b"".join(chunks)
        self._pos += len(result)
        return result

    def readinto(self, buff: bytearray | memoryview) -> int:
        """Read up to ``len(buff)`` bytes into ``buff``; how many were read."""
        data = self.read(len(buff))
        buff[: len(data)] = data
        return len(data)

    def _decode(self, line: bytes) -> Line:
        """The line as the mode wants it: bytes, or UTF-8 decoded text."""
        if self._flags & self.FLAG_BINARY:
            return line
        return line.decode("utf-8", "replace")

    def _record_newline(self, newline: str) -> None:
        """Remember a newline style seen in universal-newline mode."""
        if not self._flags & self.FLAG_UNIVERSAL_NEWLINE:
            return
        seen = self.newlines
        if seen is None:
            self.newlines = newline
        elif isinstance(seen, str):
            if seen != newline:
                self.newlines = (seen, newline)
        elif newline not in seen:
            self.newlines = (*seen, newline)

    def readline(self, size: int | None = None) -> Line:
        """Read one line, keeping its trailing newline (absent if the file
        ends without one). ``size`` (if not None or negative) caps the bytes
        taken, so a partial line may come back. Empty only at end of file.

        In universal-newline mode ('U'), ``\\r``, ``\\n`` and ``\\r\\n`` all end
        a line and come back as ``\\n``; ``newlines`` records the styles seen.
        """
        buf = self._check_readable()
        universal = bool(self._flags & self.FLAG_UNIVERSAL_NEWLINE)
        limit = size if size is not None and size >= 0 else None
        if self._at_trailing_cr:
            # the last line ended in '\r': a '\n' right after it belongs to it
            if not buf:
                buf += self._fill(self._DEFAULT_BUFSIZE)
            if buf[:1] == b"\n":
                del buf[:1]
                self._pos += 1
                self._record_newline("\r\n")
            else:
                self._record_newline("\r")
            self._at_trailing_cr = False
        if limit == 0:
            return self._decode(b"")
        scan = 0
        pos = -1
        while True:
            end = len(buf) if limit is None else min(len(buf), limit)
            pos = buf.find(b"\n", scan, end)
            if universal:
                rpos = buf.find(b"\r", scan, pos if pos >= 0 else end)
                if rpos >= 0:
                    pos = rpos
            if pos >= 0 or (limit is not None and end >= limit):
                break
            scan = end
            data = self._fill(self._DEFAULT_BUFSIZE)
            if not data:
                break
            buf += data
        if pos < 0:
            if limit is not None and end >= limit and not self._flags & self.FLAG_BINARY:
                end = _utf8_boundary(buf, end)
            line = bytes(buf[:end])
            del buf[:end]
            self._pos += end
            return self._decode(line)
        xpos = pos + 1
        if buf[pos] == 0x0D:  # '\r' in universal mode
            if xpos < len(buf) and (limit is None or xpos < limit):
                if buf[xpos] == 0x0A:
                    xpos += 1
                    self._record_newline("\r\n")
                else:
                    self._record_newline("\r")
            else:
                # cannot see the next byte yet; settle it on the next readline
                self._at_trailing_cr = True
            line = bytes(buf[:pos]) + b"\n"
        else:
            self._record_newline("\n")
            line = bytes(buf[:xpos])
        del buf[:xpos]
        self._pos += xpos
        return self._decode(line)

    def readlines(self, sizehint: int | None = None) -> list[Line]:
        """All remaining lines as a list; with ``sizehint``, stop after about
        that many bytes of whole lines."""
        lines: list[Line] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if sizehint is not None and 0 < sizehint <= total:
                break
        return lines

    # -- writing -------------------------------------------------------------

    def write(self, data: str | bytes | bytearray | memoryview) -> None:
        """Write ``data`` (``str`` is encoded as UTF-8). With buffering on,
        some may stay in the buffer until ``flush``/``close`` (line buffering
        writes through each complete line)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._closed:
            raise FileClosedError("File is closed")
        if not self._flags & self.FLAG_WRITE:
            raise io.UnsupportedOperation("File not open for writing")
        if not self._flags & self.FLAG_BUFFERED:
            self._write_all(data)
            return
        wbuf = self._wbuffer
        if self._flags & self.FLAG_LINE_BUFFERED:
            if isinstance(data, memoryview):
                data = data.tobytes()
            last = data.rfind(b"\n")
            if last < 0:
                wbuf.write(data)
                return
            view = memoryview(data)
            if wbuf.tell():
                wbuf.write(view[: last + 1])
                self.flush()
            else:
                self._write_all(view[: last + 1])
            if last + 1 < len(view):
                self._wbuffer.write(view[last + 1 :])
            return
        if not wbuf.tell() and len(data) >= self._bufsize:
            self._write_all(data)
            return
        wbuf.write(data)
        if wbuf.tell() >= self._bufsize:
            self.flush()

    def writelines(self, sequence: Iterable[str | bytes]) -> None:
        """Write each string of ``sequence``; no line separators are added."""
        for line in sequence:
            self.write(line)

    def flush(self) -> None:
        """Write out whatever the write buffer holds."""
        if not self._wbuffer.tell():
            return
        data = self._wbuffer.getbuffer()
        try:
            pending = bytes(data)
        finally:
            data.release()
        self._wbuffer = io.BytesIO()
        self._write_all(pending)

    def _write_all(self, raw: bytes | bytearray | memoryview) -> None:
        """Call ``_write`` until every byte is taken, tracking positions."""
        data = raw if isinstance(raw, bytes) else memoryview(raw).cast("B")
        append = bool(self._flags & self.FLAG_APPEND)
        while len(data) > 0:
            count = self._write(data)
            if count <= 0:
                raise OSError("write made no progress")
            if count < len(data):
                data = memoryview(data)[count:]
            else:
                data = b""
            if append:
                self._size += count
                self._pos = self._realpos = self._size
            else:
                self._pos += count
                self._realpos += count

    # -- subclass interface --------------------------------------------------

    def _read(self, size: int) -> bytes | None:
        """(subclass) Read up to ``size`` bytes; None or b"" at end of file."""
        raise io.UnsupportedOperation("read not implemented")

    def _write(self, data: bytes | memoryview) -> int:
        """(subclass) Write some of ``data``; return how many bytes went."""
        raise io.UnsupportedOperation("write not implemented")

    def _get_size(self) -> int:
        """(subclass) The file's size, for append mode and seek from the end."""
        return 0

    def _set_mode(self, mode: str = "r", bufsize: int = -1) -> None:
        """Set flags from a Python-style ``mode`` and ``bufsize``: 0 (or
        negative, the default) unbuffered, 1 line-buffered, N buffer N bytes."""
        self._bufsize = self._DEFAULT_BUFSIZE
        if bufsize < 0:
            bufsize = 0
        if bufsize == 1:
            # line buffering affects writes; readline always reads ahead
            self._flags |= self.FLAG_BUFFERED | self.FLAG_LINE_BUFFERED
        elif bufsize > 1:
            self._bufsize = bufsize
            self._flags |= self.FLAG_BUFFERED
            self._flags &= ~self.FLAG_LINE_BUFFERED
        else:
            self._flags &= ~(self.FLAG_BUFFERED | self.FLAG_LINE_BUFFERED)
        if "r" in mode or "+" in mode:
            self._flags |= self.FLAG_READ
        if "w" in mode or "+" in mode or "x" in mode:
            self._flags |= self.FLAG_WRITE
        if "a" in mode:
            self._flags |= self.FLAG_WRITE | self.FLAG_APPEND
            self._size = self._get_size()
            self._pos = self._realpos = self._size
        if "b" in mode:
            self._flags |= self.FLAG_BINARY
        if "U" in mode:
            self._flags |= self.FLAG_UNIVERSAL_NEWLINE
            # seen newline styles are recorded in self.newlines
            self.newlines = None


def _utf8_boundary(buf: bytearray, end: int) -> int:
    """``end`` moved back so ``buf[:end]`` does not split a UTF-8 character
    (unchanged if that would leave nothing or the bytes are not UTF-8)."""
    back = 0
    i = end - 1
    while i >= 0 and back < 3 and buf[i] & 0xC0 == 0x80:
        i -= 1
        back += 1
    if i < 0 or buf[i] < 0xC0:
        return end
    lead = buf[i]
    width = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    if back + 1 < width and i > 0:
        return i
    return end
