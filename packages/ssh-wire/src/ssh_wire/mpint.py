"""Big-integer encoding (RFC 4251 section 5 ``mpint``) and modular helpers."""

from __future__ import annotations


def deflate_long(n: int, add_sign_padding: bool = True) -> bytes:
    """Encode ``n`` as big-endian two's complement in the fewest bytes.

    With ``add_sign_padding`` (the mpint rule) a leading 0x00 or 0xff byte is
    kept when the top bit would otherwise give the wrong sign. Zero encodes
    as an empty byte string, as RFC 4251 requires.
    """
    if n == 0:
        return b""
    if n > 0:
        length = (n.bit_length() + 8) // 8 if add_sign_padding else (n.bit_length() + 7) // 8
        return n.to_bytes(length, "big", signed=add_sign_padding)
    length = ((~n).bit_length() + 8) // 8
    out = n.to_bytes(length, "big", signed=True)
    if not add_sign_padding:
        out = out.lstrip(b"\xff") or b"\xff"
    return out


def inflate_long(s: bytes, always_positive: bool = False) -> int:
    """Decode big-endian two's complement bytes (the inverse of ``deflate_long``)."""
    return int.from_bytes(s, "big", signed=not always_positive)


def mod_inverse(x: int, m: int) -> int:
    """The inverse of ``x`` modulo ``m`` (``ValueError`` when there is none)."""
    return pow(x, -1, m)


def bit_length(n: int) -> int:
    """How many bits ``n`` needs, sign aside (``int.bit_length``); kept because
    ``paramiko.util.bit_length`` is public and older code still calls it."""
    return int(n).bit_length()
