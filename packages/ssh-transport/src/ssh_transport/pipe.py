"""A one-way "ready" signal whose read end works in ``select``.

``Channel.fileno()`` must hand ``select``/``poll`` a real descriptor that is
readable exactly while a read would not block. A pipe acts here like an
``Event``: ``set`` makes its read end readable (one byte waits in it),
``clear`` drains that byte. ``make_or_pipe`` splits one pipe into two flags
(stdout and stderr) that keep it set while either is set.

The names (``make_pipe``, ``make_or_pipe``, ``PosixPipe``, ``WindowsPipe``,
``OrPipe``) are the ones paramiko code imports from ``paramiko.pipe``.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Protocol


class ReadyPipe(Protocol):
    """What a channel needs from a ready signal."""

    def set(self) -> None:
        """Raise the signal (make the descriptor readable)."""

    def clear(self) -> None:
        """Lower the signal."""


class _SignalPipe:
    """The set/clear/close logic shared by both kinds: at most one byte is
    ever in the pipe, so neither ``set`` nor ``clear`` can block. Subclasses
    say how a byte is put in, taken out, and how the ends are released."""

    def __init__(self) -> None:
        self._set = False
        self._forever = False
        self._closed = False

    def _put_byte(self) -> None:
        raise NotImplementedError

    def _take_byte(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def set(self) -> None:
        """Make the read end readable (idempotent)."""
        if self._set or self._closed:
            return
        self._set = True
        self._put_byte()

    def clear(self) -> None:
        """Make the read end not readable, unless ``set_forever`` was called."""
        if not self._set or self._forever or self._closed:
            return
        try:
            self._take_byte()
        except BlockingIOError:
            pass
        self._set = False

    def set_forever(self) -> None:
        """Set the signal for good: a stream at EOF stays readable."""
        self._forever = True
        self.set()

    def close(self) -> None:
        """Release both ends; further ``set``/``clear`` do nothing."""
        if self._closed:
            return
        self._closed = True
        self._release()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed


class PosixPipe(_SignalPipe):
    """The signal on an ``os.pipe()``."""

    def __init__(self) -> None:
        """Create the pipe (two descriptors, both non-blocking)."""
        super().__init__()
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)

    def fileno(self) -> int:
        """The read end, for ``select``; never read from it yourself."""
        return self._rfd

    def _put_byte(self) -> None:
        os.write(self._wfd, b"*")

    def _take_byte(self) -> None:
        os.read(self._rfd, 1)

    def _release(self) -> None:
        os.close(self._rfd)
        os.close(self._wfd)


class WindowsPipe(_SignalPipe):
    """The signal on a connected socket pair: on Windows ``select`` takes
    only sockets."""

    def __init__(self) -> None:
        """Create the connected pair (both ends non-blocking)."""
        super().__init__()
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)

    def fileno(self) -> int:
        """The read end's socket descriptor, for ``select``."""
        return self._rsock.fileno()

    def _put_byte(self) -> None:
        self._wsock.send(b"*")

    def _take_byte(self) -> None:
        self._rsock.recv(1)

    def _release(self) -> None:
        self._rsock.close()
        self._wsock.close()


def make_pipe() -> PosixPipe | WindowsPipe:
    """A new ready signal of the kind this platform can ``select`` on."""
    if sys.platform.startswith("win"):
        return WindowsPipe()
    return PosixPipe()


class OrPipe:
    """One of two flags sharing a pipe (see ``make_or_pipe``)."""

    def __init__(self, pipe: ReadyPipe) -> None:
        """A flag on ``pipe``; pair it with its partner before use."""
        self._set = False
        self._partner: OrPipe | None = None
        self._pipe = pipe

    def set(self) -> None:
        """Raise this flag: the shared pipe becomes readable."""
        self._set = True
        if self._partner is None or not self._partner.is_set():
            self._pipe.set()

    def clear(self) -> None:
        """Lower this flag: the shared pipe clears if the partner is down too."""
        self._set = False
        if self._partner is None or not self._partner.is_set():
            self._pipe.clear()

    def is_set(self) -> bool:
        """Whether this flag is raised."""
        return self._set


def make_or_pipe(pipe: ReadyPipe) -> tuple[OrPipe, OrPipe]:
    """Two flags on ``pipe``, or-ed: it is set while either flag is set
    (a channel's stdout and stderr behind one ``fileno``)."""
    first = OrPipe(pipe)
    second = OrPipe(pipe)
    first._partner = second
    second._partner = first
    return first, second


__all__ = ["OrPipe", "PosixPipe", "ReadyPipe", "WindowsPipe", "make_or_pipe", "make_pipe"]
