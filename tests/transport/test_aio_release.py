"""What a closed asyncio connection keeps: nothing once collected (client
and server connections, their channels and processes), and not its receive
buffer even before a garbage collection finds its reference cycles.
Memory is counted with tracemalloc; nothing here is timed."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref
from typing import Any

import pytest

import ssh_keys
from ssh_transport import aio
from support.aio_servers import NoneAuthServer, connect_local, listen_local

pytestmark = pytest.mark.timeout(120)

KIB = 1024
MIB = 1024 * KIB
HOST_KEY = ssh_keys.Ed25519Key.generate()


async def sink(proc: aio.SSHServerProcess) -> int:
    """Read everything, answer with the count."""
    n = 0
    while data := await proc.stdin.read(1 << 20):
        n += len(data)
    proc.stdout.write(str(n).encode())
    return 0


async def one_connection(payload: bytes, refs: list[weakref.ref[Any]]) -> None:
    """Serve one connection that uploads ``payload`` and downloads it back
    (big buffers both ways), close it all, and record weak references."""
    async with await listen_local(NoneAuthServer, sink, host_keys=[HOST_KEY], keepalive_interval=30) as server:
        conn = await connect_local(server.port, username="u", keepalive_interval=30)
        result = await conn.run("sink", input=payload, encoding=None)
        assert result.stdout == str(len(payload)).encode()
        refs += [weakref.ref(conn), *(weakref.ref(c) for c in server.connections)]
        conn.close()
        await conn.wait_closed()
        del conn, result
    await asyncio.sleep(0)


def test_closed_aio_connections_are_collected() -> None:
    refs: list[weakref.ref[Any]] = []
    asyncio.run(one_connection(b"\x5a" * (2 * MIB), refs))
    assert len(refs) == 2
    gc.collect()
    for ref in refs:
        assert ref() is None, f"{ref()!r} is still referenced"


def test_a_closed_aio_connection_gives_its_buffers_back_before_collection() -> None:
    """Reference cycles (bound handlers, channels) can keep a closed
    connection until the next collection: its receive buffers must not wait."""
    asyncio.run(one_connection(b"x", []))  # load code and fill caches that stay
    gc.collect()
    tracemalloc.start()
    gc.disable()
    try:
        base = tracemalloc.get_traced_memory()[0]
        payload = b"\x5a" * (4 * MIB)
        asyncio.run(one_connection(payload, []))
        # the payload itself is freed by refcount; two connections' grown
        # receive buffers (~0.5 MiB each, and more) would break this bound
        del payload
        kept = tracemalloc.get_traced_memory()[0] - base
        assert kept < 384 * KIB, f"{kept / KIB:.0f} KiB kept by closed connections before gc"
    finally:
        gc.enable()
        tracemalloc.stop()
