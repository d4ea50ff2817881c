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
    _last_sent: float

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
        seen = -1  # the core's packet count when last looked at
        looked = time.monotonic()  # when that was
        quiet_since = looked  # nothing has been received since (at the latest)
        missed = 0  # probes sent since then
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
                    idle = now - self._last_sent
                    if idle < interval:
                        self._keepalive_cond.wait(interval - idle)
                        continue
                    if ready:
                        core.global_request("keepalive@lag.net", False)
                    self._last_sent = now
                else:
                    count = core.packets_in
                    if not ready:
                        seen, quiet_since, missed = count, now, 0
                    elif count != seen:
                        # The peer spoke since we last looked (a quarter of an
                        # interval ago at most): count the quiet from then, so
                        # that an idle live peer is probed every interval.
                        seen, quiet_since, missed = count, looked, 0
                    looked = now
                    due = quiet_since + interval * (missed + 1)
                    if now < due:
                        self._keepalive_cond.wait(min(due - now, interval / 4))
                        continue
                    if missed >= limit:
                        lost = SSHException(
                            f"peer stopped answering keepalives: {missed} unanswered, {interval:g} s apart"
                        )
                        self._peer_lost = lost
                        self._keepalive_thread = None
                    else:
                        # OpenSSH answers it with REQUEST_FAILURE; a slot keeps replies in order
                        core.global_request("keepalive@openssh.com", True)
                        self._global_replies.append([None])
                        missed += 1
            if lost is not None:
                self.logger.info("%s; closing the session", lost)
                # no DISCONNECT: nobody reads it, and writing could block
                self._shutdown(lost, flush=False)
                return
            # never block here on a peer that stopped reading: what the socket
            # does not take at once goes to the writer thread
            self._flush(time.monotonic())


__all__ = ["KeepaliveMixin"]
