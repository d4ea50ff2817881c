"""The accept loop with limits (``ssh_transport.listener``/``admission``):
sshd's MaxStartups with random early drop, per-source shares and caps, the
login deadline, and surviving failed accept() calls (EMFILE and friends)."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport
from ssh_transport.admission import AdmissionControl, AdmissionRefused, ConnectionLimits, parse_max_startups
from ssh_transport.listener import Connection, Listener

HOST_KEY = Ed25519Key.generate()

# -- the numbers -------------------------------------------------------------------


def test_parse_max_startups() -> None:
    assert parse_max_startups("10:30:100") == (10, 30, 100)
    assert parse_max_startups("5") == (5, 100, 5)
    for bad in ("", "a:b:c", "10:30", "0", "10:0:100", "10:30:5", "10:101:100"):
        with pytest.raises(ValueError):
            parse_max_startups(bad)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        ConnectionLimits(max_startups=(10, 30, 5))
    with pytest.raises(ValueError):
        ConnectionLimits(per_source_max_startups=0)
    with pytest.raises(ValueError):
        ConnectionLimits(per_source_netblock=(33, 128))


def test_drop_probability_rises_linearly_from_start_to_full() -> None:
    limits = ConnectionLimits()  # sshd's 10:30:100
    assert [limits.drop_probability(n) for n in (0, 9, 10, 55, 99, 100, 500)] == [0, 0, 30, 65, 99, 100, 100]
    hard = ConnectionLimits(max_startups=(4, 100, 4))
    assert [hard.drop_probability(n) for n in (3, 4)] == [0, 100]


def test_sources_are_masked_to_the_netblock() -> None:
    exact = ConnectionLimits()
    assert exact.source_of(("192.0.2.7", 1)) == "192.0.2.7/32"
    assert exact.source_of(("::ffff:192.0.2.7", 1, 0, 0)) == "192.0.2.7/32"
    wide = ConnectionLimits(per_source_netblock=(24, 64))
    assert wide.source_of(("192.0.2.7", 1)) == wide.source_of(("192.0.2.200", 9)) == "192.0.2.0/24"
    assert wide.source_of(("2001:db8::1", 1, 0, 0)) == "2001:db8::/64"
    assert exact.source_of("") == ""  # a Unix socket's peers: one source


def test_random_early_drop_uses_the_probability() -> None:
    draws: list[int] = []

    def randbelow(n: int) -> int:
        draws.append(n)
        return 64  # dropped when p > 64

    control = AdmissionControl(ConnectionLimits(max_startups=(2, 30, 12)), randbelow=randbelow)
    admitted = [control.admit(("10.0.0.1", 1)) for _ in range(2)]  # below start: no draw
    assert draws == []
    # 2..7 startups: p = 30 + 70*(n-2)//10 = 30, 37, 44, 51, 58, 65: the sixth is dropped
    admitted += [control.admit(("10.0.0.1", 1)) for _ in range(5)]
    with pytest.raises(AdmissionRefused, match="MaxStartups 2:30:12"):
        control.admit(("10.0.0.1", 1))
    assert draws == [100] * 6
    assert control.startups() == 7
    for a in admitted[:3]:
        a.mark_authenticated()
    control.admit(("10.0.0.1", 1))  # 4 startups: p = 44, admitted
    assert control.startups() == 5 and control.connections() == 8


def test_authenticated_and_released_leave_the_right_pools() -> None:
    control = AdmissionControl(ConnectionLimits(max_startups=(3, 100, 3), max_connections_per_source=4))
    a, b, c = (control.admit(("10.0.0.1", 1)) for _ in range(3))
    with pytest.raises(AdmissionRefused):
        control.admit(("10.0.0.2", 1))  # 3 unauthenticated: full
    a.mark_authenticated()
    a.mark_authenticated()  # idempotent
    assert control.startups() == 2
    d = control.admit(("10.0.0.1", 1))
    with pytest.raises(AdmissionRefused, match="already has 4 connections"):
        control.admit(("10.0.0.1", 1))  # per-source cap counts authenticated ones too
    b.mark_authenticated()
    control.admit(("10.0.0.2", 1))  # another source is not affected by that cap
    a.release()
    a.release()
    b.release()
    assert control.startups() == 3 and control.connections("10.0.0.1/32") == 2
    c.release()
    d.release()
    assert control.connections("10.0.0.1/32") == 0 and control.connections() == 1


def test_per_source_share_of_startups() -> None:
    control = AdmissionControl(ConnectionLimits(per_source_max_startups=2))
    x = [control.admit(("10.0.0.1", n)) for n in range(2)]
    with pytest.raises(AdmissionRefused, match="2 unauthenticated"):
        control.admit(("10.0.0.1", 3))
    control.admit(("10.0.0.9", 1))  # others still get in
    x[0].mark_authenticated()
    control.admit(("10.0.0.1", 4))


# -- the loop, with real transports ------------------------------------------------------


class PasswordServer(ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if password == "pw" else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: object, command: bytes) -> bool:
        def answer() -> None:
            channel.sendall(b"ran " + command)  # type: ignore[attr-defined]
            channel.send_exit_status(0)  # type: ignore[attr-defined]
            channel.close()  # type: ignore[attr-defined]

        threading.Thread(target=answer, daemon=True).start()
        return True


def serve_ssh(conn: Connection) -> None:
    """What a server built on Transport does with the listener."""
    transport = Transport(conn.sock)
    conn.watch(transport)
    transport.add_server_key(HOST_KEY)
    try:
        transport.start_server(server=PasswordServer())
    except Exception:
        transport.close()
        return
    while transport.is_active():
        transport.accept(timeout=0.5)


@pytest.fixture
def listening() -> Iterator[tuple[socket.socket, list[Listener]]]:
    """A listening socket on loopback; listeners put in the list are shut down."""
    sock = socket.create_server(("127.0.0.1", 0))
    made: list[Listener] = []
    try:
        yield sock, made
    finally:
        for listener in made:
            listener.shutdown()
        sock.close()


def start(listener: Listener) -> None:
    threading.Thread(target=listener.serve_forever, daemon=True).start()


def login(port: int) -> Transport:
    client = Transport(socket.create_connection(("127.0.0.1", port), timeout=10))
    client.start_client(timeout=10)
    client.auth_password("me", "pw")
    return client


def run_command(client: Transport, command: bytes) -> bytes:
    chan = client.open_session(timeout=10)
    chan.settimeout(10)
    chan.exec_command(command)
    out = b""
    while True:
        data = chan.recv(100)
        if not data:
            break
        out += data
    chan.close()
    return out


def is_dropped(sock: socket.socket, within: float = 5.0) -> bool:
    """Whether the server closed ``sock`` without a word."""
    sock.settimeout(within)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_for(predicate: object, limit: float = 5.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.timeout(60)
def test_idle_flood_past_max_startups_is_dropped_while_a_session_works(
    listening: tuple[socket.socket, list[Listener]],
) -> None:
    sock, made = listening
    port = sock.getsockname()[1]
    listener = Listener(sock, serve_ssh, ConnectionLimits(max_startups=(5, 100, 5)))
    made.append(listener)
    start(listener)
    client = login(port)
    try:
        assert wait_for(lambda: listener.admission.startups() == 0)  # logged in: out of the pool
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        assert wait_for(lambda: listener.admission.startups() == 5)
        extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        assert all(is_dropped(s) for s in extra)
        for s in idle:  # the admitted ones were greeted and are still open
            s.settimeout(5)
            assert s.recv(4) == b"SSH-"
        assert listener.admission.startups() == 5
        assert run_command(client, b"still here") == b"ran still here"
        with pytest.raises(Exception):
            login(port)  # no room for another login while the flood holds
        for s in idle + extra:
            s.close()
        assert wait_for(lambda: listener.admission.startups() == 0)
        second = login(port)  # room again
        assert run_command(second, b"x") == b"ran x"
        second.close()
    finally:
        client.close()


@pytest.mark.timeout(60)
def test_per_source_cap_counts_authenticated_connections(
    listening: tuple[socket.socket, list[Listener]],
) -> None:
    sock, made = listening
    port = sock.getsockname()[1]
    listener = Listener(sock, serve_ssh, ConnectionLimits(max_connections_per_source=2))
    made.append(listener)
    start(listener)
    first, second = login(port), login(port)
    try:
        third = socket.create_connection(("127.0.0.1", port))
        assert is_dropped(third)
        third.close()
        assert run_command(second, b"ok") == b"ran ok"
        first.close()
        assert wait_for(lambda: listener.admission.connections() == 1)
        again = login(port)
        again.close()
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(30)
def test_unauthenticated_connections_are_hung_up_at_the_grace_time(
    listening: tuple[socket.socket, list[Listener]],
) -> None:
    sock, made = listening
    port = sock.getsockname()[1]
    held: list[Connection] = []

    def silent(conn: Connection) -> None:  # a handler that never authenticates anyone
        held.append(conn)
        conn.sock.recv(1)  # returns at EOF: the listener shut the socket down

    listener = Listener(sock, silent, ConnectionLimits(login_grace_time=0.3))
    made.append(listener)
    start(listener)
    began = time.monotonic()
    idle = socket.create_connection(("127.0.0.1", port))
    assert is_dropped(idle)
    assert 0.25 < time.monotonic() - began < 3
    assert wait_for(lambda: listener.admission.connections() == 0)
    idle.close()


@pytest.mark.timeout(30)
def test_watched_transport_gets_the_remaining_grace_time(
    listening: tuple[socket.socket, list[Listener]],
) -> None:
    sock, made = listening
    port = sock.getsockname()[1]
    transports: list[Transport] = []

    def handler(conn: Connection) -> None:
        t = Transport(conn.sock)
        conn.watch(t)
        transports.append(t)
        serve_ssh_started(t)

    listener = Listener(sock, handler, ConnectionLimits(login_grace_time=0.5))
    made.append(listener)
    start(listener)
    client = Transport(socket.create_connection(("127.0.0.1", port), timeout=10))
    client.start_client(timeout=10)
    assert transports and 0 < (transports[0].login_grace_time or 0) <= 0.5
    assert wait_for(lambda: not client.is_active(), 5)  # the transport said goodbye itself
    client.close()


def serve_ssh_started(transport: Transport) -> None:
    transport.add_server_key(HOST_KEY)
    try:
        transport.start_server(server=PasswordServer())
    except Exception:
        transport.close()
        return
    while transport.is_active():
        transport.accept(timeout=0.5)


# -- accept() failing -------------------------------------------------------------------


class FlakySocket(socket.socket):
    """A listening socket whose accept() fails with the given errors first."""

    failures: list[int]
    calls = 0

    def accept(self) -> tuple[socket.socket, object]:
        self.calls += 1
        if self.failures:
            code = self.failures.pop(0)
            raise OSError(code, f"simulated {errno.errorcode[code]}")
        return super().accept()


@pytest.mark.timeout(30)
def test_the_loop_backs_off_on_emfile_and_accepts_again() -> None:
    sock = FlakySocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.failures = [errno.EMFILE] * 4 + [errno.ENFILE, errno.ECONNABORTED, errno.ENOBUFS]
    port = sock.getsockname()[1]
    listener = Listener(sock, serve_ssh)
    start(listener)
    try:
        began = time.monotonic()
        client = login(port)  # answered once accept() works again
        waited = time.monotonic() - began
        # backoff 0.05 + 0.1 + 0.2 + 0.4 + 0.8, then ECONNABORTED at once, then 1.0 (capped)
        assert waited > 1.5
        assert sock.calls >= 8
        assert run_command(client, b"hello") == b"ran hello"
        client.close()
        assert login(port).is_authenticated()  # and no backoff left over
    finally:
        listener.shutdown()
        sock.close()


@pytest.mark.timeout(30)
def test_an_unexpected_accept_error_ends_the_loop_but_shutdown_is_quiet() -> None:
    sock = FlakySocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.failures = [errno.EINVAL]
    listener = Listener(sock, serve_ssh)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            listener.serve_forever()
        except OSError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    socket.create_connection(("127.0.0.1", sock.getsockname()[1])).close()
    thread.join(5)
    assert not thread.is_alive() and errors and errors[0].errno == errno.EINVAL
    listener.shutdown()
    sock.close()

    quiet = socket.create_server(("127.0.0.1", 0))
    listener = Listener(quiet, serve_ssh)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    listener.shutdown()
    thread.join(5)
    assert not thread.is_alive()
    quiet.close()


@pytest.mark.timeout(30)
def test_a_failing_handler_frees_its_place(listening: tuple[socket.socket, list[Listener]]) -> None:
    sock, made = listening

    def broken(conn: Connection) -> None:
        raise RuntimeError("handler bug")

    listener = Listener(sock, broken, ConnectionLimits(max_startups=(1, 100, 1)))
    made.append(listener)
    start(listener)
    for _ in range(3):  # with one slot, each would be refused if the last had leaked
        s = socket.create_connection(("127.0.0.1", sock.getsockname()[1]))
        assert is_dropped(s)
        s.close()
        assert wait_for(lambda: listener.admission.connections() == 0)
