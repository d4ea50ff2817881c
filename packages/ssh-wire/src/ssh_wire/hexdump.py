"""Hex and printable renderings of binary data, for logs and debugging."""

from __future__ import annotations

import binascii

from .exceptions import SSHException


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def hexify(s: bytes | str) -> str:
    """Upper-case hex of ``s``."""
    return binascii.hexlify(_as_bytes(s)).upper().decode("ascii")


def unhexify(s: str | bytes) -> bytes:
    """The bytes a hex string stands for; ``SSHException`` if it is not hex."""
    try:
        return binascii.unhexlify(s)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise SSHException(f"not a hex string: {s!r}") from exc


def safe_string(s: bytes | str) -> bytes:
    """``s`` with every byte outside 32..127 written as ``%XX`` (as paramiko,
    which keeps DEL)."""
    out = bytearray()
    for c in _as_bytes(s):
        if 32 <= c <= 127:
            out.append(c)
        else:
            out += b"%%%02X" % c
    return bytes(out)


def format_binary_line(data: bytes | str) -> str:
    """One hexdump line: up to 16 bytes in hex, then their printable form
    (bytes outside 32..126 shown as ``.``)."""
    raw = _as_bytes(data)
    left = " ".join(f"{c:02X}" for c in raw)
    right = "".join(chr(c) if 32 <= c <= 126 else "." for c in raw)
    return f"{left:50s} {right}"


def format_binary(data: bytes | str, prefix: str = "") -> list[str]:
    """A hexdump of ``data``: one ``format_binary_line`` per 16 bytes, each led
    by ``prefix`` (no offsets, as paramiko's log dumps look)."""
    raw = _as_bytes(data)
    return [f"{prefix}{format_binary_line(raw[i : i + 16])}" for i in range(0, len(raw), 16)]


def format_binary_weird(data: bytes | str) -> str:
    """Hex in groups of four bytes, eight groups a line (the 1.5 debug format)."""
    raw = _as_bytes(data)
    out = []
    for i, c in enumerate(raw):
        out.append(f"{c:02X}")
        if i % 4 == 3:
            out.append(" ")
        if i % 32 == 31:
            out.append("\n")
    return "".join(out)
