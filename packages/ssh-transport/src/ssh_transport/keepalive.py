"""Keepalives: notice a peer that has gone silent.

OpenSSH's ServerAliveInterval/ServerAliveCountMax (and ClientAlive* on a
server): a peer that has sent nothing for the interval is asked for a reply,
and one that leaves several such requests unanswered is dropped, so that
the threads waiting on it hear why instead of waiting for ever. paramiko's
send-only keepalive stays available (``max_missed=0``).

``KeepaliveWatch`` is the I/O-free decision, shared by the threaded driver's
``Keepalive`` (a thread per transport that wants keepalives) and the
asyncio driver's timer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ssh_wire import SSHException

if TYPE_CHECKING:
    from .socket_pump import SocketPump


#: the global request a keepalive probe sends (OpenSSH's own name; any
#: answer, even a refusal, proves the peer alive)
PROBE_REQUEST = "keepalive@openssh.com"


class KeepaliveWatch:
    """The keepalive decision, without I/O or clock of its own (shared by
    the threaded transport and the asyncio connections): given the time,
    the core's received-packet count and whether the session is up, say
    whether to wait (and how long), probe the peer, or give it up.

    Any packet received counts as an answer; it is seen through the core's
    packet count, so the reader's hot path does no keepalive bookkeeping.
    """

    WAIT = "wait"
    PROBE = "probe"
    LOST = "lost"

    def __init__(self, now: float) -> None:
        self.seen = -1  # the core's packet count when last looked at
        self.looked = now  # when that was
        self.quiet_since = now  # nothing has been received since (at the latest)
        self.missed = 0  # probes sent since then

    def step(self, now: float, interval: float, limit: int, packets_in: int, ready: bool) -> tuple[str, float]:
        """(``WAIT``, seconds), (``PROBE``, 0) or (``LOST``, 0) for a peer
        that must answer within ``interval`` and may miss ``limit`` probes
        in a row; a ``PROBE`` counts as sent."""
        if not ready:
            self.seen, self.quiet_since, self.missed = packets_in, now, 0
        elif packets_in != self.seen:
            # The peer spoke since we last looked (a quarter of an interval
            # ago at most): count the quiet from then, so that an idle live
            # peer is probed every interval.
            self.seen, self.quiet_since, self.missed = packets_in, self.looked, 0
        self.looked = now
        due = self.quiet_since + interval * (self.missed + 1)
        if now < due:
            return self.WAIT, min(due - now, interval / 4)
        if self.missed >= limit:
            return self.LOST, 0.0
        self.missed += 1
        return self.PROBE, 0.0

    def lost_reason(self, interval: float) -> str:
        """Why the session is being dropped (for the waiters' exception)."""
        return f"peer stopped answering keepalives: {self.missed} unanswered, {interval:g} s apart"


class Keepalive:
    """The threaded driver's keepalives: one thread, started while an
    interval is set and the session is up (see ``Transport.set_keepalive``)."""

    def __init__(
        self,
        pump: SocketPump,
        expect_global_reply: Callable[[], None],
        lost: Callable[[SSHException], None],
    ) -> None:
        """Probe the peer of the session ``pump`` drives. ``expect_global_reply()``
        keeps a slot for the reply to a probe (replies come in order);
        ``lost(error)`` drops the session."""
        self._pump = pump
        self._lock = pump.lock
        self._expect_global_reply = expect_global_reply
        self._lost = lost
        self._interval = 0.0
        # probes a quiet peer may leave unanswered before we hang up (0: send-only)
        self._max_missed = 3
        self._thread: threading.Thread | None = None
        # the keepalive thread sleeps on its own condition: the transport's is busy
        self._cond = threading.Condition(self._lock)
        #: why the session was dropped when the peer went silent, else None
        self.peer_lost: SSHException | None = None

    def configure(self, interval: float, max_missed: int) -> None:
        """Set the interval and the misses allowed (``Transport.set_keepalive``)."""
        if max_missed < 0:
            raise ValueError("max_missed must be 0 or more")
        with self._lock:
            self._interval = float(interval)
            self._max_missed = int(max_missed)
            self.start()
            self._cond.notify_all()

    def start(self) -> None:
        """(Lock held.) Run the keepalive thread if an interval is set and the session is up."""
        if self._interval and self._pump.running and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="ssh-transport-keepalive", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """(Lock held.) The session ends: the thread wakes and returns."""
        self._cond.notify_all()

    def _loop(self) -> None:
        """The keepalive thread: probe a peer that has been quiet for the
        interval, and drop the session when too many probes in a row went
        unanswered. Any packet received counts as an answer; it is seen
        through the core's packet count, so the reader's hot path does no
        keepalive bookkeeping at all."""
        watch = KeepaliveWatch(time.monotonic())
        pump = self._pump
        lost: SSHException | None = None
        while True:
            with self._lock:
                interval = self._interval
                limit = self._max_missed
                core = pump.core
                if not interval or not pump.running or core is None:
                    self._thread = None
                    return
                now = time.monotonic()
                ready = core.authenticated and not core.closed
                if limit <= 0:
                    # paramiko's keepalive: send-only, after the interval without sending
                    idle = now - pump.last_sent
                    if idle < interval:
                        self._cond.wait(interval - idle)
                        continue
                    if ready:
                        core.global_request("keepalive@lag.net", False)
                    pump.last_sent = now
                else:
                    action, wait = watch.step(now, interval, limit, core.packets_in, ready)
                    if action == KeepaliveWatch.WAIT:
                        self._cond.wait(wait)
                        continue
                    if action == KeepaliveWatch.LOST:
                        lost = SSHException(watch.lost_reason(interval))
                        self.peer_lost = lost
                        self._thread = None
                    else:
                        # OpenSSH answers it with REQUEST_FAILURE; a slot keeps replies in order
                        core.global_request(PROBE_REQUEST, True)
                        self._expect_global_reply()
            if lost is not None:
                pump.logger.info("%s; closing the session", lost)
                # no DISCONNECT: nobody reads it, and writing could block
                self._lost(lost)
                return
            # never block here on a peer that stopped reading: what the socket
            # does not take at once goes to the writer thread
            pump.flush(time.monotonic())


__all__ = ["PROBE_REQUEST", "Keepalive", "KeepaliveWatch"]
