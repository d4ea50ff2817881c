"""``HandleQuota``: open SFTP handles counted per connection and across the
process, so that one client with many sessions, or all clients together,
cannot take the descriptors a server needs to accept and serve others.

``SFTPServer`` asks it before every OPEN/OPENDIR (on top of its per-session
``MAX_HANDLES``); one quota object is shared by all servers of a process
unless a server is given its own.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

__all__ = ["HandleQuota", "descriptor_budget"]

try:
    import resource
except ImportError:  # Windows: no descriptor limit to read
    resource = None  # type: ignore[assignment]


def descriptor_budget() -> int | None:
    """Handles the process may hold: the soft RLIMIT_NOFILE minus a reserve
    (a quarter, at least 64) kept for sockets, transports and the log; None
    when the limit is unknown or infinite."""
    if resource is None:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    return max(1, soft - max(64, soft // 4))


class HandleQuota:
    """Counts handles by connection and in total; thread-safe.

    ``per_connection``: handles all SFTP sessions of one connection (one
    transport) may hold together (None: no limit). ``total``: handles all
    sessions of the process may hold (None: ``descriptor_budget()``, read at
    each request so a changed RLIMIT_NOFILE counts)."""

    def __init__(
        self,
        per_connection: int | None = 1024,
        total: int | None = None,
        budget: Callable[[], int | None] = descriptor_budget,
    ) -> None:
        self.per_connection = per_connection
        self.total = total
        self._budget = budget
        self._lock = threading.Lock()
        self._by_connection: Counter[object] = Counter()
        self._open = 0

    def total_limit(self) -> int | None:
        """The process-wide cap in force now."""
        return self.total if self.total is not None else self._budget()

    def acquire(self, connection: object) -> str | None:
        """Count one more handle for ``connection`` (any hashable that stands
        for it, e.g. its transport); None if granted, else why not."""
        with self._lock:
            limit = self.per_connection
            if limit is not None and self._by_connection[connection] >= limit:
                return f"Too many open handles on this connection (limit {limit}); close some"
            total = self.total_limit()
            if total is not None and self._open >= total:
                return f"Too many open handles on the server (limit {total}); try again later"
            self._by_connection[connection] += 1
            self._open += 1
            return None

    def release(self, connection: object) -> None:
        """One handle of ``connection`` closed (or never opened)."""
        with self._lock:
            held = self._by_connection.get(connection, 0)
            if held <= 0:
                return
            self._open -= 1
            if held == 1:
                del self._by_connection[connection]
            else:
                self._by_connection[connection] = held - 1

    def open_handles(self, connection: object | None = None) -> int:
        """Handles counted for ``connection``, or in total."""
        with self._lock:
            return self._open if connection is None else self._by_connection[connection]
