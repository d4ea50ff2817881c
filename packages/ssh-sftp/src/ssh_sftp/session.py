"""``RequestSession``: numbered SFTP requests and their replies on one stream.

SFTP replies may come back in any order. The session numbers each request,
remembers who waits for its reply (a blocking caller, or a handler such as a
file collecting pipelined writes and prefetched reads), and routes every
reply as it arrives: on our ``Channel`` in the transport's thread through the
channel's public receiver hook (``Channel.set_receiver``), on other streams
from a reader thread of its own. ``SFTPClient`` builds its file-system API on
top of it; the request plumbing lives here so that the API does not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ssh_wire import Message

from .errors import SOCKET_CLOSED, SFTPError, SFTPOSError
from .operations import parse_version
from .sftp import (
    _VERSION,
    CMD_CLOSE,
    CMD_INIT,
    HDR_ID,
    U32,
    BaseSFTP,
    PacketSplitter,
)

__all__ = ["ReplyHandler", "RequestSession"]

# A request whose last part is this long is sent in two writes rather than
# copied whole: the header with the first bytes (one SSH packet's worth),
# then the rest straight from the caller's buffer.
_SPLIT_AT = 32768

Parts = tuple[bytes | bytearray | memoryview, ...]


class ReplyHandler(Protocol):
    """Something that takes replies for requests it sent asynchronously."""

    def on_reply(self, t: int, data: bytes, num: int) -> None:
        """Handle reply type ``t``; ``data`` starts with the request id."""


class _Discard:
    """Swallows replies nobody waits for (an asynchronous close)."""

    def on_reply(self, t: int, data: bytes, num: int) -> None:
        """Ignore the reply."""


_DISCARD = _Discard()


class RequestSession(BaseSFTP):
    """The request/reply multiplexer of an SFTP client on one stream.

    ``cond`` guards the reply bookkeeping and wakes waiters; reply handlers
    run with it held, so state they share with other threads is guarded by
    it too. Nobody sends while holding ``cond``.
    """

    def __init__(self, sock: Any, logger: logging.Logger | None = None) -> None:
        """Run on ``sock`` (a ``Channel`` or channel-like stream); nothing
        is sent until ``handshake``."""
        super().__init__()
        self.sock = sock
        if logger is not None:
            self.logger = logger
        self.request_number = 1
        self.cond = threading.Condition(threading.Lock())
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._expecting: dict[int, ReplyHandler | None] = {}
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

    # -- start -------------------------------------------------------------------

    def handshake(self) -> tuple[int, dict[str, bytes]]:
        """INIT/VERSION exchange: the server's version and extension pairs.
        ``SFTPError`` if the server does not answer as an SFTP v3 server,
        ``EOFError`` if the stream ends first."""
        self._send_packet(CMD_INIT, U32.pack(_VERSION))
        return parse_version(*self._read_packet())

    def start_reading(self) -> None:
        """From now on read every reply as it comes, so a server busy sending
        us data can never stall our own sending: on a channel with a
        receiver hook, parsed in the transport's thread as it arrives (no
        thread hand-off); on other streams, by a reader thread of our own."""
        set_receiver = getattr(self.sock, "set_receiver", None)
        if callable(set_receiver):
            self._receive_from_channel(set_receiver)
        else:
            self._reader = threading.Thread(target=self._reader_main, name="sftp-reader", daemon=True)
            self._reader.start()

    # -- sending -----------------------------------------------------------------

    def send(self, handler: ReplyHandler | None, t: int, *parts: bytes | bytearray | memoryview) -> int:
        """Send request type ``t`` whose body is ``parts`` joined; its reply
        goes to ``handler`` (called with ``cond`` held, in whichever thread
        reads replies) or, for None, is kept for ``read_response``. Returns
        the request id."""
        if self._dropped is not None:
            raise self.dropped_error()
        with self._send_lock:
            self._send_deferred_closes()
            return self._send_locked(handler, t, parts)

    def send_batch(self, requests: list[tuple[ReplyHandler, int, Parts]]) -> None:
        """Send several small requests (handler, type, body parts) in one
        write: one channel packet and one system call for many requests,
        which is what makes pipelined small-file transfers cheap."""
        if self._dropped is not None:
            raise self.dropped_error()
        with self._send_lock:
            self._send_deferred_closes()
            out: list[bytes | bytearray | memoryview] = []
            nums = []
            with self.cond:
                for handler, t, parts in requests:
                    num = self._next_number()
                    self._expecting[num] = handler
                    nums.append(num)
                    out.append(HDR_ID.pack(5 + sum(len(p) for p in parts), t, num))
                    out.extend(parts)
            try:
                self._write_all(b"".join(out))
            except (EOFError, OSError) as exc:
                raise self._send_failed(nums, exc) from None

    def request(self, t: int, *parts: bytes | bytearray | memoryview) -> tuple[int, Message]:
        """Send a request and block for its reply: (type, strict Message)."""
        num = self.send(None, t, *parts)
        rt, data = self.read_response(num)
        return rt, Message(data, strict=True)

    def send_close(self, hstr: bytes) -> None:
        """Close encoded handle ``hstr`` without waiting for the reply."""
        self.send(_DISCARD, CMD_CLOSE, hstr)

    def defer_close(self, hstr: bytes) -> None:
        """Close encoded handle ``hstr`` with the next request (safe to call
        from ``__del__``: it only appends to a list)."""
        self._deferred_closes.append(hstr)

    def _next_number(self) -> int:
        num = self.request_number
        self.request_number = (num + 1) & 0xFFFFFFFF
        return num

    def _send_deferred_closes(self) -> None:
        """Close handles of files dropped without close() (send lock held):
        here, where sending is safe, never from a garbage-collector callback."""
        while self._deferred_closes:
            self._send_locked(_DISCARD, CMD_CLOSE, (self._deferred_closes.pop(),))

    def _send_locked(self, handler: ReplyHandler | None, t: int, parts: Parts) -> int:
        """Number, register and send one request (send lock held)."""
        num = self._next_number()
        with self.cond:
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
            raise self._send_failed([num], exc) from None
        return num

    def _send_failed(self, nums: list[int], exc: BaseException) -> BaseException:
        """The stream is unusable now (a timeout mid-request leaves a partial
        packet behind): forget the requests, end the session, and return
        what to raise (the timeout itself, else the dropped-session error)."""
        with self.cond:
            for num in nums:
                self._expecting.pop(num, None)
            self._send_timed_out = self._send_timed_out or isinstance(exc, TimeoutError)
        self.drop(f"Server connection dropped: {exc}", stream_gone=True)
        return exc if isinstance(exc, TimeoutError) else self.dropped_error()

    # -- the end of the session ----------------------------------------------------

    @property
    def dropped(self) -> str | None:
        """Why the session is over, or None while it runs."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def drop(self, why: str, stream_gone: bool = False) -> None:
        """Remember that the session is over (``stream_gone``: because the
        stream closed); wake every waiter, and make every later request
        fail fast."""
        with self.cond:
            if self._dropped is None:
                self._dropped = why
            if stream_gone:
                self._stream_gone = True
            self.cond.notify_all()

    def dropped_error(self) -> Exception:
        """What a request on a session that is over raises: paramiko's
        ``OSError("Socket is closed")`` once the session or its stream is
        closed (also an ``SFTPError`` here), else ``SFTPError`` with the
        reason the session was dropped."""
        if self._closed or self._stream_gone:
            err = None if self._closed else getattr(self.sock, "close_error", None)
            return SFTPOSError(SOCKET_CLOSED if err is None else f"{SOCKET_CLOSED}: {err}")
        return SFTPError(self._dropped or SOCKET_CLOSED)

    def close(self) -> None:
        """End the session and close the stream (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.drop("SFTP session closed")
        try:
            self.sock.close()
        except OSError:
            pass
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(1)

    def _lost(self, default: str) -> str:
        """Why the stream ended: the channel's ``close_error`` (the transport
        was dropped, say by its keepalive) when it has one."""
        err = getattr(self.sock, "close_error", None)
        return f"Server connection dropped: {err}" if err is not None else default

    # -- receiving -------------------------------------------------------------

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
            self.drop("SFTP session closed" if self._closed else why, stream_gone=gone)

    def _route(self, t: int, data: bytes) -> bool:
        """Give reply ``t`` (``data`` starts with its request id) to its
        handler or waiter; False if no request has that id."""
        num = U32.unpack_from(data)[0]
        with self.cond:
            if num not in self._expecting:
                return False
            handler = self._expecting.pop(num)
            self._last_reply = time.monotonic()
            if handler is not None:
                handler.on_reply(t, data, num)
            else:
                self._done[num] = (t, data[4:])
            self.cond.notify_all()
        return True

    def _receive_from_channel(self, set_receiver: Callable[[Callable[[bytes], object] | None], list[bytes]]) -> None:
        """Have the channel hand us its data in the transport's thread; what
        it buffered already, and what the handshake read ahead, is parsed
        first, under the same lock."""
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
            self.drop(
                "SFTP session closed" if self._closed else self._lost("Server connection dropped"), stream_gone=True
            )
            return
        try:
            for t, body in self._splitter.feed(data):
                if not self._route(t, body):
                    self.drop(f"Reply to unknown request {U32.unpack_from(body)[0]}")
                    return
        except SFTPError as exc:
            self.drop(str(exc))
        except Exception as exc:  # a bug in a handler must not hang the waiters
            self.logger.exception("sftp reply handling failed")
            self.drop(f"SFTP reader failed: {exc!r}")

    # -- waiting -----------------------------------------------------------------

    def _timeout(self) -> float | None:
        """The channel's timeout: how long a wait may go without the server
        answering anything."""
        gettimeout = getattr(self.sock, "gettimeout", None)
        timeout: float | None = gettimeout() if gettimeout is not None else None
        return timeout

    def _wait_locked(self, timeout: float | None, since: float) -> None:
        """Wait (``cond`` held) for a reply to arrive; raise if the session
        is gone or nothing arrived for ``timeout`` seconds counted from
        ``since`` or the last reply, whichever is later (so the waits of one
        operation share one deadline, pushed back only when the server makes
        progress)."""
        if self._dropped is not None:
            raise self._wait_error()
        if timeout is None:
            self.cond.wait()
            return
        left = max(since, self._last_reply) + timeout - time.monotonic()
        if (left <= 0 or not self.cond.wait(left)) and self._dropped is None:
            self._silent_after = self._last_reply
            raise TimeoutError("timed out waiting for the SFTP server")

    def peer_silent(self) -> bool:
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

    def wait_until(self, ready: Callable[[], bool], since: float | None = None) -> None:
        """Block until ``ready()`` (evaluated with ``cond`` held) is true.
        ``since``: when the operation this wait belongs to started (default:
        now); the channel's timeout counts from it or the last reply."""
        timeout = self._timeout()
        start = time.monotonic() if since is None else since
        with self.cond:
            while not ready():
                self._wait_locked(timeout, start)

    def read_response(self, waitfor: int, since: float | None = None) -> tuple[int, bytes]:
        """Wait for the reply to request ``waitfor``: (type, payload after
        the request id); ``since`` as for ``wait_until``."""
        timeout = self._timeout()
        start = time.monotonic() if since is None else since
        with self.cond:
            while True:
                got = self._done.pop(waitfor, None)
                if got is not None:
                    return got
                self._wait_locked(timeout, start)
