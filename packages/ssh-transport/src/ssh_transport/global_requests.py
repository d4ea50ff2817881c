"""``GlobalRequests``: SSH global requests of one threaded transport, ours
and the peer's (RFC 4254 section 4).

The peer answers our requests that want a reply in the order we sent them,
so each one keeps a slot in a queue and the reply fills the oldest slot;
keepalive probes take slots too. The peer's requests are answered here,
by the server policy on a server and by a refusal on a client (after
noting a ``hostkeys-00@openssh.com`` announcement).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ssh_wire import Message, SSHException

from .protocol import events as ev
from .server_policy import HOSTKEYS_ANNOUNCE, read_key_blobs

if TYPE_CHECKING:
    from .socket_pump import SocketPump

#: answers the peer's request: (success, reply data)
Answer = Callable[[ev.GlobalRequestReceived], tuple[bool, bytes]]


class GlobalRequests:
    """Sends global requests and matches replies; answers the peer's."""

    def __init__(self, pump: SocketPump, cond: threading.Condition, why_down: Callable[[], Exception | None]) -> None:
        """Requests on the session ``pump`` drives; ``cond`` is the
        transport's condition, ``why_down()`` the error that ended it."""
        self._pump = pump
        self._lock = pump.lock
        self._cond = cond
        self._why_down = why_down
        self._slots: deque[list[Any]] = deque()
        #: answers the peer's requests (a server's policy); None refuses them
        self.answer: Answer | None = None
        #: client: the host key blobs the server announced after login
        #: (``hostkeys-00@openssh.com``, OpenSSH's UpdateHostKeys), or None
        self.announced_host_keys: list[bytes] | None = None

    def expect_reply(self) -> None:
        """(Lock held.) A request that wants a reply was queued by someone
        else (a keepalive probe): keep its place in the order of replies."""
        self._slots.append([None])

    def send(self, kind: str, data: Any = None, wait: bool = True, timeout: float | None = None) -> Message | None:
        """Send a global request (see ``Transport.global_request``)."""
        body = b""
        if data is not None:
            body = Message().add(*data).asbytes()
        slot: list[Any] = [None]
        pump = self._pump
        with self._lock:
            core = pump.core
            if core is None or not pump.running:
                raise self._why_down() or SSHException("SSH session not active")
            core.global_request(kind, wait, body)
            if wait:
                self._slots.append(slot)
        deadline = None if timeout is None else time.monotonic() + timeout
        pump.flush(deadline)
        if not wait:
            return None
        with self._lock:
            if pump.wait_until(self._cond, lambda: slot[0] is not None, deadline) != "done":
                return None
        reply = slot[0]
        if not isinstance(reply, ev.GlobalReplyReceived) or not reply.success:
            return None
        return Message(reply.data)

    def fail_all(self) -> None:
        """(Lock held.) The session ended: every request waiting for a reply fails."""
        for slot in self._slots:
            slot[0] = False

    # -- events (the reading thread) -------------------------------------------------

    def on_reply(self, e: ev.GlobalReplyReceived) -> None:
        with self._lock:
            if self._slots:
                self._slots.popleft()[0] = e
            self._cond.notify_all()

    def on_request(self, e: ev.GlobalRequestReceived) -> None:
        ok, data = False, b""
        answer = self.answer
        if answer is None and e.name == HOSTKEYS_ANNOUNCE:
            try:
                self.announced_host_keys = read_key_blobs(e.data)
            except SSHException:
                self._pump.logger.info("malformed hostkeys-00@openssh.com announcement ignored")
        if answer is not None:
            try:
                ok, data = answer(e)
            except SSHException:
                ok, data = False, b""
        if e.want_reply:
            core = self._pump.core
            assert core is not None
            with self._lock:
                core.global_request_reply(ok, data)
            self._pump.flush()


__all__ = ["Answer", "GlobalRequests"]
