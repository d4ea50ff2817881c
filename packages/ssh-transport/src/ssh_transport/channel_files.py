"""Python files on a channel's streams: ``Channel.makefile``,
``makefile_stderr`` and ``makefile_stdin``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .file import BufferedFile

if TYPE_CHECKING:
    from .channel import Channel


class ChannelFile(BufferedFile):
    """A Python file on a channel's main stream (``Channel.makefile``)."""

    def __init__(self, channel: Channel, mode: str = "r", bufsize: int = -1) -> None:
        """Wrap ``channel`` with ``mode`` ("r", "w", "rb", "rU", ...)."""
        super().__init__()
        self.channel = channel
        self._set_mode(mode, bufsize)

    def __repr__(self) -> str:
        return f"<ssh_transport.ChannelFile from {self.channel!r}>"

    def _read(self, size: int) -> bytes | None:
        return self.channel.recv(size)

    def _write(self, data: bytes | memoryview) -> int:
        self.channel.sendall(data)
        return len(data)


class ChannelStderrFile(ChannelFile):
    """A Python file on a channel's stderr stream (``Channel.makefile_stderr``)."""

    def _read(self, size: int) -> bytes | None:
        return self.channel.recv_stderr(size)

    def _write(self, data: bytes | memoryview) -> int:
        self.channel.sendall_stderr(data)
        return len(data)


class ChannelStdinFile(ChannelFile):
    """A writable file for a command's stdin; ``close`` sends EOF."""

    def close(self) -> None:
        """Flush, close the file, and shut the channel's write side."""
        super().close()
        self.channel.shutdown_write()


__all__ = ["ChannelFile", "ChannelStderrFile", "ChannelStdinFile"]
