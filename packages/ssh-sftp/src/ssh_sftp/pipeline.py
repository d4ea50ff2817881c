"""``RequestPipe``: many SFTP requests in flight at once, their replies
taken in the order they arrive.

Tree operations (recursive transfers, ``rmtree``, ``makedirs``) spend most
of their time waiting for round trips when they send one request at a time;
a pipe keeps up to ``window`` requests outstanding and hands each reply back
with the context it was sent with, so one caller can drive hundreds of small
files at once without a thread per file.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ssh_wire import Message

from .errors import SFTPError, status_to_exception
from .sftp import CMD_NAMES, CMD_STATUS, SFTP_OK

if TYPE_CHECKING:
    from .client import SFTPClient

__all__ = ["Reply", "RequestPipe"]


class Reply:
    """One reply: the context it was sent with, its type and its body (after
    the request id)."""

    __slots__ = ("ctx", "data", "t")

    def __init__(self, ctx: Any, t: int, data: bytes) -> None:
        """Keep the reply as it came."""
        self.ctx = ctx
        self.t = t
        self.data = data

    def message(self) -> Message:
        """The body as a strict ``Message``."""
        return Message(self.data, strict=True)

    def status(self) -> tuple[int, str]:
        """(code, text) of a STATUS reply; ``SFTPError`` for another type."""
        if self.t != CMD_STATUS:
            raise SFTPError(f"Expected status, got {CMD_NAMES.get(self.t, self.t)}")
        msg = self.message()
        code = msg.get_int()
        text = msg.get_string().decode("utf-8", "replace") if msg.remaining() >= 4 else ""
        return code, text

    def error(self, path: str | None) -> BaseException | None:
        """The exception a non-OK STATUS maps to (None for OK)."""
        code, text = self.status()
        return None if code == SFTP_OK else status_to_exception(code, text, path)

    def expect(self, want: int, path: str | None) -> Message:
        """The body of a reply of type ``want``; a STATUS raises its error."""
        if self.t == want:
            return self.message()
        if self.t == CMD_STATUS:
            err = self.error(path)
            if err is not None:
                raise err
        raise SFTPError(f"Expected {CMD_NAMES.get(want, want)}, got {CMD_NAMES.get(self.t, self.t)}")


class _Slot:
    """Routes the reply to one request back to its pipe (reader thread)."""

    __slots__ = ("ctx", "pipe")

    def __init__(self, pipe: RequestPipe, ctx: Any) -> None:
        """Remember where the reply goes and what it answers."""
        self.pipe = pipe
        self.ctx = ctx

    def on_reply(self, t: int, data: bytes, num: int) -> None:
        """Queue the reply (called with the client's reply lock held)."""
        self.pipe._arrived.append(Reply(self.ctx, t, data[4:]))


class RequestPipe:
    """Requests sent without waiting, replies collected as they arrive.

    Small requests are held back and sent together (one channel packet for
    many) just before the pipe waits for a reply, or once
    ``BATCH_BYTES`` are queued; big ones go at once. Used from one thread at
    a time; the client stays usable from other threads meanwhile (each
    request is numbered and routed)."""

    BATCH_BYTES = 32768

    def __init__(self, client: SFTPClient, window: int = 64) -> None:
        """Keep at most ``window`` requests outstanding on ``client``."""
        self.client = client
        self.window = max(1, window)
        self.outstanding = 0
        self._arrived: deque[Reply] = deque()
        self._queued: list[tuple[Any, int, tuple[bytes | bytearray | memoryview, ...]]] = []
        self._queued_bytes = 0
        # when the operation driving the pipe started: its waits share one
        # deadline (the channel's timeout from this or the last reply), so
        # a wait after a timeout does not start a fresh one
        self.since = time.monotonic()

    def full(self) -> bool:
        """Whether ``window`` requests are already outstanding."""
        return self.outstanding >= self.window

    def send(self, ctx: Any, t: int, *parts: bytes | bytearray | memoryview) -> None:
        """Send request ``t`` (now or with the next batch); its reply will
        come back with ``ctx``."""
        size = sum(len(p) for p in parts)
        if size >= self.BATCH_BYTES:
            self.flush()
            self.outstanding += 1
            try:
                self.client.session.send(_Slot(self, ctx), t, *parts)
            except BaseException:
                self.outstanding -= 1
                raise
            return
        self._queued.append((_Slot(self, ctx), t, parts))
        self._queued_bytes += size + 9
        self.outstanding += 1
        if self._queued_bytes >= self.BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the requests held back, in one write."""
        if not self._queued:
            return
        batch, self._queued, self._queued_bytes = self._queued, [], 0
        try:
            self.client.session.send_batch(batch)
        except BaseException:
            self.outstanding -= len(batch)
            raise

    def next(self) -> Reply:
        """The next reply to arrive (sending what is held back first if it
        must wait; the channel's timeout applies). ``SFTPError`` if nothing
        is outstanding."""
        if not self._arrived:
            if not self.outstanding:
                raise SFTPError("no request outstanding")
            self.flush()
            self.client.session.wait_until(lambda: bool(self._arrived), self.since)
        self.outstanding -= 1
        return self._arrived.popleft()

    def drain(self) -> None:
        """Wait for every outstanding reply and drop them (after an error,
        so nothing arrives for a pipe nobody reads). Stops quietly if the
        session is gone."""
        while self.outstanding:
            try:
                self.next()
            except (OSError, SFTPError):
                self._queued.clear()
                return
