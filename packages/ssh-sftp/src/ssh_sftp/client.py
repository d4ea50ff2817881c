"""``SFTPClient``: the client side of SFTP v3 over any channel-like stream.

Requests carry a number; replies may come back in any order. One reader at a
time (under ``_read_lock``) pulls replies off the stream and routes each to
whoever waits for it: a blocking caller, or a file object collecting
pipelined writes and prefetched reads.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, Protocol

from ssh_wire import Message, ProtocolError

from .attributes import SFTPAttributes
from .errors import SOCKET_CLOSED, SFTPError, SFTPOSError, status_to_exception
from .file import SFTPFile
from .limits import SFTPLimits
from .sftp import (
    _VERSION,
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_INIT,
    CMD_LSTAT,
    CMD_MKDIR,
    CMD_NAME,
    CMD_NAMES,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READDIR,
    CMD_READLINK,
    CMD_REALPATH,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_RMDIR,
    CMD_SETSTAT,
    CMD_STAT,
    CMD_STATUS,
    CMD_SYMLINK,
    CMD_VERSION,
    EXT_COPY_DATA,
    EXT_EXPAND_PATH,
    EXT_HARDLINK,
    EXT_HOME_DIRECTORY,
    EXT_LIMITS,
    EXT_LSETSTAT,
    EXT_POSIX_RENAME,
    EXT_STATVFS,
    EXT_USERS_GROUPS_BY_ID,
    HDR_ID,
    MAX_REQUEST_SIZE,
    SFTP_EOF,
    SFTP_FLAG_APPEND,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_READ,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
    SFTP_OK,
    U32,
    U64,
    BaseSFTP,
    PacketSplitter,
    path_str,
    ssh_string,
)
from .statvfs import SFTPStatVFS
from .transfer import TransferOptions, get_tree, put_tree
from .tree import WalkEntry, glob, makedirs, rmtree, walk

__all__ = ["SFTP", "SFTPClient"]

Callback = Callable[[int, int], object]

# Without limits@openssh.com, every server accepts 32 KiB reads and writes.
DEFAULT_REQUEST_SIZE = 32768
# A request whose last part is this long is sent in two writes rather than
# copied whole: the header with the first bytes (one SSH packet's worth),
# then the rest straight from the caller's buffer.
_SPLIT_AT = 32768


class _ReplyHandler(Protocol):
    """Something that takes replies for requests it sent asynchronously."""

    def _async_response(self, t: int, data: bytes, num: int) -> None:
        """Handle reply type ``t``; ``data`` starts with the request id."""


class _Discard:
    """Swallows replies nobody waits for (an asynchronous close)."""

    def _async_response(self, t: int, data: bytes, num: int) -> None:
        """Ignore the reply."""


_DISCARD = _Discard()


class SFTPClient(BaseSFTP):
    """An SFTP session on an open channel that already runs the ``sftp``
    subsystem: file and directory operations on the server."""

    def __init__(self, sock: Any) -> None:
        """Start SFTP on ``sock`` (a ``Channel`` or channel-like stream): send
        INIT, read the server's VERSION and extensions, and ask for its
        limits when it offers limits@openssh.com. Raises ``SSHException``
        (``SFTPError``) if the server does not answer as an SFTP server."""
        super().__init__()
        self.sock = sock
        self._use_transport_logger(sock)
        self.request_number = 1
        # _lock serializes sending; _cond guards the reply bookkeeping and
        # wakes waiters. Nobody sends while holding _cond.
        self._lock = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._reader: threading.Thread | None = None
        self._cwd: str | None = None
        self._expecting: dict[int, _ReplyHandler | None] = {}
        self._done: dict[int, tuple[int, bytes]] = {}
        self._deferred_closes: list[bytes] = []
        self._closed = False
        self._dropped: str | None = None
        # the stream itself is gone (closed, EOF, or a send failed), as
        # opposed to a session dropped over garbage from the server
        self._stream_gone = False
        # when the last reply arrived (waits time out counting from it), and
        # whether a send timed out (the session is then over)
        self._last_reply = 0.0
        self._send_timed_out = False
        self._silent_after: float | None = None
        self.max_read_size = DEFAULT_REQUEST_SIZE
        self.max_write_size = DEFAULT_REQUEST_SIZE
        # True once the server announced its limits (limits@openssh.com);
        # until then files use ``SFTPFile.MAX_REQUEST_SIZE``
        self.limits_announced = False
        self.max_open_handles: int | None = None
        try:
            self.server_version, self.server_extensions = self._handshake()
        except EOFError:
            raise SFTPError("EOF during negotiation") from None
        # From here on every reply is read as it comes, so a server that is
        # busy sending us data can never stall our own sending: on our
        # Channel, parsed in the transport's thread as it arrives (no thread
        # hand-off); on other streams, by a reader thread of our own.
        set_receiver = getattr(sock, "_set_receiver", None)
        if callable(set_receiver):
            self._receive_from_channel(set_receiver)
        else:
            self._reader = threading.Thread(target=self._reader_main, name="sftp-reader", daemon=True)
            self._reader.start()
        if EXT_LIMITS in self.server_extensions:
            self._ask_limits()

    def _use_transport_logger(self, sock: Any) -> None:
        """Log under the transport's log channel + ".sftp" (as paramiko
        does) when ``sock`` is a channel of a transport."""
        get_transport = getattr(sock, "get_transport", None)
        transport = get_transport() if callable(get_transport) else None
        get_log_channel = getattr(transport, "get_log_channel", None)
        if callable(get_log_channel):
            self.logger = logging.getLogger(f"{get_log_channel()}.sftp")

    @classmethod
    def from_transport(
        cls, t: Any, window_size: int | None = None, max_packet_size: int | None = None
    ) -> SFTPClient | None:
        """Open a session channel on transport ``t``, start the ``sftp``
        subsystem on it, and return a client; None if the channel could not
        be opened."""
        chan = t.open_session(window_size=window_size, max_packet_size=max_packet_size)
        if chan is None:
            return None
        chan.invoke_subsystem("sftp")
        return cls(chan)

    def __enter__(self) -> SFTPClient:
        """Use the client in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the session when the ``with`` block ends."""
        self.close()

    def __repr__(self) -> str:
        """Class name and the channel it runs on."""
        return f"<SFTPClient on {self.sock!r}>"

    # -- version and limits ------------------------------------------------------

    def _handshake(self) -> tuple[int, dict[str, bytes]]:
        """INIT/VERSION exchange; the server's version and extension pairs."""
        self._send_packet(CMD_INIT, U32.pack(_VERSION))
        t, data = self._read_packet()
        if t != CMD_VERSION:
            raise SFTPError(f"Incompatible sftp protocol (got {CMD_NAMES.get(t, t)} instead of version)")
        msg = Message(data, strict=True)
        try:
            version = msg.get_int()
            extensions: dict[str, bytes] = {}
            while msg.remaining():
                name = msg.get_text()
                extensions[name] = msg.get_string()
        except ProtocolError as exc:
            raise SFTPError(f"Malformed version packet: {exc}") from None
        if version < 3:
            raise SFTPError(f"Incompatible sftp protocol version {version}")
        return version, extensions

    def _ask_limits(self) -> None:
        """Size our requests from the server's limits@openssh.com reply."""
        t, msg = self._request(CMD_EXTENDED, ssh_string(EXT_LIMITS))
        if t != CMD_EXTENDED_REPLY:
            self._convert_status(t, msg)
            return
        _max_packet = msg.get_int64()
        max_read = msg.get_int64()
        max_write = msg.get_int64()
        handles = msg.get_int64()
        if max_read:
            self.max_read_size = max(1024, min(max_read, MAX_REQUEST_SIZE))
        if max_write:
            self.max_write_size = max(1024, min(max_write, MAX_REQUEST_SIZE))
        if _max_packet:
            cap = max(1024, _max_packet - 1024)
            self.max_read_size = min(self.max_read_size, cap)
            self.max_write_size = min(self.max_write_size, cap)
        self.max_open_handles = handles or None
        self.limits_announced = bool(max_read or max_write or _max_packet)

    # -- request plumbing --------------------------------------------------------

    def _async_request(self, handler: _ReplyHandler | None, t: int, *parts: bytes | bytearray | memoryview) -> int:
        """Send request type ``t`` whose body is ``parts`` joined; its reply
        goes to ``handler`` (called in the reader thread, with ``_cond``
        held) or, for None, is kept for ``_read_response``."""
        if self._dropped is not None:
            raise self._dropped_error()
        with self._lock:
            while self._deferred_closes:
                # handles of files dropped without close(): closed here, where
                # sending is safe (never from a garbage-collector callback)
                self._send_locked(_DISCARD, CMD_CLOSE, (self._deferred_closes.pop(),))
            return self._send_locked(handler, t, parts)

    def _send_locked(
        self, handler: _ReplyHandler | None, t: int, parts: tuple[bytes | bytearray | memoryview, ...]
    ) -> int:
        """Number, register and send one request (``_lock`` held)."""
        num = self.request_number
        self.request_number = (num + 1) & 0xFFFFFFFF
        with self._cond:
            self._expecting[num] = handler
        size = 5
        for p in parts:
            size += len(p)
        try:
            last = parts[-1] if parts else b""
            if len(last) < _SPLIT_AT:
                self._write_all(b"".join((HDR_ID.pack(size, t, num), *parts)))
            else:
                # a big WRITE: no copy of the whole request (one big
                # allocation each); the header goes with the first bytes
                view = memoryview(last)
                k = max(0, _SPLIT_AT - (4 + size - len(last)))
                self._write_all(b"".join((HDR_ID.pack(size, t, num), *parts[:-1], view[:k])))
                self._write_all(view[k:])
        except (EOFError, OSError) as exc:
            # the stream is unusable now (a timeout mid-request leaves a
            # partial packet behind): nothing more can be sent on it
            with self._cond:
                self._expecting.pop(num, None)
                self._send_timed_out = self._send_timed_out or isinstance(exc, TimeoutError)
            self._drop(f"Server connection dropped: {exc}", stream_gone=True)
            if isinstance(exc, TimeoutError):
                raise
            raise self._dropped_error() from None
        return num

    def _async_batch(
        self, requests: list[tuple[_ReplyHandler, int, tuple[bytes | bytearray | memoryview, ...]]]
    ) -> None:
        """Send several small requests (handler, type, body parts) in one
        write: one channel packet and one system call for many requests,
        which is what makes pipelined small-file transfers cheap."""
        if self._dropped is not None:
            raise self._dropped_error()
        with self._lock:
            while self._deferred_closes:
                self._send_locked(_DISCARD, CMD_CLOSE, (self._deferred_closes.pop(),))
            out: list[bytes | bytearray | memoryview] = []
            nums = []
            with self._cond:
                for handler, t, parts in requests:
                    num = self.request_number
                    self.request_number = (num + 1) & 0xFFFFFFFF
                    self._expecting[num] = handler
                    nums.append(num)
                    out.append(HDR_ID.pack(5 + sum(len(p) for p in parts), t, num))
                    out.extend(parts)
            try:
                self._write_all(b"".join(out))
            except (EOFError, OSError) as exc:
                with self._cond:
                    for num in nums:
                        self._expecting.pop(num, None)
                    self._send_timed_out = self._send_timed_out or isinstance(exc, TimeoutError)
                self._drop(f"Server connection dropped: {exc}", stream_gone=True)
                if isinstance(exc, TimeoutError):
                    raise
                raise self._dropped_error() from None

    def _defer_close(self, hstr: bytes) -> None:
        """Close encoded handle ``hstr`` with the next request (safe to call
        from ``__del__``: it only appends to a list)."""
        self._deferred_closes.append(hstr)

    def _drop(self, why: str, stream_gone: bool = False) -> None:
        """Remember that the session is over (``stream_gone``: because the
        stream closed); wake every waiter, and make every later request
        fail fast."""
        with self._cond:
            if self._dropped is None:
                self._dropped = why
            if stream_gone:
                self._stream_gone = True
            self._cond.notify_all()

    def _dropped_error(self) -> Exception:
        """What a request on a session that is over raises: paramiko's
        ``OSError("Socket is closed")`` once the session or its stream is
        closed (also an ``SFTPError`` here), else ``SFTPError`` with the
        reason the session was dropped."""
        if self._closed or self._stream_gone:
            err = None if self._closed else getattr(self.sock, "close_error", None)
            return SFTPOSError(SOCKET_CLOSED if err is None else f"{SOCKET_CLOSED}: {err}")
        return SFTPError(self._dropped or SOCKET_CLOSED)

    def _reader_main(self) -> None:
        """Reader thread: route each reply to its handler or waiter until the
        stream ends or the server sends something unusable."""
        why = "Server connection dropped"
        gone = True
        try:
            while True:
                try:
                    t, data = self._read_packet()
                except TimeoutError:
                    continue  # the channel's timeout applies to waiters, not here
                if len(data) < 4:
                    why, gone = "Truncated reply from server", False
                    return
                if not self._route(t, data):
                    why, gone = f"Reply to unknown request {U32.unpack_from(data)[0]}", False
                    return
        except SFTPError as exc:
            why, gone = str(exc), False
        except (EOFError, OSError) as exc:
            if not self._closed:
                why = self._lost(f"Server connection dropped: {exc}" if str(exc) else why)
        except Exception as exc:  # a bug in a handler must not hang the waiters
            self.logger.exception("sftp reader failed")
            why, gone = f"SFTP reader failed: {exc!r}", False
        finally:
            self._drop("SFTP session closed" if self._closed else why, stream_gone=gone)

    def _route(self, t: int, data: bytes) -> bool:
        """Give reply ``t`` (``data`` starts with its request id) to its
        handler or waiter; False if no request has that id."""
        num = U32.unpack_from(data)[0]
        with self._cond:
            if num not in self._expecting:
                return False
            handler = self._expecting.pop(num)
            self._last_reply = time.monotonic()
            if handler is not None:
                handler._async_response(t, data, num)
            else:
                self._done[num] = (t, data[4:])
            self._cond.notify_all()
        return True

    def _receive_from_channel(self, set_receiver: Callable[[Callable[[bytes], object] | None], list[bytes]]) -> None:
        """Have the channel hand us its data in the transport's thread
        (``Channel._set_receiver``); what it buffered already, and what the
        handshake read ahead, is parsed first, under the same lock."""
        self._splitter = PacketSplitter(self.MAX_PACKET)
        self._parse_lock = threading.Lock()
        with self._parse_lock:
            pending = set_receiver(self._on_channel_data)
            if self._rbuf:
                pending.insert(0, bytes(self._rbuf))
                self._rbuf.clear()
            for chunk in pending:
                self._parse_locked(chunk)
            if getattr(self.sock, "closed", False) or getattr(self.sock, "eof_received", False):
                self._parse_locked(b"")

    def _on_channel_data(self, data: bytes) -> None:
        """Channel data (``b""``: EOF or close), in the transport's thread."""
        with self._parse_lock:
            self._parse_locked(data)

    def _parse_locked(self, data: bytes) -> None:
        """Route every reply completed by ``data`` (``_parse_lock`` held)."""
        if self._dropped is not None:
            return
        if not data:
            self._drop(
                "SFTP session closed" if self._closed else self._lost("Server connection dropped"), stream_gone=True
            )
            return
        try:
            for t, body in self._splitter.feed(data):
                if not self._route(t, body):
                    self._drop(f"Reply to unknown request {U32.unpack_from(body)[0]}")
                    return
        except SFTPError as exc:
            self._drop(str(exc))
        except Exception as exc:  # a bug in a handler must not hang the waiters
            self.logger.exception("sftp reply handling failed")
            self._drop(f"SFTP reader failed: {exc!r}")

    def _timeout(self) -> float | None:
        """The channel's timeout: how long a wait may go without the server
        answering anything."""
        gettimeout = getattr(self.sock, "gettimeout", None)
        timeout: float | None = gettimeout() if gettimeout is not None else None
        return timeout

    def _wait_locked(self, timeout: float | None, since: float) -> None:
        """Wait (``_cond`` held) for the reader to deliver something; raise if
        the session is gone or nothing arrived for ``timeout`` seconds
        counted from ``since`` or the last reply, whichever is later (so
        the waits of one operation share one deadline, pushed back only
        when the server makes progress)."""
        if self._dropped is not None:
            raise self._wait_error()
        if timeout is None:
            self._cond.wait()
            return
        left = max(since, self._last_reply) + timeout - time.monotonic()
        if (left <= 0 or not self._cond.wait(left)) and self._dropped is None:
            self._silent_after = self._last_reply
            raise TimeoutError("timed out waiting for the SFTP server")

    def _peer_silent(self) -> bool:
        """True if a wait timed out and the server has answered nothing
        since: clean-up (closing a file) then does not wait for it again."""
        return self._silent_after is not None and self._silent_after == self._last_reply

    def _wait_error(self) -> Exception:
        """What a wait raises once the session is over: ``socket.timeout``
        when a request timed out on the way out, else ``SFTPError`` with
        the reason."""
        if self._send_timed_out:
            return TimeoutError(f"timed out sending to the SFTP server ({self._dropped})")
        return SFTPError(self._dropped)

    def _wait_until(self, ready: Callable[[], bool], since: float | None = None) -> None:
        """Block until ``ready()`` (evaluated with ``_cond`` held) is true.
        ``since``: when the operation this wait belongs to started (default:
        now); the channel's timeout counts from it or the last reply."""
        timeout = self._timeout()
        start = time.monotonic() if since is None else since
        with self._cond:
            while not ready():
                self._wait_locked(timeout, start)

    def _read_response(self, waitfor: int, since: float | None = None) -> tuple[int, bytes]:
        """Wait for the reply to request ``waitfor``: (type, payload after
        the request id); ``since`` as for ``_wait_until``."""
        timeout = self._timeout()
        start = time.monotonic() if since is None else since
        with self._cond:
            while True:
                got = self._done.pop(waitfor, None)
                if got is not None:
                    return got
                self._wait_locked(timeout, start)

    def _lost(self, default: str) -> str:
        """Why the stream ended: the channel's ``close_error`` (the transport
        was dropped, say by its keepalive) when it has one."""
        err = getattr(self.sock, "close_error", None)
        return f"Server connection dropped: {err}" if err is not None else default

    def _request(self, t: int, *parts: bytes | bytearray | memoryview) -> tuple[int, Message]:
        """Send a request and block for its reply: (type, strict Message)."""
        num = self._async_request(None, t, *parts)
        rt, data = self._read_response(num)
        return rt, Message(data, strict=True)

    def _convert_status(self, t: int, msg: Message, filename: str | None = None) -> None:
        """Return if ``msg`` is an SSH_FX_OK status; otherwise raise the
        exception its status code maps to (an unexpected type is an
        ``SFTPError``)."""
        if t != CMD_STATUS:
            raise SFTPError(f"Expected status, got {CMD_NAMES.get(t, t)}")
        code, text = _parse_status(msg)
        if code == SFTP_OK:
            return
        raise status_to_exception(code, text, filename)

    def _expect(self, t: int, msg: Message, want: int, filename: str | None = None) -> Message:
        """``msg`` if it is of type ``want``; a status raises its exception."""
        if t == want:
            return msg
        if t == CMD_STATUS:
            self._convert_status(t, msg, filename)
        raise SFTPError(f"Expected {CMD_NAMES.get(want, want)}, got {CMD_NAMES.get(t, t)}")

    def _simple(self, t: int, filename: str, *parts: bytes) -> None:
        """Send a request whose answer is just a status; raise on failure."""
        rt, msg = self._request(t, *parts)
        self._convert_status(rt, msg, filename)

    # -- session -----------------------------------------------------------------

    def close(self) -> None:
        """End the SFTP session and close the underlying channel."""
        if self._closed:
            return
        self._closed = True
        self._drop("SFTP session closed")
        try:
            self.sock.close()
        except OSError:
            pass
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(1)

    def get_channel(self) -> Any:
        """The channel (stream) this session runs on."""
        return self.sock

    # -- paths -------------------------------------------------------------------

    def _adjust_cwd(self, path: str | bytes) -> str:
        """``path`` relative to the emulated working directory."""
        p = path_str(path) if isinstance(path, bytes) else path
        if self._cwd is None or p.startswith("/"):
            return p
        if self._cwd == "/":
            return "/" + p
        return self._cwd + "/" + p

    def chdir(self, path: str | bytes | None = None) -> None:
        """Change the working directory of this session (emulated: SFTP has
        none, so relative paths are joined with it here). None resets it."""
        if path is None:
            self._cwd = None
            return
        attr = self.stat(path)
        if attr.st_mode is not None and not stat.S_ISDIR(attr.st_mode):
            p = path if isinstance(path, str) else path_str(path)
            # paramiko raises SFTPError(ENOTDIR, ...); it is an OSError here too
            raise SFTPOSError(errno.ENOTDIR, f"{os.strerror(errno.ENOTDIR)}: {p}")
        self._cwd = self.normalize(path)

    def getcwd(self) -> str | None:
        """The working directory set by ``chdir``; None if never set."""
        return self._cwd

    def normalize(self, path: str | bytes) -> str:
        """The server's canonical absolute form of ``path`` ("." gives the
        directory the session starts in)."""
        p = self._adjust_cwd(path)
        t, msg = self._request(CMD_REALPATH, ssh_string(p))
        msg = self._expect(t, msg, CMD_NAME, p)
        if msg.get_int() != 1:
            raise SFTPError("Realpath returned more than one result")
        return path_str(msg.get_string())

    # -- directories -------------------------------------------------------------

    def listdir(self, path: str | bytes = ".") -> list[str]:
        """The names in directory ``path`` (without "." and "..")."""
        return [a.filename for a in self.listdir_attr(path)]

    def listdir_attr(self, path: str | bytes = ".") -> list[SFTPAttributes]:
        """``SFTPAttributes`` (with ``filename`` and ``longname``) for each
        entry of directory ``path``, without "." and ".."."""
        return list(self.listdir_iter(path))

    def listdir_iter(self, path: str | bytes = ".", read_aheads: int = 50) -> Iterator[SFTPAttributes]:
        """Like ``listdir_attr`` but yields entries as the server sends them,
        with up to ``read_aheads`` READDIR requests in flight (servers answer
        requests on one handle in order, so batches arrive in sequence)."""
        p = self._adjust_cwd(path)
        t, msg = self._request(CMD_OPENDIR, ssh_string(p))
        handle = self._expect(t, msg, CMD_HANDLE, p).get_string()
        hstr = ssh_string(handle)
        pending: deque[int] = deque()
        since = time.monotonic()
        try:
            for _ in range(max(1, read_aheads)):
                pending.append(self._async_request(None, CMD_READDIR, hstr))
            while pending:
                rt, data = self._read_response(pending.popleft(), since)
                if rt == CMD_STATUS:
                    code, text = _parse_status(Message(data, strict=True))
                    if code == SFTP_EOF:
                        break
                    raise status_to_exception(code, text, p)
                msg = self._expect(rt, Message(data, strict=True), CMD_NAME, p)
                pending.append(self._async_request(None, CMD_READDIR, hstr))
                for attr in _parse_names(msg):
                    if attr.filename not in (".", ".."):
                        yield attr
                        since = time.monotonic()  # the caller's time is not the server's
        finally:
            while pending and self._dropped is None:
                self._read_response(pending.popleft(), since)
            if self._dropped is None:
                self._async_request(_DISCARD, CMD_CLOSE, hstr)

    def mkdir(self, path: str | bytes, mode: int = 0o777) -> None:
        """Create directory ``path`` with permission bits ``mode`` (the
        server applies its umask)."""
        p = self._adjust_cwd(path)
        attr = SFTPAttributes()
        attr.st_mode = mode
        self._simple(CMD_MKDIR, p, ssh_string(p), attr.asbytes())

    def rmdir(self, path: str | bytes) -> None:
        """Remove the empty directory ``path``."""
        p = self._adjust_cwd(path)
        self._simple(CMD_RMDIR, p, ssh_string(p))

    def makedirs(self, path: str | bytes, mode: int = 0o777, exist_ok: bool = False) -> None:
        """Create directory ``path`` and any missing parent, like
        ``os.makedirs`` (``FileExistsError`` if it exists, unless ``exist_ok``)."""
        makedirs(self, _text(path), mode, exist_ok)

    def rmtree(self, path: str | bytes, ignore_errors: bool = False) -> None:
        """Remove directory ``path`` and everything under it, like
        ``shutil.rmtree`` (links are removed, not followed); the removals are
        pipelined."""
        rmtree(self, _text(path), ignore_errors)

    def walk(
        self,
        top: str | bytes = ".",
        topdown: bool = True,
        onerror: Callable[[OSError], object] | None = None,
        followlinks: bool = False,
    ) -> Iterator[WalkEntry]:
        """``os.walk`` on the server: ``(dirpath, dirnames, filenames)`` for
        ``top`` and each directory below it."""
        return walk(self, _text(top), topdown, onerror, followlinks)

    def glob(self, pattern: str | bytes) -> list[str]:
        """Server paths matching ``pattern`` (``*``, ``?``, ``[...]``, and
        ``**`` for any depth), sorted; wildcards skip names starting with "."."""
        return glob(self, _text(pattern))

    # -- files -------------------------------------------------------------------

    def open(self, filename: str | bytes, mode: str = "r", bufsize: int = -1) -> SFTPFile:
        """Open a remote file, like Python's ``open``: mode 'r', 'w' (create
        or truncate), 'a' (append), 'x' (create, fail if it exists), with '+'
        for update, 'b' for binary lines and 'U' for universal newlines.
        ``bufsize`` is as for ``open``: 0 unbuffered, 1 line-buffered, N a
        buffer of N bytes (negative: the default, unbuffered)."""
        p = self._adjust_cwd(filename)
        pflags = 0
        if "r" in mode or "+" in mode:
            pflags |= SFTP_FLAG_READ
        if "w" in mode or "+" in mode or "a" in mode or "x" in mode:
            pflags |= SFTP_FLAG_WRITE
        if "w" in mode:
            pflags |= SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC
        if "a" in mode:
            pflags |= SFTP_FLAG_CREATE | SFTP_FLAG_APPEND
        if "x" in mode:
            pflags |= SFTP_FLAG_CREATE | SFTP_FLAG_EXCL
        if not pflags & (SFTP_FLAG_READ | SFTP_FLAG_WRITE):
            raise ValueError(f"invalid mode {mode!r}")
        t, msg = self._request(CMD_OPEN, ssh_string(p), U32.pack(pflags), SFTPAttributes().asbytes())
        handle = self._expect(t, msg, CMD_HANDLE, p).get_string()
        return SFTPFile(self, handle, mode, bufsize, name=p)

    # paramiko 1.5 name
    file = open

    def remove(self, path: str | bytes) -> None:
        """Delete the file ``path`` (not a directory)."""
        p = self._adjust_cwd(path)
        self._simple(CMD_REMOVE, p, ssh_string(p))

    unlink = remove

    def rename(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Rename ``oldpath`` to ``newpath`` (SFTP v3 rename: most servers
        refuse if ``newpath`` exists; see ``posix_rename``)."""
        old = self._adjust_cwd(oldpath)
        new = self._adjust_cwd(newpath)
        self._simple(CMD_RENAME, old, ssh_string(old), ssh_string(new))

    def posix_rename(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Rename with POSIX semantics (replacing ``newpath``), through the
        posix-rename@openssh.com extension."""
        old = self._adjust_cwd(oldpath)
        new = self._adjust_cwd(newpath)
        self._need_ext(EXT_POSIX_RENAME)
        self._simple(CMD_EXTENDED, old, ssh_string(EXT_POSIX_RENAME), ssh_string(old), ssh_string(new))

    def hardlink(self, oldpath: str | bytes, newpath: str | bytes) -> None:
        """Create a hard link ``newpath`` to ``oldpath`` (hardlink@openssh.com)."""
        old = self._adjust_cwd(oldpath)
        new = self._adjust_cwd(newpath)
        self._need_ext(EXT_HARDLINK)
        self._simple(CMD_EXTENDED, new, ssh_string(EXT_HARDLINK), ssh_string(old), ssh_string(new))

    def statvfs(self, path: str | bytes) -> SFTPStatVFS:
        """File-system statistics for ``path`` (statvfs@openssh.com), with
        the fields of ``os.statvfs`` results."""
        p = self._adjust_cwd(path)
        self._need_ext(EXT_STATVFS)
        t, msg = self._request(CMD_EXTENDED, ssh_string(EXT_STATVFS), ssh_string(p))
        return SFTPStatVFS._from_msg(self._expect(t, msg, CMD_EXTENDED_REPLY, p))

    # -- OpenSSH extensions (each raises OSError(EOPNOTSUPP) if the server lacks it) --

    def limits(self) -> SFTPLimits:
        """The server's limits (limits@openssh.com): longest packet, READ
        and WRITE, and open handles (0 where it sets none)."""
        self._need_ext(EXT_LIMITS)
        t, msg = self._request(CMD_EXTENDED, ssh_string(EXT_LIMITS))
        return SFTPLimits._from_msg(self._expect(t, msg, CMD_EXTENDED_REPLY))

    def lsetstat(self, path: str | bytes, attr: SFTPAttributes) -> None:
        """Set the fields of ``attr`` on ``path`` itself, not following a
        symbolic link (lsetstat@openssh.com; a size is not allowed)."""
        p = self._adjust_cwd(path)
        self._need_ext(EXT_LSETSTAT)
        self._simple(CMD_EXTENDED, p, ssh_string(EXT_LSETSTAT), ssh_string(p), attr.asbytes())

    def expand_path(self, path: str | bytes) -> str:
        """``path`` made absolute by the server with "~", "~/..." and
        "~user/..." expanded (expand-path@openssh.com)."""
        p = self._adjust_cwd(path) if not _starts_with_tilde(path) else _as_str(path)
        self._need_ext(EXT_EXPAND_PATH)
        t, msg = self._request(CMD_EXTENDED, ssh_string(EXT_EXPAND_PATH), ssh_string(p))
        return self._one_name(t, msg, p)

    def home_directory(self, username: str = "") -> str:
        """The home directory of ``username`` on the server ("" for the user
        logged in), through the home-directory extension."""
        self._need_ext(EXT_HOME_DIRECTORY)
        t, msg = self._request(CMD_EXTENDED, ssh_string(EXT_HOME_DIRECTORY), ssh_string(username))
        return self._one_name(t, msg, username)

    def users_groups_by_id(self, uids: Iterable[int], gids: Iterable[int]) -> tuple[list[str], list[str]]:
        """The server's user names for ``uids`` and group names for
        ``gids``, in order, "" where it knows none
        (users-groups-by-id@openssh.com)."""
        uid_list, gid_list = list(uids), list(gids)
        self._need_ext(EXT_USERS_GROUPS_BY_ID)
        packed_uids = b"".join(U32.pack(u) for u in uid_list)
        packed_gids = b"".join(U32.pack(g) for g in gid_list)
        t, msg = self._request(
            CMD_EXTENDED, ssh_string(EXT_USERS_GROUPS_BY_ID), ssh_string(packed_uids), ssh_string(packed_gids)
        )
        msg = self._expect(t, msg, CMD_EXTENDED_REPLY)
        users = _names_in(msg.get_string(), len(uid_list))
        groups = _names_in(msg.get_string(), len(gid_list))
        return users, groups

    def copy_data(
        self, source: SFTPFile, dest: SFTPFile, offset: int = 0, length: int = 0, dest_offset: int = 0
    ) -> None:
        """Have the server copy ``length`` bytes (0: to the end) of open
        file ``source`` from ``offset`` into open file ``dest`` at
        ``dest_offset``; no data crosses the network (copy-data). The two
        must be different files; ``dest`` is flushed first."""
        self._need_ext(EXT_COPY_DATA)
        dest.flush()
        t, msg = self._request(
            CMD_EXTENDED,
            ssh_string(EXT_COPY_DATA),
            ssh_string(source.handle),
            U64.pack(offset),
            U64.pack(length),
            ssh_string(dest.handle),
            U64.pack(dest_offset),
        )
        self._convert_status(t, msg)

    def remote_copy(self, source: str | bytes, dest: str | bytes) -> None:
        """Copy file ``source`` to ``dest`` on the server (created or
        replaced, with ``source``'s permissions), as OpenSSH's ``sftp cp``
        does: through copy-data, so no data crosses the network."""
        self._need_ext(EXT_COPY_DATA)
        mode = self.stat(source).st_mode
        with self.open(source, "rb") as src, self.open(dest, "wb") as dst:
            if mode is not None:
                self.chmod(dest, mode & 0o7777)
            self.copy_data(src, dst)

    def _one_name(self, t: int, msg: Message, path: str) -> str:
        """The single path of a NAME reply (or raise its status)."""
        msg = self._expect(t, msg, CMD_NAME, path)
        if msg.get_int() != 1:
            raise SFTPError("expected exactly one name in the reply")
        return path_str(msg.get_string())

    def _need_ext(self, name: str) -> None:
        """Raise ``OSError(EOPNOTSUPP)`` unless the server offers extension ``name``."""
        if name not in self.server_extensions:
            raise OSError(errno.EOPNOTSUPP, f"server does not support {name}")

    def stat(self, path: str | bytes) -> SFTPAttributes:
        """The attributes of ``path``, following symbolic links."""
        p = self._adjust_cwd(path)
        t, msg = self._request(CMD_STAT, ssh_string(p))
        return SFTPAttributes._from_msg(self._expect(t, msg, CMD_ATTRS, p))

    def lstat(self, path: str | bytes) -> SFTPAttributes:
        """The attributes of ``path`` itself (a link is not followed)."""
        p = self._adjust_cwd(path)
        t, msg = self._request(CMD_LSTAT, ssh_string(p))
        return SFTPAttributes._from_msg(self._expect(t, msg, CMD_ATTRS, p))

    def symlink(self, source: str | bytes, dest: str | bytes) -> None:
        """Create a symbolic link ``dest`` pointing at ``source`` (``source``
        is stored as given; only ``dest`` is relative to the cwd)."""
        d = self._adjust_cwd(dest)
        src = path_str(source) if isinstance(source, bytes) else source
        # OpenSSH (and thus everyone) sends the target first.
        self._simple(CMD_SYMLINK, d, ssh_string(src), ssh_string(d))

    def readlink(self, path: str | bytes) -> str | None:
        """The target of symbolic link ``path``; None if the server names
        no target."""
        p = self._adjust_cwd(path)
        t, msg = self._request(CMD_READLINK, ssh_string(p))
        msg = self._expect(t, msg, CMD_NAME, p)
        count = msg.get_int()
        if count == 0:
            return None
        if count != 1:
            raise SFTPError(f"Readlink returned {count} results")
        return path_str(msg.get_string())

    def _setstat(self, path: str | bytes, attr: SFTPAttributes) -> None:
        """SETSTAT ``path`` to the fields of ``attr`` that are set."""
        p = self._adjust_cwd(path)
        self._simple(CMD_SETSTAT, p, ssh_string(p), attr.asbytes())

    def chmod(self, path: str | bytes, mode: int) -> None:
        """Change the permission bits of ``path``, like ``os.chmod``."""
        attr = SFTPAttributes()
        attr.st_mode = mode
        self._setstat(path, attr)

    def chown(self, path: str | bytes, uid: int, gid: int) -> None:
        """Change the owner and group of ``path`` (both must be given)."""
        attr = SFTPAttributes()
        attr.st_uid, attr.st_gid = uid, gid
        self._setstat(path, attr)

    def utime(self, path: str | bytes, times: tuple[float, float] | None) -> None:
        """Set the access and modification times of ``path`` to ``times``
        ``(atime, mtime)``, or to now if None (whole seconds on the wire)."""
        if times is None:
            now = time.time()
            times = (now, now)
        attr = SFTPAttributes()
        attr.st_atime, attr.st_mtime = times
        self._setstat(path, attr)

    def truncate(self, path: str | bytes, size: int) -> None:
        """Cut (or extend with zeros) file ``path`` to ``size`` bytes."""
        attr = SFTPAttributes()
        attr.st_size = size
        self._setstat(path, attr)

    # -- whole-file transfers -------------------------------------------------------

    def getfo(
        self,
        remotepath: str | bytes,
        fl: IO[bytes],
        callback: Callback | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
    ) -> int:
        """Copy remote file ``remotepath`` into the open file object ``fl``,
        with many reads in flight; ``callback(bytes_so_far, total)`` after
        each chunk. Returns the number of bytes copied."""
        with self.open(remotepath, "rb") as fr:
            file_size = self._size_of(fr, remotepath)
            if prefetch:
                fr.prefetch(file_size, max_concurrent_prefetch_requests)
            chunk = self.max_read_size
            size = 0
            while True:
                data = fr.read(chunk)
                if not data:
                    break
                fl.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
            if size == 0 and callback is not None:
                callback(0, file_size)
        return size

    def _size_of(self, fr: SFTPFile, remotepath: str | bytes) -> int:
        """The size of open file ``fr``: FSTAT, or STAT of its path on servers
        whose handles cannot be stat'ed (as paramiko's ``getfo`` does)."""
        try:
            return fr.stat().st_size or 0
        except OSError:
            return self.stat(remotepath).st_size or 0

    def get(
        self,
        remotepath: str | bytes,
        localpath: str | os.PathLike[str],
        callback: Callback | None = None,
        prefetch: bool = True,
        max_concurrent_prefetch_requests: int | None = None,
        *,
        recursive: bool = False,
        preserve: bool = False,
        resume: bool = False,
        follow_symlinks: bool = False,
        total_callback: Callback | None = None,
    ) -> None:
        """Copy remote file ``remotepath`` to local path ``localpath``;
        ``callback(bytes_so_far, total)`` reports progress. Raises ``IOError``
        if the copy's size differs from what the server reported.

        The keyword options work as OpenSSH's ``sftp get -R -p -a``:
        ``recursive`` copies a directory tree (as ``cp -r``: into
        ``localpath/<name>`` if ``localpath`` is an existing directory, else
        to ``localpath``), with many files in flight at once; symbolic links
        inside the tree are skipped unless ``follow_symlinks``.
        ``preserve`` copies permission bits and access/modification times.
        ``resume`` continues partial copies from their current size instead
        of starting over (a copy larger than the source is an error).
        ``callback`` then reports each file, ``total_callback(bytes_so_far,
        total)`` the whole transfer."""
        if recursive or preserve or resume or follow_symlinks or total_callback is not None:
            opts = TransferOptions(preserve, resume, follow_symlinks, True, callback, total_callback)
            if max_concurrent_prefetch_requests:
                opts.window = max_concurrent_prefetch_requests
            get_tree(self, _text(remotepath), os.fspath(localpath), recursive, opts)
            return
        with open(localpath, "wb") as fl:
            size = self.getfo(remotepath, fl, callback, prefetch, max_concurrent_prefetch_requests)
        local = os.stat(localpath).st_size
        if local != size:
            raise OSError(f"size mismatch in get!  {local} != {size}")

    def putfo(
        self,
        fl: IO[bytes],
        remotepath: str | bytes,
        file_size: int = 0,
        callback: Callback | None = None,
        confirm: bool = True,
    ) -> SFTPAttributes:
        """Copy the open file object ``fl`` to remote ``remotepath`` with
        many writes in flight; ``callback(bytes_so_far, file_size)`` after
        each chunk. With ``confirm``, stat the result and raise ``IOError`` if
        its size is not what was sent. Returns the remote attributes."""
        size = 0
        with self.open(remotepath, "wb") as fr:
            fr.set_pipelined(True)
            chunk = self.max_write_size
            while True:
                data = fl.read(chunk)
                if not data:
                    break
                fr.write(data)
                size += len(data)
                if callback is not None:
                    callback(size, file_size)
            if size == 0 and callback is not None:
                callback(0, file_size)
        if confirm:
            s = self.stat(remotepath)
            if s.st_size != size:
                raise OSError(f"size mismatch in put!  {s.st_size} != {size}")
            return s
        return SFTPAttributes()

    def put(
        self,
        localpath: str | os.PathLike[str],
        remotepath: str | bytes,
        callback: Callback | None = None,
        confirm: bool = True,
        *,
        recursive: bool = False,
        preserve: bool = False,
        resume: bool = False,
        follow_symlinks: bool = False,
        total_callback: Callback | None = None,
    ) -> SFTPAttributes:
        """Copy local file ``localpath`` to ``remotepath``; see ``putfo``.

        The keyword options mirror ``get``'s (OpenSSH's ``sftp put -R -p
        -a``): ``recursive`` uploads a tree (into ``remotepath/<name>`` if
        ``remotepath`` is an existing directory), ``preserve`` sets modes
        and times on the copies, ``resume`` appends to partial remote copies,
        ``total_callback`` reports the whole transfer. With ``confirm`` the
        result is the copy's attributes (the top directory's for a tree)."""
        if recursive or preserve or resume or follow_symlinks or total_callback is not None:
            opts = TransferOptions(preserve, resume, follow_symlinks, confirm, callback, total_callback)
            return put_tree(self, os.fspath(localpath), _text(remotepath), recursive, opts)
        file_size = os.stat(localpath).st_size
        with open(localpath, "rb") as fl:
            return self.putfo(fl, remotepath, file_size, callback, confirm)


# paramiko 1.5 alias
SFTP = SFTPClient


def _text(path: str | bytes) -> str:
    """A remote path given as ``str`` or ``bytes``, as ``str``."""
    return path_str(path) if isinstance(path, bytes) else path


def _parse_status(msg: Message) -> tuple[int, str]:
    """(code, message) of a STATUS body (the text is optional, as some
    servers omit it)."""
    code = msg.get_int()
    text = ""
    if msg.remaining() >= 4:
        text = msg.get_string().decode("utf-8", "replace")
    return code, text


def _parse_names(msg: Message) -> Iterable[SFTPAttributes]:
    """The entries of a NAME reply, each as ``SFTPAttributes``."""
    count = msg.get_int()
    if count > msg.remaining() // 12 + 1:
        raise SFTPError(f"NAME reply claims {count} entries")
    out = []
    for _ in range(count):
        filename = path_str(msg.get_string())
        longname = path_str(msg.get_string())
        out.append(SFTPAttributes._from_msg(msg, filename, longname))
    return out


def _as_str(path: str | bytes) -> str:
    """A path as ``str``."""
    return path_str(path) if isinstance(path, bytes) else path


def _starts_with_tilde(path: str | bytes) -> bool:
    """Whether ``path`` is a "~" path (left for the server to expand)."""
    return _as_str(path).startswith("~")


def _names_in(blob: bytes, count: int) -> list[str]:
    """``count`` SSH strings packed in ``blob``, as text."""
    msg = Message(blob, strict=True)
    names = [msg.get_string().decode("utf-8", "replace") for _ in range(count)]
    if msg.remaining():
        raise SFTPError("users-groups-by-id reply has more names than asked for")
    return names
