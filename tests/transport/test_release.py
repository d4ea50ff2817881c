"""What a connection keeps, and that it lets go: a closed Transport and its
Channels are garbage-collected; a connection that took a bulk transfer gives
its big receive buffer back once idle (and a closed one at once); the
packet reader's ``shrink_buffer`` keeps what is buffered. Memory is counted
with tracemalloc (Python allocations, not the allocator's RSS), so the
bounds do not depend on the machine; nothing here is timed."""

from __future__ import annotations

import gc
import socket
import threading
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import AUTH_SUCCESSFUL, OPEN_SUCCEEDED, Channel, ServerInterface, Transport
from ssh_transport.protocol.packets import PacketReader

pytestmark = pytest.mark.timeout(120)

KIB = 1024
MIB = 1024 * KIB
HOST_KEY = Ed25519Key.generate()


class SinkServer(ServerInterface):
    """Lets anyone in; every session's input is read and dropped by a thread."""

    def __init__(self) -> None:
        self.received = 0
        self.lock = threading.Lock()

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        threading.Thread(target=self._drain, args=(channel,), daemon=True).start()
        return True

    def _drain(self, channel: Channel) -> None:
        while data := channel.recv(64 * KIB):
            with self.lock:
                self.received += len(data)
        channel.send_exit_status(0)
        channel.close()


class Pair:
    """A client and a server Transport joined by a socket pair."""

    def __init__(self) -> None:
        a, b = socket.socketpair()
        self.sink = SinkServer()
        self.server = Transport(b)
        self.server.add_server_key(HOST_KEY)
        self.client = Transport(a)
        started = threading.Thread(target=self.server.start_server, kwargs={"server": self.sink}, daemon=True)
        started.start()
        self.client.start_client(timeout=30)
        self.client.auth_none("me")
        started.join(30)

    def session(self) -> Channel:
        chan = self.client.open_session()
        chan.settimeout(60)
        chan.exec_command("sink")
        return chan

    def close(self) -> None:
        self.client.close()
        self.server.close()


def eventually(check: Callable[[], bool], within: float) -> bool:
    """Whether ``check()`` holds within ``within`` seconds (polled)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def collected(ref: weakref.ref[Any]) -> bool:
    gc.collect()
    return ref() is None


def received_all(pair: Pair, size: int) -> bool:
    return pair.sink.received == size


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_closed_transports_and_channels_are_collected() -> None:
    pair = Pair()
    chan = pair.session()
    chan.sendall(b"x" * 100_000)
    chan.shutdown_write()
    assert chan.recv_exit_status() == 0
    refs: list[weakref.ref[Any]] = [weakref.ref(pair.client), weakref.ref(pair.server), weakref.ref(chan)]
    pair.close()
    del pair, chan
    # once the reader threads ended, nothing may hold on to them
    for ref in refs:
        assert eventually(partial(collected, ref), 30), f"{ref()!r} is still referenced"


def test_idle_connections_give_back_their_bulk_receive_buffers(traced: None) -> None:
    n = 4
    payload = b"\x5a" * (8 * MIB)
    Pair().close()  # the first connection loads code and fills caches that stay
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    pairs = [Pair() for _ in range(n)]
    try:
        chans = [p.session() for p in pairs]
        for chan in chans:
            chan.sendall(payload)  # the servers read big while this pours in
        for p in pairs:
            assert eventually(partial(received_all, p, len(payload)), 60)

        def per_pair() -> float:
            gc.collect()
            return (tracemalloc.get_traced_memory()[0] - base) / n

        # two transports a pair, ~64 KiB of receive buffer each when idle; a buffer
        # grown for the bulk reads (~0.5 MiB) and kept would break this bound
        assert eventually(lambda: per_pair() < 384 * KIB, 30), f"{per_pair() / KIB:.0f} KiB per idle pair"
        for chan in chans:
            chan.shutdown_write()
            assert chan.recv_exit_status() == 0
    finally:
        for p in pairs:
            p.close()


def test_a_closed_connection_gives_its_receive_buffer_back_before_collection(traced: None) -> None:
    """Reference cycles can keep a closed transport until the next garbage
    collection: its receive buffers must not wait for that."""
    Pair().close()  # the first connection loads code and fills caches that stay
    gc.collect()
    gc.disable()
    try:
        base = tracemalloc.get_traced_memory()[0]
        pair = Pair()
        chan = pair.session()
        chan.sendall(b"\x5a" * (4 * MIB))
        chan.shutdown_write()
        assert chan.recv_exit_status() == 0
        threads = [pair.client, pair.server]
        pair.close()
        for t in threads:
            t.join(30)
        del chan, threads
        kept = tracemalloc.get_traced_memory()[0] - base
        assert kept < 256 * KIB, f"{kept / KIB:.0f} KiB kept by a closed pair before gc"
    finally:
        gc.enable()


def test_shrink_buffer_keeps_buffered_bytes_and_old_views() -> None:
    reader = PacketReader()
    view = reader.buffer_for_recv(256 * KIB)  # grows the buffer for a big read
    view[:3] = b"abc"
    reader.commit(3)
    assert reader.shrink_buffer() is False  # three bytes wait: nothing changes
    assert reader.take_buffered() == b"abc"
    assert reader.shrink_buffer() is True
    assert len(reader.buffer_for_recv(16 * KIB)) == 16 * KIB
    view[:3] = b"old"  # the view given out before still works (on the old buffer)
    assert reader.pending() == 0
    reader.feed(b"new")
    assert reader.take_buffered() == b"new"
