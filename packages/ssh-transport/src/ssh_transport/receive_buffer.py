"""``ReceiveBuffer``: what a channel received and ``recv`` has not taken yet."""

from __future__ import annotations

from collections import deque


class ReceiveBuffer:
    """Received data waiting for ``recv``: a deque of chunks, an offset into
    the first one, and the total size. Chunks are bytes or read-only views of
    decrypted packets (see ``ChannelDataReceived``); every byte is copied once,
    into what ``take`` returns, and a partial read copies only what it returns
    (so reading one byte at a time stays linear)."""

    __slots__ = ("chunks", "offset", "size")

    def __init__(self) -> None:
        self.chunks: deque[bytes | memoryview] = deque()
        self.offset = 0
        self.size = 0

    def append(self, data: bytes | memoryview) -> None:
        """Queue ``data`` at the end."""
        self.chunks.append(data)
        self.size += len(data)

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front (at least one byte when buffered)."""
        chunks = self.chunks
        first = chunks[0]
        off = self.offset
        avail = len(first) - off
        if avail > n:
            self.offset = off + n
            self.size -= n
            return bytes(first[off : off + n])
        if off == 0 and (avail == n or len(chunks) == 1 or len(chunks[1]) > n - avail):
            chunks.popleft()
            self.size -= avail
            return bytes(first)  # no copy if it is bytes already
        out = [first[off:] if off else first]
        chunks.popleft()
        self.offset = 0
        got = avail
        while chunks and got + len(chunks[0]) <= n:
            c = chunks.popleft()
            out.append(c)
            got += len(c)
        self.size -= got
        return b"".join(out)

    def move_to(self, other: ReceiveBuffer) -> None:
        """Append everything buffered here to ``other`` and empty this buffer."""
        if self.chunks and self.offset:
            self.chunks[0] = self.chunks[0][self.offset :]
        other.chunks.extend(self.chunks)
        other.size += self.size
        self.chunks.clear()
        self.offset = 0
        self.size = 0


__all__ = ["ReceiveBuffer"]
