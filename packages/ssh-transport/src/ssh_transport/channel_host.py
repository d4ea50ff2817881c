"""What a ``Channel`` needs from the transport it runs on.

``ChannelHost`` is the whole of it: the lock that guards channel state,
the protocol calls a channel makes for itself (each a no-op or a neutral
answer once the connection is gone), writing out what they produced, and
the leader/follower hooks that let a thread waiting in ``recv`` read the
socket itself. ``Channel`` calls nothing else on its transport, so another
driver can host channels by implementing this protocol.
``ThreadedChannelHost`` is the threaded driver's implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .socket_pump import SocketPump


class ChannelHost(Protocol):
    """The transport as a channel sees it. Methods marked "lock held" are
    called with ``lock`` held; the others without it."""

    #: the lock guarding all channel state of this transport (a channel
    #: builds its own condition on it)
    lock: Any

    @property
    def active(self) -> bool:
        """Whether the session is still up."""
        ...

    # -- protocol calls (lock held) -------------------------------------------

    def remote_id(self, chanid: int) -> int:
        """The peer's id for the channel (-1 until confirmed or once gone)."""
        ...

    def send_window(self, chanid: int) -> int:
        """How many bytes the peer will still take (0 if unknown)."""
        ...

    def send_room(self, chanid: int) -> int:
        """Like ``send_window``, but -1 when the channel cannot send at all
        (the connection or the channel is gone, or we sent CLOSE)."""
        ...

    def send_data(self, chanid: int, data: bytes | bytearray | memoryview, ext: int) -> int:
        """Queue what the window allows of ``data``; how much was taken."""
        ...

    def consumed(self, chanid: int, n: int) -> bool:
        """The application took ``n`` bytes: reopen the window. True when
        output is waiting (call ``flush`` after releasing the lock)."""
        ...

    def request(self, chanid: int, kind: str, want_reply: bool, data: bytes) -> bool:
        """Queue a channel request; False if the connection is gone."""
        ...

    def send_eof(self, chanid: int) -> bool:
        """Queue EOF; False if the connection is gone."""
        ...

    def send_close(self, chanid: int) -> None:
        """Queue CLOSE (nothing if the session is down)."""
        ...

    def stream_output(self, on: bool) -> None:
        """A bulk write of several batches starts (True) or ends (False)."""
        ...

    # -- writing ---------------------------------------------------------------

    def flush(self, deadline: float | None = None) -> None:
        """Write what the protocol calls queued (lock not held)."""
        ...

    def wait_for_room(self, deadline: float | None) -> None:
        """(Lock held.) Wait while too much output waits for a peer that does
        not read; ``TimeoutError`` past ``deadline``."""
        ...

    # -- reading: leader/follower (lock held unless said) ------------------------

    def wake_reader(self) -> None:
        """Someone other than a ``recv`` waits for the peer: make sure a
        thread reads the socket."""
        ...

    def try_lead(self) -> bool:
        """Take the socket for the calling ``recv`` thread if nobody reads it;
        then call ``lead`` without the lock."""
        ...

    def lead(self, deadline: float | None) -> None:
        """(Lock not held.) Read the socket once for the calling thread."""
        ...

    def add_follower(self) -> None:
        """A ``recv`` thread starts waiting for data another thread reads."""
        ...

    def drop_follower(self) -> None:
        """A follower stopped waiting without being woken by the host
        (timeout, close)."""
        ...


class ThreadedChannelHost:
    """``ChannelHost`` for the threaded driver: one per transport, shared by
    its channels. It turns channel calls into calls on the transport's
    ``SocketPump`` and on the protocol core the pump drives."""

    __slots__ = ("_pump", "lock")

    def __init__(self, pump: SocketPump) -> None:
        """Host channels on the session ``pump`` reads and writes."""
        self._pump = pump
        self.lock: Any = pump.lock

    @property
    def active(self) -> bool:
        """Whether the session is still up."""
        return self._pump.running

    def remote_id(self, chanid: int) -> int:
        """The peer's id for the channel (-1 until confirmed or once gone)."""
        core = self._pump.core
        return core.channel_remote_id(chanid) if core is not None else -1

    def send_window(self, chanid: int) -> int:
        """How many bytes the peer will still take (0 if unknown)."""
        core = self._pump.core
        return core.channel_send_window(chanid) if core is not None else 0

    def send_room(self, chanid: int) -> int:
        """The send window, or -1 when the channel cannot send at all."""
        core = self._pump.core
        return core.channel_send_room(chanid) if core is not None else -1

    def send_data(self, chanid: int, data: bytes | bytearray | memoryview, ext: int) -> int:
        """Queue what the window allows of ``data``; how much was taken."""
        core = self._pump.core
        if core is None:
            return 0
        return core.send_channel_data(chanid, data, ext)

    def consumed(self, chanid: int, n: int) -> bool:
        """Reopen the window by ``n``; True when output is waiting."""
        core = self._pump.core
        if core is None:
            return False
        core.channel_consumed(chanid, n)
        return core.has_data_to_send()

    def request(self, chanid: int, kind: str, want_reply: bool, data: bytes) -> bool:
        """Queue a channel request; False if the connection is gone."""
        core = self._pump.core
        if core is None:
            return False
        core.channel_request(chanid, kind, want_reply, data)
        return True

    def send_eof(self, chanid: int) -> bool:
        """Queue EOF; False if the connection is gone."""
        core = self._pump.core
        if core is None:
            return False
        core.channel_eof(chanid)
        return True

    def send_close(self, chanid: int) -> None:
        """Queue CLOSE (nothing if the session is down)."""
        core = self._pump.core
        if core is not None and self._pump.running:
            core.close_channel(chanid)

    def stream_output(self, on: bool) -> None:
        """A bulk write of several batches starts (True) or ends (False)."""
        core = self._pump.core
        if core is not None:
            core.stream_output(on)

    def flush(self, deadline: float | None = None) -> None:
        """Write what the protocol calls queued."""
        self._pump.flush(deadline)

    def wait_for_room(self, deadline: float | None) -> None:
        """Wait while too much output waits for a peer that does not read."""
        self._pump.wait_for_room(deadline)

    def wake_reader(self) -> None:
        """Bring a parked reader thread back to the socket."""
        self._pump.wake_reader()

    def try_lead(self) -> bool:
        """Take the socket for the calling ``recv`` thread if it is free."""
        return self._pump.try_lead()

    def lead(self, deadline: float | None) -> None:
        """Read the socket once for the calling thread."""
        self._pump.lead(deadline)

    def add_follower(self) -> None:
        """Count a ``recv`` thread waiting for data another thread reads."""
        self._pump.add_follower()

    def drop_follower(self) -> None:
        """Uncount a follower that stopped waiting without being woken."""
        self._pump.drop_follower()
