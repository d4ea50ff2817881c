"""A small reader that splits one fuzz input into the values a target needs.

The targets use this instead of ``atheris.FuzzedDataProvider`` so that they
run unchanged without atheris (the hypothesis tests in ``tests/fuzz`` and the
runner's fallback mode feed them too). Every method is total: past the end of
the input it returns zeros and empty strings, never raises, so a short input
is still a complete test case.
"""

from __future__ import annotations


class Bytes:
    """Consume an input from the front, one value at a time."""

    def __init__(self, data: bytes) -> None:
        """Read from ``data``."""
        self._data = bytes(data)
        self._pos = 0

    def remaining(self) -> int:
        """How many bytes are left."""
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end)."""
        out = self._data[self._pos : self._pos + max(0, n)]
        self._pos += len(out)
        return out

    def u8(self) -> int:
        """One byte as an int (0 at the end)."""
        b = self.take(1)
        return b[0] if b else 0

    def u16(self) -> int:
        """Two bytes, big-endian, as an int."""
        return int.from_bytes(self.take(2).rjust(2, b"\0"), "big")

    def boolean(self) -> bool:
        """One byte's low bit."""
        return bool(self.u8() & 1)

    def pick(self, n: int) -> int:
        """An index in ``range(n)``."""
        return self.u8() % n if n > 0 else 0

    def chunk(self) -> bytes:
        """A length-prefixed piece: a 2-byte length, then up to that many bytes."""
        return self.take(self.u16())

    def rest(self) -> bytes:
        """Everything that is left."""
        return self.take(self.remaining())
