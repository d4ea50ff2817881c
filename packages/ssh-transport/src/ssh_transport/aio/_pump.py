"""Socket to protocol core and back, on asyncio: one ``BufferedProtocol`` per
connection.

Received bytes land straight in the core's packet buffer (``reader_buffer``
then ``commit_received``: no copy), events go to the connection's handler
in the event loop's thread, and everything the core produced in one loop
iteration is written with one ``writelines`` call (``flush_soon``). While
the connection owes the peer a decision that is still being made (an
awaitable server hook, an agent signature) the pump holds: it stops taking
events and stops reading the socket, so the order of the peer's messages is
kept without buffering them in memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ssh_wire import DISCONNECT_BY_APPLICATION, SSHException

from ..protocol import events as ev
from ..protocol.core import SSHProtocol

# Receive buffers (as in the threaded driver): reads start at SMALL_RECV
# bytes and grow to RECV_SIZE once a read fills what it was given (input
# pours in); after IDLE_RELEASE seconds without input, with no partial packet
# buffered, the big buffer is given back and reads start small again. An
# idle connection so keeps the reader's 64 KiB buffer, not ~300 KiB.
SMALL_RECV = 16 * 1024
RECV_SIZE = 256 * 1024
IDLE_RELEASE = 0.5
# how often the core is told the time (it rekeys after ``rekey_interval``)
TICK_INTERVAL = 30.0
# bytes the socket may have waiting before writers are asked to wait
WRITE_HIGH_WATER = 4 * 1024 * 1024
# Read coalescing (as in the threaded driver, socket_pump.py): a read that
# brought at least BULK_READ bytes and did not fill the buffer took all the
# socket had while a stream pours in. Reading again at once would take the
# next packet alone, one event-loop iteration per 32 KiB packet (as sshd
# sends them); instead reading pauses for COALESCE seconds (the event loop
# rounds it up to its 1 ms select granularity) so one wake-up takes several.
BULK_READ = 32 * 1024
COALESCE = 0.0005

log = logging.getLogger("ssh_transport.aio")


class ConnectionLost(SSHException, ConnectionError):
    """The SSH connection is over: every waiter on it (reads, writes, opens,
    requests, ``wait``) gets this, with the reason as its message."""


class SSHTimeout(SSHException, TimeoutError):
    """An aio operation gave up after its timeout (connect, banner, key
    exchange, authentication, ``run``, ``wait``)."""


class Pump(asyncio.BufferedProtocol):
    """Drives one ``SSHProtocol`` over an asyncio transport."""

    def __init__(
        self,
        core: SSHProtocol,
        handle: Callable[[ev.Event], None],
        lost: Callable[[Exception | None], None],
    ) -> None:
        self.core = core
        self._handle = handle
        self._lost = lost
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._scratch = bytearray(4096)
        self._via_core = False
        self._flush_scheduled = False
        self._write_paused = False
        self._write_waiters: list[asyncio.Future[None]] = []
        self._reading_paused = False
        self._coalescing = False
        self._offered = 0  # the size of the buffer the last read was given
        self._recv_size = SMALL_RECV
        self._last_read = 0.0
        self._idle_check: asyncio.TimerHandle | None = None
        self._processing = False
        self.holds = 0
        self.error: Exception | None = None
        self.closed = False
        self._tick: asyncio.TimerHandle | None = None

    # -- asyncio.BufferedProtocol ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.core.start()
        self.flush()
        self._tick = self.loop.call_later(TICK_INTERVAL, self._on_tick)

    def get_buffer(self, sizehint: int) -> Any:
        view = self.core.reader_buffer(self._recv_size)
        if view is None:
            self._via_core = False
            self._offered = len(self._scratch)
            return self._scratch
        self._via_core = True
        self._offered = len(view)
        return view

    def buffer_updated(self, nbytes: int) -> None:
        core = self.core
        if nbytes == self._offered and self._recv_size < RECV_SIZE and self._via_core:
            self._grow()
        self._last_read = self.loop.time()
        try:
            if self._via_core:
                core.commit_received(nbytes)
            else:
                core.receive_data(bytes(self._scratch[:nbytes]))
        except SSHException as exc:
            self.abort(exc)
            return
        self.process()
        if BULK_READ <= nbytes < self._offered:
            self._coalesce()

    def _grow(self) -> None:
        """Input pours in: read big, and look for idleness now and then."""
        self._recv_size = RECV_SIZE
        if self._idle_check is None:
            self._idle_check = self.loop.call_later(IDLE_RELEASE, self._release_if_idle)

    def _release_if_idle(self) -> None:
        """No input for ``IDLE_RELEASE``: give the big receive buffer back
        (unless a partial packet waits in it) and read small again."""
        self._idle_check = None
        if self.closed:
            return
        quiet = self.loop.time() - self._last_read
        if quiet < IDLE_RELEASE:
            self._idle_check = self.loop.call_later(IDLE_RELEASE - quiet, self._release_if_idle)
        elif self.core.shrink_reader_buffer():
            self._recv_size = SMALL_RECV  # the next stream grows it again
        else:  # a partial packet waits in it: look again later
            self._idle_check = self.loop.call_later(IDLE_RELEASE, self._release_if_idle)

    def _coalesce(self) -> None:
        """Pause reading for ``COALESCE`` (see there), unless reading is
        paused already (a decision is pending) or the connection is over."""
        transport = self.transport
        if transport is None or self.closed or self._coalescing or self._reading_paused:
            return
        self._coalescing = True
        transport.pause_reading()
        self.loop.call_later(COALESCE, self._end_coalescing)

    def _end_coalescing(self) -> None:
        self._coalescing = False
        transport = self.transport
        if transport is not None and not self.closed and not self._reading_paused:
            transport.resume_reading()

    def eof_received(self) -> bool:
        try:
            self.core.receive_data(b"")
        except SSHException as exc:
            self.abort(exc)
            return False
        self.process()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self._idle_check is not None:
            self._idle_check.cancel()
            self._idle_check = None
        self._wake_writers()
        self._lost(self.error or exc)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writers()

    # -- events ---------------------------------------------------------------

    def process(self) -> None:
        """Hand every event the core has to the handler (not re-entrant: a
        handler that makes a decision at once lets this loop go on)."""
        if self._processing or self.closed:
            return
        self._processing = True
        core = self.core
        handle = self._handle
        try:
            while not self.holds:
                e = core.next_event()
                if e is None:
                    break
                handle(e)
        except SSHException as exc:
            self._processing = False
            self.abort(exc)
            return
        except Exception as exc:  # a bug in a handler must not leave the connection half alive
            log.exception("aio event handler failed")
            self._processing = False
            self.abort(SSHException(f"internal error: {exc!r}"))
            return
        self._processing = False
        transport = self.transport
        if transport is not None:
            stop = bool(self.holds) or core.paused
            if stop and not self._reading_paused:
                self._reading_paused = True
                transport.pause_reading()
            elif not stop and self._reading_paused:
                self._reading_paused = False
                transport.resume_reading()
        self.flush()

    def hold(self) -> None:
        """Stop taking events until ``release`` (a decision is being made)."""
        self.holds += 1

    def release(self) -> None:
        """The decision is made: go on with the events that wait."""
        self.holds -= 1
        if not self.holds:
            self.process()
        else:
            self.flush()

    # -- output ---------------------------------------------------------------

    def flush(self) -> None:
        """Write what the core produced, in one call."""
        self._flush_scheduled = False
        out = self.core.take_output()
        transport = self.transport
        if out and transport is not None and not transport.is_closing():
            if len(out) == 1:
                # bulk data is sealed into one buffer: ``write`` sends it as
                # it is, where ``writelines`` (before 3.12) copies it first
                transport.write(out[0])
            else:
                transport.writelines(out)

    def flush_soon(self) -> None:
        """Write at the end of this loop iteration (batches many small sends)."""
        # inside ``process`` nothing to schedule: it flushes when it is done
        if not self._flush_scheduled and not self._processing:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    async def writable(self) -> None:
        """Wait while the socket has more than its high-water mark queued."""
        while self._write_paused and not self.closed:
            fut = self.loop.create_future()
            self._write_waiters.append(fut)
            await fut

    def _wake_writers(self) -> None:
        waiters, self._write_waiters = self._write_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _on_tick(self) -> None:
        self._tick = None
        if self.closed:
            return
        self.core.tick(time.monotonic())
        self.flush()
        self._tick = self.loop.call_later(TICK_INTERVAL, self._on_tick)

    # -- ending ---------------------------------------------------------------

    def abort(self, exc: Exception) -> None:
        """End the connection because of ``exc`` (DISCONNECT sent if possible)."""
        if self.error is None:
            self.error = exc
        self.close(str(exc))

    def close(self, description: str = "") -> None:
        """Send DISCONNECT (best effort) and close the socket."""
        core = self.core
        if not core.closed:
            core.disconnect(DISCONNECT_BY_APPLICATION, description)
        self.flush()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
