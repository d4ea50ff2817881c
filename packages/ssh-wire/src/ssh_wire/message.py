"""``Message``: build and parse SSH2 wire data (RFC 4251 section 5 types).

Two reading modes:

* lenient (the default, as documented for paramiko 1.5): reading past the end
  gives zero bytes, so old callers that probe optional fields keep working;
* strict (``Message(data, strict=True)``), used by the protocol layers: any read
  past the end, a length larger than what remains, or bad UTF-8 raises
  ``ProtocolError`` (an ``SSHException``) instead of inventing data.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from .exceptions import ProtocolError
from .mpint import deflate_long, inflate_long

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
# Lenient reads never pad more than this many zero bytes (a garbage length
# field must not make us allocate gigabytes).
_MAX_PAD = 1 << 20

BytesLike = bytes | bytearray | memoryview


def _to_bytes(s: Any) -> bytes:
    """``str`` as UTF-8, bytes-likes as they are, and objects with ``asbytes()``."""
    if isinstance(s, str):
        return s.encode("utf-8")
    if isinstance(s, (bytes, bytearray, memoryview)):
        return bytes(s)
    asbytes = getattr(s, "asbytes", None)
    if callable(asbytes):
        return bytes(asbytes())
    raise TypeError(f"cannot encode {type(s).__name__} as an SSH string")


class Message:
    """A stream of SSH2 wire values: bytes, booleans, uint32, uint64,
    strings, name-lists and mpints.

    Writers append with ``add_*``; readers consume from the front with
    ``get_*``. ``bytes(msg)`` (or ``msg.asbytes()``) is the whole encoding.
    """

    __slots__ = ("_data", "_pos", "strict")

    #: ``add_adaptive_int`` writes integers from here up as a 0xFF marker byte
    #: and an mpint (a uint32 starting with 0xFF could not be told apart).
    big_int = 0xFF000000

    def __init__(self, content: BytesLike | Message | None = None, strict: bool = False) -> None:
        """Wrap ``content`` (bytes, or a Message to re-read) for reading, or start
        an empty message for writing.

        ``strict=True`` makes every read that runs short raise ``ProtocolError``.
        """
        if content is not None and not isinstance(content, (bytes, bytearray, memoryview)):
            content = _to_bytes(content)  # another Message, or anything with asbytes()
        self._data = bytearray(content) if content is not None else bytearray()
        self._pos = 0
        self.strict = strict

    # -- rendering -----------------------------------------------------------

    def asbytes(self) -> bytes:
        """The whole encoded message."""
        return bytes(self._data)

    def __bytes__(self) -> bytes:
        return bytes(self._data)

    def __repr__(self) -> str:
        """``paramiko.Message(b'...')``: the whole encoding, as paramiko shows it."""
        return f"paramiko.Message({bytes(self._data)!r})"

    #: ``str()`` shows the same as ``repr()``, as paramiko's Message does.
    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._data)

    # -- reading position ----------------------------------------------------

    def rewind(self) -> None:
        """Go back to the start, as if nothing had been read."""
        self._pos = 0

    def get_remainder(self) -> bytes:
        """The bytes not read yet."""
        return bytes(self._data[self._pos :])

    def get_so_far(self) -> bytes:
        """The bytes read so far (``get_so_far() + get_remainder()`` is the whole)."""
        return bytes(self._data[: self._pos])

    def remaining(self) -> int:
        """How many bytes are left to read."""
        return len(self._data) - self._pos

    # -- reading values ------------------------------------------------------

    def _take(self, n: int) -> bytes:
        if n < 0:
            raise ProtocolError(f"negative length {n}")
        end = self._pos + n
        if end <= len(self._data):
            out = bytes(self._data[self._pos : end])
            self._pos = end
            return out
        if self.strict:
            raise ProtocolError(
                f"truncated message: wanted {n} bytes at offset {self._pos}, only {len(self._data) - self._pos} remain"
            )
        out = bytes(self._data[self._pos :])
        self._pos = len(self._data)
        if n < _MAX_PAD:
            out += b"\x00" * (n - len(out))
        return out

    def get_bytes(self, n: int) -> bytes:
        """The next ``n`` raw bytes (zero-padded when short, unless strict)."""
        return self._take(n)

    def get_byte(self) -> bytes:
        """The next byte, as a one-byte ``bytes``."""
        return self._take(1)

    def get_boolean(self) -> bool:
        """A boolean: any non-zero byte is true."""
        return self._take(1) != b"\x00"

    def get_int(self) -> int:
        """A uint32."""
        value: int = _U32.unpack(self._take(4))[0]
        return value

    def get_int64(self) -> int:
        """A uint64."""
        value: int = _U64.unpack(self._take(8))[0]
        return value

    def get_adaptive_int(self) -> int:
        """An integer written by ``add_adaptive_int``: a uint32, or a 0xFF
        marker byte followed by an mpint for large values."""
        first = self._take(1)
        if first == b"\xff":
            return inflate_long(self.get_string())
        value: int = _U32.unpack(first + self._take(3))[0]
        return value

    def get_mpint(self) -> int:
        """An mpint (two's complement, so it may be negative)."""
        return inflate_long(self.get_string())

    def get_string(self) -> bytes:
        """A length-prefixed byte string."""
        n = self.get_int()
        if self.strict and n > len(self._data) - self._pos:
            raise ProtocolError(
                f"string length {n} at offset {self._pos - 4} exceeds the "
                f"{len(self._data) - self._pos} bytes that remain"
            )
        return self._take(n)

    def get_binary(self) -> bytes:
        """A length-prefixed byte string (paramiko's name for ``get_string``)."""
        return self.get_string()

    def get_text(self) -> str:
        """A string decoded as UTF-8 (``ProtocolError`` if it is not UTF-8)."""
        raw = self.get_string()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"string is not valid UTF-8: {raw[:40]!r}") from exc

    def get_list(self) -> list[str]:
        """A name-list: a string of comma-separated names (``[]`` when empty)."""
        text = self.get_text()
        return text.split(",") if text else []

    def get_name(self) -> str:
        """A string that must be ASCII (algorithm and method names)."""
        raw = self.get_string()
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"name is not ASCII: {raw[:40]!r}") from exc

    def expect_end(self) -> None:
        """In strict parsing, refuse trailing garbage after the last field."""
        if self._pos != len(self._data):
            raise ProtocolError(f"{len(self._data) - self._pos} unexpected bytes at the end of a message")

    # -- writing values ------------------------------------------------------

    def add_bytes(self, b: BytesLike) -> Message:
        """Append raw bytes."""
        self._data += b
        return self

    def add_byte(self, b: BytesLike | int) -> Message:
        """Append one byte (a one-byte ``bytes`` or an int 0..255)."""
        if isinstance(b, int):
            self._data.append(b)
        else:
            if len(b) != 1:
                raise ValueError("add_byte takes exactly one byte")
            self._data += b
        return self

    def add_boolean(self, b: bool) -> Message:
        """Append a boolean."""
        self._data.append(1 if b else 0)
        return self

    def add_int(self, n: int) -> Message:
        """Append a uint32."""
        self._data += _U32.pack(n)
        return self

    def add_int64(self, n: int) -> Message:
        """Append a uint64."""
        self._data += _U64.pack(n)
        return self

    def add_adaptive_int(self, n: int) -> Message:
        """Append a non-negative integer of any size: a uint32 when it is below
        ``big_int``, else a 0xFF marker byte and an mpint."""
        if n >= self.big_int:
            self._data.append(0xFF)
            self.add_mpint(n)
        else:
            self.add_int(n)
        return self

    def add_mpint(self, z: int) -> Message:
        """Append an mpint (negative numbers too, per RFC 4251)."""
        self.add_string(deflate_long(z))
        return self

    def add_string(self, s: Any) -> Message:
        """Append a length-prefixed string; ``str`` is encoded as UTF-8."""
        raw = _to_bytes(s)
        self._data += _U32.pack(len(raw))
        self._data += raw
        return self

    def add_list(self, l: Iterable[str | bytes]) -> Message:  # noqa: E741 - the documented parameter name
        """Append a name-list (the names joined by commas, as one string)."""
        self.add_string(b",".join(_to_bytes(x) for x in l))
        return self

    def _add(self, item: Any) -> None:
        if isinstance(item, bool):
            self.add_boolean(item)
        elif isinstance(item, int):
            self.add_adaptive_int(item)
        elif isinstance(item, (list, tuple)):
            self.add_list(item)
        else:
            self.add_string(item)

    def add(self, *seq: Any) -> Message:
        """Append each item encoded by its type, as paramiko does: bool, int
        (``add_adaptive_int``), list/tuple (name-list), else string."""
        for item in seq:
            self._add(item)
        return self
