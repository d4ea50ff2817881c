"""Port forwarding on asyncio: local listeners whose connections go through
direct-tcpip channels, and the bridge that copies bytes between a TCP
connection and a channel both ways (with back-pressure on both sides)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .channel import ChannelReader, ChannelWriter, SSHChannel

COPY_SIZE = 256 * 1024


async def _pipe(reader: Any, writer: Any) -> None:
    try:
        while True:
            data = await reader.read(COPY_SIZE)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, EOFError, ConnectionError):
        pass
    except Exception:
        pass


async def bridge(channel: SSHChannel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy between ``channel`` and a TCP connection until both directions
    reached EOF (or either side failed), then close both."""
    up = asyncio.ensure_future(_pipe(reader, ChannelWriter(channel)))
    down = asyncio.ensure_future(_pipe(channel.stdout, writer))
    try:
        await asyncio.gather(up, down)
    finally:
        for task in (up, down):
            task.cancel()
        channel.close()
        writer.close()


class LocalForwarder:
    """A local listening socket whose connections are forwarded over SSH
    (``forward_local_port``); ``port`` is where it listens."""

    def __init__(self, server: asyncio.AbstractServer, port: int) -> None:
        self._server = server
        self.port = port
        self._tasks: set[asyncio.Task[None]] = set()

    def track(self, task: asyncio.Task[None]) -> None:
        """Cancel ``task`` (one forwarded connection) when the forwarder closes."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Stop listening and end the forwarded connections."""
        self._server.close()
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until the listener and its connections are gone."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._server.wait_closed()

    async def __aenter__(self) -> LocalForwarder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


async def listen_local(
    listen_host: str,
    listen_port: int,
    open_channel: Callable[[str, int], Awaitable[SSHChannel]],
) -> LocalForwarder:
    """Listen on (listen_host, listen_port); for each connection,
    ``open_channel(peer host, peer port)`` gives the channel to bridge with."""
    forwarder: LocalForwarder | None = None

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if forwarder is not None and task is not None:
            forwarder.track(task)
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            channel = await open_channel(str(peer[0]), int(peer[1]))
        except Exception:
            writer.close()
            return
        await bridge(channel, reader, writer)

    server = await asyncio.start_server(on_connect, listen_host or None, listen_port)
    port = server.sockets[0].getsockname()[1]
    forwarder = LocalForwarder(server, port)
    return forwarder


class RemoteForwarder:
    """A port the server listens on for us (``forward_remote_port``): its
    connections arrive as forwarded-tcpip channels and go to (dest_host, dest_port)."""

    def __init__(self, conn: Any, listen_host: str, port: int, dest_host: str, dest_port: int) -> None:
        self._conn = conn
        self.listen_host = listen_host
        self.port = port
        self.dest_host = dest_host
        self.dest_port = dest_port
        self._closed = False

    def close(self) -> None:
        """Ask the server to stop listening (cancel-tcpip-forward)."""
        if self._closed:
            return
        self._closed = True
        self._conn.cancel_remote_forward(self)

    async def wait_closed(self) -> None:
        """Nothing to wait for beyond ``close`` (kept for symmetry)."""
        return None

    async def __aenter__(self) -> RemoteForwarder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ChannelReader", "ChannelWriter", "LocalForwarder", "RemoteForwarder", "bridge", "listen_local"]
