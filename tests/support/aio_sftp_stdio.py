"""Serve SFTP on stdin/stdout with the asyncio server (``serve_sftp``), for
``sftp -D``: ``python aio_sftp_stdio.py ROOT`` serves directory ROOT as "/"
(``LocalSFTPServerInterface``, confined to it), as ``stdio_server`` does
for the threaded server."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys

from ssh_sftp import LocalSFTPServerInterface
from ssh_sftp.aio import serve_sftp


async def stdio_streams(read_fd: int, write_fd: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Asyncio streams on two pipe descriptors, or on the one socket both
    are (``sftp -D`` hands its program one end of a socketpair)."""
    if stat.S_ISSOCK(os.fstat(read_fd).st_mode):
        # a pipe transport for writing would take the socket's incoming
        # data for its peer closing: use one socket transport for both
        return await asyncio.open_connection(sock=socket.socket(fileno=os.dup(read_fd)), limit=1 << 20)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(write_fd, "wb", 0))
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def main(root: str) -> None:
    """Serve ``root`` until the client goes away."""
    # nothing but SFTP may reach the client: stdout is kept for it alone
    out_fd = os.dup(1)
    os.dup2(2, 1)
    reader, writer = await stdio_streams(0, out_fd)
    await serve_sftp(reader, writer, LocalSFTPServerInterface(None, root=root))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else os.getcwd()))
