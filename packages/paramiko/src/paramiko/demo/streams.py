"""Non-blocking copies between a session's channel and its process's pipes.

Both classes move bytes without ever waiting: the connection's one session
thread (see ``loop.py``) runs many of them, so none may block it. What one
holds is bounded: ``OutputPipe`` reads only once the last read went out,
and ``StdinFeed`` keeps at most what it held back to write in one call plus
what one socket read delivered when the pipe filled up; past that the data
stays in the channel, whose receive window then closes.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

# the most the client's stdin feed takes from the channel at once
CHUNK = 256 * 1024
# what an output buffer starts at, and what it grows to for a stream (the
# command's pipe holds 1 MiB): one read, and one ``sendall`` whose AES-GCM
# batches reuse one buffer, per MiB rather than per 256 KiB batch (each
# ``send`` call seals into a fresh zero-filled buffer)
START_CHUNK = 16 * 1024
STREAM_CHUNK = 1024 * 1024
# Bulk stdin (packets of at least HOLD_MIN bytes, OpenSSH sends 32 KiB) is
# held and written HOLD bytes at a time; what a pause leaves held is written
# by the session thread within TICK seconds (see ``StdinFeed.receive``).
HOLD_MIN = 16 * 1024
HOLD = 256 * 1024
TICK = 0.005


class SessionChannel(Protocol):
    """What the pumps use of ``ssh_transport.Channel``."""

    eof_received: bool
    closed: bool

    @property
    def out_window_size(self) -> int: ...

    def sendall(self, s: bytes | memoryview) -> None: ...

    def sendall_stderr(self, s: bytes | memoryview) -> None: ...

    def recv(self, nbytes: int) -> bytes: ...

    def recv_ready(self) -> bool: ...

    def set_receiver(self, fn: Callable[[bytes], object] | None) -> list[bytes]: ...

    def set_send_ready_callback(self, fn: Callable[[], object] | None) -> None: ...


def set_nonblocking(fd: int) -> None:
    """Reads and writes on ``fd`` return at once instead of waiting."""
    os.set_blocking(fd, False)


class OutputPipe:
    """One of the process's output streams (stdout, stderr or a pty's
    master) and the channel stream its bytes go to.

    Reads go into one reused buffer: ``Channel.sendall`` seals what it takes
    before it returns, so no bytes object is made per read. The buffer starts
    small (stderr, interactive output) and grows to ``STREAM_CHUNK`` when reads
    fill it (a stream). Nothing more is read while the peer's window holds back
    part of the last read: the process then blocks on a full pipe, which is
    the flow control."""

    # what ``pump`` reports
    IDLE = 0  # nothing to read now
    MORE = 1  # a full buffer went out: more is probably waiting
    BLOCKED = 2  # the peer's window is shut with bytes still unsent
    EOF = 3  # the stream ended and everything went out

    def __init__(self, fd: int, channel: SessionChannel, stderr: bool = False) -> None:
        self.fd = fd
        self._channel = channel
        self._sendall = channel.sendall_stderr if stderr else channel.sendall
        self._buf = bytearray(START_CHUNK)
        self._unsent: memoryview | None = None
        self._ended = False

    @property
    def ended(self) -> bool:
        """Whether the stream reached EOF with all of it sent."""
        return self._ended and self._unsent is None

    def pump(self) -> int:
        """Send what is unsent, then one read's worth; never waits. Raises
        ``OSError`` when the channel can no longer send."""
        if self._unsent is not None and not self._flush():
            return self.BLOCKED
        if self._ended:
            return self.EOF
        buf = self._buf
        try:
            n = os.readv(self.fd, [buf])
        except BlockingIOError:
            return self.IDLE
        except OSError:  # EIO: a pty whose other side is closed, which is its EOF
            n = 0
        if not n:
            self._ended = True
            return self.EOF
        full = n == len(buf)
        self._unsent = memoryview(buf)[:n]
        if full and n < STREAM_CHUNK:
            self._buf = bytearray(min(STREAM_CHUNK, 4 * n))  # the old one goes with _unsent
        if not self._flush():
            return self.BLOCKED
        return self.MORE if full else self.IDLE

    def close(self) -> None:
        """Close the pipe (a process still writing gets EPIPE); nothing more is sent."""
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        self._ended = True
        self._unsent = None

    def _flush(self) -> bool:
        """Send what the window allows of the unsent bytes; True when all went.
        Only this thread sends on the channel, so the window can only grow
        between the look at it and ``sendall``, which therefore never waits
        for it (a closed channel makes it raise)."""
        view = self._unsent
        assert view is not None
        channel = self._channel
        room = channel.out_window_size
        if room <= 0 and not channel.closed:
            return False
        if room < len(view):
            self._sendall(view[: max(room, 1)])
            self._unsent = view[max(room, 1) :]
            return False
        self._sendall(view)
        self._unsent = None
        return True


class StdinFeed:
    """Copies what the client sends into the process's stdin.

    While the pipe takes everything, the channel hands each packet straight
    to ``receive`` (``Channel.set_receiver``) in the thread that read it from
    the socket, which writes it to the pipe: no thread hand-off. When the
    pipe is full the rest of that packet (and of the same socket read) waits
    here, the receiver is taken off, and further data stays in the channel,
    whose receive window then closes; ``drain`` (the session thread, once the
    pipe is writable) moves it on and puts the receiver back. EOF from the
    client closes the pipe once everything before it was written; a process
    that closed its stdin makes the rest be discarded, as sshd does.
    """

    def __init__(self, fd: int, channel: SessionChannel, wake: Callable[[], None]) -> None:
        """``fd``: the pipe's (non-blocking) write end, owned from now on;
        ``wake``: called (from the socket thread) when ``wants_write`` or
        ``finished`` may have changed."""
        self.fd = fd
        self._channel = channel
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: deque[memoryview] = deque()
        # bulk packets received but not yet written
        self._held: list[bytes] = []
        self._held_size = 0
        self._recent = False  # held something since the last tick
        self._ticking = False  # the session thread calls ``tick``
        self._eof = False
        self._broken = False
        self._closed = False

    def start(self) -> None:
        """Begin copying (first what the channel buffered already)."""
        with self._lock:
            self._resume()
        self._wake()

    @property
    def wants_write(self) -> bool:
        """Whether bytes wait for room in the pipe (select it for writing)."""
        return bool(self._pending) and not self._closed

    @property
    def finished(self) -> bool:
        """Whether the client's stream ended and all of it was written (or
        discarded): ``close`` may be called."""
        return (self._eof and not self._pending and not self._held) or self._broken

    @property
    def pending_size(self) -> int:
        """Bytes held here waiting for the pipe."""
        with self._lock:
            return sum(map(len, self._pending))

    @property
    def ticking(self) -> bool:
        """Whether ``tick`` should be called every ``TICK`` seconds."""
        return self._ticking

    def receive(self, data: bytes) -> None:
        """The channel's receiver: one packet (``b""``: EOF or close).

        Bulk packets are held and written ``HOLD`` bytes at a time in one
        ``writev``: written one by one, each 32 KiB packet of a stream woke
        the command, and an upload through ``cat`` cost ~15% more CPU per MB.
        A small packet (typing, the end of what the client wrote) is written
        at once, with what is held before it; a stream that pauses has its
        held tail written by the session thread's next ``tick``."""
        with self._lock:
            if self._closed or self._broken:
                return
            if not data:
                self._eof = True
                self._write_held()
                self._wake()
                return
            if self._pending:
                # the pipe filled earlier in this socket read: keep the order
                self._pending.append(memoryview(data))
                return
            self._held.append(data)
            self._held_size += len(data)
            if len(data) >= HOLD_MIN and self._held_size < HOLD:
                self._recent = True
                if not self._ticking:
                    self._ticking = True
                    self._wake()
            elif not self._write_held() or self._broken:
                self._wake()  # to watch the pipe, or to close it

    def tick(self) -> None:
        """(Session thread, every ``TICK`` while ``ticking``.) Write what a
        pause in the stream left held; stop ticking after a tick with nothing
        new held. While the socket thread is in ``receive`` the stream has
        not paused: nothing to do (and no waiting for its lock)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if not self._pending and not self._closed:
                self._write_held()
            if not self._recent:
                self._ticking = False
            self._recent = False
        finally:
            self._lock.release()

    def drain(self) -> None:
        """(The pipe is writable.) Write what waits, then what the channel
        buffered meanwhile; once all went in, go back to the receiver."""
        with self._lock:
            if not self._closed and not self._broken and self._write_pending():
                self._resume()

    def _resume(self) -> None:
        """(Lock held, nothing pending.) Move what the channel buffered into
        the pipe while it takes it (``recv`` reopens the window only by what
        it returns, so at most ``CHUNK`` more is held here), then take the
        packets through the receiver again."""
        channel = self._channel
        while channel.recv_ready():
            if not self._offer(channel.recv(CHUNK)):
                return
        self._take_buffered(channel.set_receiver(self.receive))
        if channel.eof_received:
            self._eof = True  # (arrived without the receiver: it will not hear of it)

    def close(self) -> None:
        """Close the pipe (the process sees EOF) and stop receiving; what
        still arrives is discarded."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pending.clear()
            self._held = []
            self._held_size = 0
            self._ticking = False
            try:
                os.close(self.fd)
            except OSError:
                pass
        # reopens the window for what arrives: it is thrown away, as a
        # process that stopped reading would have it
        self._channel.set_receiver(self._discard)

    def _discard(self, data: bytes) -> None:
        """The receiver once the pipe is closed: drop data; report the close."""
        if not data:
            self._wake()

    def _write_held(self) -> bool:
        """(Lock held, nothing pending.) Write the held packets in one call
        (see ``_write_now``). True if all went."""
        held = self._held
        if not held:
            return True
        self._held = []
        self._held_size = 0
        return self._write_now(held)

    def _take_buffered(self, chunks: list[bytes]) -> None:
        """(Lock held.) What the channel had buffered when the receiver was
        set: written (or held) in order, before anything the receiver gets."""
        for data in chunks:
            if self._pending:
                self._pending.append(memoryview(data))
            else:
                self._offer(data)

    def _offer(self, data: bytes) -> bool:
        """(Lock held, nothing pending.) Write ``data`` (see ``_write_now``).
        True if all went."""
        return self._write_now([data])

    def _write_now(self, chunks: list[bytes]) -> bool:
        """(Lock held, nothing pending.) Write ``chunks`` in one call; keep
        what the pipe did not take and switch to buffering in the channel.
        True if all went (or the pipe is broken: nothing more can go)."""
        try:
            n = os.writev(self.fd, chunks)
        except BlockingIOError:
            n = 0
        except OSError:  # EPIPE: the process closed its stdin or exited
            self._broken = True
            self._pending.clear()
            return True
        if n == sum(map(len, chunks)):
            return True
        for data in chunks:
            if n >= len(data):
                n -= len(data)
            else:
                self._pending.append(memoryview(data)[n:])
                n = 0
        self._channel.set_receiver(None)  # later data waits in the channel
        return False

    def _write_pending(self) -> bool:
        """(Lock held.) Write held bytes while the pipe takes them; True once none are left."""
        pending = self._pending
        while pending:
            view = pending[0]
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                return False
            except OSError:
                self._broken = True
                pending.clear()
                return False
            if n < len(view):
                pending[0] = view[n:]
                return False
            pending.popleft()
        return True
