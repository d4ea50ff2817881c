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
