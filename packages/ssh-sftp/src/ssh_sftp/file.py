"""``SFTPFile``: a remote file opened through ``SFTPClient.open``, with
Python file semantics (from ``BufferedFile``), pipelined writes, prefetch
and vectored reads."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ssh_transport.file import BufferedFile

from .attributes import SFTPAttributes
from .errors import SFTPError, status_to_exception
from .operations import check_status, expect_reply
from .sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_READ,
    CMD_STATUS,
    CMD_WRITE,
    EXT_CHECK_FILE,
    EXT_CHECK_FILE_HANDLE,
    EXT_FSTATVFS,
    EXT_FSYNC,
    MAX_REQUEST_SIZE,
    SFTP_EOF,
    SFTP_OK,
    U32,
    U64,
    ssh_string,
)
from .statvfs import SFTPStatVFS

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["SFTPFile"]

_READ_HDR = U64.pack  # offset
_STATUS_CODE = U32.unpack_from


class SFTPFile(BufferedFile):
    """A file on the SFTP server. Reads and writes go to the server as
    READ/WRITE requests; sizes follow the server's limits."""

    # Defaults for the number of requests kept in flight, and the memory
    # (bytes requested but not yet consumed) a prefetch may hold.
    MAX_PIPELINED_WRITES = 64
    MAX_PREFETCH_REQUESTS = 64
    PREFETCH_MEMORY = 16 * 1024 * 1024
    MAX_PARALLEL_READS = 16
    # Bytes per READ/WRITE when the server announces no limits
    # (limits@openssh.com); as in paramiko, raise it for servers known to
    # take bigger requests. Announced limits take precedence.
    MAX_REQUEST_SIZE = 32768

    def __init__(self, sftp: SFTPClient, handle: bytes, mode: str = "r", bufsize: int = -1, name: str = "") -> None:
        """Wrap an open server ``handle``; normally made by ``SFTPClient.open``."""
        super().__init__()
        self.sftp = sftp
        self.handle = handle
        self._hstr = ssh_string(handle)
        self._name = name
        self.pipelined = False
        # Shared with the client's reader thread, under ``sftp.session.cond``:
        self._pending_writes = 0
        self._saved_exception: BaseException | None = None
        self._prefetching = False
        self._pf_gen = 0
        self._pf_count = 0
        self._pf_retry: list[tuple[int, int]] = []
        self._pf_data: dict[int, bytes] = {}
        self._pf_next = 0
        self._pf_end = 0
        self._pf_inflight = 0
        self._pf_buffered = 0
        self._pf_max = self.MAX_PREFETCH_REQUESTS
        self._pf_eof: int | None = None
        self._pf_errors: dict[int, BaseException] = {}
        self._set_mode(mode, bufsize)

    def __repr__(self) -> str:
        """Class name, remote path and state."""
        return f"<SFTPFile {self._name!r} {'closed' if self._closed else 'open'}>"

    # -- replies routed here by the client -----------------------------------------

    def on_reply(self, t: int, data: bytes, num: int) -> None:
        """The status of one of our pipelined writes (reader thread, with
        ``sftp.session.cond`` held)."""
        self._pending_writes -= 1
        if t != CMD_STATUS or len(data) < 8:
            self._save_exception(SFTPError("Expected status reply to write"))
            return
        code = _STATUS_CODE(data, 4)[0]
        if code != SFTP_OK:
            self._save_exception(status_to_exception(code, _status(data[4:])[1], self._name))

    def _pf_reply(self, req: _PrefetchRequest, t: int, data: bytes) -> None:
        """The reply to a prefetch READ (reader thread, ``sftp.session.cond`` held)."""
        if req.gen != self._pf_gen:
            return  # a request of a cancelled prefetch
        offset, length = req.offset, req.length
        self._pf_count -= 1
        self._pf_inflight -= length
        if t == CMD_DATA:
            if len(data) < 8:
                self._pf_errors[offset] = SFTPError("Truncated data reply")
                return
            n = _STATUS_CODE(data, 4)[0]
            if n + 8 != len(data) or n > length:
                self._pf_errors[offset] = SFTPError("Malformed data reply")
                return
            if n == 0:
                self._note_eof(offset)
                return
            self._pf_data[offset] = data[8:]
            self._pf_buffered += n
            if n < length:
                # short read: the reading thread asks again for the rest
                self._pf_retry.append((offset + n, length - n))
        elif t == CMD_STATUS and len(data) >= 8:
            code, text = _status(data[4:])
            if code == SFTP_EOF:
                self._note_eof(offset)
            else:
                self._pf_errors[offset] = status_to_exception(code, text, self._name)
        else:
            self._pf_errors[offset] = SFTPError("Unexpected reply to read")

    def _note_eof(self, offset: int) -> None:
        """Remember the earliest offset the server called end of file."""
        if self._pf_eof is None or offset < self._pf_eof:
            self._pf_eof = offset

    def _save_exception(self, exc: BaseException) -> None:
        """Keep the first pipelined-write failure for the next operation."""
        if self._saved_exception is None:
            self._saved_exception = exc

    def _check_exception(self) -> None:
        """Wait for outstanding pipelined writes; raise the first error any
        of them hit (once)."""
        if self._pending_writes:
            self.sftp.session.wait_until(lambda: self._pending_writes == 0)
        exc = self._saved_exception
        if exc is not None:
            self._saved_exception = None
            raise exc

    # -- request sizes ---------------------------------------------------------------

    def _read_size(self) -> int:
        """Bytes per READ request: the server's limit, else ``MAX_REQUEST_SIZE``."""
        if self.sftp.limits_announced:
            return self.sftp.max_read_size
        return _clamp_request(self.MAX_REQUEST_SIZE)

    def _write_size(self) -> int:
        """Bytes per WRITE request: the server's limit, else ``MAX_REQUEST_SIZE``."""
        if self.sftp.limits_announced:
            return self.sftp.max_write_size
        return _clamp_request(self.MAX_REQUEST_SIZE)

    # -- BufferedFile protocol -----------------------------------------------------

    def _read(self, size: int) -> bytes | None:
        """Up to ``size`` bytes at the current offset; prefetched data if a
        prefetch runs, else up to ``MAX_PARALLEL_READS`` requests at once."""
        self._check_exception()
        if self._prefetching:
            return self._read_prefetch(size)
        chunk = self._read_size()
        offset = self._realpos
        count = min(-(-size // chunk), self.MAX_PARALLEL_READS)
        nums = []
        for i in range(count):
            n = min(chunk, size - i * chunk)
            nums.append(
                (self.sftp.session.send(None, CMD_READ, self._hstr, U64.pack(offset + i * chunk), U32.pack(n)), n)
            )
        out: list[bytes] = []
        complete = True
        error: BaseException | None = None
        for num, n in nums:
            t, data = self.sftp.session.read_response(num)
            if not complete:
                continue
            if t == CMD_DATA:
                got = _data_payload(data)
                if got is None or len(got) > n:
                    error = SFTPError("Malformed data reply")
                    complete = False
                    continue
                out.append(got)
                if len(got) < n:
                    complete = False
            elif t == CMD_STATUS:
                code, text = _status(data)
                complete = False
                if code != SFTP_EOF:
                    error = status_to_exception(code, text, self._name)
            else:
                error = SFTPError("Expected data reply")
                complete = False
        if error is not None and not out:
            raise error
        return b"".join(out) if len(out) != 1 else out[0]

    def _write(self, data: bytes | memoryview) -> int:
        """Send one WRITE of up to the server's write size at the current
        offset; when pipelined, do not wait for its status."""
        chunk = memoryview(data)[: self._write_size()]
        n = len(chunk)
        parts = (self._hstr, U64.pack(self._realpos), U32.pack(n), chunk)
        if self.pipelined:
            sftp = self.sftp
            with sftp.session.cond:
                self._pending_writes += 1
            try:
                sftp.session.send(self, CMD_WRITE, *parts)
            except BaseException:
                with sftp.session.cond:
                    self._pending_writes -= 1
                raise
            if self._pending_writes > self.MAX_PIPELINED_WRITES:
                sftp.session.wait_until(lambda: self._pending_writes <= self.MAX_PIPELINED_WRITES)
        else:
            t, msg = self.sftp.session.request(CMD_WRITE, *parts)
            check_status(t, msg, self._name)
        return n

    def _get_size(self) -> int:
        """The file's size on the server (for append mode and ``SEEK_END``)."""
        return self.stat().st_size or 0

    # -- prefetch ------------------------------------------------------------------

    def prefetch(self, file_size: int | None = None, max_concurrent_requests: int | None = None) -> None:
        """Start fetching the rest of the file (from the current position up
        to ``file_size``, stat'ed if not given) with many READ requests in
        flight; later ``read`` calls take the data as it arrives. Memory
        stays bounded: new requests go out only as data is consumed."""
        if file_size is None:
            file_size = self.stat().st_size or 0
        self._stop_prefetch()
        self._prefetching = True
        self._pf_next = self._realpos
        self._pf_end = file_size
        self._pf_max = max_concurrent_requests or self.MAX_PREFETCH_REQUESTS
        self._pf_fill()

    def _pf_request(self, offset: int, length: int) -> None:
        """Send one prefetch READ."""
        sftp = self.sftp
        req = _PrefetchRequest(self, self._pf_gen, offset, length)
        with sftp.session.cond:
            self._pf_count += 1
            self._pf_inflight += length
        sftp.session.send(req, CMD_READ, self._hstr, U64.pack(offset), U32.pack(length))

    def _pf_fill(self) -> None:
        """Re-ask for the tails of short reads, then top the pipeline up to
        its request and memory limits."""
        if self._pf_retry:
            with self.sftp.session.cond:
                retry, self._pf_retry = self._pf_retry, []
            for offset, length in retry:
                self._pf_request(offset, length)
        chunk = self._read_size()
        budget = self.PREFETCH_MEMORY
        end = self._pf_end if self._pf_eof is None else min(self._pf_end, self._pf_eof)
        while self._pf_next < end and self._pf_count < self._pf_max and self._pf_inflight + self._pf_buffered < budget:
            n = min(chunk, end - self._pf_next)
            self._pf_request(self._pf_next, n)
            self._pf_next += n

    def _stop_prefetch(self) -> None:
        """Forget the prefetch; replies still on the way are ignored."""
        with self.sftp.session.cond:
            self._prefetching = False
            self._pf_gen += 1
            self._pf_count = 0
            self._pf_retry = []
            self._pf_data.clear()
            self._pf_errors.clear()
            self._pf_inflight = self._pf_buffered = 0
            self._pf_eof = None

    def _pf_ready(self, pos: int) -> bool:
        """Whether ``_read_prefetch`` at ``pos`` can go on without waiting."""
        return (
            pos in self._pf_data
            or pos in self._pf_errors
            or (self._pf_eof is not None and pos >= self._pf_eof)
            or self._pf_count == 0
            or bool(self._pf_retry)
        )

    def _read_prefetch(self, size: int) -> bytes | None:
        """Prefetched data at the current position, waiting for it if needed."""
        pos = self._realpos
        sftp = self.sftp
        while True:
            if not self._pf_ready(pos):
                sftp.session.wait_until(lambda: self._pf_ready(pos))
            with sftp.session.cond:
                data = self._pf_data.pop(pos, None)
                if data is not None:
                    self._pf_buffered -= len(data)
                    if len(data) > size:
                        rest = data[size:]
                        self._pf_data[pos + size] = rest
                        self._pf_buffered += len(rest)
                        data = data[:size]
                    err = None
                else:
                    err = self._pf_errors.pop(pos, None)
                eof = self._pf_eof is not None and pos >= self._pf_eof
            if data is not None:
                self._pf_fill()
                return data
            if err is not None:
                self._stop_prefetch()
                raise err
            if eof:
                self._stop_prefetch()
                return b""
            if pos >= self._pf_end and not self._pf_retry:
                # past what we were told to prefetch: plain reads from here
                self._stop_prefetch()
                return self._read(size)
            self._pf_fill()
            if self._pf_count == 0:
                self._stop_prefetch()
                return self._read(size)

    def readv(
        self, chunks: Sequence[tuple[int, int]], max_concurrent_prefetch_requests: int | None = None
    ) -> Iterator[bytes]:
        """Read many (offset, length) ranges at once, with the requests
        pipelined (at most ``max_concurrent_prefetch_requests`` in flight,
        default ``MAX_PREFETCH_REQUESTS``); yields each range's data in the
        order given (short at end of file)."""
        self._check_exception()
        self.flush()
        step = self._read_size()
        pieces: list[tuple[int, int, int]] = []  # (chunk index, offset, length)
        for i, (offset, length) in enumerate(chunks):
            if offset < 0 or length < 0:
                raise ValueError("negative offset or length")
            pos, end = offset, offset + length
            while pos < end:
                n = min(step, end - pos)
                pieces.append((i, pos, n))
                pos += n
        return self._readv_iter(pieces, len(chunks), max_concurrent_prefetch_requests or self.MAX_PREFETCH_REQUESTS)

    def _readv_iter(self, pieces: list[tuple[int, int, int]], nchunks: int, window: int) -> Iterator[bytes]:
        """Issue ``pieces`` with at most ``window`` in flight; yield whole
        chunks in order."""
        sent: list[tuple[int, int, int, int]] = []  # (num, chunk index, offset, length)
        nxt = 0
        current = 0
        parts: list[bytes] = []
        short = False
        done = 0
        # the waits between two yields share one deadline (see _wait_until)
        since = time.monotonic()
        try:
            while done < len(pieces) or current < nchunks:
                while nxt < len(pieces) and len(sent) - done < window:
                    i, off, n = pieces[nxt]
                    num = self.sftp.session.send(None, CMD_READ, self._hstr, U64.pack(off), U32.pack(n))
                    sent.append((num, i, off, n))
                    nxt += 1
                if done >= len(pieces):
                    # only empty chunks remain
                    yield b""
                    since = time.monotonic()
                    current += 1
                    continue
                num, i, off, n = sent[done]
                while current < i:
                    yield b"".join(parts)
                    since = time.monotonic()
                    parts, short = [], False
                    current += 1
                t, data = self.sftp.session.read_response(num, since)
                done += 1
                if t == CMD_DATA:
                    got = _data_payload(data)
                    if got is None or len(got) > n:
                        raise SFTPError("Malformed data reply")
                    if not short:
                        if len(got) < n:
                            # a short reply is not end of file: ask for the rest
                            got += self._read_range(off + len(got), n - len(got))
                        parts.append(got)
                    short = short or len(got) < n
                elif t == CMD_STATUS:
                    code, text = _status(data)
                    if code != SFTP_EOF:
                        raise status_to_exception(code, text, self._name)
                    short = True
                else:
                    raise SFTPError("Expected data reply")
                last = done >= len(pieces) or _chunk_of(pieces, done) != i
                if last:
                    yield b"".join(parts)
                    since = time.monotonic()
                    parts, short = [], False
                    current += 1
        finally:
            for num, *_ in sent[done:]:
                try:
                    self.sftp.session.read_response(num, since)
                except Exception:
                    break

    def _read_range(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` with one request at a time (fewer
        only at end of file): completes a short reply inside ``readv``."""
        out: list[bytes] = []
        while length > 0:
            num = self.sftp.session.send(None, CMD_READ, self._hstr, U64.pack(offset), U32.pack(length))
            t, data = self.sftp.session.read_response(num)
            if t == CMD_STATUS:
                code, text = _status(data)
                if code == SFTP_EOF:
                    break
                raise status_to_exception(code, text, self._name)
            got = _data_payload(data) if t == CMD_DATA else None
            if got is None or len(got) > length:
                raise SFTPError("Malformed data reply")
            if not got:
                break
            out.append(got)
            offset += len(got)
            length -= len(got)
        return b"".join(out)

    # -- positioning ---------------------------------------------------------------

    def seekable(self) -> bool:
        """SFTP files can seek."""
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move the file position (``SEEK_SET``, ``SEEK_CUR``, ``SEEK_END``);
        flushes buffered writes and drops read-ahead. Returns the new position."""
        self.flush()
        if whence == self.SEEK_SET:
            pos = offset
        elif whence == self.SEEK_CUR:
            pos = self._pos + offset
        elif whence == self.SEEK_END:
            pos = self._get_size() + offset
        else:
            raise ValueError("invalid whence")
        if pos < 0:
            raise OSError(22, "Invalid argument: negative seek position")
        if self._prefetching and pos != self._realpos:
            self._stop_prefetch()
        self._realpos = self._pos = pos
        self._rbuffer = bytearray()
        return pos

    # -- handle operations -----------------------------------------------------------

    def stat(self) -> SFTPAttributes:
        """The file's attributes (FSTAT on the open handle)."""
        self._check_exception()
        t, msg = self.sftp.session.request(CMD_FSTAT, self._hstr)
        return SFTPAttributes._from_msg(expect_reply(t, msg, CMD_ATTRS, self._name))

    def _fsetstat(self, attr: SFTPAttributes) -> None:
        """FSETSTAT the handle to the fields of ``attr`` that are set."""
        self._check_exception()
        t, msg = self.sftp.session.request(CMD_FSETSTAT, self._hstr, attr.asbytes())
        check_status(t, msg, self._name)

    def chmod(self, mode: int) -> None:
        """Change the file's permission bits."""
        attr = SFTPAttributes()
        attr.st_mode = mode
        self._fsetstat(attr)

    def chown(self, uid: int, gid: int) -> None:
        """Change the file's owner and group."""
        attr = SFTPAttributes()
        attr.st_uid, attr.st_gid = uid, gid
        self._fsetstat(attr)

    def utime(self, times: tuple[float, float] | None) -> None:
        """Set access and modification times (``None``: now)."""
        if times is None:
            now = time.time()
            times = (now, now)
        attr = SFTPAttributes()
        attr.st_atime, attr.st_mtime = times
        self._fsetstat(attr)

    def truncate(self, size: int) -> None:
        """Cut (or extend) the file to ``size`` bytes."""
        self.flush()
        attr = SFTPAttributes()
        attr.st_size = size
        self._fsetstat(attr)

    def fsync(self) -> None:
        """Ask the server to flush the file to disk (fsync@openssh.com)."""
        self.flush()
        self._check_exception()
        self.sftp.require_extension(EXT_FSYNC)
        t, msg = self.sftp.session.request(CMD_EXTENDED, ssh_string(EXT_FSYNC), self._hstr)
        check_status(t, msg, self._name)

    def statvfs(self) -> SFTPStatVFS:
        """Statistics of the file system holding this file (fstatvfs@openssh.com)."""
        self._check_exception()
        self.sftp.require_extension(EXT_FSTATVFS)
        t, msg = self.sftp.session.request(CMD_EXTENDED, ssh_string(EXT_FSTATVFS), self._hstr)
        return SFTPStatVFS._from_msg(expect_reply(t, msg, CMD_EXTENDED_REPLY, self._name))

    def check(self, hash_algorithm: str, offset: int = 0, length: int = 0, block_size: int = 0) -> bytes:
        """Ask the server for a hash of part of the file (the check-file
        extension): ``hash_algorithm`` is a comma-separated preference list
        ("sha256,sha1", "md5", ...); ``length`` 0 means to the end of the
        file; with ``block_size`` non-zero (at least 256) the result is the
        hashes of each block concatenated. Returns the raw hash bytes."""
        self.flush()
        self._check_exception()
        name = EXT_CHECK_FILE_HANDLE if EXT_CHECK_FILE in self.sftp.server_extensions else EXT_CHECK_FILE
        t, msg = self.sftp.session.request(
            CMD_EXTENDED,
            ssh_string(name),
            self._hstr,
            ssh_string(hash_algorithm),
            U64.pack(offset),
            U64.pack(length),
            U32.pack(block_size),
        )
        msg = expect_reply(t, msg, CMD_EXTENDED_REPLY, self._name)
        msg.get_text()  # "check-file"
        msg.get_text()  # the algorithm used
        return msg.get_remainder()

    def set_pipelined(self, pipelined: bool = True) -> None:
        """With pipelining on, ``write`` does not wait for the server's
        answer; a failure surfaces at the next non-write operation or at
        ``close``. Much faster for large uploads."""
        self.pipelined = pipelined

    def settimeout(self, timeout: float | None) -> None:
        """Timeout (seconds, None for none) for operations on the channel
        under this file; it applies to the whole SFTP session."""
        self.sftp.sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        """The channel's timeout (see ``settimeout``)."""
        result: float | None = self.sftp.sock.gettimeout()
        return result

    def setblocking(self, blocking: int | bool) -> None:
        """``setblocking(False)`` is ``settimeout(0)``; True is ``settimeout(None)``."""
        self.sftp.sock.setblocking(blocking)

    def close(self, _async: bool = False) -> None:
        """Flush, wait for pipelined writes (raising their first error) and
        close the handle. ``_async`` sends CLOSE without waiting (for
        garbage collection), as does a session whose server let a request
        time out and has not answered since."""
        if self._closed:
            return
        sftp = self.sftp
        try:
            BufferedFile.close(self)
        finally:
            self._closed = True
            if self._prefetching:
                self._stop_prefetch()
            if _async or sftp.session.peer_silent():
                # (a server that let a request time out is not waited for again)
                if sftp.session.dropped is None:
                    sftp.session.send(_IGNORE, CMD_CLOSE, self._hstr)
            else:
                try:
                    self._check_exception()
                finally:
                    if sftp.session.dropped is None:
                        t, msg = sftp.session.request(CMD_CLOSE, self._hstr)
                        check_status(t, msg, self._name)

    def __del__(self) -> None:
        """A file dropped without ``close``: its handle is closed with the
        session's next request. Nothing is sent from here (the garbage
        collector may run in the middle of another request), so data still
        in the write buffer is lost: close files you write."""
        try:
            if not getattr(self, "_closed", True):
                self._closed = True
                self.sftp.session.defer_close(self._hstr)
        except Exception:
            pass

    def flush(self) -> None:
        """Write out buffered data (pipelined writes may still be in flight)."""
        BufferedFile.flush(self)


class _PrefetchRequest:
    """Routes the reply to one prefetch READ back to its file."""

    __slots__ = ("file", "gen", "length", "offset")

    def __init__(self, file: SFTPFile, gen: int, offset: int, length: int) -> None:
        """Remember which prefetch (``gen``) and range the request covers."""
        self.file = file
        self.gen = gen
        self.offset = offset
        self.length = length

    def on_reply(self, t: int, data: bytes, num: int) -> None:
        """Hand the reply to the file."""
        self.file._pf_reply(self, t, data)


class _Ignore:
    """Reply sink for asynchronous closes."""

    def on_reply(self, t: int, data: bytes, num: int) -> None:
        """Drop the reply."""


_IGNORE = _Ignore()


def _clamp_request(size: int) -> int:
    """A request size between 1 KiB and ``MAX_REQUEST_SIZE``."""
    return max(1024, min(int(size), MAX_REQUEST_SIZE))


def _chunk_of(pieces: list[tuple[int, int, int]], k: int) -> int:
    """The chunk index of piece ``k``."""
    return pieces[k][0]


def _data_payload(data: bytes) -> bytes | None:
    """The bytes of a DATA body (after the request id); None if malformed."""
    if len(data) < 4:
        return None
    n = _STATUS_CODE(data, 0)[0]
    if n + 4 != len(data):
        return None
    return data[4:] if n else b""


def _status(data: bytes) -> tuple[int, str]:
    """(code, text) of a STATUS body (after the request id)."""
    if len(data) < 4:
        raise SFTPError("Truncated status reply")
    code = _STATUS_CODE(data, 0)[0]
    text = ""
    if len(data) >= 8:
        n = _STATUS_CODE(data, 4)[0]
        text = data[8 : 8 + n].decode("utf-8", "replace")
    return code, text
