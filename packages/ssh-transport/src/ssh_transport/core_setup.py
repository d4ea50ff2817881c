"""Building a protocol core from paramiko-style settings, for either driver.

paramiko's knobs (``disabled_algorithms``, the server's moduli file, rekey
limits) are turned into the core's ``AlgorithmPreferences`` and arguments
here, once, for the threaded ``Transport`` and the asyncio connections.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .protocol.core import DEFAULT_VERSION, REKEY_BYTES, REKEY_INTERVAL, SSHProtocol
from .protocol.moduli import choose_group, parse_moduli
from .protocol.negotiation import AlgorithmPreferences

#: ``disabled_algorithms`` categories -> the ``AlgorithmPreferences`` field
#: they thin out ("pubkeys" is applied to user-key algorithms instead)
DISABLED_CATEGORIES = {
    "ciphers": "ciphers",
    "macs": "digests",
    "keys": "key_types",
    "kex": "kex",
    "compression": "compression",
}

Moduli = dict[int, list[tuple[int, int]]]


def load_moduli(path: str | os.PathLike[str] = "/etc/ssh/moduli") -> Moduli:
    """Read and parse the moduli file at ``path`` (``OSError`` if it cannot
    be read); the parsing is the core's ``protocol.moduli.parse_moduli``."""
    with open(path, encoding="ascii", errors="replace") as f:
        return parse_moduli(f.read())


def preferences_without(disabled: Mapping[str, Iterable[str]] | None) -> AlgorithmPreferences:
    """The default preferences with ``disabled_algorithms`` taken out."""
    prefs = AlgorithmPreferences()
    for category, names in (disabled or {}).items():
        attr = DISABLED_CATEGORIES.get(category)
        if attr is not None:
            drop = set(names)
            setattr(prefs, attr, tuple(n for n in getattr(prefs, attr) if n not in drop))
    return prefs


def disabled_pubkeys(disabled: Mapping[str, Iterable[str]] | None) -> tuple[str, ...]:
    """The user-key algorithms ``disabled_algorithms["pubkeys"]`` names."""
    return tuple((disabled or {}).get("pubkeys", ()))


def build_core(
    role: str,
    prefs: AlgorithmPreferences,
    *,
    no_pubkeys: tuple[str, ...] = (),
    host_keys: Mapping[str, Any] | None = None,
    local_version: bytes = DEFAULT_VERSION,
    moduli: Moduli | None = None,
    expected_host_key_type: str | None = None,
    rekey_bytes: int = REKEY_BYTES,
    rekey_interval: float = REKEY_INTERVAL,
    max_auth_attempts: int = 20,
    strict_kex: bool = True,
    server_sig_algs: bool = True,
) -> SSHProtocol:
    """A core for ``role`` ("client" or "server") with these preferences,
    started at the current monotonic time; ``no_pubkeys`` are user-key
    algorithms never to use or accept (FIDO ``sk-`` variants included),
    ``moduli`` a server's group-exchange primes."""
    gex = None
    if role == "server" and moduli:
        pack = moduli
        gex = lambda lo, n, hi: choose_group(pack, lo, n, hi)  # noqa: E731
    core = SSHProtocol(
        role,
        prefs=prefs,
        host_keys=dict(host_keys) if role == "server" and host_keys is not None else None,
        local_version=local_version,
        gex_moduli=gex,
        expected_host_key_type=expected_host_key_type,
        rekey_bytes=rekey_bytes,
        rekey_interval=rekey_interval,
        max_auth_attempts=max_auth_attempts,
        pubkey_algorithms=tuple(a for a in prefs.key_types if a not in no_pubkeys),
        now=time.monotonic(),
        strict_kex=strict_kex,
        server_sig_algs=server_sig_algs,
    )
    if no_pubkeys:
        # the core adds each curve's FIDO (sk-) algorithm: drop those disabled by name too
        for auth in (core.client_auth, core.server_auth):
            if auth is not None:
                auth.allowed_algorithms = tuple(a for a in auth.allowed_algorithms if a not in no_pubkeys)
    return core


__all__ = ["DISABLED_CATEGORIES", "build_core", "disabled_pubkeys", "load_moduli", "preferences_without"]
