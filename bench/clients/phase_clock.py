"""The clock both benchmark clients time their measured phase with."""

from __future__ import annotations

import time


class PhaseClock:
    """Wall and CPU time of the measured phase, from ``start()`` on: the
    clients start it once the session is ready, so session set-up stays out
    of the figures, as it does for OpenSSH's tools."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        """(Re)start the phase now."""
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def read(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) since ``start()``."""
        return time.perf_counter() - self.wall0, time.process_time() - self.cpu0
