"""Who a server lets in: sshd's ``MaxStartups``, ``PerSourceMaxStartups`` and a
cap on connections per source, as bookkeeping without I/O.

A server asks ``AdmissionControl.admit`` for every accepted connection before
spending anything on it; a connection counts as a "startup" (unauthenticated)
until ``Admission.mark_authenticated`` and against its source until
``Admission.release``. The accept loop in ``listener.py`` drives it; an asyncio
server can drive the same object.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Admission",
    "AdmissionControl",
    "AdmissionRefused",
    "ConnectionLimits",
    "parse_max_startups",
]


def parse_max_startups(text: str) -> tuple[int, int, int]:
    """sshd_config's ``MaxStartups`` value: ``"start:rate:full"``, or a single
    number N, which means a hard limit of N (``N:100:N``)."""
    parts = text.strip().split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"MaxStartups must be N or start:rate:full, not {text!r}") from None
    if len(numbers) == 1:
        start, rate, full = numbers[0], 100, numbers[0]
    elif len(numbers) == 3:
        start, rate, full = numbers
    else:
        raise ValueError(f"MaxStartups must be N or start:rate:full, not {text!r}")
    if start < 1 or full < start or not 1 <= rate <= 100:
        raise ValueError(f"MaxStartups needs 1 <= start <= full and 1 <= rate <= 100, not {text!r}")
    return start, rate, full


@dataclass(frozen=True)
class ConnectionLimits:
    """The knobs, with sshd's defaults where sshd has one.

    ``max_startups`` (start, rate, full): with ``start`` or more connections
    not yet authenticated, a new one is dropped with probability ``rate``
    percent, rising linearly to 100 % at ``full`` (sshd's 10:30:100).
    ``per_source_max_startups``: unauthenticated connections one source may
    hold (None: no share, as sshd's default). ``max_connections_per_source``:
    connections of any state one source may hold (None: unlimited).
    A source is the client's address masked to ``per_source_netblock``
    (IPv4 bits, IPv6 bits; sshd's PerSourceNetBlockSize, default 32:128).
    ``login_grace_time``: seconds a connection may stay unauthenticated before
    the server hangs up (sshd's LoginGraceTime, 120; None: forever)."""

    max_startups: tuple[int, int, int] = (10, 30, 100)
    per_source_max_startups: int | None = None
    max_connections_per_source: int | None = None
    per_source_netblock: tuple[int, int] = (32, 128)
    login_grace_time: float | None = 120.0

    def __post_init__(self) -> None:
        start, rate, full = self.max_startups
        parse_max_startups(f"{start}:{rate}:{full}")  # validates
        for name in ("per_source_max_startups", "max_connections_per_source"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no limit)")
        v4, v6 = self.per_source_netblock
        if not (0 <= v4 <= 32 and 0 <= v6 <= 128):
            raise ValueError("per_source_netblock must be (0..32, 0..128)")

    def drop_probability(self, startups: int) -> int:
        """Percent chance that a new connection is dropped while ``startups``
        connections are unauthenticated (random early drop)."""
        start, rate, full = self.max_startups
        if startups < start:
            return 0
        if startups >= full or rate == 100:
            return 100
        return rate + (100 - rate) * (startups - start) // (full - start)

    def source_of(self, address: Any) -> str:
        """The key a peer address is counted under: its network of
        ``per_source_netblock`` bits, or the address itself when it is not IP
        (a Unix socket's peers are all one source)."""
        host = address[0] if isinstance(address, tuple) and address else address
        try:
            ip = ipaddress.ip_address(str(host).split("%", 1)[0])
        except ValueError:
            return str(host)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        bits = self.per_source_netblock[0] if ip.version == 4 else self.per_source_netblock[1]
        return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


class AdmissionRefused(Exception):
    """A connection over a limit; ``reason`` says which (for the log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Admission:
    """One admitted connection's place in the counts. ``authenticated`` and
    ``released`` are kept by its ``AdmissionControl``."""

    def __init__(self, control: AdmissionControl, source: str) -> None:
        self.control = control
        self.source = source
        self.authenticated = False
        self.released = False

    def mark_authenticated(self) -> None:
        """The client logged in: it no longer counts as a startup (idempotent)."""
        self.control.settle(self, authenticated=True)

    def release(self) -> None:
        """The connection is gone: free its places (idempotent)."""
        self.control.settle(self, release=True)


class AdmissionControl:
    """Counts connections by state and source and decides on new ones.
    Thread-safe; ``randbelow`` is the random source for early drop."""

    def __init__(
        self, limits: ConnectionLimits | None = None, randbelow: Callable[[int], int] = secrets.randbelow
    ) -> None:
        self.limits = limits if limits is not None else ConnectionLimits()
        self._randbelow = randbelow
        self._lock = threading.Lock()
        self._startups = 0
        self._startups_by_source: Counter[str] = Counter()
        self._by_source: Counter[str] = Counter()

    def admit(self, address: Any) -> Admission:
        """Count a new connection from ``address`` as a startup, or raise
        ``AdmissionRefused`` if a limit says to drop it."""
        limits = self.limits
        source = limits.source_of(address)
        with self._lock:
            per_source = limits.max_connections_per_source
            if per_source is not None and self._by_source[source] >= per_source:
                raise AdmissionRefused(f"{source} already has {per_source} connections")
            share = limits.per_source_max_startups
            if share is not None and self._startups_by_source[source] >= share:
                raise AdmissionRefused(f"{source} already has {share} unauthenticated connections")
            p = limits.drop_probability(self._startups)
            if p and (p >= 100 or self._randbelow(100) < p):
                start, rate, full = limits.max_startups
                raise AdmissionRefused(
                    f"{self._startups} unauthenticated connections, past MaxStartups {start}:{rate}:{full}"
                )
            self._startups += 1
            self._startups_by_source[source] += 1
            self._by_source[source] += 1
            return Admission(self, source)

    def startups(self) -> int:
        """Connections admitted and not yet authenticated or released."""
        with self._lock:
            return self._startups

    def connections(self, source: str | None = None) -> int:
        """Connections admitted and not released (from ``source``, a key of
        ``limits.source_of``, or from everywhere)."""
        with self._lock:
            return self._by_source[source] if source is not None else sum(self._by_source.values())

    def settle(self, admission: Admission, authenticated: bool = False, release: bool = False) -> None:
        """Move ``admission`` out of the startup pool (``authenticated``)
        and/or out of the counts (``release``); repeating either is harmless."""
        with self._lock:
            if admission.released:
                return
            source = admission.source
            if not admission.authenticated and (authenticated or release):
                self._startups -= 1
                self._drop(self._startups_by_source, source)
            if release:
                self._drop(self._by_source, source)
            admission.authenticated = admission.authenticated or authenticated
            admission.released = release

    @staticmethod
    def _drop(counter: Counter[str], key: str) -> None:
        """One less under ``key``; the key goes when it reaches zero (the
        table stays as small as the live sources)."""
        counter[key] -= 1
        if counter[key] <= 0:
            del counter[key]
