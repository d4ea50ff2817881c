"""A TCP relay that can go silent, for timeout and keepalive tests.

``StallRelay(target)`` listens on a free loopback port and forwards each
connection to ``target`` both ways until ``stall()``: from then on it reads
nothing and writes nothing, while every connection stays open, as a peer (or
a network path) that has gone quiet. The sender's socket then fills up, as
it does in front of a peer that stopped reading. ``resume()`` forwards again.
Plain threads and sockets; nothing is signalled.

``relayed_server()`` puts our server ``Transport`` (password "pw", sessions
and exec accepted, nothing run) behind such a relay.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType

from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, Channel, ServerInterface, Transport
from ssh_wire import Message, SSHException
from support.corepair import host_key

# Small kernel buffers on the relay's side, so that a stalled relay makes a
# sender block after a few hundred KiB rather than several MiB.
_RELAY_BUFFER = 64 * 1024


class StallRelay:
    """Forward loopback connections to ``target`` until stalled."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RELAY_BUFFER)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.host, self.port = self._listener.getsockname()[:2]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, name="stall-relay", daemon=True).start()

    def __enter__(self) -> StallRelay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def stall(self) -> None:
        """Stop reading and writing on every connection (they stay open)."""
        self._forwarding.clear()

    def resume(self) -> None:
        """Forward again."""
        self._forwarding.set()

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closed.set()
        self._forwarding.set()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in [self._listener, *socks]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                down, _ = self._listener.accept()
                up = socket.create_connection(self.target, timeout=10)
            except OSError:
                return
            up.settimeout(None)
            up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RELAY_BUFFER)
            with self._lock:
                if self._closed.is_set():
                    down.close()
                    up.close()
                    return
                self._socks += [down, up]
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Copy ``src`` to ``dst`` while forwarding; hold still while stalled."""
        try:
            while not self._closed.is_set():
                if not self._forwarding.wait(0.05):
                    continue
                if not select.select([src], [], [], 0.05)[0]:
                    continue
                data = src.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                while not self._forwarding.wait(0.05):  # read just before a stall: hold it
                    if self._closed.is_set():
                        return
                dst.sendall(data)
        except (OSError, ValueError):
            return


class QuietServer(ServerInterface):
    """Password "pw" for anyone; sessions; exec accepted but nothing runs (the
    channel stays quiet); the names of global requests are recorded."""

    def __init__(self) -> None:
        self.globals: list[str] = []

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if password == "pw" else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        return True

    def check_global_request(self, kind: str, msg: Message) -> bool:
        self.globals.append(kind)
        return False


@dataclass
class Setup:
    """The relay in front, and the server transports (and interfaces) behind it."""

    relay: StallRelay
    servers: list[Transport] = field(default_factory=list)
    server_ifaces: list[QuietServer] = field(default_factory=list)

    def connect(self, auth: bool = True) -> Transport:
        """A client transport through the relay, negotiated (and logged in
        as the ``QuietServer``'s user)."""
        ct = Transport(socket.create_connection((self.relay.host, self.relay.port)))
        ct.start_client(timeout=10)
        if auth:
            ct.auth_password("bob", "pw")
        return ct


@contextlib.contextmanager
def relayed_server(window: int | None = None) -> Iterator[Setup]:
    """Our server on a loopback port behind a ``StallRelay``, a transport per
    connection; ``window`` sets its channel window (how much a client may
    send that it has not read)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    relay = StallRelay(lsock.getsockname()[:2])
    setup = Setup(relay)

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            st = Transport(conn)
            st.add_server_key(host_key("ed25519"))
            if window is not None:
                st.default_window_size = window
            iface = QuietServer()
            setup.servers.append(st)
            setup.server_ifaces.append(iface)
            threading.Thread(target=_start_server, args=(st, iface), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    try:
        yield setup
    finally:
        relay.close()
        with contextlib.suppress(OSError):
            lsock.shutdown(socket.SHUT_RDWR)
        lsock.close()
        for st in setup.servers:
            st.close()


def _start_server(st: Transport, iface: QuietServer) -> None:
    with contextlib.suppress(SSHException, OSError):
        st.start_server(server=iface)
