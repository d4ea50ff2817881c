"""Two tiny generic helpers every layer (and paramiko users) reach for."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

_T = TypeVar("_T", int, float)


class ClosingContextManager:
    """Mixin that makes ``with obj:`` call ``obj.close()`` on the way out
    (what paramiko's Transport, SFTPClient, Channel ... inherit)."""

    def __enter__(self) -> Any:
        """Enter the block and give back the object itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the object; any exception goes on propagating."""
        self.close()  # type: ignore[attr-defined]


def clamp_value(minimum: _T, val: _T, maximum: _T) -> _T:
    """``val`` limited to the range ``minimum``..``maximum``."""
    return max(minimum, min(val, maximum))


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches an OpenSSH pattern ('*' any run, '?' any one
    character), as ssh_config Host/Match and known_hosts use them.

    O(len(pattern) * len(value)) steps: a mismatch resumes only from the
    latest '*', where a regex of '.*' runs backtracks exponentially (a
    pattern of thirty '*' took minutes; the fuzzer found it)."""
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    p = v = 0
    star, resume = -1, 0
    while v < len(value):
        if p < len(pattern) and pattern[p] in ("?", value[v]) and pattern[p] != "*":
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, v
            p += 1
        elif star >= 0:
            resume += 1
            p, v = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)
