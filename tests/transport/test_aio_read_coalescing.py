"""The asyncio pump's read coalescing (ssh_transport/aio/_pump.py): after a
bulk read that emptied the socket, reading pauses for ``COALESCE`` so the
next wake-up takes several packets; a full read, a small read, or a pause
for a pending decision are left alone. Driven with a stand-in core and
transport, so what is checked is the pump's own decision; the end-to-end
data path is in test_aio_pair.py and the interop tests. Waits are bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ssh_transport.aio._pump import BULK_READ, COALESCE, Pump
from support.aio_run import arun

pytestmark = pytest.mark.timeout(60)


class StandInCore:
    """Just what the pump calls on a core: bytes are taken and produce no events."""

    paused = False
    closed = False

    def __init__(self) -> None:
        self.committed = 0

    def start(self) -> None:
        pass

    def reader_buffer(self, size: int) -> memoryview:
        return memoryview(bytearray(size))

    def commit_received(self, n: int) -> None:
        self.committed += n

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


def _pump_on_stand_ins() -> tuple[Pump, StandInCore, StandInTransport]:
    core = StandInCore()
    pump = Pump(core, lambda e: None, lambda exc: None)  # type: ignore[arg-type]
    transport = StandInTransport()
    pump.connection_made(transport)
    return pump, core, transport


def _read(pump: Pump, nbytes: int | None = None) -> None:
    """One read as asyncio's transport does it: a buffer, then how much came."""
    view = pump.get_buffer(-1)
    pump.buffer_updated(len(view) if nbytes is None else nbytes)


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
