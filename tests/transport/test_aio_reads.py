"""The asyncio pump's reads (ssh_transport/aio/_pump.py). Coalescing: after
a bulk read that emptied the socket, reading pauses for ``COALESCE`` so the
next wake-up takes several packets; a full read, a small read, or a pause
for a pending decision are left alone. Sizing: reads start small, grow when
one fills its buffer, and the big buffer is given back once input stops. Driven with a stand-in core and
transport, so what is checked is the pump's own decision; the end-to-end
data path is in test_aio_pair.py and the interop tests. Waits are bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ssh_transport.aio import _pump
from ssh_transport.aio._pump import BULK_READ, COALESCE, RECV_SIZE, SMALL_RECV, Pump
from support.aio_run import arun

pytestmark = pytest.mark.timeout(60)


class StandInCore:
    """Just what the pump calls on a core: bytes are taken and produce no events."""

    paused = False
    closed = False

    def __init__(self) -> None:
        self.committed = 0
        self.shrinks = 0
        self.partial_packet = False

    def start(self) -> None:
        pass

    def reader_buffer(self, size: int) -> memoryview:
        return memoryview(bytearray(size))

    def commit_received(self, n: int) -> None:
        self.committed += n

    def shrink_reader_buffer(self) -> bool:
        if self.partial_packet:
            return False
        self.shrinks += 1
        return True

    def next_event(self) -> None:
        return None

    def take_output(self) -> list[bytes]:
        return []

    def tick(self, now: float) -> None:
        pass


class StandInTransport(asyncio.Transport):
    """Records whether the pump wants the socket read."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.pauses = 0

    def pause_reading(self) -> None:
        if self.reading:
            self.pauses += 1
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def set_write_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def write(self, data: Any) -> None:
        pass


def _read(pump: Pump, nbytes: int | None = None) -> None:
    """One read as asyncio's transport does it: a buffer, then how much came."""
    view = pump.get_buffer(-1)
    pump.buffer_updated(len(view) if nbytes is None else nbytes)


def _pump_on_stand_ins() -> tuple[Pump, StandInCore, StandInTransport]:
    """A pump whose reads have grown big: the first read filled its small
    buffer, as the start of a stream does."""
    core = StandInCore()
    pump = Pump(core, lambda e: None, lambda exc: None)  # type: ignore[arg-type]
    transport = StandInTransport()
    pump.connection_made(transport)
    _read(pump)
    assert transport.reading and transport.pauses == 0
    core.committed = 0
    return pump, core, transport


async def _until(predicate: Any, bound: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + bound
    while not predicate():
        if loop.time() > end:
            return False
        await asyncio.sleep(COALESCE / 2)
    return True


def test_a_bulk_read_that_emptied_the_socket_pauses_reading_for_a_moment() -> None:
    async def main() -> None:
        pump, core, transport = _pump_on_stand_ins()
        _read(pump, 3 * BULK_READ)  # three 32 KiB packets, less than the buffer held
        assert core.committed == 3 * BULK_READ
        assert not transport.reading
        assert await _until(lambda: transport.reading)
        _read(pump, 3 * BULK_READ)  # and again for the next one
        assert transport.pauses == 2
        assert await _until(lambda: transport.reading)
        pump.connection_lost(None)

    arun(main())


def test_full_and_small_reads_read_on_at_once() -> None:
    async def main() -> None:
        pump, _, transport = _pump_on_stand_ins()
        _read(pump)  # filled the buffer: more is waiting
        assert transport.reading
        _read(pump, BULK_READ - 1)  # interactive traffic
        assert transport.reading
        assert transport.pauses == 0
        pump.connection_lost(None)

    arun(main())


def test_coalescing_never_resumes_a_read_paused_for_a_decision() -> None:
    async def main() -> None:
        pump, _, transport = _pump_on_stand_ins()
        _read(pump, 2 * BULK_READ)
        assert not transport.reading
        pump.hold()  # a decision (an awaitable server hook) starts
        pump.process()
        await asyncio.sleep(COALESCE * 20)
        assert not transport.reading  # the coalescing timer left it paused
        pump.release()
        assert transport.reading
        pump.connection_lost(None)

    arun(main())


def test_reads_grow_for_a_stream_and_the_big_buffer_goes_back_once_it_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_pump, "IDLE_RELEASE", 0.05)

    async def main() -> None:
        core = StandInCore()
        pump = Pump(core, lambda e: None, lambda exc: None)  # type: ignore[arg-type]
        pump.connection_made(StandInTransport())
        assert len(pump.get_buffer(-1)) == SMALL_RECV  # an idle connection reads small
        pump.buffer_updated(100)
        assert len(pump.get_buffer(-1)) == SMALL_RECV
        pump.buffer_updated(SMALL_RECV)  # filled: input pours in
        assert len(pump.get_buffer(-1)) == RECV_SIZE
        pump.buffer_updated(RECV_SIZE)
        core.partial_packet = True  # the stream stops inside a packet: the buffer stays
        await asyncio.sleep(0.2)
        assert core.shrinks == 0 and len(pump.get_buffer(-1)) == RECV_SIZE
        core.partial_packet = False  # the rest came; then nothing more
        pump.buffer_updated(1000)
        assert await _until(lambda: core.shrinks == 1)
        assert len(pump.get_buffer(-1)) == SMALL_RECV
        pump.connection_lost(None)

    arun(main())
