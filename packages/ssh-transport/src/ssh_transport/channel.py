"""``Channel``: a socket-like tunnel over a ``Transport``; ``ChannelFile`` and
``ChannelStderrFile`` (channel_files.py) wrap it as Python files.

All channel state is guarded by the owning transport's lock; each channel
has its own condition on that lock, so a reader that stops reading stalls
only its own channel (the window is reopened only as the application reads).
"""

from __future__ import annotations

import binascii
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import Message, SSHException

from .channel_files import ChannelFile, ChannelStderrFile, ChannelStdinFile
from .pipe import OrPipe, PosixPipe, WindowsPipe, make_or_pipe, make_pipe
from .protocol.constants import EXTENDED_DATA_STDERR
from .receive_buffer import ReceiveBuffer

if TYPE_CHECKING:
    from .channel_host import ChannelHost
    from .transport import Transport

_U32 = struct.Struct(">I")
# Data sealed and written per step of send/sendall: eight 32 KiB packets.
# Measured against 96 KiB steps: ~15% less server CPU per MB under
# OpenSSH's ssh (a 256 KiB read of the command's output is one step, not
# 96+96+64). Within one sendall of several steps the packet writer reuses
# its AES-GCM batch buffer (``SSHProtocol.stream_output``): a fresh 256 KiB
# buffer per step made a 1 MiB-per-call upload cost ~20% more client CPU;
# with the reuse it costs about what it did with 96 KiB steps.
SEND_BATCH = 256 * 1024


def _as_bytes(s: str | bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    return s.encode("utf-8") if isinstance(s, str) else s


class Channel:
    """A secure tunnel across an SSH ``Transport``, with the API of a socket.

    Channels are created by ``Transport.open_session`` / ``open_channel`` (or
    ``accept`` on a server), not directly.
    """

    def __init__(self, chanid: int) -> None:
        """A channel with local id ``chanid``, not yet attached to a transport."""
        self.chanid = chanid
        self.transport: Transport | None = None
        # everything the channel asks of its transport goes through this
        self._host: ChannelHost | None = None
        self.name = str(chanid)
        self.kind = "session"
        self.active = False
        self.closed = False
        self.eof_received = False
        self.eof_sent = False
        self.combine_stderr = False
        self.timeout: float | None = None
        self.exit_status = -1
        self.exit_signal: tuple[str, bool, str] | None = None
        self.status_event = threading.Event()
        self.origin_addr: tuple[str, int] | None = None
        self._lock: Any = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._in = ReceiveBuffer()
        self._err = ReceiveBuffer()
        self._waiting = 0
        # recv()/recv_stderr() threads waiting for data that the transport
        # has not woken since they started waiting, and a count of those
        # wake-ups (leader/follower, see socket_pump.py)
        self._unwoken = 0
        self._wake_gen = 0
        # thread id of the transport thread answering a request on this channel
        self._replying_thread: int | None = None
        # fileno(): one pipe, readable while stdout OR stderr has data (two
        # flags or-ed onto it), and for good once EOF or close arrives
        self._pipe: PosixPipe | WindowsPipe | None = None
        self._out_flag: OrPipe | None = None
        self._err_flag: OrPipe | None = None
        self._remote_chanid = 0
        self._replies: deque[list[bool | None]] = deque()
        self._read_shut = False
        self._opened = threading.Event()
        self._open_error: Exception | None = None
        # set by set_receiver: main-stream data goes straight to it
        self._receiver: Callable[[bytes], object] | None = None
        # set by set_send_ready_callback: called when the peer's window grows
        self._send_ready_fn: Callable[[], object] | None = None
        # why the transport dropped this channel before its stream ended
        self._close_error: Exception | None = None
        #: server: what the client asked to run when a forced command
        #: replaced it (see ``Transport.get_original_command``)
        self.original_command: bytes | None = None

    def __repr__(self) -> str:
        out = f"<paramiko.Channel {self.chanid}"
        if self.closed:
            out += " (closed)"
        elif self.active:
            if self.eof_received:
                out += " (EOF received)"
            if self.eof_sent:
                out += " (EOF sent)"
            out += f" (open) window={self.out_window_size}"
            if self._in.size:
                out += f" in-buffer={self._in.size}"
        return f"{out} -> {self.transport!r}>"

    @property
    def remote_chanid(self) -> int:
        """The peer's id for this channel (0 until the open is confirmed)."""
        h = self._host
        rid = h.remote_id(self.chanid) if h is not None else -1
        if rid >= 0:
            self._remote_chanid = rid
        return self._remote_chanid

    @property
    def out_window_size(self) -> int:
        """How many bytes the peer will still take before it adjusts its window."""
        h = self._host
        return h.send_window(self.chanid) if h is not None else 0

    def __del__(self) -> None:
        try:
            if not self.closed and self.transport is not None and self.active:
                self.close()
        except Exception:
            pass

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the driver's side (called by the transport, lock held unless said) ----
    #
    # These are the whole interface a driver uses on a channel; they are
    # public so that a driver needs no private access, but are not for
    # applications.

    def attach(self, transport: Transport, host: ChannelHost) -> None:
        """For the driver (lock not needed): run on ``transport``, asking
        ``host`` for everything the channel needs from it."""
        self.transport = transport
        self._host = host
        self._lock = host.lock
        self._cond = threading.Condition(self._lock)

    @property
    def receiver(self) -> Callable[[bytes], object] | None:
        """For the driver: the function set by ``set_receiver`` (or None);
        it gets ``b""`` at EOF and close, outside the lock."""
        return self._receiver

    @property
    def send_ready_callback(self) -> Callable[[], object] | None:
        """For the driver: the function set by ``set_send_ready_callback``
        (or None); it is called outside the lock."""
        return self._send_ready_fn

    def deliver(self, data: bytes | memoryview, ext: int) -> Callable[[bytes], object] | None:
        """For the driver (lock held): data from the peer. Returns the
        receiver when the data is for it (the caller reopens the window and
        calls it with ``bytes(data)`` after releasing the lock); otherwise
        buffers it for ``recv`` and returns None, and the caller wakes the
        channel with ``wake`` once per batch of packets."""
        fn = self._receiver
        if fn is not None and not ext and not self._read_shut:
            return fn
        if self._read_shut:
            self._consumed(len(data))
            return None
        if ext and not self.combine_stderr:
            if ext != EXTENDED_DATA_STDERR:
                self._consumed(len(data))
                return None
            self._err.append(data)
            if self._err_flag is not None:
                self._err_flag.set()
        else:
            self._in.append(data)
            if self._out_flag is not None:
                self._out_flag.set()
        return None

    def wake(self) -> int:
        """For the driver (lock held): wake the threads waiting on this
        channel. Returns how many of them were followers (see
        ``ChannelHost.add_follower``) that the host no longer has to count."""
        n = self._unwoken
        if n:
            # its recv() threads will wake and look again
            self._unwoken = 0
            self._wake_gen += 1
        if self._waiting:
            self._cond.notify_all()
        return n

    def open_confirmed(self) -> None:
        """For the driver (lock held): the peer accepted the open."""
        self.active = True
        self._opened.set()

    def open_failed(self, error: Exception) -> None:
        """For the driver (lock held): the peer refused the open."""
        self._open_error = error
        self.closed = True
        self._opened.set()

    @property
    def open_settled(self) -> bool:
        """For the driver: whether the open was answered (or the channel died)."""
        return self._opened.is_set()

    @property
    def open_error(self) -> Exception | None:
        """For the driver: why the peer refused the open (None if it did not)."""
        return self._open_error

    def deliver_eof(self) -> None:
        """For the driver (lock held): the peer sent EOF."""
        self.eof_received = True
        self._set_pipes()
        self._cond.notify_all()

    def deliver_close(self, error: Exception | None = None) -> None:
        """For the driver (lock held): the channel is gone (peer CLOSE, or
        the transport died). ``error``: the transport was dropped because the
        peer went silent; a stream that had not ended then raises it instead
        of ending quietly."""
        if error is not None and not self.eof_received and not self.closed:
            self._close_error = error
        self.eof_received = True
        self.closed = True
        self.active = False
        self._set_pipes()
        for slot in self._replies:
            if slot[0] is None:
                slot[0] = False
        self._replies.clear()
        self.status_event.set()
        self._opened.set()
        self._cond.notify_all()

    def deliver_reply(self, success: bool) -> None:
        """For the driver (lock held): the peer answered our oldest request."""
        if self._replies:
            self._replies.popleft()[0] = success
        self._cond.notify_all()

    def deliver_exit_status(self, status: int) -> None:
        """For the driver (lock held): the command's exit status arrived."""
        self.exit_status = status
        self.status_event.set()
        self._cond.notify_all()

    def deliver_exit_signal(self, signal: str, core_dumped: bool, message: str) -> None:
        """For the driver (lock held): the command died of ``signal``."""
        self.exit_signal = (signal, core_dumped, message)
        self.status_event.set()
        self._cond.notify_all()

    def begin_reply(self) -> None:
        """For the driver (lock held): the calling thread answers a request
        the peer made on this channel; until ``end_reply``, other threads'
        writes wait, so a handler the request started never overtakes the
        reply."""
        self._replying_thread = threading.get_ident()

    def end_reply(self) -> None:
        """For the driver (lock held): the reply is queued."""
        self._replying_thread = None
        self._cond.notify_all()

    def set_receiver(self, fn: Callable[[bytes], object] | None) -> list[bytes]:
        """Hand main-stream data straight to ``fn(data)`` instead of buffering
        it for ``recv`` (None: back to buffering). ``fn`` runs in whichever
        thread reads the socket (the transport's thread, or a thread waiting
        in another channel's ``recv``, see socket_pump.py), outside the transport
        lock, once per received packet in order, and gets ``b""`` at EOF or
        close; the window is reopened as it is called. Saves a thread
        hand-off for protocols that parse everything as it arrives (SFTP).
        Returns the data buffered before the call: the caller must process it
        before anything ``fn`` gets (hold a lock that ``fn`` also takes)."""
        h = self._host
        with self._lock:
            self._receiver = fn
            if fn is None:
                return []
            chunks = list(self._in.chunks)
            if chunks and self._in.offset:
                chunks[0] = chunks[0][self._in.offset :]
            pending = [bytes(c) for c in chunks]
            self._in = ReceiveBuffer()
            n = sum(map(len, pending))
            flush = False
            if n and h is not None and not self.closed:
                flush = h.consumed(self.chanid, n)
        if flush and h is not None:
            h.flush()
        return pending

    def _consumed(self, n: int) -> None:
        h = self._host
        if h is not None and not self.closed:
            h.consumed(self.chanid, n)

    def _set_pipes(self) -> None:
        """EOF or close: reads no longer block, so ``fileno`` stays readable."""
        if self._pipe is not None:
            self._pipe.set_forever()

    # -- identity ------------------------------------------------------------

    def get_id(self) -> int:
        """This channel's id, unique within its transport."""
        return self.chanid

    def get_name(self) -> str:
        """The name given with ``set_name`` (the id by default)."""
        return self.name

    def set_name(self, name: str) -> None:
        """Give this channel a name, for logs."""
        self.name = name

    def get_transport(self) -> Transport:
        """The ``Transport`` this channel runs on."""
        assert self.transport is not None
        return self.transport

    def getpeername(self) -> Any:
        """The address of the remote end of the transport (as a socket's
        ``getpeername``), for code that treats a channel as a socket."""
        return self.get_transport().getpeername()

    @property
    def close_error(self) -> Exception | None:
        """The ``SSHException`` that cut this channel off before its stream
        ended, when the transport was dropped because the peer stopped
        answering keepalives (see ``Transport.set_keepalive``); None when the
        channel is open or ended normally. ``recv`` raises it once the
        buffered data is read, so that a lost peer is not taken for EOF."""
        return self._close_error

    # -- timeouts --------------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        """Timeout in seconds for blocking reads and writes (None: block forever)."""
        self.timeout = timeout

    def gettimeout(self) -> float | None:
        """The timeout set by ``settimeout`` / ``setblocking``."""
        return self.timeout

    def setblocking(self, blocking: int | bool) -> None:
        """Blocking (timeout None) or non-blocking (timeout 0.0) mode."""
        self.settimeout(None if blocking else 0.0)

    def _wait(self, deadline: float | None, follow: bool = False) -> None:
        """Wait on the condition (lock held) until notified or ``deadline``.
        ``follow``: a recv() waiting for data that another thread reads for
        it; any other wait needs the transport's reader thread reading."""
        remaining = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
        h = self._host
        gen = self._wake_gen
        if h is None:
            follow = False
        elif follow:
            h.add_follower()
            self._unwoken += 1
        else:
            h.wake_reader()
        self._waiting += 1
        try:
            self._cond.wait(remaining)
        finally:
            self._waiting -= 1
            if follow:
                assert h is not None
                if self._wake_gen == gen:  # not woken by the transport: timeout, close, ...
                    h.drop_follower()
                    self._unwoken -= 1

    def _lead(self, h: ChannelHost, deadline: float | None) -> None:
        """(Lock held, socket taken with ``try_lead``.) The reader thread is
        parked: read the socket in this thread instead of waiting for it
        (see socket_pump.py), without the lock meanwhile."""
        self._lock.release()
        try:
            h.lead(deadline)
        finally:
            self._lock.acquire()

    def _hold_for_reply(self) -> None:
        """(Lock held.) While the transport is still answering a request the peer
        made on this channel, make other threads wait, so that output from a
        handler the request started never overtakes the reply."""
        while self._replying_thread is not None and self._replying_thread != threading.get_ident():
            h = self._host
            if self.closed or h is None or not h.active:
                return
            self._wait(None)

    def _deadline(self) -> float | None:
        return None if self.timeout is None else time.monotonic() + self.timeout

    # -- requests ----------------------------------------------------------------

    def _request(self, kind: str, data: bytes = b"", want_reply: bool = True) -> bool:
        h = self._live_host()
        slot: list[bool | None] = [None]
        with self._lock:
            self._hold_for_reply()
            if self.closed or not h.request(self.chanid, kind, want_reply, data):
                raise SSHException("Channel is closed")
            if want_reply:
                self._replies.append(slot)
        # A positive channel timeout bounds the wait for the reply (0.0, non-blocking, does not).
        deadline = time.monotonic() + self.timeout if self.timeout else None
        h.flush(deadline)
        if not want_reply:
            return True
        with self._lock:
            while slot[0] is None:
                if self.closed or not h.active:
                    raise self._close_error or SSHException("Channel closed.")
                self._wait(deadline)
        return bool(slot[0])

    def _live_transport(self) -> Transport:
        t = self.transport
        if t is None or not self.active:
            raise SSHException("Channel is not open")
        return t

    def _live_host(self) -> ChannelHost:
        h = self._host
        if h is None or not self.active:
            raise SSHException("Channel is not open")
        return h

    def _start(self, kind: str, data: bytes = b"") -> bool:
        ok = self._request(kind, data)
        if not ok:
            # As paramiko does: a refused command leaves nothing to talk to.
            self.close()
        return ok

    def exec_command(self, command: str | bytes) -> bool:
        """Run ``command`` on the server; True if the server agreed (if it
        refused, the channel is closed and False returned)."""
        return self._start("exec", Message().add_string(command).asbytes())

    def invoke_shell(self) -> bool:
        """Start an interactive shell; True if the server agreed (else the channel is closed)."""
        return self._start("shell")

    def invoke_subsystem(self, subsystem: str) -> bool:
        """Start a subsystem (e.g. "sftp"); True if the server agreed (else the channel is closed)."""
        return self._start("subsystem", Message().add_string(subsystem).asbytes())

    def get_pty(
        self, term: str = "vt100", width: int = 80, height: int = 24, width_pixels: int = 0, height_pixels: int = 0
    ) -> bool:
        """Ask for a pseudo-terminal; True if the server agreed."""
        m = Message().add_string(term).add_int(width).add_int(height).add_int(width_pixels).add_int(height_pixels)
        m.add_string(b"")
        return self._request("pty-req", m.asbytes())

    def resize_pty(self, width: int = 80, height: int = 24, width_pixels: int = 0, height_pixels: int = 0) -> None:
        """Tell the server the terminal changed size."""
        m = Message().add_int(width).add_int(height).add_int(width_pixels).add_int(height_pixels)
        self._request("window-change", m.asbytes(), want_reply=False)

    def set_environment_variable(self, name: str, value: str) -> None:
        """Set one environment variable for the command (servers may ignore it)."""
        self._request("env", Message().add_string(name).add_string(value).asbytes(), want_reply=False)

    def update_environment(self, environment: dict[str, str]) -> None:
        """Set several environment variables."""
        for name, value in environment.items():
            self.set_environment_variable(name, value)

    def request_forward_agent(self, handler: Callable[[Channel], object] | None) -> bool:
        """Ask the server to forward agent connections; each
        "auth-agent@openssh.com" channel it then opens goes to
        ``handler(channel)`` (None: to ``Transport.accept``)."""
        t = self._live_transport()
        t.set_forward_agent_handler(handler)
        return self._request("auth-agent-req@openssh.com", want_reply=False)

    def request_x11(
        self,
        screen_number: int = 0,
        auth_protocol: str | bytes | None = None,
        auth_cookie: str | bytes | None = None,
        single_connection: bool = False,
        handler: Callable[[Channel, tuple[str, int]], object] | None = None,
    ) -> str | bytes:
        """Ask the server to forward X11 connections of this session back to
        us; each "x11" channel it then opens goes to ``handler(channel,
        (origin_host, origin_port))`` (None: to ``Transport.accept``).

        Without ``auth_cookie`` a random 128-bit cookie (hex) is made up; the
        cookie used is returned, to check and replace in the X11 connections
        that arrive. Raises ``SSHException`` (and closes the channel) if the
        server refuses."""
        if auth_protocol is None:
            auth_protocol = "MIT-MAGIC-COOKIE-1"
        if auth_cookie is None:
            auth_cookie = binascii.hexlify(os.urandom(16))
        m = Message().add_boolean(single_connection).add_string(auth_protocol).add_string(auth_cookie)
        m.add_int(screen_number)
        t = self._live_transport()
        # in place before the reply: the server may open x11 channels at once
        previous = t.set_x11_handler(handler)
        if not self._request("x11-req", m.asbytes()):
            if previous is None:
                t.clear_x11_handler()
            else:
                t.set_x11_handler(previous)
            self.close()
            raise SSHException("Channel closed.")
        return auth_cookie

    def send_exit_status(self, status: int) -> None:
        """Server side: tell the client the command's exit status.

        A client that has already closed the channel (scp does, once it has
        what it wants) is not told, and the caller gets no error, as with
        paramiko: servers call this unconditionally when their command ends.
        """
        try:
            self._request("exit-status", _U32.pack(status & 0xFFFFFFFF), want_reply=False)
        except SSHException:
            if not self.closed:
                raise

    def send_exit_signal(self, signal: str, core_dumped: bool = False, message: str = "") -> None:
        """Server side: tell the client the command died of ``signal`` (e.g. "TERM")."""
        m = Message().add_string(signal).add_boolean(core_dumped).add_string(message).add_string("")
        self._request("exit-signal", m.asbytes(), want_reply=False)

    def exit_status_ready(self) -> bool:
        """Whether the exit status has arrived (or the channel closed without one)."""
        return self.status_event.is_set()

    def recv_exit_status(self) -> int:
        """Wait for the command to finish; its exit status, or -1 if none came."""
        h = self._host
        if h is not None and not self.status_event.is_set():
            with self._lock:
                h.wake_reader()
        self.status_event.wait()
        return self.exit_status

    # -- reading -----------------------------------------------------------------

    def recv_ready(self) -> bool:
        """Whether ``recv`` would return data at once."""
        return self._in.size > 0

    def recv_stderr_ready(self) -> bool:
        """Whether ``recv_stderr`` would return data at once."""
        return self._err.size > 0

    def recv(self, nbytes: int) -> bytes:
        """Up to ``nbytes`` of data; ``b""`` once the stream is closed.

        Raises ``socket.timeout`` if nothing arrives within the timeout.
        """
        return self._recv(self._in, nbytes, False)

    def recv_stderr(self, nbytes: int) -> bytes:
        """Up to ``nbytes`` from the stderr stream; ``b""`` once closed."""
        return self._recv(self._err, nbytes, True)

    def _recv(self, buf: ReceiveBuffer, nbytes: int, stderr: bool) -> bytes:
        if nbytes <= 0:
            return b""
        deadline = None
        h = self._host
        with self._lock:
            while not buf.size:
                if self.eof_received or self.closed or self._read_shut:
                    if self._close_error is not None and not self._read_shut:
                        raise self._close_error.with_traceback(None)
                    return b""
                if self.timeout is not None and deadline is None:
                    deadline = time.monotonic() + self.timeout
                if deadline is not None and deadline <= time.monotonic():
                    raise TimeoutError("timed out")
                if h is not None and h.try_lead():
                    self._lead(h, deadline)
                    continue
                self._wait(deadline, follow=True)
            data = buf.take(nbytes)
            flag = self._err_flag if stderr else self._out_flag
            if flag is not None and not buf.size:
                flag.clear()
            flush = h is not None and not self.closed and h.consumed(self.chanid, len(data))
        if flush:
            assert h is not None
            h.flush()
        return data

    def fileno(self) -> int:
        """An OS-level descriptor that is readable while ``recv`` or
        ``recv_stderr`` would not block (data on either stream, EOF or close),
        for ``select``; never read or write it. Created on first call."""
        with self._lock:
            if self._pipe is None:
                self._pipe = make_pipe()
                self._out_flag, self._err_flag = make_or_pipe(self._pipe)
                if self._in.size:
                    self._out_flag.set()
                if self._err.size:
                    self._err_flag.set()
                if self.eof_received or self.closed or self._read_shut:
                    self._pipe.set_forever()
            return self._pipe.fileno()

    # -- writing -----------------------------------------------------------------

    def set_send_ready_callback(self, fn: Callable[[], object] | None) -> None:
        """Call ``fn()`` whenever the peer's window for this channel grows,
        and once when the channel closes (None: stop). For an event loop
        that sends without blocking: when ``send_ready()`` says False, it
        waits for ``fn`` instead of polling. ``fn`` runs in whichever thread
        reads the socket, outside the transport lock, at most once per batch
        of packets read; it must not block (hand the work to your loop).
        Not in paramiko, whose only answer is to poll ``send_ready``."""
        with self._lock:
            self._send_ready_fn = fn

    def send_ready(self) -> bool:
        """Whether ``send`` would take at least one byte without blocking."""
        h = self._host
        with self._lock:
            if self.closed or self.eof_sent or h is None:
                return True
            return h.send_window(self.chanid) > 0

    def send(self, s: str | bytes | bytearray | memoryview) -> int:
        """Send data; returns how many bytes were taken (maybe fewer than given).

        Raises ``socket.timeout`` if the peer's window stays shut past the timeout.
        """
        return self._send(_as_bytes(s), 0)

    def send_stderr(self, s: str | bytes | bytearray | memoryview) -> int:
        """Send data on the stderr stream (server side)."""
        return self._send(_as_bytes(s), EXTENDED_DATA_STDERR)

    def sendall(self, s: str | bytes | bytearray | memoryview) -> None:
        """Send all of ``s`` (blocks on flow control; honours the timeout)."""
        self._sendall(_as_bytes(s), 0)

    def sendall_stderr(self, s: str | bytes | bytearray | memoryview) -> None:
        """Send all of ``s`` on the stderr stream."""
        self._sendall(_as_bytes(s), EXTENDED_DATA_STDERR)

    def _sendall(self, data: bytes | bytearray | memoryview, ext: int) -> None:
        mv = memoryview(data)
        deadline = self._deadline()
        h = self._host
        if h is None or len(mv) <= SEND_BATCH:
            while mv:
                n = self._send(mv, ext, deadline)
                mv = mv[n:]
            return
        # several batches: the packet writer seals each into the buffer the
        # last one was written from (given back at the end)
        with self._lock:
            h.stream_output(True)
        try:
            while mv:
                n = self._send(mv, ext, deadline)
                mv = mv[n:]
        finally:
            with self._lock:
                h.stream_output(False)

    def _send(self, data: bytes | bytearray | memoryview, ext: int, deadline: float | None = None) -> int:
        h = self._host
        if h is None:
            raise OSError("Socket is closed")
        if not len(data):
            return 0
        chanid = self.chanid
        with self._lock:
            self._hold_for_reply()
            while True:
                if self.closed or self.eof_sent or not h.active:
                    raise self._socket_closed()
                room = h.send_room(chanid)
                if room < 0:
                    raise self._socket_closed()
                if room > 0:
                    break
                if deadline is None and self.timeout is not None:
                    deadline = time.monotonic() + self.timeout
                self._wait(deadline)
            if deadline is None and self.timeout is not None:
                deadline = time.monotonic() + self.timeout
            # the peer's window is open, but is its socket still read?
            h.wait_for_room(deadline)
            if self.closed or not h.active:
                raise self._socket_closed()
            try:
                n = h.send_data(chanid, data[:SEND_BATCH], ext)
            except SSHException as exc:
                raise OSError(f"Socket is closed: {exc}") from exc
        # with a timeout, never block in the socket past it (a peer that
        # stopped reading): the rest goes out through the writer thread
        h.flush(deadline)
        return n

    def _socket_closed(self) -> OSError:
        """The error a write to a closed channel raises (with the reason, if
        the transport dropped a silent peer)."""
        if self._close_error is not None:
            return OSError(f"Socket is closed: {self._close_error}")
        return OSError("Socket is closed")

    # -- closing -------------------------------------------------------------------

    def shutdown(self, how: int) -> None:
        """0: stop reading; 1: stop writing (sends EOF); 2: both."""
        if how in (0, 2):
            self.shutdown_read()
        if how in (1, 2):
            self.shutdown_write()

    def shutdown_read(self) -> None:
        """Discard further incoming data."""
        with self._lock:
            self._read_shut = True
            self._in = ReceiveBuffer()
            self._err = ReceiveBuffer()
            self._set_pipes()
            self._cond.notify_all()

    def shutdown_write(self) -> None:
        """Send EOF: the peer gets no more data from us."""
        h = self._host
        with self._lock:
            self._hold_for_reply()
            if self.eof_sent or self.closed or h is None:
                return
            self.eof_sent = True
            h.send_eof(self.chanid)
        h.flush(self._deadline())

    def close(self) -> None:
        """Close the channel; queued data is flushed first. Further reads
        return EOF and writes fail."""
        h = self._host
        with self._lock:
            self._hold_for_reply()
            if self.closed:
                return
            self.closed = True
            self.active = False
            if h is not None:
                h.send_close(self.chanid)
            self._set_pipes()
            self._cond.notify_all()
        if h is not None:
            h.flush(self._deadline())
        with self._lock:
            pipe, self._pipe = self._pipe, None
            self._out_flag = self._err_flag = None
        if pipe is not None:
            pipe.close()

    # -- files -----------------------------------------------------------------------

    def makefile(self, *params: Any) -> ChannelFile:
        """A file object reading/writing this channel (mode, bufsize as ``open``)."""
        return ChannelFile(self, *params)

    def makefile_stderr(self, *params: Any) -> ChannelStderrFile:
        """A file object on the stderr stream."""
        return ChannelStderrFile(self, *params)

    def makefile_stdin(self, *params: Any) -> ChannelStdinFile:
        """A file object for the command's stdin; closing it sends EOF."""
        return ChannelStdinFile(self, *params)

    def set_combine_stderr(self, combine: bool) -> bool:
        """Merge stderr into the main stream; returns the previous setting."""
        with self._lock:
            old = self.combine_stderr
            self.combine_stderr = bool(combine)
            if combine and self._err.size:
                self._err.move_to(self._in)
                if self._err_flag is not None and self._out_flag is not None:
                    self._out_flag.set()
                    self._err_flag.clear()
        return old


__all__ = ["Channel", "ChannelFile", "ChannelStderrFile", "ChannelStdinFile"]
