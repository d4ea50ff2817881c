"""``ping@openssh.com`` for ``Transport`` (a mixin): ask the peer for an
echo and time the round trip.

OpenSSH's PING/PONG (PROTOCOL 1.9) are transport messages a peer answers
at once, with no channel or global-request bookkeeping, so they measure the
connection itself. The core answers the peer's PINGs; this mixin sends ours
and matches the PONGs (the peer echoes our data, so each probe carries its
own token).
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ssh_wire import SSHException

from .protocol import events as ev

if TYPE_CHECKING:
    from .protocol.core import SSHProtocol

_TOKEN_SIZE = 8


class PingMixin:
    """``ping()`` and the PONG handler the driver dispatches to."""

    _lock: Any
    _cond: threading.Condition
    _core: SSHProtocol | None
    active: bool

    if TYPE_CHECKING:

        def _flush(self, deadline: float | None = None) -> None:  # provided by the driver
            raise NotImplementedError

        def _saved_exception(self) -> Exception | None:  # provided by Transport
            raise NotImplementedError

        def _wait_cond(self, timeout: float | None = None) -> bool:  # provided by the driver
            raise NotImplementedError

    #: our PINGs in flight, by the token they carry: answered yet?
    _pings: dict[bytes, bool] | None = None

    def ping_supported(self) -> bool:
        """Whether the peer advertised ``ping@openssh.com`` (OpenSSH 9.5+
        servers do; our server does). Clients do not advertise it, so a
        server usually cannot ping."""
        with self._lock:
            core = self._core
            return core is not None and core.peer_supports_ping

    def ping(self, timeout: float | None = 10.0) -> float:
        """Send a ``ping@openssh.com`` PING and wait for its PONG; returns
        the round trip in seconds. Only after authentication, to a peer that
        advertised the extension (``ping_supported()``); ``SSHException``
        otherwise, when the transport closes, or when no answer comes within
        ``timeout`` seconds (None: wait as long as the transport lives). The
        peer does not answer during a key exchange, so a rekey may delay it.
        """
        token = os.urandom(_TOKEN_SIZE)
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        with self._lock:
            core = self._core
            if core is None or not self.active:
                raise self._saved_exception() or SSHException("SSH session not active")
            core.send_ping(token)
            if self._pings is None:
                self._pings = {}
            pings = self._pings
            pings[token] = False
        try:
            self._flush(deadline)
            with self._lock:
                while not pings[token]:
                    if not self.active:
                        raise self._saved_exception() or SSHException("ping: transport closed before the answer")
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise SSHException("ping: no answer from the peer within the timeout")
                    self._wait_cond(remaining)
        finally:
            with self._lock:
                pings.pop(token, None)
        return time.monotonic() - start

    def _on_PongReceived(self, e: ev.PongReceived) -> None:
        """A PONG: wake the ``ping()`` that sent its data (others are dropped)."""
        with self._lock:
            pings = self._pings
            if pings is not None and e.data in pings:
                pings[e.data] = True
                self._cond.notify_all()


__all__ = ["PingMixin"]
