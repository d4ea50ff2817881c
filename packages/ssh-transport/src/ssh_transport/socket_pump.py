"""``SocketPump``: the threaded driver's socket I/O, one object per transport.

The pump moves bytes between a socket and the protocol core; what the bytes
mean is left to the transport, which it calls back (see ``SocketPump``).

Reading. Whoever holds the read token reads the socket and feeds the core:
normally the reader thread (``run``). A thread waiting in ``Channel.recv``
while the reader thread is parked reads the socket itself instead (``lead``),
so a stream read by one thread costs one wake-up per packet rather than two
(reader, then the thread in recv). The reader thread parks only when every
thread waiting for data was just woken (so one of them will lead), and takes
the socket back as soon as a leading thread hands it an event other than
data, another thread needs it, or nobody has led for ``PARK_IDLE``.

Writing. Writes are ordered by the core and go out through ``flush``, which
any thread may call: one writer at a time, and a thread that finds another
writing leaves its bytes for that writer. The thread reading the socket
never blocks on a write: what the socket does not take at once goes to a
writer thread (the backlog), so two peers that both send a lot can never
deadlock each other.
"""

from __future__ import annotations

import logging
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from ssh_wire import SSHException

from .protocol import events as ev
from .protocol.core import SSHProtocol

#: Handle what the core made of the input so far. A thread leading for its
#: own recv() (the argument True) stops at the first event that is not
#: channel data and returns it, for the reader thread to dispatch.
ProcessEvents = Callable[[bool], "ev.Event | None"]
#: End the session (an error or None, and whether to flush what is queued).
ConnectionLost = Callable[[Exception | None, bool], None]
#: How ``SocketPump.wait_until`` ended.
WaitOutcome = Literal["done", "closed", "timeout"]

RECV_SIZE = 256 * 1024
# Receive buffers (see ``_receive``): reads start at SMALL_RECV bytes and grow
# to RECV_SIZE once a read fills what it asked for (a bulk transfer); after
# IDLE_RELEASE seconds without input, with no partial packet buffered, the
# big buffer is given back and reads start small again. An idle connection
# so keeps ~64 KiB, not the ~512 KiB the reader grows for RECV_SIZE reads.
SMALL_RECV = 16 * 1024
IDLE_RELEASE = 0.5
_IOV_MAX = 512
# Output the reader thread may queue for a peer that does not read, before
# the session is dropped (windows bound data; this bounds replies to requests).
MAX_BACKLOG = 64 * 1024 * 1024
# Leader/follower reading (see ``lead``): the longest a thread reading the
# socket for its own recv() blocks before it looks at its channel again, and
# how long the parked reader thread waits with nobody leading before it
# takes the socket back.
LEAD_SLICE = 0.05
PARK_IDLE = 0.002
# Read coalescing (see ``lead``): while a stream pours in and we keep up
# with it (the last read brought at least BULK_READ bytes, less than
# BULK_RECENT ago, and emptied the socket), the thread reading the socket
# (the reader thread, or one reading for its own recv()) pauses COALESCE
# before it reads again, so that one wake-up takes several packets.
BULK_READ = 32 * 1024
BULK_RECENT = 0.001
COALESCE = 0.00005
# Output waiting for the socket (a peer that stopped reading) beyond which
# a thread queueing channel data waits for it to drain (or for its timeout).
OUTPUT_LIMIT = 4 * 1024 * 1024
# Only where a short sleep is short: on Windows it can last a timer tick
# (up to ~15 ms), which would throttle the stream it is meant to help.
_SHORT_SLEEPS = sys.platform != "win32"


def _coalesce_until(n: int, size: int) -> float:
    """Until when the next reads pause first (see ``COALESCE``), after one
    that brought ``n`` bytes into a ``size``-byte buffer: ``BULK_RECENT`` from
    now if it brought a full packet's worth and emptied the socket (a stream
    we keep up with), else 0.0, no pause (small data, or more already waits)."""
    if _SHORT_SLEEPS and BULK_READ <= n < size:
        return time.monotonic() + BULK_RECENT
    return 0.0


class SocketPump:
    """Reads and writes one transport's socket (see the module docstring).

    ``lock`` is the transport's lock, which guards the core; methods marked
    "lock held" expect the caller to hold it. The transport is called back
    through ``process_events`` and ``dispatch`` (one event a leading thread
    handed back, in the reader thread), given to ``start``, and
    ``connection_lost``."""

    def __init__(self, sock: Any, lock: Any, connection_lost: ConnectionLost, logger: logging.Logger) -> None:
        """Pump ``sock``; nothing moves until ``start``."""
        self.sock = sock
        self.lock = lock
        self._process_events: ProcessEvents | None = None
        self._dispatch: Callable[[ev.Event], None] | None = None
        self._connection_lost = connection_lost
        #: where the pump logs (the transport's log channel)
        self.logger = logger
        #: the protocol core, once ``start`` gave it
        self.core: SSHProtocol | None = None
        #: True from ``start`` until ``stop``
        self.running = False
        self._stopped = False
        #: monotonic time of the last write to the socket (send-only keepalives)
        self.last_sent = time.monotonic()
        # reading
        self._token = threading.Lock()
        self._token_owner: int | None = None
        self._poller: Any = None
        self._recv_size = SMALL_RECV  # bytes asked of the socket per read (see SMALL_RECV)
        self._quiet = 0.0  # seconds leading threads polled in vain since input last came
        self._bulk_until = 0.0  # read coalescing: a stream is pouring in until then
        # leader/follower
        self._parked = False
        self._unpark = False
        self._park_cond = threading.Condition(lock)
        self._followers = 0  # recv() threads waiting for data, not yet woken
        self._park_due = False
        self._lead_epoch = 0
        self._handed_back: ev.Event | None = None
        self._lead_error: Exception | None = None
        # writing
        self._write_lock = threading.Lock()
        self._backlog = b""
        self._writer: threading.Thread | None = None
        self._writer_wanted = False
        self._writer_cond = threading.Condition(lock)
        self._drained = threading.Condition(lock)
        self._drain_waiters = 0

    def start(self, core: SSHProtocol, process_events: ProcessEvents, dispatch: Callable[[ev.Event], None]) -> None:
        """Pump for ``core`` from now on (before the reader thread starts),
        handing what it makes of the input to ``process_events``."""
        self.core = core
        self._process_events = process_events
        self._dispatch = dispatch
        self.running = True
        if isinstance(self.sock, socket.socket):
            # Our own timeouts govern every wait; a socket timeout could cut
            # a packet in half inside sendall.
            self.sock.settimeout(None)

    def stop(self) -> None:
        """(Lock held.) The session ends: wake every thread the pump keeps
        waiting (the parked reader, the writer thread, drain waiters)."""
        self.running = False
        self._stopped = True
        self._park_cond.notify_all()
        self._writer_cond.notify_all()
        self._drained.notify_all()

    @property
    def parked(self) -> bool:
        """Whether the reader thread stepped aside for threads leading in recv()."""
        return self._parked

    @property
    def reading_thread(self) -> int | None:
        """The ident of the thread reading the socket now, if any."""
        return self._token_owner

    def in_reading_thread(self) -> bool:
        """Whether the calling thread is the one reading the socket (which
        must never wait for the peer to read)."""
        return self._token_owner == threading.get_ident()

    # -- the reader thread -------------------------------------------------------

    def run(self) -> None:
        """The reader thread's loop, until the session ends."""
        core = self.core
        assert core is not None
        sock = self.sock
        if isinstance(sock, socket.socket):
            if sock.gettimeout() is not None:
                # A socket timeout makes every recv and send a poll() plus the
                # call, and lets a MSG_DONTWAIT send wait (the reader must never
                # block on a write). close() wakes a blocking recv by shutdown().
                sock.settimeout(None)
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(sock.fileno(), select.POLLIN)
                self._poller = poller
        token = self._token
        me = threading.get_ident()
        error: Exception | None = None
        try:
            while self.running:
                with token:
                    self._token_owner = me
                    try:
                        self._park_due = False
                        self._take_back()
                        if not core.closed:
                            if self._bulk_until and time.monotonic() < self._bulk_until:
                                time.sleep(COALESCE)  # as in lead: one wake-up for several packets
                            if self._holds_buffers(core):
                                # a stream may have ended with this read, big or not:
                                # never block in recv holding its buffers
                                self._release_if_idle(core)
                            self._receive(lead=False)
                    except TimeoutError:
                        continue
                    except OSError as exc:
                        if self._stopped:
                            break
                        raise SSHException(f"connection lost: {exc}") from exc
                    finally:
                        self._token_owner = None
                if core.closed:
                    break
                if self._poller is not None:
                    self._park_if_led()
        except Exception as exc:
            error = exc
            if not isinstance(exc, SSHException):
                error = SSHException(f"transport failed: {exc!r}")
                error.__cause__ = exc
            self.logger.debug("transport ended: %s", error)
        self._connection_lost(error, True)
        # Nothing reads any more: give the receive buffers back now rather
        # than when the transport is collected (reference cycles can keep a
        # closed transport until the next garbage collection), with whatever
        # arrived after the end (a peer's last packets, cut short).
        if token.acquire(timeout=1.0):
            try:
                core.discard_received_input()
                with self.lock:
                    core.release_output_buffer()
            finally:
                token.release()

    def _holds_buffers(self, core: SSHProtocol) -> bool:
        """Whether buffers grown for a stream (either way) are still held."""
        return self._recv_size > SMALL_RECV or core.holds_output_buffer

    def _release_if_idle(self, core: SSHProtocol) -> None:
        """(Reader thread, token held.) No input for ``IDLE_RELEASE`` seconds:
        give back the big receive buffer (reads start small again) and the
        output batch buffer kept from the last stream of output."""
        if self._poller is None or self._poller.poll(IDLE_RELEASE * 1000):
            return
        if core.shrink_reader_buffer():
            self._recv_size = SMALL_RECV
        with self.lock:
            core.release_output_buffer()

    def _receive(self, lead: bool) -> None:
        """One read from the socket into the core, then handle what it
        produced (token held)."""
        core = self.core
        assert core is not None
        sock = self.sock
        size = self._recv_size
        view = core.reader_buffer(size)
        if isinstance(sock, socket.socket) and view is not None:
            n = sock.recv_into(view)
            self._bulk_until = _coalesce_until(n, size)
            if n == size and size < RECV_SIZE:
                self._recv_size = RECV_SIZE  # input pours in: read big (see SMALL_RECV)
            if n:
                core.commit_received(n)
            else:
                core.receive_data(b"")
        elif isinstance(sock, socket.socket):
            # the identification line (the core's buffer is used after it)
            core.receive_data(sock.recv(SMALL_RECV))
        else:
            core.receive_data(sock.recv(RECV_SIZE))
        self._handle_input(lead)

    def _handle_input(self, lead: bool = False) -> None:
        """Handle what the core made of the input so far, let time pass,
        and write what that produced (token held)."""
        core = self.core
        assert core is not None
        process = self._process_events
        assert process is not None
        handed_back = process(lead)
        if handed_back is not None:
            self._handed_back = handed_back
        core.tick(time.monotonic())
        self.flush()

    def _take_back(self) -> None:
        """(Reader thread, token held.) Handle what a leading thread left:
        its error, or the first event that was not channel data."""
        error, self._lead_error = self._lead_error, None
        if error is not None:
            raise error
        e, self._handed_back = self._handed_back, None
        if e is not None:
            assert self._dispatch is not None
            self._dispatch(e)
            self._handle_input()

    def _park_if_led(self) -> None:
        """(Reader thread.) Step aside while threads in recv read for themselves."""
        if not self._park_due:  # the common case, without taking the lock
            return
        with self.lock:
            self._park_due = False
            if self._followers or not self.running:
                return
            self._parked = True
            epoch = -1
            while self.running and not self._unpark:
                if epoch == self._lead_epoch and not self._token.locked():
                    break
                epoch = self._lead_epoch
                self._park_cond.wait(PARK_IDLE)
            self._parked = False
            self._unpark = False

    # -- leader/follower (for threads waiting in Channel.recv) ----------------------

    def wake_reader(self) -> None:
        """(Lock held.) Bring a parked reader thread back to the socket:
        something other than a recv() is waiting for the peer."""
        if self._parked:
            self._unpark = True
            self._park_cond.notify()

    def wait_until(self, cond: threading.Condition, done: Callable[[], bool], deadline: float | None) -> WaitOutcome:
        """(``cond``'s lock held.) Wait on ``cond``, with a thread reading the
        socket, until ``done()``: "done"; "closed" once the session has
        ended first; "timeout" past ``deadline`` (None waits for ever). The
        one wait every request that expects an answer from the peer makes;
        each caller turns the outcome into its own result or error."""
        while not done():
            if not self.running:
                return "closed"
            remaining = None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
            self.wake_reader()
            cond.wait(remaining)
        return "done"

    def add_follower(self) -> None:
        """(Lock held.) A recv() thread starts waiting for data another thread reads."""
        self._followers += 1

    def drop_follower(self) -> None:
        """(Lock held.) A follower stopped waiting without being woken (timeout, close)."""
        self._followers -= 1

    def followers_woken(self, n: int, lead: bool) -> None:
        """(Lock held.) ``n`` waiting recv() threads were just woken by new
        data. Once all of them are, the reader thread may park: one of them
        will come back and lead (unless a leading thread did the waking)."""
        self._followers -= n
        if not lead and not self._followers:
            self._park_due = True

    def try_lead(self) -> bool:
        """(Lock held.) Take the socket for the calling recv() if the reader
        thread is parked and nobody else has it; then call ``lead``."""
        return (
            self._parked
            and not self._unpark
            and self._handed_back is None
            and self._lead_error is None
            and self._token.acquire(blocking=False)
        )

    def lead(self, deadline: float | None) -> None:
        """(Token held by ``try_lead``, lock not held.) Read the socket once
        for a thread waiting in recv(): wait at most ``LEAD_SLICE`` (or to
        ``deadline``) for data, handle it as the reader thread would, and
        hand anything but channel data back to the reader thread. Releases
        the token."""
        core = self.core
        assert core is not None
        self._token_owner = threading.get_ident()
        handling = False
        try:
            now = time.monotonic()
            wait = LEAD_SLICE if deadline is None else min(LEAD_SLICE, deadline - now)
            if now < self._bulk_until and wait > COALESCE:
                # A stream is pouring in and we keep up with it: sshd sends a
                # 32 KiB packet every ~40 us here, and waking for each one costs
                # more than decrypting it. Waiting a moment lets the next wake-up
                # take several (~15% less CPU per MB, no less throughput), for
                # at most ~0.1 ms more latency, and only while data streams.
                time.sleep(COALESCE)
                wait -= COALESCE
            if wait > 0 and self._poller.poll(wait * 1000):
                handling = True
                self._quiet = 0.0
                self._receive(lead=True)
                handling = False
            elif wait > 0 and self._holds_buffers(core):
                # threads in recv() keep the socket while the input pauses
                # (the reader thread stays parked): give the big buffers back here
                self._quiet += wait
                if self._quiet >= IDLE_RELEASE:
                    if core.shrink_reader_buffer():
                        self._recv_size = SMALL_RECV
                    with self.lock:
                        core.release_output_buffer()
        except Exception as exc:
            if not self._stopped:
                if isinstance(exc, OSError):
                    wrapped = SSHException(f"connection lost: {exc}")
                    wrapped.__cause__ = exc
                    exc = wrapped
                self._lead_error = exc
        except BaseException:
            # KeyboardInterrupt (Ctrl-C in the main thread) or SystemExit. In
            # poll nothing was taken; half-way through handling a read, bytes
            # or events may be lost, so the session must not go on.
            if handling and not self._stopped:
                self._lead_error = SSHException("interrupted while handling received data")
            raise
        finally:
            self._token_owner = None
            self._token.release()
            with self.lock:
                self._lead_epoch += 1
                if self._handed_back is not None or self._lead_error is not None or self._followers or core.closed:
                    self.wake_reader()

    def hold_socket(self, timeout: float) -> bool:
        """Take the read token (the reader thread's, or a leading thread's)
        for up to ``timeout`` seconds; True if taken (then ``release_socket``)."""
        return self._token.acquire(timeout=timeout)

    def release_socket(self) -> None:
        """Give back the read token ``hold_socket`` took."""
        self._token.release()

    # -- output ----------------------------------------------------------------------

    def wait_for_room(self, deadline: float | None) -> None:
        """(Lock held.) Before a thread queues more channel data: while more
        than ``OUTPUT_LIMIT`` bytes wait for a socket that does not take them
        (a peer that stopped reading), wait until they drain or the session
        ends; past ``deadline``, raise ``TimeoutError``. Never in the thread
        reading the socket, which must not wait on the peer's reading."""
        core = self.core
        if core is None or self.in_reading_thread():
            return
        while self.running and len(self._backlog) + core.pending_output_size() > OUTPUT_LIMIT:
            wait = 1.0  # a bound, should a wake-up be missed
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                wait = min(wait, remaining)
            self._drain_waiters += 1
            try:
                self._drained.wait(wait)
            finally:
                self._drain_waiters -= 1

    def flush(self, deadline: float | None = None) -> None:
        """Write what the core produced (lock not held). Any thread may call
        it; one writes at a time. The thread reading the socket never blocks
        here: what the socket will not take at once goes to the writer
        thread. Nor does a thread with a ``deadline`` (a channel timeout)
        block past it: what the socket has not taken by then goes to the
        writer thread too."""
        core = self.core
        if core is None:
            return
        # whoever reads the socket must never block on a write
        reader = self.in_reading_thread()
        wlock = self._write_lock
        while self._backlog or core.has_data_to_send():
            if not wlock.acquire(blocking=False):
                return
            handoff = False
            try:
                while True:
                    with self.lock:
                        chunks = core.take_output()
                    if self._backlog:
                        chunks.insert(0, self._backlog)
                        self._backlog = b""
                    if not chunks:
                        if self._drain_waiters:
                            with self.lock:
                                self._drained.notify_all()
                        break
                    if reader:
                        rest = self._send_nowait(chunks)
                        if rest:
                            self._backlog = rest
                            if len(rest) > MAX_BACKLOG:
                                raise OSError("peer is not reading")
                            handoff = True
                            return
                    elif deadline is None:
                        self._write_chunks(chunks)
                    else:
                        rest = self._write_until(chunks, deadline)
                        if rest:
                            self._backlog = rest
                            handoff = True
                            return
            except OSError as exc:
                self._backlog = b""
                with self.lock:
                    core.take_output()  # dropped: the socket is gone
                if not self._stopped:
                    threading.Thread(
                        target=self._connection_lost, args=(SSHException(f"send failed: {exc}"), False)
                    ).start()
                return
            finally:
                wlock.release()
                if handoff:
                    # after the release, so that the writer finds the lock free
                    self._wake_writer()

    def _write_chunks(self, chunks: list[bytes | bytearray]) -> None:
        """Write buffers in order, with scatter-gather on real sockets."""
        sock = self.sock
        self.last_sent = time.monotonic()
        if len(chunks) == 1 or not isinstance(sock, socket.socket):
            self._write_all(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            return
        i = 0
        while i < len(chunks):
            group = chunks[i : i + _IOV_MAX]
            sent = sock.sendmsg(group)
            total = sum(map(len, group))
            if sent < total:
                rest = b"".join(group)[sent:]
                sock.sendall(rest)
            i += _IOV_MAX

    def _write_until(self, chunks: list[bytes | bytearray], deadline: float) -> bytes:
        """Write buffers in order, waiting for the socket to take them until
        ``deadline`` at the latest; returns what it had not taken by then."""
        sock = self.sock
        if not isinstance(sock, socket.socket) or not hasattr(select, "poll"):
            self._write_chunks(chunks)  # no way to wait for writability: block as before
            return b""
        self.last_sent = time.monotonic()
        views = [memoryview(c) for c in chunks]
        i = 0
        poller: Any = None
        while i < len(views):
            try:
                sent = sock.sendmsg(views[i : i + _IOV_MAX], (), socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if poller is None:
                    poller = select.poll()
                    poller.register(sock.fileno(), select.POLLOUT)
                poller.poll(remaining * 1000)
                continue
            while sent:
                n = len(views[i])
                if sent < n:
                    views[i] = views[i][sent:]
                    break
                sent -= n
                i += 1
        return b"".join(views[i:])

    def _send_nowait(self, chunks: list[bytes | bytearray]) -> bytes:
        """Send without blocking; returns what the socket did not take."""
        sock = self.sock
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not isinstance(sock, socket.socket):
            self._write_all(data)
            return b""
        self.last_sent = time.monotonic()
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return bytes(view)
            view = view[n:]
        return b""

    def _wake_writer(self) -> None:
        with self.lock:
            self._writer_wanted = True
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, name="ssh-transport-writer", daemon=True)
                self._writer.start()
            self._writer_cond.notify_all()

    def _writer_loop(self) -> None:
        """Blocking writes handed over by the thread reading the socket."""
        while True:
            with self.lock:
                while not self._writer_wanted and self.running:
                    self._writer_cond.wait()
                if not self.running:
                    return
                self._writer_wanted = False
            self.flush()

    def _write_all(self, data: bytes | bytearray) -> None:
        self.last_sent = time.monotonic()
        sendall = getattr(self.sock, "sendall", None)
        if sendall is not None:
            sendall(data)
            return
        view = memoryview(data)
        while view:
            n = self.sock.send(view)
            if n <= 0:
                raise OSError("socket closed")
            view = view[n:]

    # -- closing -----------------------------------------------------------------------

    def close_socket(self, flush: bool, shutdown_socket: bool = True) -> None:
        """After ``stop``: write what is left if ``flush`` (a last DISCONNECT,
        for at most ~2 s), then shut the socket down (unless a forked child
        drops a parent's session: ``shutdown_socket=False``) and close it."""
        sock = self.sock
        core = self.core
        if flush and core is not None and (core.has_data_to_send() or self._backlog):
            try:
                if isinstance(sock, socket.socket):
                    sock.settimeout(2.0)
                if self._write_lock.acquire(timeout=2.0):
                    try:
                        data = self._backlog + core.data_to_send()
                        if data:
                            self._write_all(data)
                    finally:
                        self._write_lock.release()
            except OSError:
                pass
        try:
            if shutdown_socket and isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass


__all__ = ["SocketPump"]
