"""Keepalives of ``Transport`` (a mixin): notice a peer that has gone silent.

OpenSSH's ServerAliveInterval/ServerAliveCountMax (and ClientAlive* on a
server): a peer that has sent nothing for the interval is asked for a reply,
and one that leaves several such requests unanswered is dropped, so that
the threads waiting on it hear why instead of waiting for ever. paramiko's
send-only keepalive stays available (``max_missed=0``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ssh_wire import SSHException

if TYPE_CHECKING:
    from .protocol.core import SSHProtocol
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


class KeepaliveMixin:
    """``set_keepalive`` and the keepalive thread."""

    active: bool
    logger: logging.Logger
    _lock: Any
    _core: SSHProtocol | None
    _global_replies: deque[list[Any]]
    _keepalive: float
    _keepalive_max_missed: int
    _keepalive_thread: threading.Thread | None
    _keepalive_cond: threading.Condition
    _peer_lost: SSHException | None
    _pump: SocketPump

    if TYPE_CHECKING:

        def _flush(self, deadline: float | None = None) -> None:  # provided by DriverMixin
            raise NotImplementedError

        def _shutdown(self, error: Exception | None, flush: bool = False, shutdown_socket: bool = True) -> None:
            raise NotImplementedError

    def set_keepalive(self, interval: float, max_missed: int = 3) -> None:
        """Notice a peer that has gone silent, and keep idle NAT mappings open.

        Once authenticated, whenever nothing has been received for
        ``interval`` seconds (0: never), send a ``keepalive@openssh.com``
        global request that wants a reply (any answer, even a refusal, and
        any other packet proves the peer alive), as OpenSSH's
        ``ServerAliveInterval``. When ``max_missed`` such probes in a row go
        unanswered for ``interval`` seconds each (``ServerAliveCountMax``,
        default 3), the session is dropped: a peer silent for between
        ``interval * max_missed`` and ``interval * (max_missed + 1)`` seconds
        is gone, and threads waiting on the transport get an
        ``SSHException`` saying so. ``max_missed=0`` keeps paramiko's
        behaviour: a ``keepalive@lag.net`` request that wants no reply after
        ``interval`` seconds without sending, and no check of the peer.
        May be called before the session starts (it takes effect then)."""
        if max_missed < 0:
            raise ValueError("max_missed must be 0 or more")
        with self._lock:
            self._keepalive = float(interval)
            self._keepalive_max_missed = int(max_missed)
            self._start_keepalive()
            self._keepalive_cond.notify_all()

    def _start_keepalive(self) -> None:
        """(Lock held.) Run the keepalive thread if an interval is set and the session is up."""
        if self._keepalive and self.active and self._keepalive_thread is None:
            self._keepalive_thread = threading.Thread(
                target=self._keepalive_loop, name="ssh-transport-keepalive", daemon=True
            )
            self._keepalive_thread.start()

    def _keepalive_loop(self) -> None:
        """The keepalive thread (see ``Transport.set_keepalive``): probe a
        peer that has been quiet for the interval, and drop the session when
        too many probes in a row went unanswered. Any packet received counts
        as an answer; it is seen through the core's packet count, so the
        reader's hot path does no keepalive bookkeeping at all."""
        watch = KeepaliveWatch(time.monotonic())
        lost: SSHException | None = None
        while True:
            with self._lock:
                interval = self._keepalive
                limit = self._keepalive_max_missed
                core = self._core
                if not interval or not self.active or core is None:
                    self._keepalive_thread = None
                    return
                now = time.monotonic()
                ready = core.authenticated and not core.closed
                if limit <= 0:
                    # paramiko's keepalive: send-only, after the interval without sending
                    idle = now - self._pump.last_sent
                    if idle < interval:
                        self._keepalive_cond.wait(interval - idle)
                        continue
                    if ready:
                        core.global_request("keepalive@lag.net", False)
                    self._pump.last_sent = now
                else:
                    action, wait = watch.step(now, interval, limit, core.packets_in, ready)
                    if action == KeepaliveWatch.WAIT:
                        self._keepalive_cond.wait(wait)
                        continue
                    if action == KeepaliveWatch.LOST:
                        lost = SSHException(watch.lost_reason(interval))
                        self._peer_lost = lost
                        self._keepalive_thread = None
                    else:
                        # OpenSSH answers it with REQUEST_FAILURE; a slot keeps replies in order
                        core.global_request(PROBE_REQUEST, True)
                        self._global_replies.append([None])
            if lost is not None:
                self.logger.info("%s; closing the session", lost)
                # no DISCONNECT: nobody reads it, and writing could block
                self._shutdown(lost, flush=False)
                return
            # never block here on a peer that stopped reading: what the socket
            # does not take at once goes to the writer thread
            self._flush(time.monotonic())


__all__ = ["PROBE_REQUEST", "KeepaliveMixin", "KeepaliveWatch"]
