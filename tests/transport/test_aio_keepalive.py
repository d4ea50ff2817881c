"""Keepalives on the asyncio driver (``SSHConnection.set_keepalive``, the
``keepalive_interval`` options of ``aio.connect`` and ``aio.listen``): a
peer that goes silent behind a ``StallRelay`` is dropped after the missed
probes, with ``ConnectionLost`` saying why, on the client and on the
server; a live idle peer answers the probes and stays; the send-only mode
never drops. The decision itself is ``KeepaliveWatch``, shared with the
threaded transport (checked here step by step, without a clock)."""

from __future__ import annotations

import asyncio

import pytest

import ssh_keys
from ssh_transport import aio
from ssh_transport.keepalive import KeepaliveWatch
from support.aio_run import arun
from support.aio_servers import PasswordServer, connect_local, listen_local
from support.stall_relay import StallRelay

pytestmark = pytest.mark.timeout(60)

HOST_KEY = ssh_keys.Ed25519Key.generate()


async def echo(proc: aio.SSHServerProcess) -> int:
    proc.stdout.write(f"ran {proc.command}\n".encode())
    return 0


async def through_relay(client_keepalive: float = 0, server_keepalive: float = 0, count: int = 2) -> None:
    """Log in through a relay, stall it, and wait for the side(s) with a
    keepalive to give the peer up."""
    async with await listen_local(
        PasswordServer,
        echo,
        host_keys=[HOST_KEY],
        keepalive_interval=server_keepalive,
        keepalive_count_max=count,
    ) as server:
        with StallRelay(("127.0.0.1", server.port)) as relay:
            conn = await connect_local(
                relay.port,
                host=relay.host,
                username="u",
                password="pw",
                keepalive_interval=client_keepalive,
                keepalive_count_max=count,
            )
            try:
                assert (await conn.run("x")).stdout == "ran x\n"
                (sconn,) = server.connections
                relay.stall()
                if client_keepalive:
                    await conn.wait_closed()
                    with pytest.raises(aio.ConnectionLost, match="keepalive"):
                        await conn.run("y")
                if server_keepalive:
                    await sconn.wait_closed()
                    assert "keepalive" in str(sconn.error)
            finally:
                conn.close()
                await conn.wait_closed()


def test_client_drops_a_silent_server() -> None:
    arun(through_relay(client_keepalive=0.3))


def test_server_drops_a_silent_client() -> None:
    arun(through_relay(server_keepalive=0.3))


def test_a_live_idle_peer_is_kept() -> None:
    async def main() -> None:
        async with await listen_local(PasswordServer, echo, host_keys=[HOST_KEY]) as server:
            async with connect_local(
                server.port, username="u", password="pw", keepalive_interval=0.1, keepalive_count_max=1
            ) as conn:
                core = conn.protocol().core
                before = core.packets_in
                # idle for many intervals: each probe is answered, nothing is dropped
                while core.packets_in < before + 5:
                    await asyncio.sleep(0.1)
                    assert not conn.is_closed
                assert (await conn.run("still")).stdout == "ran still\n"
                conn.set_keepalive(0.05, 0)  # send-only: never drops
                await asyncio.sleep(0.3)
                assert (await conn.run("again")).stdout == "ran again\n"
                conn.set_keepalive(0)

    arun(main())


def test_set_keepalive_refuses_a_negative_count() -> None:
    async def main() -> None:
        async with await listen_local(PasswordServer, host_keys=[HOST_KEY]) as server:
            async with connect_local(server.port, username="u", password="pw") as conn:
                with pytest.raises(ValueError):
                    conn.set_keepalive(1, -1)

    arun(main())


def test_keepalive_watch_steps() -> None:
    """The shared decision: wait for the interval, probe, count misses,
    start over when a packet came in, give up after ``limit`` misses."""
    w = KeepaliveWatch(0.0)
    assert w.step(0.0, 1.0, 2, 5, ready=False)[0] == KeepaliveWatch.WAIT  # not logged in: only waits
    action, wait = w.step(0.5, 1.0, 2, 5, ready=True)
    assert action == KeepaliveWatch.WAIT and 0 < wait <= 0.25
    assert w.step(1.0, 1.0, 2, 5, ready=True)[0] == KeepaliveWatch.PROBE
    assert w.step(1.5, 1.0, 2, 5, ready=True)[0] == KeepaliveWatch.WAIT
    assert w.step(2.0, 1.0, 2, 5, ready=True)[0] == KeepaliveWatch.PROBE
    assert w.step(3.0, 1.0, 2, 5, ready=True)[0] == KeepaliveWatch.LOST
    assert "2 unanswered" in w.lost_reason(1.0)
    # a packet arrived: the misses are forgiven
    w = KeepaliveWatch(0.0)
    w.step(0.0, 1.0, 1, 5, ready=True)
    assert w.step(1.0, 1.0, 1, 5, ready=True)[0] == KeepaliveWatch.PROBE
    assert w.step(1.2, 1.0, 1, 6, ready=True)[0] == KeepaliveWatch.WAIT
    assert w.missed == 0
    assert w.step(1.9, 1.0, 1, 6, ready=True)[0] == KeepaliveWatch.WAIT
    assert w.step(2.0, 1.0, 1, 6, ready=True)[0] == KeepaliveWatch.PROBE
