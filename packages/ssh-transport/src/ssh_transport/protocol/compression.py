"""The compression table and the per-direction zlib streams.

Both ``zlib`` and ``zlib@openssh.com`` keep one deflate stream for the whole
key lifetime and end every packet with ``Z_SYNC_FLUSH`` (RFC 4253 section 6.2);
``zlib@openssh.com`` only starts once user authentication has succeeded.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ssh_wire import DISCONNECT_COMPRESSION_ERROR, ProtocolError


@dataclass(frozen=True)
class CompressionSpec:
    """One SSH compression method; ``delayed`` ones start after auth success."""

    name: str
    delayed: bool = False
    legacy: bool = False


COMPRESSIONS: dict[str, CompressionSpec] = {
    "none": CompressionSpec("none"),
    "zlib@openssh.com": CompressionSpec("zlib@openssh.com", delayed=True),
    "zlib": CompressionSpec("zlib"),
}


def get_compression(name: str) -> CompressionSpec:
    """The spec for ``name``; ``KeyError`` names the unknown method."""
    try:
        return COMPRESSIONS[name]
    except KeyError:
        raise KeyError(f"unknown compression {name!r}") from None


class Compressor:
    """The sending side's deflate stream: one packet in, one flushed chunk out."""

    __slots__ = ("_z",)

    def __init__(self, level: int = 6) -> None:
        """Start a fresh deflate stream (one per NEWKEYS)."""
        self._z = zlib.compressobj(level)

    def compress(self, payload: bytes) -> bytes:
        """``payload`` deflated and sync-flushed, so the peer can inflate it now."""
        z = self._z
        return z.compress(payload) + z.flush(zlib.Z_SYNC_FLUSH)


class Decompressor:
    """The receiving side's inflate stream, with a cap on the inflated size."""

    __slots__ = ("_limit", "_z")

    def __init__(self, limit: int) -> None:
        """Start a fresh inflate stream; a packet may inflate to ``limit`` bytes at most."""
        self._z = zlib.decompressobj()
        self._limit = limit

    def decompress(self, data: bytes) -> bytes:
        """Inflate one packet's payload; ``ProtocolError`` on bad or oversized data."""
        z = self._z
        try:
            out = z.decompress(data, self._limit)
        except zlib.error as exc:
            raise ProtocolError(f"bad compressed data: {exc}", DISCONNECT_COMPRESSION_ERROR) from None
        if z.unconsumed_tail:
            raise ProtocolError(
                f"compressed packet inflates to more than {self._limit} bytes", DISCONNECT_COMPRESSION_ERROR
            )
        if z.eof:
            raise ProtocolError("peer ended its compression stream", DISCONNECT_COMPRESSION_ERROR)
        return out
