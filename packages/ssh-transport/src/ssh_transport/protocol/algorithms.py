"""Small helpers shared by the algorithm tables (ciphers, MACs, compression, kex).

Every table is a plain ``dict`` from the SSH algorithm name to a spec object,
kept in default preference order. Entries flagged ``legacy`` are known to the
library but only offered when the user asks for them by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _is_legacy(spec: Any) -> bool:
    """Whether a table entry is a legacy algorithm (missing flag means current)."""
    return bool(getattr(spec, "legacy", False))


def default_names(table: Mapping[str, Any]) -> tuple[str, ...]:
    """The names offered by default: every non-legacy entry, in preference order."""
    return tuple(name for name, spec in table.items() if not _is_legacy(spec))


def all_names(table: Mapping[str, Any]) -> tuple[str, ...]:
    """Every name the table knows, legacy ones included, in preference order."""
    return tuple(table)


def legacy_names(table: Mapping[str, Any]) -> tuple[str, ...]:
    """The legacy names only, in preference order."""
    return tuple(name for name, spec in table.items() if _is_legacy(spec))
