"""A small SSH server built on our ``Transport`` for tests and benchmarks.

``ExecServer`` is a ``ServerInterface`` that allows password, publickey and
keyboard-interactive logins, runs exec requests with ``subprocess`` (piping
stdin/stdout/stderr and sending the exit status), and supports direct-tcpip
(``ssh -L``) and tcpip-forward (``ssh -R``). ``serve()`` listens on a free
loopback port and runs one transport per connection in threads.
"""

from __future__ import annotations

import contextlib
import hmac
import select
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ssh_transport import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    Channel,
    InteractiveQuery,
    ServerInterface,
    Transport,
)


def pipe_socket(chan: Channel, sock: socket.socket) -> None:
    """Copy bytes both ways between a channel and a socket, passing on
    half-closes, until both directions are done."""
    open_ends: list[Any] = [chan, sock]
    try:
        while open_ends:
            r, _, _ = select.select(open_ends, [], [], 30)
            if not r:
                break
            if sock in r:
                data = sock.recv(65536)
                if data:
                    chan.sendall(data)
                else:
                    chan.shutdown_write()
                    open_ends.remove(sock)
            if chan in r:
                data = chan.recv(65536)
                if data:
                    sock.sendall(data)
                else:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_WR)
                    open_ends.remove(chan)
    except OSError:
        pass
    finally:
        chan.close()
        sock.close()


def run_command(chan: Channel, command: bytes) -> None:
    """Run ``command`` in a shell with the channel as its stdin/stdout/stderr."""
    # unbuffered pipes: interactive protocols (scp's acks) wait for each write
    proc = subprocess.Popen(
        command, shell=True, bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def feed_stdin() -> None:
        assert proc.stdin is not None
        try:
            while True:
                data = chan.recv(1 << 20)
                if not data:
                    break
                view = memoryview(data)
                while view:  # a raw pipe may take part of a write
                    written = proc.stdin.write(view)
                    if not written:
                        return
                    view = view[written:]
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def pump_stderr() -> None:
        assert proc.stderr is not None
        while True:
            data = proc.stderr.read(1 << 16)  # raw pipe: one read, whatever is there
            if not data:
                break
            chan.sendall_stderr(data)

    threads = [threading.Thread(target=feed_stdin, daemon=True), threading.Thread(target=pump_stderr, daemon=True)]
    for t in threads:
        t.start()
    try:
        while True:
            data = proc.stdout.read(1 << 20)
            if not data:
                break
            chan.sendall(data)
        threads[1].join(30)
        status = proc.wait(60)
        chan.send_exit_status(status)
        chan.shutdown_write()
    except OSError:
        proc.kill()
        proc.wait(10)
    finally:
        chan.close()
        threads[0].join(5)


@dataclass
class ExecServer(ServerInterface):
    """A permissive test server: see the module docstring."""

    password: str = "secret"
    authorized: Sequence[Any] = ()
    allowed: str = "publickey,password,keyboard-interactive"
    kbd_rounds: int = 1
    events: list[str] = field(default_factory=list)
    forwards: dict[tuple[str, int], socket.socket] = field(default_factory=dict)
    transport: Transport | None = None

    def get_allowed_auths(self, username: str) -> str:
        return self.allowed

    def check_auth_password(self, username: str, password: str) -> int:
        self.events.append("password")
        return AUTH_SUCCESSFUL if hmac.compare_digest(password.encode(), self.password.encode()) else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        self.events.append(f"publickey:{key.get_name()}")
        return AUTH_SUCCESSFUL if any(key == k for k in self.authorized) else AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> InteractiveQuery:
        self._round = 0
        return InteractiveQuery("login", "answer the questions", ("Password: ", False))

    def check_auth_interactive_response(self, responses: list[str]) -> int | InteractiveQuery:
        if len(responses) != 1 or responses[0] != self.password:
            return AUTH_FAILED
        self._round += 1
        if self._round < self.kbd_rounds:
            return InteractiveQuery("login", f"round {self._round + 1}", ("Password again: ", False))
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        self.events.append(f"exec:{command.decode(errors='replace')}")
        threading.Thread(target=run_command, args=(channel, command), daemon=True).start()
        return True

    def check_channel_pty_request(self, channel: Channel, *args: Any) -> bool:
        return True

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        self.events.append(f"env:{name!s}")
        return True

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        self.events.append(f"direct-tcpip:{destination[1]}")
        t = self.transport
        assert t is not None

        def connect() -> None:
            chan = t.accept(10)
            while chan is not None and chan.kind != "direct-tcpip":
                chan = t.accept(10)
            if chan is None:
                return
            try:
                sock = socket.create_connection(destination, timeout=10)
            except OSError:
                chan.close()
                return
            pipe_socket(chan, sock)

        threading.Thread(target=connect, daemon=True).start()
        return OPEN_SUCCEEDED

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        t = self.transport
        assert t is not None
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            lsock.bind(("127.0.0.1", port))
        except OSError:
            lsock.close()
            return False
        lsock.listen(5)
        bound = lsock.getsockname()[1]
        self.forwards[(address, bound)] = lsock
        self.events.append(f"tcpip-forward:{bound}")

        def serve() -> None:
            while True:
                try:
                    conn, peer = lsock.accept()
                except OSError:
                    return
                try:
                    chan = t.open_forwarded_tcpip_channel(peer, (address, bound))
                except Exception:
                    conn.close()
                    continue
                threading.Thread(target=pipe_socket, args=(chan, conn), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return bound

    def cancel_port_forward_request(self, address: str, port: int) -> None:
        lsock = self.forwards.pop((address, port), None)
        if lsock is not None:
            lsock.close()


@dataclass
class RunningServer:
    """Where ``serve()`` listens and the transports it started."""

    host: str
    port: int
    transports: list[Transport]
    servers: list[ExecServer]


@contextlib.contextmanager
def serve(host_keys: Sequence[Any], make_server: Any = ExecServer, configure: Any = None) -> Iterator[RunningServer]:
    """Listen on a free loopback port; each connection gets a server
    ``Transport`` with ``host_keys`` and a fresh ``make_server()``."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(50)
    running = RunningServer("127.0.0.1", lsock.getsockname()[1], [], [])
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            t = Transport(conn)
            for k in host_keys:
                t.add_server_key(k)
            if configure is not None:
                configure(t)
            server = make_server()
            server.transport = t
            running.transports.append(t)
            running.servers.append(server)
            threading.Thread(target=_start, args=(t, server), daemon=True).start()

    def _start(t: Transport, server: ExecServer) -> None:
        with contextlib.suppress(Exception):
            t.start_server(server=server)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            lsock.shutdown(socket.SHUT_RDWR)
        lsock.close()
        for t in running.transports:
            t.close()
        for s in running.servers:
            for ls in getattr(s, "forwards", {}).values():  # ExecServer's listeners
                ls.close()
        thread.join(5)
