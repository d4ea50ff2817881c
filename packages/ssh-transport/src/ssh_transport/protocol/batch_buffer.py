"""The output buffer a ``PacketWriter`` seals batches into, kept once a
sender has streamed so that each batch is sealed into memory just written
from instead of fresh (zero-filled, cache-cold) memory, until the driver
gives it back when the connection goes idle."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["KEEP_MAX", "BatchBuffers", "reuse_check"]

# The largest batch buffer a writer keeps for the next batch: the threaded
# driver seals 256 KiB of channel data (plus framing) at a time; a bigger
# batch (an asyncio write of megabytes) is allocated afresh.
KEEP_MAX = 320 * 1024


def reuse_check() -> Callable[[object], int] | None:
    """``sys.getrefcount`` where a reference count says for sure that nobody
    else holds a buffer (CPython with its GIL: every holder, a list or a live
    memoryview, counts); None elsewhere (PyPy, free-threaded builds), where
    every batch gets a fresh buffer."""
    getrefcount: Callable[[object], int] | None = getattr(sys, "getrefcount", None)
    gil: Callable[[], bool] | None = getattr(sys, "_is_gil_enabled", None)
    if sys.implementation.name != "cpython" or getrefcount is None or (gil is not None and not gil()):
        return None  # pragma: no cover - CPython with a GIL runs the tests
    return getrefcount


class BatchBuffers:
    """Output buffers for sealed batches: the buffer of the last full-size
    batch of a stream (``keep(True)``, nested per sender) comes back for the
    next batch of that size once nobody holds it any more (a driver has
    written it and dropped it), in this stream or a later one; otherwise,
    and when it is still held, a fresh one. A fresh ``bytearray`` is
    zero-filled, and each batch touching new memory costs more than sealing
    into the one just written (measured: ~15% of the client's upload CPU
    with 256 KiB batches, ~15% of a server's CPU answering SFTP reads, whose
    replies go out as one stream of 256 KiB per batch of requests). The
    driver gives the buffer back (``release``) once the connection is idle,
    so an idle connection keeps no batch buffer."""

    def __init__(self) -> None:
        self._streams = 0
        self._spare: bytearray | None = None
        # referenced by this object only: what the refcount of a spare nobody else holds reads
        self._sentinel = bytearray()
        self._refcount = reuse_check()

    def keep(self, on: bool) -> None:
        """A sender starts (True) or ends (False) a stream of batches."""
        self._streams = max(0, self._streams + (1 if on else -1))

    def release(self) -> None:
        """Give back the kept buffer (the connection is idle, or ended)."""
        self._spare = None

    @property
    def holding(self) -> bool:
        """Whether a buffer is kept for the next batch."""
        return self._spare is not None

    def kept_id(self) -> int | None:
        """``id()`` of the buffer kept for the next batch, None if none is
        (for tests: a name for the buffer itself would count as a holder)."""
        return None if self._spare is None else id(self._spare)

    def take(self, size: int) -> bytearray:
        """A ``size``-byte buffer for the next batch."""
        refcount = self._refcount
        # (the spare is looked at through the attribute only: a local name would count)
        if (
            self._spare is not None
            and len(self._spare) == size
            and refcount is not None
            and refcount(self._spare) == refcount(self._sentinel)
        ):
            return self._spare
        out = bytearray(size)
        # keep the full-size one: a shorter batch (the end of a write) leaves it be
        if self._streams and size <= KEEP_MAX and (self._spare is None or size >= len(self._spare)):
            self._spare = out
        return out
