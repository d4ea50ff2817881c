"""``Transport``/``Channel``/``ServerInterface`` as paramiko 5.x code sees them:
the transport is a thread (is_alive, join, daemon, stop_thread, one start
only), paramiko's constructor arguments, keepalives a server can see, a
channel's ``fileno`` readable on stderr-only data, X11 forwarding, reprs,
``ServiceRequestingTransport`` and the server hooks' defaults."""

from __future__ import annotations

import inspect
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ssh_transport import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    Channel,
    ServerInterface,
    Transport,
)
from ssh_transport.transport import ServiceRequestingTransport
from ssh_wire import Message, SSHException
from support.corepair import host_key
from support.polling import wait_until

pytestmark = pytest.mark.timeout(30)


class Server(ServerInterface):
    """Password "pw" for anyone; sessions; exec, env and x11 allowed and recorded."""

    def __init__(self) -> None:
        self.globals: list[str] = []
        self.requests: list[tuple[Any, ...]] = []
        self.exec_hook: Any = None
        self.allow_x11 = True

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if password == "pw" else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        self.requests.append(("exec", command))
        if self.exec_hook is not None:
            self.exec_hook(channel, command)
        return True

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        self.requests.append(("env", name, value))
        return True

    def check_channel_x11_request(
        self, channel: Channel, single_connection: bool, auth_protocol: str, auth_cookie: bytes, screen_number: int
    ) -> bool:
        self.requests.append(("x11", single_connection, auth_protocol, auth_cookie, screen_number))
        return self.allow_x11

    def check_global_request(self, kind: str, msg: Message) -> bool:
        self.globals.append(kind)
        return False


def make_pair(
    server: ServerInterface | None = None,
    client_cls: type[Transport] = Transport,
    configure: Any = None,
    **client_kwargs: Any,
) -> tuple[Transport, Transport]:
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    ct = client_cls(a, **client_kwargs)
    if configure is not None:
        configure(ct)
    srv = server or Server()
    th = threading.Thread(target=lambda: st.start_server(server=srv), daemon=True)
    th.start()
    ct.start_client(timeout=20)
    th.join(20)
    return ct, st


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def pair(server: Server) -> Iterator[tuple[Transport, Transport]]:
    ct, st = make_pair(server)
    try:
        yield ct, st
    finally:
        ct.close()
        st.close()


def session(ct: Transport, st: Transport) -> tuple[Channel, Channel]:
    ct.auth_password("bob", "pw")
    chan = ct.open_session()
    schan = st.accept(10)
    assert schan is not None
    return chan, schan


# -- the transport is a thread ---------------------------------------------------


def test_transport_is_a_daemon_thread_not_started_until_negotiation() -> None:
    a, b = socket.socketpair()
    t = Transport(a)
    try:
        assert isinstance(t, threading.Thread)
        assert t.daemon is True
        assert t.name
        assert not t.is_alive()
        assert t.ident is None
        with pytest.raises(RuntimeError):
            t.join(0.1)  # as any thread never started
        t.stop_thread()  # harmless before a start
    finally:
        t.close()
        b.close()


def test_thread_lives_while_session_is_open_and_join_returns_after_close(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    assert ct.is_alive() and st.is_alive()
    assert ct.ident is not None and ct.ident != threading.get_ident()
    ct.close()
    assert not ct.is_alive()  # close() waits for the reader thread
    ct.join(5)
    assert not ct.is_active()
    assert wait_until(lambda: not st.is_alive(), 5)  # the server saw the disconnect
    ct.stop_thread()  # after close: returns at once (sshtunnel calls both)
    ct.close()


def test_stop_thread_ends_the_reader_thread(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    ct.stop_thread()
    assert not ct.is_alive()
    assert not ct.is_active()
    assert wait_until(lambda: not st.is_active(), 5)


def test_a_transport_starts_only_once(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    with pytest.raises(RuntimeError, match="only be started once"):
        ct.start_client()
    with pytest.raises(RuntimeError, match="only be started once"):
        st.start_server(server=Server())
    assert ct.is_active()  # the running session is untouched
    ct.auth_password("bob", "pw")
    assert ct.is_authenticated()


def test_close_from_a_server_hook_runs_in_the_reader_thread_without_deadlock(server: Server) -> None:
    ct, st = make_pair(server)
    seen: list[threading.Thread] = []

    def close_now(channel: Channel, command: bytes) -> None:
        seen.append(threading.current_thread())
        st.close()  # in the transport's own thread: must not join itself

    server.exec_hook = close_now
    try:
        ct.auth_password("bob", "pw")
        chan = ct.open_session()
        try:
            ok = chan.exec_command("x")
        except SSHException:
            ok = False
        assert not ok  # the session ended before the reply
        assert seen == [st]
        assert wait_until(lambda: not st.is_alive(), 5)
        assert wait_until(lambda: not ct.is_active(), 5)
    finally:
        ct.close()
        st.close()


def test_close_from_another_thread_wakes_a_blocked_recv(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    chan, _ = session(ct, st)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(chan.recv(10)))
    reader.start()
    time.sleep(0.1)
    closer = threading.Thread(target=ct.close)
    closer.start()
    closer.join(10)
    reader.join(10)
    assert not closer.is_alive() and not reader.is_alive()
    assert got == [b""]
    assert not ct.is_alive()


def test_transport_is_a_context_manager() -> None:
    ct, st = make_pair()
    with ct:
        assert ct.is_active()
    assert not ct.is_active() and not ct.is_alive()
    st.close()


# -- constructor arguments --------------------------------------------------------


def test_constructor_takes_paramikos_arguments_positionally() -> None:
    params = list(inspect.signature(Transport).parameters)
    assert params[:7] == [
        "sock",
        "default_window_size",
        "default_max_packet_size",
        "disabled_algorithms",
        "server_sig_algs",
        "strict_kex",
        "packetizer_class",
    ]
    a, b = socket.socketpair()
    t = Transport(a, 1 << 20, 16384, {"ciphers": ["aes128-gcm@openssh.com"]}, True, True, None)
    try:
        assert t.default_window_size == 1 << 20
        assert t.default_max_packet_size == 16384
        assert t.disabled_algorithms == {"ciphers": ["aes128-gcm@openssh.com"]}
        assert "aes128-gcm@openssh.com" not in t.preferred_ciphers
    finally:
        t.close()
        b.close()


def test_disabled_algorithms_are_honoured_in_negotiation() -> None:
    disabled = {
        "ciphers": ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"],
        "kex": ["mlkem768x25519-sha256"],
    }
    ct, st = make_pair(disabled_algorithms=disabled)
    try:
        assert ct.local_cipher not in disabled["ciphers"]
        assert ct.local_cipher.endswith("-ctr")
        for name in disabled["kex"]:
            assert name not in ct.preferred_kex
        assert ct.preferred_macs and ct.preferred_keys and ct.preferred_compression
        assert ct.preferred_pubkeys
    finally:
        ct.close()
        st.close()


def test_default_window_and_packet_size_are_what_the_peer_is_offered() -> None:
    ct, st = make_pair(default_window_size=300_000, default_max_packet_size=8192)
    try:
        _, schan = session(ct, st)
        assert schan.out_window_size == 300_000
        ct.open_session(window_size=100_000)
        small = st.accept(10)
        assert small is not None and small.out_window_size == 100_000
    finally:
        ct.close()
        st.close()


def test_gss_and_packetizer_class_are_refused_loudly_but_false_is_fine() -> None:
    a, b = socket.socketpair()
    try:
        Transport(a, gss_kex=False, gss_deleg_creds=False).close()
        a2, b2 = socket.socketpair()
        with pytest.raises(SSHException, match="GSS"):
            Transport(a2, gss_kex=True)
        with pytest.raises(SSHException, match="packetizer_class"):
            Transport(b2, packetizer_class=object)
        a2.close()
        b2.close()
    finally:
        b.close()


def test_connect_refuses_gss_auth() -> None:
    a, b = socket.socketpair()
    t = Transport(a)
    try:
        with pytest.raises(SSHException, match="GSS"):
            t.connect(username="bob", password="pw", gss_auth=True)
        assert not t.is_alive()
    finally:
        t.close()
        b.close()


# -- keepalive ------------------------------------------------------------------------


def test_keepalive_sends_lag_net_global_requests_without_wanting_a_reply(
    pair: tuple[Transport, Transport], server: Server
) -> None:
    ct, _ = pair
    ct.auth_password("bob", "pw")
    seen: list[tuple[str, bool]] = []
    core = ct._core
    assert core is not None
    original = core.global_request

    def record(name: str, want_reply: bool, data: bytes = b"") -> None:
        # what the client sends (the server records the names it got)
        seen.append((name, want_reply))
        original(name, want_reply, data)

    core.global_request = record  # type: ignore[method-assign]
    ct.set_keepalive(1, max_missed=0)  # paramiko's send-only keepalive@lag.net
    assert wait_until(lambda: len(server.globals) >= 2, 6)
    ct.set_keepalive(0)
    assert set(server.globals) == {"keepalive@lag.net"}
    assert seen and all(s == ("keepalive@lag.net", False) for s in seen)
    count = len(server.globals)
    time.sleep(1.5)
    assert len(server.globals) <= count + 1  # stopped (one may have been in flight)


def test_keepalive_set_before_the_session_starts_takes_effect(server: Server) -> None:
    # sshtunnel calls set_keepalive on a fresh Transport, then connect()
    ct, st = make_pair(server, configure=lambda t: t.set_keepalive(1, max_missed=0))
    try:
        ct.auth_password("bob", "pw")
        assert wait_until(lambda: "keepalive@lag.net" in server.globals, 6)
    finally:
        ct.close()
        st.close()


def test_no_keepalive_while_traffic_flows(pair: tuple[Transport, Transport], server: Server) -> None:
    ct, st = pair
    chan, _ = session(ct, st)
    ct.set_keepalive(1, max_missed=0)  # paramiko's send-only keepalive@lag.net
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            chan.sendall(b"x")
            time.sleep(0.1)
        assert server.globals == []
    finally:
        ct.set_keepalive(0)


# -- channel: select on fileno, stderr, repr, identity --------------------------------


def test_fileno_readable_with_stderr_only_data(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    chan, schan = session(ct, st)
    fd = chan.fileno()
    assert select.select([fd], [], [], 0.05)[0] == []
    schan.sendall_stderr(b"oops")
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert not chan.recv_ready()
    assert chan.recv_stderr_ready()
    assert chan.recv_stderr(100) == b"oops"
    assert select.select([fd], [], [], 0.05)[0] == []  # both streams drained
    schan.sendall(b"out")
    schan.sendall_stderr(b"err")
    assert wait_until(lambda: chan.recv_ready() and chan.recv_stderr_ready(), 5)
    assert chan.recv(100) == b"out"
    assert select.select([fd], [], [], 0.05)[0] == [fd]  # stderr still waiting
    assert chan.recv_stderr(100) == b"err"
    assert select.select([fd], [], [], 0.05)[0] == []
    schan.shutdown_write()
    assert select.select([fd], [], [], 5)[0] == [fd]  # EOF: readable for good
    assert chan.recv(10) == b""
    assert select.select([fd], [], [], 0.05)[0] == [fd]


def test_fileno_created_after_data_arrived_is_readable(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    chan, schan = session(ct, st)
    schan.sendall_stderr(b"early")
    assert wait_until(chan.recv_stderr_ready, 5)
    fd = chan.fileno()
    assert chan.fileno() == fd  # one pipe per channel
    assert select.select([fd], [], [], 1)[0] == [fd]


def test_combine_stderr_moves_readiness_to_stdout(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    chan, schan = session(ct, st)
    fd = chan.fileno()
    schan.sendall_stderr(b"e")
    assert wait_until(chan.recv_stderr_ready, 5)
    chan.set_combine_stderr(True)
    assert chan.recv_ready() and not chan.recv_stderr_ready()
    assert select.select([fd], [], [], 0.05)[0] == [fd]
    assert chan.recv(10) == b"e"
    assert select.select([fd], [], [], 0.05)[0] == []


def test_channel_identity_and_socket_like_api(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    chan, schan = session(ct, st)
    assert chan.get_id() == chan.chanid
    assert chan.remote_chanid == schan.chanid
    assert schan.remote_chanid == chan.chanid
    assert chan.get_transport() is ct and chan.transport is ct
    assert chan.getpeername() == ct.getpeername()
    assert chan.get_name() == str(chan.chanid)
    chan.set_name("mine")
    assert chan.get_name() == "mine"
    assert chan.active and not chan.closed and not chan.eof_received and not chan.eof_sent
    chan.settimeout(1.5)
    assert chan.gettimeout() == 1.5
    chan.setblocking(False)
    assert chan.gettimeout() == 0.0
    with pytest.raises(socket.timeout):
        chan.recv(1)
    chan.setblocking(True)
    assert chan.gettimeout() is None
    assert chan.send_ready()
    chan.shutdown_write()
    assert chan.eof_sent
    assert wait_until(lambda: schan.eof_received, 5)


def test_environment_requests_reach_the_server_as_bytes(pair: tuple[Transport, Transport], server: Server) -> None:
    ct, st = pair
    chan, _ = session(ct, st)
    chan.update_environment({"LANG": "C", "FOO": "bär"})
    chan.set_environment_variable("ONE", "1")
    chan.exec_command("true")
    assert ("env", b"LANG", b"C") in server.requests
    assert ("env", b"FOO", "bär".encode()) in server.requests
    assert ("env", b"ONE", b"1") in server.requests


def test_exit_status(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    chan, schan = session(ct, st)
    assert not chan.exit_status_ready()
    schan.send_exit_status(7)
    assert chan.recv_exit_status() == 7
    assert chan.exit_status_ready()


def test_exit_status_after_the_client_closed_is_not_an_error(pair: tuple[Transport, Transport]) -> None:
    """Servers send the exit status when their command ends, whether or not
    the client is still there (scp closes first): paramiko raises nothing."""
    ct, st = pair
    chan, schan = session(ct, st)
    chan.close()
    assert wait_until(lambda: schan.closed, 5)
    schan.send_exit_status(0)  # no exception
    with pytest.raises(SSHException, match="not open"):
        schan.resize_pty()  # other requests on a closed channel still fail, as paramiko


def test_reprs_read_like_paramikos(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    assert "(connected; awaiting auth)" in repr(ct)
    assert repr(ct).startswith("<paramiko.Transport at 0x")
    assert f"(cipher {ct.local_cipher}, " in repr(ct) and " bits)" in repr(ct)
    chan, schan = session(ct, st)
    text = repr(chan)
    assert text.startswith(f"<paramiko.Channel {chan.chanid} (open) window=")
    assert "(active; 1 open channel(s))" in text
    schan.sendall(b"abc")
    assert wait_until(chan.recv_ready, 5)
    assert "in-buffer=3" in repr(chan)
    chan.close()
    assert repr(chan).startswith(f"<paramiko.Channel {chan.chanid} (closed) -> <paramiko.Transport")
    ct.close()
    assert repr(ct).endswith("(unconnected)>")


# -- X11 forwarding ---------------------------------------------------------------------


def test_request_x11_then_server_opens_x11_channels_to_the_handler(
    pair: tuple[Transport, Transport], server: Server
) -> None:
    ct, st = pair
    chan, _ = session(ct, st)
    got: list[tuple[Channel, tuple[str, int]]] = []
    cookie = chan.request_x11(screen_number=2, handler=lambda c, origin: got.append((c, origin)))
    assert isinstance(cookie, bytes) and len(cookie) == 32
    assert server.requests[-1] == ("x11", False, "MIT-MAGIC-COOKIE-1", cookie, 2)
    xchan = st.open_x11_channel(("10.0.0.7", 6010))
    assert wait_until(lambda: got, 5)
    client_side, origin = got[0]
    assert origin == ("10.0.0.7", 6010)
    xchan.sendall(b"X11")
    assert client_side.recv(3) == b"X11"


def test_request_x11_without_handler_queues_for_accept(pair: tuple[Transport, Transport], server: Server) -> None:
    ct, st = pair
    chan, _ = session(ct, st)
    cookie = chan.request_x11(auth_protocol="proto", auth_cookie="c00c1e", single_connection=True)
    assert cookie == "c00c1e"
    assert server.requests[-1] == ("x11", True, "proto", b"c00c1e", 0)
    st.open_x11_channel(("1.2.3.4", 1))
    incoming = ct.accept(5)
    assert incoming is not None and incoming.origin_addr == ("1.2.3.4", 1)


def test_refused_x11_raises_and_closes_and_x11_channels_stay_refused(
    pair: tuple[Transport, Transport], server: Server
) -> None:
    ct, st = pair
    server.allow_x11 = False
    chan, _ = session(ct, st)
    with pytest.raises(SSHException):
        chan.request_x11()
    assert chan.closed
    with pytest.raises(SSHException):
        st.open_x11_channel(("1.2.3.4", 1))


def test_x11_channels_refused_when_never_requested(pair: tuple[Transport, Transport]) -> None:
    ct, st = pair
    session(ct, st)
    with pytest.raises(SSHException):
        st.open_x11_channel(("1.2.3.4", 1))


# -- ServiceRequestingTransport ---------------------------------------------------------


def test_service_requesting_transport_is_a_transport_with_blocking_auth() -> None:
    assert issubclass(ServiceRequestingTransport, Transport)
    assert "event" not in inspect.signature(ServiceRequestingTransport.auth_password).parameters
    assert "event" not in inspect.signature(ServiceRequestingTransport.auth_publickey).parameters
    a, b = socket.socketpair()
    t = ServiceRequestingTransport(a)
    try:
        with pytest.raises(SSHException, match="No existing session"):
            t.auth_password("bob", "pw")
        with pytest.raises(SSHException, match="No existing session"):
            t.ensure_session()
    finally:
        t.close()
        b.close()
    ct, st = make_pair(client_cls=ServiceRequestingTransport)
    try:
        ct.ensure_session()
        assert ct.auth_password("bob", "pw") == []
        assert ct.is_authenticated() and ct.get_username() == "bob"
        assert ct.is_alive()
    finally:
        ct.close()
        st.close()


# -- ServerInterface defaults ---------------------------------------------------------------


def test_server_interface_defaults_match_paramiko() -> None:
    s = ServerInterface()
    chan = Channel(0)
    assert s.check_channel_request("session", 0) == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
    assert s.get_allowed_auths("u") == "password"
    assert s.check_auth_none("u") == AUTH_FAILED
    assert s.check_auth_password("u", "p") == AUTH_FAILED
    assert s.check_auth_publickey("u", None) == AUTH_FAILED
    assert s.check_auth_interactive("u", "") == AUTH_FAILED
    assert s.check_auth_interactive_response([]) == AUTH_FAILED
    assert s.check_auth_gssapi_with_mic("u") == AUTH_FAILED
    assert s.check_auth_gssapi_keyex("u") == AUTH_FAILED
    assert s.enable_auth_gssapi() is False
    assert s.check_port_forward_request("", 0) is False
    assert s.cancel_port_forward_request("", 0) is None
    assert s.check_global_request("x", Message()) is False
    assert s.check_channel_pty_request(chan, b"vt100", 80, 24, 0, 0, b"") is False
    assert s.check_channel_shell_request(chan) is False
    assert s.check_channel_exec_request(chan, b"ls") is False
    assert s.check_channel_window_change_request(chan, 80, 24, 0, 0) is False
    assert s.check_channel_x11_request(chan, False, "MIT-MAGIC-COOKIE-1", b"00", 0) is False
    assert s.check_channel_forward_agent_request(chan) is False
    assert s.check_channel_direct_tcpip_request(0, ("a", 1), ("b", 2)) == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
    assert s.check_channel_env_request(chan, b"A", b"B") is False
    assert s.get_banner() == (None, None)


def test_transport_address_that_does_not_resolve_raises_gaierror() -> None:
    """paramiko lets the resolver's error through (sshtunnel catches it by type)."""
    with pytest.raises(socket.gaierror):
        Transport(("no-such-host.invalid", 22))


def test_transport_address_that_refuses_raises_sshexception() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with pytest.raises(SSHException, match=r"Unable to connect to 127\.0\.0\.1"):
        Transport(("127.0.0.1", port))
