"""``ChannelTable``: the channels of one threaded transport, and what the
protocol core's channel events mean for them.

The table owns the open channels by id, the queue ``Transport.accept``
takes from, and the client-side handlers for channels the server opens
(forwarded ports, X11, the agent). ``process_events`` is where the reader
thread (or a thread leading in ``recv``) turns the core's events into
channel state: data and window adjusts in batches under one lock, one
wake-up per channel per batch; any other event goes to the transport's
``dispatch``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import ChannelException, Message, SSHException

from .channel import Channel
from .protocol import events as ev
from .protocol.constants import OPEN_SUCCEEDED

if TYPE_CHECKING:
    import threading

    from .channel_host import ChannelHost
    from .socket_pump import SocketPump
    from .transport import Transport

ForwardHandler = Callable[[Channel, tuple[str, int], tuple[str, int]], object]
X11Handler = Callable[[Channel, tuple[str, int]], object]
AgentHandler = Callable[[Channel], object]


class ChannelTable:
    """The channels of one transport (see the module docstring). Methods
    marked "lock held" expect the transport lock; the handlers (``on_*``)
    run in the thread reading the socket, without it."""

    def __init__(
        self,
        owner: Transport,
        host: ChannelHost,
        pump: SocketPump,
        cond: threading.Condition,
        dispatch: Callable[[ev.Event], None],
    ) -> None:
        """Channels of ``owner`` (what ``Channel.get_transport`` returns),
        hosted by ``host``, on the session ``pump`` drives; ``cond`` is the
        transport's condition (open and accept waits), ``dispatch`` handles
        every event that is not about channel data."""
        self._owner = owner
        self._host = host
        self._pump = pump
        self._lock = pump.lock
        self._cond = cond
        self._dispatch = dispatch
        self._channels: dict[int, Channel] = {}
        self._incoming: deque[Channel] = deque()
        #: client: where channels for ``request_port_forward`` go (None: refused)
        self.forward_handler: ForwardHandler | None = None
        #: client: where "x11" channels go (None: refused)
        self.x11_handler: X11Handler | None = None
        #: client: where "auth-agent@openssh.com" channels go (None: refused)
        self.agent_handler: AgentHandler | None = None

    def __len__(self) -> int:
        return len(self._channels)

    # -- the table (lock held) -----------------------------------------------------

    def new(self, chanid: int, kind: str) -> Channel:
        """(Lock held.) A channel for ``chanid``, attached and registered."""
        chan = Channel(chanid)
        chan.attach(self._owner, self._host)
        chan.kind = kind
        self._channels[chanid] = chan
        return chan

    def get(self, chanid: int) -> Channel | None:
        """(Lock held, or in the reading thread.) The channel with our id ``chanid``."""
        return self._channels.get(chanid)

    def open(
        self, kind: str, extra: bytes, window: int, max_packet: int, deadline: float, why_down: Callable[[], Any]
    ) -> Channel:
        """Open a channel of ``kind`` and wait (until ``deadline``) for the
        peer's answer (see ``Transport.open_channel``); ``why_down()`` is the
        error to raise if the session ends meanwhile."""
        pump = self._pump
        with self._lock:
            core = pump.core
            if core is None or not pump.running:
                raise why_down() or SSHException("SSH session not active")
            chanid = core.open_channel(kind, extra, window, max_packet)
            chan = self.new(chanid, kind)
        pump.flush(deadline)
        with self._lock:
            outcome = pump.wait_until(self._cond, lambda: chan.open_settled, deadline)
            if outcome == "closed":
                raise why_down() or SSHException("Unable to open channel.")
            if outcome == "timeout":
                self._channels.pop(chanid, None)
                core.close_channel(chanid)
                raise SSHException("Timeout opening channel.")
            if chan.open_error is not None:
                raise chan.open_error
            if not chan.active:
                raise why_down() or SSHException("Unable to open channel.")
        return chan

    def queue_incoming(self, chan: Channel) -> None:
        """Hand ``chan`` to ``Transport.accept``."""
        with self._lock:
            self._incoming.append(chan)
            self._cond.notify_all()

    def next_incoming(self) -> Channel | None:
        """(Lock held.) The oldest channel waiting for ``accept``, if any."""
        return self._incoming.popleft() if self._incoming else None

    def close_all(self, error: Exception | None) -> list[Channel]:
        """(Lock held.) The session ended: every channel is closed (``error``:
        why, when the peer went silent). Returns them, for ``notify_closed``
        once the lock is released."""
        chans = list(self._channels.values())
        self._channels.clear()
        for chan in chans:
            chan.deliver_close(error)
        return chans

    def notify_closed(self, chans: list[Channel]) -> None:
        """(Lock not held.) Tell the receivers of closed channels (``b""``)
        and their send-ready callbacks."""
        for chan in chans:
            fn = chan.receiver
            if fn is not None:
                self._deliver(fn, b"")
            self._send_ready(chan)

    # -- events (the reading thread) -----------------------------------------------

    def process_events(self, lead: bool = False) -> ev.Event | None:
        """Handle the core's events; channel data and window adjusts in a
        batch under one lock. A leading thread (``lead``) stops at the first
        other event and returns it, for the reader thread to dispatch."""
        core = self._pump.core
        assert core is not None
        lock = self._lock
        pump = self._pump
        data_ev = ev.ChannelDataReceived
        adj_ev = ev.ChannelWindowAdjusted
        channels = self._channels
        while True:
            woken: set[Channel] = set()
            # data for channels with a receiver, delivered once the lock is released
            calls: list[tuple[Callable[[bytes], object], bytes]] = []
            # send-ready callbacks of channels whose window grew, called likewise
            grown: dict[int, Callable[[], object]] = {}
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
                                ready = chan.send_ready_callback
                                if ready is not None:
                                    grown[chan.chanid] = ready
                            continue
                        break
                finally:
                    # one wake-up per channel per batch, before the lock is released
                    for chan in woken:
                        n = chan.wake()
                        if n:
                            pump.followers_woken(n, lead)
            for fn, data in calls:
                self._deliver(fn, data)
            for ready in grown.values():
                self._call_send_ready(ready)
            if e is None or lead:
                return e
            self._dispatch(e)

    def _send_ready(self, chan: Channel) -> None:
        """Call ``chan``'s send-ready callback, if it has one."""
        fn = chan.send_ready_callback
        if fn is not None:
            self._call_send_ready(fn)

    def _call_send_ready(self, fn: Callable[[], object]) -> None:
        """A send-ready callback (see ``Channel.set_send_ready_callback``);
        its failure must not end the transport."""
        try:
            fn()
        except Exception:
            self._pump.logger.exception("channel send-ready callback failed")

    def _deliver(self, fn: Callable[[bytes], object], data: bytes) -> None:
        """Give channel data to a receiver (see ``Channel.set_receiver``);
        its failure must not end the transport."""
        try:
            fn(data)
        except Exception:
            self._pump.logger.exception("channel data receiver failed")

    def on_open_confirmed(self, e: ev.ChannelOpenConfirmed) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.open_confirmed()
            self._cond.notify_all()

    def on_open_failed(self, e: ev.ChannelOpenFailed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan.open_failed(ChannelException(e.code, e.text))
            self._cond.notify_all()

    def on_eof(self, e: ev.ChannelEOFReceived) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.deliver_eof()
        fn = chan.receiver if chan is not None else None
        if fn is not None:
            self._deliver(fn, b"")

    def on_closed(self, e: ev.ChannelClosed) -> None:
        with self._lock:
            chan = self._channels.pop(e.chanid, None)
            if chan is not None:
                chan.deliver_close()
        if chan is not None:
            self.notify_closed([chan])

    def on_request_replied(self, e: ev.ChannelRequestReplied) -> None:
        with self._lock:
            chan = self._channels.get(e.chanid)
            if chan is not None:
                chan.deliver_reply(e.success)

    def on_exit_request(self, e: ev.ChannelRequestReceived) -> bool:
        """An "exit-status" or "exit-signal" for a channel of ours: recorded
        (True); any other request is left to the caller (False)."""
        chan = self._channels.get(e.chanid)
        if chan is None or e.kind not in ("exit-status", "exit-signal"):
            return False
        with self._lock:
            if e.kind == "exit-status":
                chan.deliver_exit_status(int(e.args[0]))  # type: ignore[call-overload]
            else:
                sig, core_dumped, msg, _lang = e.args
                chan.deliver_exit_signal(str(sig), bool(core_dumped), str(msg))
        return True

    def finish_open(
        self, e: ev.ChannelOpenRequested, code: Any, queue: bool, window: int, max_packet: int
    ) -> Channel | None:
        """Answer the peer's open: accept it with ``window``/``max_packet``
        when ``code`` is ``OPEN_SUCCEEDED`` (then the channel, queued for
        ``accept`` if ``queue``), else refuse it with ``code`` (None)."""
        core = self._pump.core
        assert core is not None
        with self._lock:
            if code != OPEN_SUCCEEDED:
                core.reject_channel(e.chanid, int(code) if isinstance(code, int) else 1, "")
                chan = None
            else:
                chan = self.new(e.chanid, e.kind)
                chan.origin_addr = e.origin
                chan.active = True
                core.accept_channel(e.chanid, window, max_packet)
                if queue:
                    self._incoming.append(chan)
                    self._cond.notify_all()
        self._pump.flush()
        return chan

    def on_client_open_requested(self, e: ev.ChannelOpenRequested, window: int, max_packet: int) -> None:
        """Client: the server opens a channel. Only kinds we asked for are
        accepted (a port forward, X11, the agent), each given to its handler."""
        logger = self._pump.logger
        forward = self.forward_handler
        if e.kind == "forwarded-tcpip" and e.origin is not None and e.dest is not None and forward is not None:
            chan = self.finish_open(e, OPEN_SUCCEEDED, False, window, max_packet)
            if chan is not None:
                try:
                    forward(chan, e.origin, e.dest)
                except Exception:
                    logger.exception("port forward handler failed")
            return
        agent = self.agent_handler
        if e.kind == "auth-agent@openssh.com" and agent is not None:
            chan = self.finish_open(e, OPEN_SUCCEEDED, False, window, max_packet)
            if chan is not None:
                try:
                    agent(chan)
                except Exception:
                    logger.exception("agent forwarding handler failed")
            return
        x11 = self.x11_handler
        if e.kind == "x11" and x11 is not None:
            try:
                m = Message(e.data, strict=True)
                origin = (m.get_text(), m.get_int())
            except SSHException:
                self.finish_open(e, 1, False, window, max_packet)
                return
            chan = self.finish_open(e, OPEN_SUCCEEDED, False, window, max_packet)
            if chan is not None:
                chan.origin_addr = origin
                try:
                    x11(chan, origin)
                except Exception:
                    logger.exception("x11 forwarding handler failed")
            return
        self.finish_open(e, 1, False, window, max_packet)


__all__ = ["AgentHandler", "ChannelTable", "ForwardHandler", "X11Handler"]
