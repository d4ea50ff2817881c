"""The reader thread, event handlers and socket writes of ``Transport`` (a mixin).

The reader thread feeds received bytes to the protocol core and turns its
events into state the blocking API waits for. Writes are ordered by the core
and go out through ``_flush``, which any thread may call: one writer at a
time, and a thread that finds another writing leaves its bytes for that
writer. The reader thread never blocks on a write: what the socket does not
take at once goes to a writer thread, so two peers that both send a lot can
never deadlock each other.
"""

from __future__ import annotations

import logging
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import ChannelException, Message, SSHException, format_binary

from .channel import Channel
from .protocol import events as ev
from .protocol.core import SSHProtocol
from .server import ServerInterface
from .server_side import read_key_blobs

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
# Leader/follower reading (see ``_lead``): the longest a thread reading the
# socket for its own recv() blocks before it looks at its channel again, and
# how long the parked reader thread waits with nobody leading before it
# takes the socket back.
LEAD_SLICE = 0.05
PARK_IDLE = 0.002
# Read coalescing (see ``_lead``): while a stream pours in and we keep up
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


class DriverMixin:
    """Reader thread, event dispatch, writes and shutdown for ``Transport``."""

    sock: Any
    active: bool
    server_mode: bool
    server_object: ServerInterface | None
    server_extensions: dict[str, bytes]
    banner: str | None
    remote_version: str
    logger: logging.Logger
    _lock: Any
    _cond: threading.Condition
    _write_lock: threading.Lock
    _backlog: bytes
    _writer: threading.Thread | None
    _writer_wanted: bool
    _core: SSHProtocol | None
    _thread: threading.Thread | None
    _token: threading.Lock
    _token_owner: int | None
    _poller: Any
    _scratch: bytearray
    # bytes asked of the socket per read (see SMALL_RECV); an instance sets its own
    _recv_size: int = SMALL_RECV
    # seconds threads leading in recv() polled the socket in vain since input last came
    _quiet: float = 0.0
    # bytes the last read brought (no idle check while reads come full)
    _last_read: int = 0
    _parked: bool
    _unpark: bool
    _park_cond: threading.Condition
    _unwoken: int
    _park_due: bool
    _lead_epoch: int
    _bulk_until: float
    _handed_back: ev.Event | None
    _lead_error: Exception | None
    _exception: Exception | None
    _grace_timer: threading.Timer | None
    _channels: dict[int, Channel]
    _host_key_blob: bytes | None
    _host_key_alg: str
    _kex_count: int
    agreed_on_strict_kex: bool
    _kex_done: threading.Event
    _kex_event: threading.Event | None
    _auth_reply: ev.Event | None
    _username: str | None
    _global_replies: deque[list[Any]]
    _tcp_handler: Callable[..., None] | None
    _forward_agent_handler: Callable[[Channel], object] | None
    _x11_handler: Callable[[Channel, tuple[str, int]], object] | None
    _keepalive_cond: threading.Condition
    _peer_lost: SSHException | None
    _drained: threading.Condition
    _drain_waiters: int
    _banner_timer: threading.Timer | None
    _last_sent: float
    _closing: bool

    if TYPE_CHECKING:

        def _server_auth_requested(self, e: ev.AuthRequested) -> None:
            raise NotImplementedError

        def _server_auth_info(self, e: ev.AuthInfoResponded) -> None:
            raise NotImplementedError

        def _server_channel_open(self, e: ev.ChannelOpenRequested) -> None:
            raise NotImplementedError

        def _finish_open(self, e: ev.ChannelOpenRequested, code: Any, queue: bool) -> Channel | None:
            raise NotImplementedError

        def _server_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> bool:
            raise NotImplementedError

        def _server_global_request(self, e: ev.GlobalRequestReceived) -> tuple[bool, bytes]:
            raise NotImplementedError

    def _trace(self, direction: str, payload: bytes) -> None:
        for line in format_binary(payload, f"{direction}: "):
            self.logger.debug(line)

    # -- the reader thread -----------------------------------------------------
    #
    # Whoever holds ``_token`` reads the socket and feeds the core: normally
    # the reader thread. A thread that waits in ``Channel.recv`` while the
    # reader thread is parked reads the socket itself instead (``_lead``), so
    # a stream read by one thread costs one wake-up per packet rather than
    # two (reader, then the thread in recv). The reader thread parks only
    # when every thread waiting for data was just woken (so one of them will
    # lead), and takes the socket back as soon as a leading thread hands it
    # an event other than data, another thread needs it, or nobody has led
    # for ``PARK_IDLE``.

    def _read_loop(self) -> None:
        """The reader thread's loop (``Transport.run``)."""
        core = self._core
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
            while self.active:
                with token:
                    self._token_owner = me
                    try:
                        self._park_due = False
                        self._take_back()
                        if not core.closed:
                            if self._bulk_until and time.monotonic() < self._bulk_until:
                                time.sleep(COALESCE)  # as in _lead: one wake-up for several packets
                            elif self._last_read < BULK_READ and self._recv_size > SMALL_RECV:
                                self._release_if_idle(core)  # a stream has ebbed: idle from here?
                            self._receive(lead=False)
                    except TimeoutError:
                        continue
                    except OSError as exc:
                        if self._closing:
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
        self._shutdown(error, flush=True)
        # Nothing reads any more: give the receive buffers back now rather
        # than when the transport is collected (reference cycles can keep a
        # closed transport until the next garbage collection), with whatever
        # arrived after the end (a peer's last packets, cut short).
        if token.acquire(timeout=1.0):
            try:
                core.discard_received_input()
            finally:
                token.release()

    def _release_if_idle(self, core: SSHProtocol) -> None:
        """(Reader thread, token held.) No input for ``IDLE_RELEASE`` seconds:
        give back the big receive buffer; reads start small again."""
        if self._poller is not None and not self._poller.poll(IDLE_RELEASE * 1000) and core.shrink_reader_buffer():
            self._recv_size = SMALL_RECV

    def _receive(self, lead: bool) -> None:
        """One read from the socket into the core, then handle what it
        produced (``_token`` held)."""
        core = self._core
        assert core is not None
        sock = self.sock
        size = self._recv_size
        view = core.reader_buffer(size)
        if isinstance(sock, socket.socket) and view is not None:
            n = self._last_read = sock.recv_into(view)
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
        and write what that produced (``_token`` held)."""
        core = self._core
        assert core is not None
        self._process_events(lead)
        core.tick(time.monotonic())
        self._flush()

    def _take_back(self) -> None:
        """(Reader thread, token held.) Handle what a leading thread left:
        its error, or the first event that was not channel data."""
        error, self._lead_error = self._lead_error, None
        if error is not None:
            raise error
        e, self._handed_back = self._handed_back, None
        if e is not None:
            self._dispatch(e)
            self._handle_input()

    def _park_if_led(self) -> None:
        """(Reader thread.) Step aside while threads in recv read for themselves."""
        if not self._park_due:  # the common case, without taking the lock
            return
        with self._lock:
            self._park_due = False
            if self._unwoken or not self.active:
                return
            self._parked = True
            epoch = -1
            while self.active and not self._unpark:
                if epoch == self._lead_epoch and not self._token.locked():
                    break
                epoch = self._lead_epoch
                self._park_cond.wait(PARK_IDLE)
            self._parked = False
            self._unpark = False

    def _wake_reader(self) -> None:
        """(Lock held.) Bring a parked reader thread back to the socket:
        something other than a recv() is waiting for the peer."""
        if self._parked:
            self._unpark = True
            self._park_cond.notify()

    def _wait_cond(self, timeout: float | None = None) -> bool:
        """(Lock held.) Wait on the transport condition with the reader thread reading."""
        self._wake_reader()
        return self._cond.wait(timeout)

    def _try_lead(self) -> bool:
        """(Lock held.) Take the socket for the calling recv() if the reader
        thread is parked and nobody else has it; then call ``_lead``."""
        return (
            self._parked
            and not self._unpark
            and self._handed_back is None
            and self._lead_error is None
            and self._token.acquire(blocking=False)
        )

    def _lead(self, deadline: float | None) -> None:
        """(Token held, lock not held.) Read the socket once for a thread
        waiting in recv(): wait at most ``LEAD_SLICE`` (or to ``deadline``)
        for data, handle it as the reader thread would, and hand anything
        but channel data back to the reader thread. Releases the token."""
        core = self._core
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
            elif wait > 0 and self._recv_size > SMALL_RECV:
                # threads in recv() keep the socket while the input pauses
                # (the reader thread stays parked): give the big buffer back here
                self._quiet += wait
                if self._quiet >= IDLE_RELEASE and core.shrink_reader_buffer():
                    self._recv_size = SMALL_RECV
        except Exception as exc:
            if not self._closing:
                if isinstance(exc, OSError):
                    wrapped = SSHException(f"connection lost: {exc}")
                    wrapped.__cause__ = exc
                    exc = wrapped
                self._lead_error = exc
        except BaseException:
            # KeyboardInterrupt (Ctrl-C in the main thread) or SystemExit. In
            # poll nothing was taken; half-way through handling a read, bytes
            # or events may be lost, so the session must not go on.
            if handling and not self._closing:
                self._lead_error = SSHException("interrupted while handling received data")
            raise
        finally:
            self._token_owner = None
            self._token.release()
            with self._lock:
                self._lead_epoch += 1
                if self._handed_back is not None or self._lead_error is not None or self._unwoken or core.closed:
                    self._wake_reader()

    def _process_events(self, lead: bool = False) -> None:
        """Handle the core's events; channel data and window adjusts in a
        batch under one lock. A leading thread (``lead``) stops at the first
        other event and leaves it to the reader thread."""
        core = self._core
        assert core is not None
        lock = self._lock
        data_ev = ev.ChannelDataReceived
        adj_ev = ev.ChannelWindowAdjusted
        channels = self._channels
        while True:
            woken: set[Channel] = set()
            # data for channels with a receiver, delivered once the lock is released
            calls: list[tuple[Callable[[bytes], object], bytes]] = []
            e: ev.Event | None = None
            with lock:
                try:
                    while True:
                        e = core.next_event()
                        if e is None:
                            break
                        t = type(e)
                        if t is data_ev:
                            chan = channels.get(e.chanid)  # type: ignore[attr-defined]
                            if chan is None:
                                core.channel_consumed(e.chanid, len(e.data))  # type: ignore[attr-defined]
                                continue
                            fn = chan.deliver(e.data, e.ext)  # type: ignore[attr-defined]
                            if fn is None:
                                woken.add(chan)
                            else:
                                calls.append((fn, bytes(e.data)))  # type: ignore[attr-defined]
                                core.channel_consumed(e.chanid, len(e.data))  # type: ignore[attr-defined]
                            continue
                        if t is adj_ev:
                            chan = channels.get(e.chanid)  # type: ignore[attr-defined]
                            if chan is not None:
                                woken.add(chan)
                            continue
                        break
                finally:
                    # one wake-up per channel per batch, before the lock is released
                    for chan in woken:
                        n = chan.wake()
                        if n:
                            # its recv() threads will wake and look again
                            self._unwoken -= n
                            if not lead and not self._unwoken:
                                # all of them woken: one will come back and lead
                                self._park_due = True
            for fn, data in calls:
                self._deliver(fn, data)
            if e is None:
                return
            if lead:
                self._handed_back = e
                return
            self._dispatch(e)

    def _deliver(self, fn: Callable[[bytes], object], data: bytes) -> None:
        """Give channel data to a receiver (see ``Channel.set_receiver``);
        its failure must not end the transport."""
        try:
            fn(data)
        except Exception:
            self.logger.exception("channel data receiver failed")

    def _dispatch(self, e: ev.Event) -> None:
        handler = getattr(self, "_on_" + type(e).__name__, None)
        if handler is not None:
            handler(e)

    # -- event handlers (reader thread) ------------------------------------------

    def _on_VersionReceived(self, e: ev.VersionReceived) -> None:
        self.remote_version = e.version.decode("ascii", "replace")
        self._stop_banner_timer()

    def _on_KexCompleted(self, e: ev.KexCompleted) -> None:
        with self._lock:
            self._host_key_blob = e.host_key_blob
            self._host_key_alg = e.host_key_algorithm
            self._kex_count += 1
            if e.first:
                self.agreed_on_strict_kex = e.strict
            self._cond.notify_all()
        self.logger.debug("kex done: %s %s %s/%s", e.kex, e.host_key_algorithm, e.cipher_out, e.mac_out)
        if e.first:
            self._kex_done.set()
            if self._kex_event is not None:
                self._kex_event.set()

    def _on_ExtInfoReceived(self, e: ev.ExtInfoReceived) -> None:
        self.server_extensions.update(e.extensions)

    def _on_DisconnectReceived(self, e: ev.DisconnectReceived) -> None:
        self._exception = self._exception or SSHException(f"Disconnected by peer ({e.reason}): {e.description}")

    def _on_ConnectionClosed(self, e: ev.ConnectionClosed) -> None:
        self._exception = self._exception or SSHException("Connection closed by peer")

    def _on_DebugReceived(self, e: ev.DebugReceived) -> None:
        self.logger.debug("debug message from peer: %s", e.message)

    def _on_AuthBannerReceived(self, e: ev.AuthBannerReceived) -> None:
        self.banner = e.message

    def _set_auth_reply(self, e: ev.Event) -> None:
        with self._lock:
            if isinstance(e, ev.AuthSucceeded):
                self._username = e.username
            self._auth_reply = e
            self._cond.notify_all()

    _on_AuthSucceeded = _set_auth_reply
    _on_AuthFailed = _set_auth_reply
    _on_AuthInfoRequested = _set_auth_reply
    _on_PasswordChangeRequested = _set_auth_reply
    _on_AuthPublicKeyAccepted = _set_auth_reply

    def _on_AuthRequested(self, e: ev.AuthRequested) -> None:
        self._server_auth_requested(e)

    def _on_AuthInfoResponded(self, e: ev.AuthInfoResponded) -> None:
        self._server_auth_info(e)

    def _on_ChannelOpenConfirmed(self, e: ev.ChannelOpenConfirmed) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.open_confirmed()
            self._cond.notify_all()

    def _on_ChannelOpenFailed(self, e: ev.ChannelOpenFailed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan.open_failed(ChannelException(e.code, e.text))
            self._cond.notify_all()

    def _on_ChannelOpenRequested(self, e: ev.ChannelOpenRequested) -> None:
        if self.server_mode:
            self._server_channel_open(e)
            return
        handler = self._tcp_handler
        if e.kind == "forwarded-tcpip" and e.origin is not None and e.dest is not None and handler is not None:
            # Only after request_port_forward (which sets a handler, or one that queues for accept).
            chan = self._finish_open(e, 0, queue=False)
            if chan is not None:
                try:
                    handler(chan, e.origin, e.dest)
                except Exception:
                    self.logger.exception("port forward handler failed")
            return
        if e.kind == "auth-agent@openssh.com" and self._forward_agent_handler is not None:
            agent_handler = self._forward_agent_handler
            chan = self._finish_open(e, 0, queue=False)
            if chan is not None:
                try:
                    agent_handler(chan)
                except Exception:
                    self.logger.exception("agent forwarding handler failed")
            return
        x11_handler = self._x11_handler
        if e.kind == "x11" and x11_handler is not None:
            # Only after Channel.request_x11 (which sets a handler, or one that queues for accept).
            try:
                m = Message(e.data, strict=True)
                origin = (m.get_text(), m.get_int())
            except SSHException:
                self._finish_open(e, 1, queue=False)
                return
            chan = self._finish_open(e, 0, queue=False)
            if chan is not None:
                chan.origin_addr = origin
                try:
                    x11_handler(chan, origin)
                except Exception:
                    self.logger.exception("x11 forwarding handler failed")
            return
        self._finish_open(e, 1, queue=False)

    def _on_ChannelEOFReceived(self, e: ev.ChannelEOFReceived) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.deliver_eof()
        fn = chan.receiver if chan is not None else None
        if fn is not None:
            self._deliver(fn, b"")

    def _on_ChannelClosed(self, e: ev.ChannelClosed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan.deliver_close()
        fn = chan.receiver if chan is not None else None
        if fn is not None:
            self._deliver(fn, b"")

    def _on_ChannelRequestReplied(self, e: ev.ChannelRequestReplied) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.deliver_reply(e.success)

    def _on_ChannelRequestReceived(self, e: ev.ChannelRequestReceived) -> None:
        chan = self._channels.get(e.chanid)
        ok = False
        if e.kind == "exit-status" and chan is not None:
            with self._lock:
                chan.deliver_exit_status(int(e.args[0]))  # type: ignore[call-overload]
        elif e.kind == "exit-signal" and chan is not None:
            with self._lock:
                sig, core_dumped, msg, _lang = e.args
                chan.deliver_exit_signal(str(sig), bool(core_dumped), str(msg))
        elif self.server_mode:
            self._answer_server_channel_request(chan, e)
            return
        if e.want_reply:
            core = self._core
            assert core is not None
            with self._lock:
                core.channel_request_reply(e.chanid, ok)
            self._flush()

    def _answer_server_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> None:
        """Ask the ServerInterface hook, then reply. Until the reply is queued,
        other threads writing to the channel wait (see Channel._hold_for_reply),
        so a handler thread the hook started cannot overtake the reply."""
        core = self._core
        assert core is not None
        if chan is not None:
            with self._lock:
                chan.begin_reply()
        ok = False
        try:
            ok = self._server_channel_request(chan, e)
        finally:
            with self._lock:
                if e.want_reply:
                    core.channel_request_reply(e.chanid, ok)
                if chan is not None:
                    chan.end_reply()
            if e.want_reply:
                self._flush()

    #: client: the host key blobs the server announced after login
    #: (``hostkeys-00@openssh.com``, OpenSSH's UpdateHostKeys), or None
    announced_host_keys: list[bytes] | None = None

    def _on_GlobalRequestReceived(self, e: ev.GlobalRequestReceived) -> None:
        ok, data = False, b""
        if not self.server_mode and e.name == "hostkeys-00@openssh.com":
            try:
                self.announced_host_keys = read_key_blobs(e.data)
            except SSHException:
                self.logger.info("malformed hostkeys-00@openssh.com announcement ignored")
        if self.server_mode:
            try:
                ok, data = self._server_global_request(e)
            except SSHException:
                ok, data = False, b""
        if e.want_reply:
            core = self._core
            assert core is not None
            with self._lock:
                core.global_request_reply(ok, data)
            self._flush()

    def _on_GlobalReplyReceived(self, e: ev.GlobalReplyReceived) -> None:
        with self._lock:
            if self._global_replies:
                self._global_replies.popleft()[0] = e
            self._cond.notify_all()

    # -- output --------------------------------------------------------------------

    def _wait_for_room(self, deadline: float | None) -> None:
        """(Lock held.) Before a thread queues more channel data: while more
        than ``OUTPUT_LIMIT`` bytes wait for a socket that does not take them
        (a peer that stopped reading), wait until they drain or the session
        ends; past ``deadline``, raise ``TimeoutError``. Never in the thread
        reading the socket, which must not wait on the peer's reading."""
        core = self._core
        if core is None or threading.get_ident() == self._token_owner:
            return
        while self.active and len(self._backlog) + core.pending_output_size() > OUTPUT_LIMIT:
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

    def _flush(self, deadline: float | None = None) -> None:
        """Write what the core produced. Any thread may call it; one writes
        at a time. The reader thread never blocks here: what the socket will
        not take at once goes to the writer thread. Nor does a thread with a
        ``deadline`` (a channel timeout) block past it: what the socket has
        not taken by then goes to the writer thread too."""
        core = self._core
        if core is None:
            return
        # whoever reads the socket must never block on a write
        reader = threading.get_ident() == self._token_owner
        wlock = self._write_lock
        while self._backlog or core._out:
            if not wlock.acquire(blocking=False):
                return
            handoff = False
            try:
                while True:
                    with self._lock:
                        chunks = core.take_output()
                    if self._backlog:
                        chunks.insert(0, self._backlog)
                        self._backlog = b""
                    if not chunks:
                        if self._drain_waiters:
                            with self._lock:
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
                with self._lock:
                    core._out.clear()
                if not self._closing:
                    threading.Thread(target=self._shutdown, args=(SSHException(f"send failed: {exc}"),)).start()
                return
            finally:
                wlock.release()
                if handoff:
                    # after the release, so that the writer finds the lock free
                    self._wake_writer()

    def _write_chunks(self, chunks: list[bytes | bytearray]) -> None:
        """Write buffers in order, with scatter-gather on real sockets."""
        sock = self.sock
        self._last_sent = time.monotonic()
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
        self._last_sent = time.monotonic()
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
        self._last_sent = time.monotonic()
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return bytes(view)
            view = view[n:]
        return b""

    def _wake_writer(self) -> None:
        with self._lock:
            self._writer_wanted = True
            if self._writer is None:
                self._writer = threading.Thread(target=self._writer_loop, name="ssh-transport-writer", daemon=True)
                self._writer.start()
            self._cond.notify_all()

    def _writer_loop(self) -> None:
        """Blocking writes handed over by the reader thread."""
        while True:
            with self._lock:
                while not self._writer_wanted and self.active:
                    self._cond.wait()
                if not self.active:
                    return
                self._writer_wanted = False
            self._flush()

    def _write_all(self, data: bytes | bytearray) -> None:
        self._last_sent = time.monotonic()
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

    # -- closing ---------------------------------------------------------------------

    def _stop_grace_timer(self) -> None:
        """The client authenticated or the session ended: no hang-up is due."""
        timer, self._grace_timer = self._grace_timer, None
        if timer is not None:
            timer.cancel()

    def _stop_banner_timer(self) -> None:
        """The peer's identification line came, or the session ended."""
        timer, self._banner_timer = self._banner_timer, None
        if timer is not None:
            timer.cancel()

    def _shutdown(self, error: Exception | None, flush: bool = False, shutdown_socket: bool = True) -> None:
        self._stop_grace_timer()
        self._stop_banner_timer()
        with self._lock:
            first = not self._closing
            self._closing = True
            if error is not None and self._exception is None:
                self._exception = error
            self.active = False
            chans = list(self._channels.values())
            self._channels.clear()
            for chan in chans:
                chan.deliver_close(self._peer_lost)
            for slot in self._global_replies:
                slot[0] = False
            self._cond.notify_all()
            self._park_cond.notify_all()
            self._keepalive_cond.notify_all()
            self._drained.notify_all()
        for chan in chans:
            fn = chan.receiver
            if fn is not None:
                self._deliver(fn, b"")
        if not first:
            return
        self._kex_done.set()
        if self._kex_event is not None:
            self._kex_event.set()
        sock = self.sock
        if flush and self._core is not None and (self._core.has_data_to_send() or self._backlog):
            try:
                if isinstance(sock, socket.socket):
                    sock.settimeout(2.0)
                if self._write_lock.acquire(timeout=2.0):
                    try:
                        data = self._backlog + self._core.data_to_send()
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
