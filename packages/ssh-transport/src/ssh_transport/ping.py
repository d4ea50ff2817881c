"""``ping@openssh.com`` for ``Transport``: ask the peer for an echo and
time the round trip.

OpenSSH's PING/PONG (PROTOCOL 1.9) are transport messages a peer answers
at once, with no channel or global-request bookkeeping, so they measure the
connection itself. The core answers the peer's PINGs; this mixin sends ours
and matches the PONGs (the peer echoes our data, so each probe carries its
own token). ``Transport.ping`` is a thin call into one ``Pinger``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ssh_wire import SSHException

from .protocol import events as ev

if TYPE_CHECKING:
    from .socket_pump import SocketPump

_TOKEN_SIZE = 8


class Pinger:
    """Sends our PINGs and matches the PONGs the reader thread hands to
    ``on_pong``. The transport's lock and condition guard the bookkeeping."""

    def __init__(self, pump: SocketPump, cond: threading.Condition, why_down: Callable[[], Exception | None]) -> None:
        """Ping the peer of the session ``pump`` drives; ``cond`` is the
        transport's condition, ``why_down()`` the error that ended the session."""
        self._pump = pump
        self._lock = pump.lock
        self._cond = cond
        self._why_down = why_down
        #: our PINGs in flight, by the token they carry: answered yet?
        self._pings: dict[bytes, bool] = {}

    def supported(self) -> bool:
        """Whether the peer advertised ``ping@openssh.com``."""
        with self._lock:
            core = self._pump.core
            return core is not None and core.peer_supports_ping

    def ping(self, timeout: float | None) -> float:
        """One round trip, in seconds (see ``Transport.ping``)."""
        token = os.urandom(_TOKEN_SIZE)
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        pump = self._pump
        pings = self._pings
        with self._lock:
            core = pump.core
            if core is None or not pump.running:
                raise self._why_down() or SSHException("SSH session not active")
            core.send_ping(token)
            pings[token] = False
        try:
            pump.flush(deadline)
            with self._lock:
                outcome = pump.wait_until(self._cond, lambda: pings[token], deadline)
                if outcome == "closed":
                    raise self._why_down() or SSHException("ping: transport closed before the answer")
                if outcome == "timeout":
                    raise SSHException("ping: no answer from the peer within the timeout")
        finally:
            with self._lock:
                pings.pop(token, None)
        return time.monotonic() - start

    def on_pong(self, e: ev.PongReceived) -> None:
        """A PONG: wake the ``ping()`` that sent its data (others are dropped)."""
        with self._lock:
            if e.data in self._pings:
                self._pings[e.data] = True
                self._cond.notify_all()


__all__ = ["Pinger"]
