"""``Listener``: an accept loop for servers built on ``Transport`` that keeps
serving under attack.

It asks ``AdmissionControl`` about every connection before giving it a thread
(sshd's MaxStartups and per-source limits), hangs up on connections that stay
unauthenticated past the login grace time, and survives running out of
descriptors: on EMFILE/ENFILE/ENOBUFS/ENOMEM it backs off (50 ms doubling to
1 s) while established sessions carry on, and accepts again once descriptors
are free. Usage::

    def handle(conn: Connection) -> None:
        t = Transport(conn.sock)
        conn.watch(t)  # leaves the startup pool when t authenticates
        t.add_server_key(key)
        t.start_server(server=MyServer())
        ...  # return when the session is over

    Listener(socket.create_server(("", 2222)), handle).serve_forever()
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .admission import Admission, AdmissionControl, AdmissionRefused, ConnectionLimits

__all__ = ["Connection", "Listener", "WatchedTransport"]

# accept() failing for want of descriptors or memory: wait, then try again
_RESOURCE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM") if hasattr(errno, name)
)
# accept() failing because of that one connection (or a signal): go on at once
_TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ECONNABORTED", "ECONNRESET", "EPROTO", "EPERM", "EINTR", "EAGAIN", "EWOULDBLOCK", "ETIMEDOUT")
    if hasattr(errno, name)
)
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0
# how often pending connections are checked for authentication and deadlines
_MONITOR_INTERVAL = 0.1
# a watched transport hangs up on its own at the grace time (with a
# DISCONNECT); the listener cuts the socket this much later if it did not
_GRACE_MARGIN = 1.0


class WatchedTransport(Protocol):
    """What ``Connection.watch`` needs of a transport (``Transport`` has it)."""

    login_grace_time: float | None

    def is_authenticated(self) -> bool:
        """Whether the client has logged in (it then leaves the startup count)."""
        ...

    def close(self) -> None:
        """End the session (its login time ran out)."""
        ...


class Connection:
    """One accepted connection, handed to the handler: the socket, the peer's
    address and its place in the admission counts."""

    def __init__(self, sock: socket.socket, address: Any, admission: Admission, deadline: float | None) -> None:
        self.sock = sock
        self.address = address
        self.admission = admission
        # monotonic time by which the client must have authenticated
        self.deadline = deadline
        self.transport: WatchedTransport | None = None

    def watch(self, transport: WatchedTransport, grace_time: float | None = None) -> None:
        """Follow ``transport``: the connection leaves the startup pool when
        it authenticates. The transport's ``login_grace_time`` is set to the
        time left (so it says goodbye itself) unless ``grace_time`` is given."""
        if self.deadline is not None:
            transport.login_grace_time = (
                grace_time if grace_time is not None else max(0.0, self.deadline - time.monotonic())
            )
        self.transport = transport

    def mark_authenticated(self) -> None:
        """For servers that authenticate without a watched transport."""
        self.admission.mark_authenticated()

    @property
    def authenticated(self) -> bool:
        """Whether the client has logged in (as far as the listener knows)."""
        return self.admission.authenticated

    def close(self) -> None:
        """Close the watched transport (it sends what it still owes the
        peer), then the socket."""
        if self.transport is not None:
            try:
                self.transport.close()
            except Exception:  # a transport half torn down: the socket still goes
                pass
        try:
            self.sock.close()
        except OSError:
            pass

    def hang_up(self) -> None:
        """End the connection now: close the watched transport, else shut the
        socket down so whoever reads it sees end-of-file."""
        if self.transport is not None:
            try:
                self.transport.close()
            except Exception:  # a transport half torn down: the socket still goes
                pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


ConnectionHandler = Callable[[Connection], None]


class Listener:
    """Accepts on a listening socket and runs ``handler(connection)`` in a
    thread per admitted connection; the connection counts until the handler
    returns (then its socket is closed). The listening socket stays the
    caller's to close."""

    def __init__(
        self,
        sock: socket.socket,
        handler: ConnectionHandler,
        limits: ConnectionLimits | None = None,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.sock = sock
        self.handler = handler
        self.admission = AdmissionControl(limits)
        self.logger = logger or logging.getLogger("paramiko.listener")
        # created now, while descriptors are surely available
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._pending: list[Connection] = []
        self._pending_cond = threading.Condition()
        self._monitor: threading.Thread | None = None
        self._backoff = 0.0

    @property
    def limits(self) -> ConnectionLimits:
        """The limits in force."""
        return self.admission.limits

    # -- the accept loop -----------------------------------------------------------

    def serve_forever(self) -> None:
        """Accept until ``shutdown``. Running out of descriptors, memory or
        threads, and connections that die in the queue, never end it; an
        error that means the listening socket itself is broken is raised."""
        self._stopped.clear()
        self.sock.setblocking(False)
        self._monitor = threading.Thread(target=self._watch_pending, name="listener-monitor", daemon=True)
        self._monitor.start()
        try:
            while not self._stop.is_set():
                for key, _events in self._selector.select():
                    if key.fileobj is self.sock and not self._stop.is_set():
                        self._accept_once()
        finally:
            self._stop.set()  # the monitor goes too; transports keep their own grace timers
            with self._pending_cond:
                self._pending_cond.notify_all()
            self._stopped.set()

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Stop accepting (established connections go on) and free the
        listener's own descriptors; waits up to ``timeout`` for the loop."""
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        with self._pending_cond:
            self._pending_cond.notify_all()
        self._stopped.wait(timeout)
        if self._stopped.is_set():
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _accept_once(self) -> None:
        """Take one connection off the queue and admit or drop it."""
        try:
            sock, address = self.sock.accept()
        except OSError as exc:
            self._accept_failed(exc)
            return
        if self._backoff:
            self.logger.info("accepting again")
        self._backoff = 0.0
        sock.setblocking(True)
        try:
            admission = self.admission.admit(address)
        except AdmissionRefused as refused:
            self.logger.info("drop connection from %s: %s", _peer(address), refused.reason)
            sock.close()
            return
        grace = self.limits.login_grace_time
        conn = Connection(sock, address, admission, None if grace is None else time.monotonic() + grace)
        thread = threading.Thread(target=self._run, args=(conn,), name=f"conn {_peer(address)}", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # no thread to be had: as good as out of descriptors
            self.logger.warning("cannot serve %s: %s", _peer(address), exc)
            admission.release()
            sock.close()
            self._pause()
            return
        with self._pending_cond:
            self._pending.append(conn)
            self._pending_cond.notify_all()

    def _accept_failed(self, exc: OSError) -> None:
        """Decide what a failed accept() means for the loop."""
        if isinstance(exc, (BlockingIOError, InterruptedError)) or exc.errno in _TRANSIENT_ERRNOS:
            return
        if exc.errno in _RESOURCE_ERRNOS:
            if not self._backoff:
                self.logger.warning("accept failed (%s); backing off while sessions go on", exc.strerror or exc)
            self._pause()
            return
        if self._stop.is_set():
            return
        raise exc

    def _pause(self) -> None:
        """Wait before the next accept: 50 ms, doubling to 1 s, or until shutdown."""
        self._backoff = min(BACKOFF_MAX, self._backoff * 2) if self._backoff else BACKOFF_FIRST
        self._stop.wait(self._backoff)

    def _run(self, conn: Connection) -> None:
        """Run the handler; whatever happens, the connection stops counting."""
        try:
            self.handler(conn)
        except Exception:
            self.logger.exception("connection from %s failed", _peer(conn.address))
        finally:
            conn.admission.release()
            conn.close()

    # -- unauthenticated connections ----------------------------------------------------

    def _watch_pending(self) -> None:
        """Move connections that logged in out of the startup pool and hang up
        on those past their login deadline; sleeps while none are pending."""
        while not self._stop.is_set():
            with self._pending_cond:
                if not self._pending:
                    self._pending_cond.wait()
                    continue
            self._check_pending()
            with self._pending_cond:
                self._pending = [c for c in self._pending if not (c.authenticated or c.admission.released)]
                self._pending_cond.wait(_MONITOR_INTERVAL)

    def _check_pending(self) -> None:
        """Check every pending connection once. A method of its own so that
        no reference to a connection outlives the check (the monitor then
        sleeps): a closed connection's transport is freed when its handler
        returns, not when the next connection comes."""
        with self._pending_cond:
            pending = list(self._pending)
        now = time.monotonic()
        for conn in pending:
            self._check(conn, now)

    def _check(self, conn: Connection, now: float) -> None:
        """One pending connection: logged in, or out of time?"""
        if conn.admission.released:
            return
        transport = conn.transport
        if transport is not None:
            try:
                if transport.is_authenticated():
                    conn.mark_authenticated()
                    return
            except Exception:  # a transport torn down under us: its handler will return
                return
        if conn.deadline is None:
            return
        margin = _GRACE_MARGIN if transport is not None else 0.0
        if now >= conn.deadline + margin:
            self.logger.info("%s did not authenticate in time; hanging up", _peer(conn.address))
            conn.hang_up()
            # out of the startup pool now, even if the handler is slow to return
            conn.admission.release()


def _peer(address: Any) -> str:
    """An address for the log."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]} port {address[1]}"
    return str(address) or "local"
