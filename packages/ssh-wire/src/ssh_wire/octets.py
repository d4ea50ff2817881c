"""Coercions between ``str`` and ``bytes``, and single-byte helpers.

These are the small conversions paramiko has always published in
``paramiko.util`` and ``paramiko.common`` (``b``, ``u``, ``asbytes``,
``byte_chr`` ...); code written against paramiko still calls them.
"""

from __future__ import annotations

import hmac
from typing import Any

#: the bytes paramiko names in ``paramiko.common``
zero_byte = b"\x00"
one_byte = b"\x01"
four_byte = b"\x04"
max_byte = b"\xff"
cr_byte = b"\r"
linefeed_byte = b"\n"
crlf = b"\r\n"
cr_byte_value = 13
linefeed_byte_value = 10
#: the largest uint32
xffffffff = 0xFFFFFFFF


def b(s: str | bytes, encoding: str = "utf8") -> bytes:
    """``s`` as bytes: ``str`` is encoded, ``bytes`` returned as is;
    ``TypeError`` for anything else."""
    if isinstance(s, bytes):
        return s
    if isinstance(s, str):
        return s.encode(encoding)
    raise TypeError(f"Expected unicode or bytes, got {type(s)}")


def u(s: str | bytes, encoding: str = "utf8") -> str:
    """``s`` as str: ``bytes`` are decoded, ``str`` returned as is;
    ``TypeError`` for anything else."""
    if isinstance(s, str):
        return s
    if isinstance(s, bytes):
        return s.decode(encoding)
    raise TypeError(f"Expected unicode or bytes, got {type(s)}")


def asbytes(s: Any) -> Any:
    """``s`` as bytes when that makes sense: strings are encoded, objects
    with an ``asbytes()`` method (``Message``, keys) give their encoding, and
    anything else comes back unchanged for the caller to deal with."""
    if isinstance(s, (bytes, str)):
        return b(s)
    method = getattr(s, "asbytes", None)
    if callable(method):
        return method()
    return s


def byte_chr(c: int) -> bytes:
    """The one-byte string for the integer ``c`` (0..255)."""
    return bytes((c,))


def byte_mask(c: int, mask: int) -> bytes:
    """The one-byte string for ``c & mask``."""
    return bytes((c & mask,))


def byte_ord(c: int | str | bytes) -> int:
    """``c`` as an integer, whether it is already one or a one-character string."""
    return c if isinstance(c, int) else ord(c)


def constant_time_bytes_eq(a: bytes | str, b: bytes | str) -> bool:
    """Whether ``a == b``, taking the same time wherever they first differ
    (for comparing MACs and secrets)."""
    return hmac.compare_digest(_raw(a), _raw(b))


def _raw(s: bytes | bytearray | memoryview | str) -> bytes:
    return s.encode("utf-8", "surrogatepass") if isinstance(s, str) else bytes(s)
