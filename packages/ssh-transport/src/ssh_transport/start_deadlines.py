"""``StartDeadlines``: the two deadlines of a session's start, each a timer
thread that lives only until it is met.

The peer must send its identification line within ``banner_timeout`` (as
paramiko: a peer that accepts the connection and then says nothing must not
hold the caller for the whole handshake timeout), and on a server the client
must log in within ``login_grace_time`` (OpenSSH's LoginGraceTime).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class StartDeadlines:
    """The banner and login-grace timers of one transport."""

    def __init__(self) -> None:
        self._banner: threading.Timer | None = None
        self._login: threading.Timer | None = None

    @staticmethod
    def _start(seconds: float, expired: Callable[[], None]) -> threading.Timer:
        timer = threading.Timer(float(seconds), expired)
        timer.daemon = True
        timer.start()
        return timer

    def expect_banner(self, seconds: float | None, expired: Callable[[], None]) -> None:
        """Call ``expired()`` unless ``banner_received`` comes within ``seconds`` (None: never)."""
        if seconds is not None:
            self._banner = self._start(seconds, expired)

    def banner_received(self) -> None:
        """The peer's identification line came (or the session ended)."""
        timer, self._banner = self._banner, None
        if timer is not None:
            timer.cancel()

    def expect_login(self, seconds: float | None, expired: Callable[[], None]) -> None:
        """Call ``expired()`` unless ``logged_in`` comes within ``seconds`` (None: never)."""
        if seconds is not None:
            self._login = self._start(seconds, expired)

    def logged_in(self) -> None:
        """The client authenticated (or the session ended)."""
        timer, self._login = self._login, None
        if timer is not None:
            timer.cancel()

    def cancel(self) -> None:
        """The session ended: no deadline is due any more."""
        self.banner_received()
        self.logged_in()


__all__ = ["StartDeadlines"]
