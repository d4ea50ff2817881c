"""``SessionLoop``: one thread runs every session of a connection.

The connection's handler thread runs ``SessionLoop.run``: a selector over
the processes' pipes (and pidfds) of all of the connection's sessions, so a
connection costs two threads however many commands it runs (the
transport's reader thread, which also writes the client's stdin data into
the pipes while they take it, and this one). The transport's hooks, which
run in the reader thread, hand sessions over with ``start``.

Output held back by a shut send window goes out when the client's window
grows: the channel's send-ready callback (``Channel.set_send_ready_callback``,
run by the reader thread) wakes the loop for that session (``wake_for``).
Two things are done on a timer: a stdin feed that holds bulk packets back to
write them together is ticked every ``streams.TICK`` while data streams in,
to write what a pause left held; and where there is no pidfd (not Linux) the
process's exit is looked for after a wait that grows while it has not
come (``RETRY_FIRST`` .. ``RETRY_MAX``).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import selectors
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .session import Session
from .streams import TICK

log = logging.getLogger("paramiko.demo")

# how long the loop sleeps when nothing happens, between looks at the transport
IDLE_TICK = 1.0
# looks for the exit of a process without a pidfd: the first wait, and the cap
RETRY_FIRST = 0.0005
RETRY_MAX = 0.02


class ServedTransport(Protocol):
    """What the loop uses of ``ssh_transport.Transport``."""

    def is_active(self) -> bool: ...

    def accept(self, timeout: float | None = None) -> object | None: ...


class _Waker:
    """A descriptor other threads make readable to wake the selector."""

    def __init__(self) -> None:
        self._eventfd = hasattr(os, "eventfd")
        if self._eventfd:
            self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._wfd = self.fd
        else:
            self.fd, self._wfd = os.pipe()
            os.set_blocking(self.fd, False)
            os.set_blocking(self._wfd, False)

    def wake(self) -> None:
        try:
            os.write(self._wfd, b"\x01\x00\x00\x00\x00\x00\x00\x00" if self._eventfd else b"\x01")
        except BlockingIOError:
            pass  # already readable
        except OSError:
            pass  # closed: the loop is gone

    def clear(self) -> None:
        try:
            os.read(self.fd, 8 if self._eventfd else 4096)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)
        if self._wfd != self.fd:
            os.close(self._wfd)


class SessionLoop:
    """Runs the sessions of one connection in the thread that calls ``run``."""

    def __init__(self) -> None:
        # made when the first channel opens: an idle connection keeps only its socket
        self._sel: selectors.BaseSelector | None = None
        self._waker: _Waker | None = None
        # from other threads: sessions to start, sessions whose stdin changed
        self._incoming: queue.SimpleQueue[Session] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._refresh: set[Session] = set()
        # loop thread only
        self._sessions: set[Session] = set()
        self._retry: set[Session] = set()
        self._retry_wait = RETRY_FIRST
        self._ticking: set[Session] = set()
        self._next_tick = 0.0

    # -- from any thread --------------------------------------------------------------

    def start(self, session: Session) -> None:
        """Have the loop start ``session`` (its process is spawned there)."""
        with self._lock:
            self._incoming.put(session)
            self._wake_locked()

    def wake_for(self, session: Session) -> None:
        """(Reactor.) Call ``session.refresh`` in the loop's thread."""
        with self._lock:
            first = not self._refresh
            self._refresh.add(session)
            if first:
                self._wake_locked()

    def _wake_locked(self) -> None:
        """(Lock held.) Wake the loop's select. Under the lock, because the
        loop closes the waker under it: a wake from another thread (the
        reader's) that wrote after the close would write into whatever
        descriptor took the waker's number meanwhile (another connection's
        socket)."""
        if self._waker is not None:
            self._waker.wake()

    @property
    def session_count(self) -> int:
        """Sessions running now."""
        return len(self._sessions)

    # -- the loop's thread ----------------------------------------------------------------

    def watch(self, owner: Session, fd: int, writable: bool, callback: Callable[[], None]) -> None:
        """(Reactor.) Call ``callback`` whenever ``fd`` is readable (or
        writable); should it fail, ``owner`` is aborted."""
        sel = self._sel
        assert sel is not None
        events = selectors.EVENT_WRITE if writable else selectors.EVENT_READ
        try:
            sel.modify(fd, events, (owner, callback))
        except KeyError:
            sel.register(fd, events, (owner, callback))

    def unwatch(self, fd: int) -> None:
        """(Reactor.) Stop watching ``fd``."""
        if fd >= 0 and self._sel is not None:
            try:
                self._sel.unregister(fd)
            except KeyError:
                pass

    def watching(self, fd: int) -> bool:
        """(Reactor.) Whether ``fd`` is watched."""
        return fd >= 0 and self._sel is not None and fd in self._sel.get_map()

    def retry_soon(self, session: Session) -> None:
        """(Reactor.) Call ``session.retry`` after a short wait."""
        if not self._retry:
            self._retry_wait = RETRY_FIRST
        self._retry.add(session)

    def tick_soon(self, session: Session) -> None:
        """(Reactor.) Call ``session.tick`` every ``TICK`` while it returns True."""
        if not self._ticking:
            self._next_tick = time.monotonic() + TICK
        self._ticking.add(session)

    def ended(self, session: Session) -> None:
        """(Reactor.) Forget a session that is over."""
        self._sessions.discard(session)
        self._retry.discard(session)
        self._ticking.discard(session)

    def run(self, transport: ServedTransport) -> None:
        """Run sessions until ``transport`` is closed; then end those still
        running (their processes see EOF) and return."""
        # until a channel opens, wait in accept (no descriptors of our own)
        while self._incoming.empty():
            try:
                channel = transport.accept(IDLE_TICK)
            except Exception:  # the peer was lost: the transport is closed
                return
            if channel is not None:
                break
            if not transport.is_active():
                return
        sel = self._sel = selectors.DefaultSelector()
        try:
            waker = _Waker()
        except OSError:
            sel.close()
            raise
        sel.register(waker.fd, selectors.EVENT_READ, None)
        with self._lock:
            self._waker = waker
        fdmap = sel.get_map()
        self._take_new()
        try:
            while True:
                timeout = self._retry_wait if self._retry else IDLE_TICK
                if self._ticking:
                    timeout = max(0.0, min(timeout, self._next_tick - time.monotonic()))
                ready = sel.select(timeout)
                woken = False
                for key, _ in ready:
                    if key.data is None:
                        woken = True
                    elif fdmap.get(key.fd) is key:  # not unwatched by an earlier callback
                        self._call(*key.data)
                if woken:
                    waker.clear()
                    if self._take_new():
                        self._drop_accepted(transport)
                if self._retry:
                    self._retry_exits(bool(ready))
                if self._ticking and time.monotonic() >= self._next_tick:
                    self._tick()
                if (not ready or not transport.is_active()) and not self._drop_accepted(transport):
                    break
        finally:
            self._close()

    def _call(self, session: Session, callback: Callable[[], None]) -> None:
        """Run a session's callback; a failure ends that session only."""
        try:
            callback()
        except Exception:
            log.exception("demo session failed")
            session.abort()

    def _take_new(self) -> bool:
        """Start queued sessions, refresh those whose stdin changed; True if
        a session started."""
        started = False
        while True:
            try:
                session = self._incoming.get_nowait()
            except queue.Empty:
                break
            self._sessions.add(session)
            started = True
            self._call(session, functools.partial(session.start, self))
        with self._lock:
            refresh, self._refresh = self._refresh, set()
        for session in refresh:
            if not session.over:
                self._call(session, session.refresh)
        return started

    def _retry_exits(self, busy: bool) -> None:
        """Look again for the exit of processes without a pidfd; after a
        wait in vain, wait longer next time."""
        sessions, self._retry = self._retry, set()
        for session in sessions:
            self._call(session, session.retry)
        if self._retry and not busy:
            self._retry_wait = min(RETRY_MAX, self._retry_wait * 2)
        elif not self._retry:
            self._retry_wait = RETRY_FIRST

    def _tick(self) -> None:
        """Tick the sessions whose stdin feed holds bulk data back."""
        for session in list(self._ticking):
            if not session.tick():
                self._ticking.discard(session)
        self._next_tick = time.monotonic() + TICK

    def _drop_accepted(self, transport: ServedTransport) -> bool:
        """Take channels off the transport's accept queue (sessions come
        through the hooks, not from there); False once the transport is closed."""
        try:
            while transport.accept(0) is not None:
                pass
        except Exception:  # the peer was lost: the transport is closed
            return False
        return transport.is_active()

    def _close(self) -> None:
        """End whatever still runs; release the selector and the waker."""
        while True:  # never started: only their channels to close
            try:
                self._incoming.get_nowait().abort()
            except queue.Empty:
                break
        for session in list(self._sessions):
            session.abort()
        self._sessions.clear()
        self._retry.clear()
        self._ticking.clear()
        with self._lock:
            waker, self._waker = self._waker, None
            if waker is not None:
                waker.close()
        if self._sel is not None:
            self._sel.close()
