"""``BufferedPipe``: a thread-safe byte queue with blocking, timed reads.

One thread ``feed``s bytes in (paramiko's transport thread does, for channel
data), another ``read``s them out, waiting up to a timeout; ``close`` marks
the end of the stream, after which reads drain what is left and then return
``b""``. An optional ``threading.Event`` mirrors "there is something to
read (or the pipe is closed)", so a ``select``-style waiter can watch it.

This is paramiko's ``paramiko.buffered_pipe`` API (code built on paramiko
imports it); the channels of this package keep their own buffers.
"""

from __future__ import annotations

import threading
import time

__all__ = ["BufferedPipe", "PipeTimeout"]


class PipeTimeout(OSError):
    """``BufferedPipe.read`` waited for its whole timeout and got nothing."""


class BufferedPipe:
    """A byte buffer one thread feeds and another reads, with timeouts."""

    def __init__(self) -> None:
        """An empty, open pipe with no event attached."""
        self._cond = threading.Condition(threading.Lock())
        self._buffer = bytearray()
        self._closed = False
        self._event: threading.Event | None = None

    def set_event(self, event: threading.Event) -> None:
        """Keep ``event`` set while data is waiting or the pipe is closed,
        and clear while there is nothing to read."""
        with self._cond:
            self._event = event
            if self._closed or self._buffer:
                event.set()
            else:
                event.clear()

    def feed(self, data: bytes | bytearray | memoryview | str) -> None:
        """Add ``data`` (``str`` is encoded as UTF-8) and wake a waiting
        reader. Data fed after ``close`` is still readable, as in paramiko."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self._cond:
            self._buffer += data
            if self._event is not None:
                self._event.set()
            self._cond.notify_all()

    def read_ready(self) -> bool:
        """True if ``read`` would return data without waiting."""
        with self._cond:
            return bool(self._buffer)

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        """Up to ``nbytes`` bytes, waiting for some to arrive if the pipe is
        empty: forever if ``timeout`` is None, else ``timeout`` seconds.
        ``b""`` once the pipe is closed and drained.

        :raises PipeTimeout: nothing arrived within ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buffer:
                if self._closed:
                    return b""
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise PipeTimeout()
                self._cond.wait(remaining)
            out = bytes(self._buffer[:nbytes])
            del self._buffer[:nbytes]
            self._sync_event()
            return out

    def empty(self) -> bytes:
        """Take everything buffered at once (``b""`` if nothing)."""
        with self._cond:
            out = bytes(self._buffer)
            self._buffer.clear()
            self._sync_event()
            return out

    def close(self) -> None:
        """Mark the end of the stream: waiting readers wake up, and reads
        return ``b""`` once the buffer is drained."""
        with self._cond:
            self._closed = True
            if self._event is not None:
                self._event.set()
            self._cond.notify_all()

    def __len__(self) -> int:
        """How many bytes are buffered."""
        with self._cond:
            return len(self._buffer)

    def _sync_event(self) -> None:
        """Clear the event once nothing is left to read (caller holds the lock)."""
        if self._event is not None and not self._buffer and not self._closed:
            self._event.clear()
