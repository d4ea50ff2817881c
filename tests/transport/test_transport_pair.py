"""Our client ``Transport`` against our server ``Transport`` over a socketpair:
every auth path, channels and their socket-like API, subsystems, global and
port-forward requests, timeouts, rekeying, and closing from either side."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import ssh_keys
from ssh_transport import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    BadAuthenticationType,
    Channel,
    ChannelException,
    InteractiveQuery,
    ServerInterface,
    SubsystemHandler,
    Transport,
)
from ssh_wire import AuthenticationException, Message, SSHException
from support.corepair import host_key

pytestmark = pytest.mark.timeout(60)

USER_KEY = host_key("ecdsa")


class Server(ServerInterface):
    """Test server: password "pw", the ecdsa key, kbd-int in ``rounds`` rounds;
    ``partial`` makes publickey only a first step."""

    def __init__(self) -> None:
        self.allowed = "publickey,password,keyboard-interactive"
        self.rounds = 1
        self.partial = False
        self.done_methods: list[str] = []
        self.requests: list[tuple[Any, ...]] = []
        self.forwards: list[tuple[str, int]] = []
        self.round = 0

    def get_allowed_auths(self, username: str) -> str:
        return self.allowed

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL if username == "nobody" else AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        if password != "pw":
            return AUTH_FAILED
        self.done_methods.append("password")
        return AUTH_SUCCESSFUL

    def check_auth_publickey(self, username: str, key: Any) -> int:
        if key != USER_KEY:
            return AUTH_FAILED
        if self.partial:
            self.allowed = "password"
            return AUTH_PARTIALLY_SUCCESSFUL
        return AUTH_SUCCESSFUL

    def check_auth_interactive(self, username: str, submethods: str) -> InteractiveQuery:
        self.round = 0
        return InteractiveQuery("title", "instructions", ("Password: ", False), "Name: ")

    def check_auth_interactive_response(self, responses: list[str]) -> int | InteractiveQuery:
        self.round += 1
        if self.round == 1 and responses != ["pw", "bob"]:
            return AUTH_FAILED
        if self.round < self.rounds:
            q = InteractiveQuery("more", f"round {self.round + 1}")
            q.add_prompt("Code: ", echo=False)
            return q
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        self.requests.append(("exec", command))
        return command != b"refuse"

    def check_channel_shell_request(self, channel: Channel) -> bool:
        return True

    def check_channel_pty_request(self, channel: Channel, *args: Any) -> bool:
        self.requests.append(("pty", *args))
        return True

    def check_channel_window_change_request(self, channel: Channel, *args: Any) -> bool:
        self.requests.append(("window-change", *args))
        return True

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        self.requests.append(("env", name, value))
        return True

    def check_global_request(self, kind: str, msg: Message) -> bool | tuple[Any, ...]:
        self.requests.append(("global", kind))
        if kind == "echo@test":
            return (msg.get_int() + 1, "pong")
        return kind == "yes@test"

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        self.forwards.append((address, port))
        return 4242 if port == 0 else port

    def cancel_port_forward_request(self, address: str, port: int) -> None:
        self.forwards.append(("cancel", port))

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        self.requests.append(("direct-tcpip", origin, destination))
        return OPEN_SUCCEEDED if destination[1] != 1 else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_banner(self) -> tuple[str | None, str | None]:
        return ("hello from the test server\n", "en")


def serve_quietly(st: Transport, server: ServerInterface) -> None:
    """Run ``start_server`` in a thread; a client that gives up early is expected."""
    with contextlib.suppress(SSHException):
        st.start_server(server=server)


def make_pair(
    server: ServerInterface | None = None, configure: Any = None, server_keys: list[Any] | None = None
) -> tuple[Transport, Transport, Any]:
    a, b = socket.socketpair()
    st = Transport(b)
    for k in server_keys or [host_key("ed25519")]:
        st.add_server_key(k)
    ct = Transport(a)
    if configure is not None:
        configure(ct, st)
    srv = server or Server()
    errors: list[Exception] = []

    def run() -> None:
        try:
            st.start_server(server=srv)
        except Exception as exc:
            errors.append(exc)

    th = threading.Thread(target=run)
    th.start()
    try:
        ct.start_client(timeout=20)
    finally:
        th.join(20)
    if errors:
        raise errors[0]
    return ct, st, srv


@pytest.fixture
def pair() -> Iterator[tuple[Transport, Transport, Server]]:
    ct, st, srv = make_pair()
    try:
        yield ct, st, srv
    finally:
        ct.close()
        st.close()


def open_session_pair(ct: Transport, st: Transport) -> tuple[Channel, Channel]:
    """Log in as bob and open a session: (client channel, server channel)."""
    ct.auth_password("bob", "pw")
    chan = ct.open_session()
    schan = st.accept(10)
    assert schan is not None
    return chan, schan


@pytest.fixture
def session(pair: tuple[Transport, Transport, Server]) -> Iterator[tuple[Channel, Channel]]:
    ct, st, _ = pair
    yield open_session_pair(ct, st)


# -- auth ----------------------------------------------------------------------


def test_auth_none_lists_allowed_types(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, _ = pair
    with pytest.raises(BadAuthenticationType) as info:
        ct.auth_none("bob")
    assert info.value.allowed_types == ["publickey", "password", "keyboard-interactive"]
    assert ct.banner == "hello from the test server\n"
    assert ct.auth_none("nobody") == []
    assert ct.is_authenticated() and ct.get_username() == "nobody"


def test_password_auth(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    with pytest.raises(AuthenticationException) as info:
        ct.auth_password("bob", "wrong")
    assert not isinstance(info.value, BadAuthenticationType)
    assert not ct.is_authenticated()
    assert ct.auth_password("bob", "pw") == []
    assert ct.is_authenticated()
    deadline = time.monotonic() + 5
    while not st.is_authenticated() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert st.is_authenticated() and st.get_username() == "bob"


def test_password_event_form(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, _ = pair
    done = threading.Event()
    assert ct.auth_password("bob", "pw", event=done) == []
    assert done.wait(10)
    assert ct.is_authenticated() and ct.get_exception() is None


def test_password_falls_back_to_keyboard_interactive() -> None:
    srv = Server()
    srv.allowed = "keyboard-interactive"

    def one_prompt(username: str, submethods: str) -> InteractiveQuery:
        return InteractiveQuery("", "", ("Password: ", False))

    def check(responses: list[str]) -> int | InteractiveQuery:
        return AUTH_SUCCESSFUL if responses == ["pw"] else AUTH_FAILED

    srv.check_auth_interactive = one_prompt  # type: ignore[method-assign]
    srv.check_auth_interactive_response = check  # type: ignore[method-assign]
    ct, st, _ = make_pair(srv)
    try:
        assert ct.auth_password("bob", "pw") == []
        assert ct.is_authenticated()
    finally:
        ct.close()
        st.close()


def test_password_without_fallback_raises_bad_type() -> None:
    srv = Server()
    srv.allowed = "keyboard-interactive"
    ct, st, _ = make_pair(srv)
    try:
        with pytest.raises(BadAuthenticationType):
            ct.auth_password("bob", "pw", fallback=False)
    finally:
        ct.close()
        st.close()


def test_publickey_auth(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, _ = pair
    with pytest.raises(AuthenticationException):
        ct.auth_publickey("bob", host_key("ed25519"))
    assert ct.auth_publickey("bob", USER_KEY) == []
    assert ct.is_authenticated()


def test_publickey_with_agent_like_key(pair: tuple[Transport, Transport, Server]) -> None:
    """Anything with asbytes/get_name/sign_ssh_data(data, algorithm) signs in."""

    class AgentKey:
        def asbytes(self) -> bytes:
            return USER_KEY.asbytes()

        def get_name(self) -> str:
            return USER_KEY.get_name()

        def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> bytes:
            return bytes(USER_KEY.sign_ssh_data(data, algorithm))

    ct, _, _ = pair
    assert ct.auth_publickey("bob", AgentKey()) == []


def test_rsa_publickey_uses_sha2(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _srv = pair
    rsa = host_key("rsa")
    seen: list[str] = []
    orig = st._core.server_auth.on_request  # type: ignore[union-attr]

    def spy(payload: bytes) -> None:
        orig(payload)
        pending = st._core.server_auth.pending  # type: ignore[union-attr]
        if pending is not None:
            seen.append(pending.algorithm)

    st._core.server_auth.on_request = spy  # type: ignore[union-attr,method-assign]
    with pytest.raises(AuthenticationException):
        ct.auth_publickey("bob", rsa)
    assert seen == ["rsa-sha2-512"]


def test_keyboard_interactive_several_rounds() -> None:
    srv = Server()
    srv.rounds = 3
    ct, st, _ = make_pair(srv)
    asked: list[tuple[str, str, list[tuple[str, bool]]]] = []

    def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        asked.append((title, instructions, prompts))
        return ["pw", "bob"] if len(prompts) == 2 else ["123"]

    try:
        assert ct.auth_interactive("bob", handler) == []
        assert asked[0] == ("title", "instructions", [("Password: ", False), ("Name: ", True)])
        assert [a[1] for a in asked[1:]] == ["round 2", "round 3"]
        assert ct.is_authenticated()
    finally:
        ct.close()
        st.close()


def test_partial_authentication() -> None:
    srv = Server()
    srv.partial = True
    ct, st, _ = make_pair(srv)
    try:
        assert ct.auth_publickey("bob", USER_KEY) == ["password"]
        assert not ct.is_authenticated()
        assert ct.auth_password("bob", "pw") == []
        assert ct.is_authenticated()
    finally:
        ct.close()
        st.close()


def test_open_session_before_auth_fails(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, _ = pair
    with pytest.raises(SSHException):
        ct.open_session()


# -- host keys and algorithms ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_connect_checks_host_key(kind: str) -> None:
    keys = [host_key("ed25519"), host_key("ecdsa"), host_key("rsa")]
    a, b = socket.socketpair()
    st = Transport(b)
    for k in keys:
        st.add_server_key(k)
    th = threading.Thread(target=serve_quietly, args=(st, Server()), daemon=True)
    th.start()
    ct = Transport(a)
    try:
        ct.connect(hostkey=host_key(kind), username="bob", password="pw")
        assert ct.get_remote_server_key() == host_key(kind)
        assert ct.is_authenticated()
        th.join(10)
        assert st.get_server_key() == host_key(kind)
    finally:
        ct.close()
        st.close()


def test_connect_refuses_wrong_host_key() -> None:
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    srv = Server()
    th = threading.Thread(target=serve_quietly, args=(st, srv), daemon=True)
    th.start()
    ct = Transport(a)
    other = ssh_keys.Ed25519Key.generate()
    try:
        with pytest.raises(SSHException, match="host key"):
            ct.connect(hostkey=other, username="bob", password="pw")
        assert not ct.is_active()
        assert srv.done_methods == []  # no credentials were sent
    finally:
        ct.close()
        st.close()


def test_security_options_validate() -> None:
    t = Transport(socket.socketpair()[0])
    try:
        opts = t.get_security_options()
        assert "aes128-ctr" in opts.ciphers and "aes128-cbc" not in opts.ciphers
        with pytest.raises(TypeError):
            opts.ciphers = "aes128-ctr"  # type: ignore[assignment]
        with pytest.raises(ValueError):
            opts.ciphers = ("rot13",)
        with pytest.raises(ValueError):
            opts.kex = ("nope",)
        opts.digests = ("hmac-sha2-512",)
        opts.key_types = ("ssh-ed25519", "ssh-rsa")
        opts.compression = ("zlib", "none")
        assert opts.digests == ("hmac-sha2-512",) and opts.compression == ("zlib", "none")
        assert "SecurityOptions" in repr(opts)
    finally:
        t.close()


@pytest.mark.parametrize("cipher", ["aes128-cbc", "aes256-gcm@openssh.com", "aes192-ctr"])
def test_security_options_choose_cipher(cipher: str) -> None:
    def configure(ct: Transport, st: Transport) -> None:
        ct.get_security_options().ciphers = (cipher,)
        st.get_security_options().ciphers = (cipher, "aes128-ctr")

    ct, st, _ = make_pair(configure=configure)
    try:
        assert ct._core is not None and ct._core.negotiated_cipher == cipher
        ct.auth_password("bob", "pw")
        _echo_roundtrip(ct, st, b"x" * 100000)
    finally:
        ct.close()
        st.close()


def test_compression_negotiated_and_data_intact() -> None:
    def configure(ct: Transport, st: Transport) -> None:
        ct.use_compression()
        st.use_compression()

    ct, st, _ = make_pair(configure=configure)
    try:
        ct.auth_password("bob", "pw")
        assert ct._core is not None and ct._core.writer.compressing
        _echo_roundtrip(ct, st, b"compressible " * 50000)
    finally:
        ct.close()
        st.close()


def test_disabled_algorithms() -> None:
    t = Transport(socket.socketpair()[0], disabled_algorithms={"ciphers": ["chacha20-poly1305@openssh.com"]})
    try:
        assert "chacha20-poly1305@openssh.com" not in t.get_security_options().ciphers
    finally:
        t.close()


def test_start_server_needs_keys() -> None:
    t = Transport(socket.socketpair()[0])
    try:
        with pytest.raises(SSHException):
            t.start_server(server=Server())
    finally:
        t.close()


# -- channels ---------------------------------------------------------------------------


def _echo_roundtrip(ct: Transport, st: Transport, data: bytes) -> None:
    chan = ct.open_session()
    schan = st.accept(10)
    assert schan is not None

    def echo() -> None:
        while True:
            d = schan.recv(65536)
            if not d:
                break
            schan.sendall(d)
        schan.close()

    th = threading.Thread(target=echo)
    th.start()

    def send() -> None:
        chan.sendall(data)
        chan.shutdown_write()

    sender = threading.Thread(target=send)
    sender.start()
    got = bytearray()
    while True:
        d = chan.recv(1 << 20)
        if not d:
            break
        got += d
    sender.join(10)
    th.join(10)
    assert bytes(got) == data
    chan.close()


def test_exec_request_and_exit_status(session: tuple[Channel, Channel], pair: Any) -> None:
    chan, schan = session
    assert chan.exec_command("ls -l") is True
    schan.sendall(b"out")
    schan.sendall_stderr(b"err")
    schan.send_exit_status(3)
    schan.close()
    assert chan.recv(10) == b"out"
    assert chan.recv_stderr(10) == b"err"
    assert chan.recv_exit_status() == 3 and chan.exit_status_ready()
    assert chan.recv(10) == b""
    assert pair[2].requests[0] == ("exec", b"ls -l")


def test_refused_exec_returns_false(session: tuple[Channel, Channel]) -> None:
    chan, _ = session
    assert chan.exec_command("refuse") is False
    assert chan.closed and chan.recv(10) == b""
    with pytest.raises(OSError):
        chan.send(b"x")


def test_pty_shell_env_resize(session: tuple[Channel, Channel], pair: Any) -> None:
    chan, _ = session
    chan.set_environment_variable("LANG", "C")
    chan.update_environment({"TEST_X": "1"})
    assert chan.get_pty("xterm", 100, 40) is True
    assert chan.invoke_shell() is True
    chan.resize_pty(120, 50)
    srv = pair[2]
    deadline = time.monotonic() + 5
    while len(srv.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    # as paramiko: env names/values and the terminal name reach the hooks as bytes
    assert ("env", b"LANG", b"C") in srv.requests and ("env", b"TEST_X", b"1") in srv.requests
    assert ("pty", b"xterm", 100, 40, 0, 0, b"") in srv.requests
    assert ("window-change", 120, 50, 0, 0) in srv.requests


def test_channel_identity(session: tuple[Channel, Channel], pair: Any) -> None:
    chan, schan = session
    assert chan.get_transport() is pair[0] and schan.get_transport() is pair[1]
    chan.set_name("mine")
    assert chan.get_name() == "mine" and isinstance(chan.get_id(), int)
    assert "Channel" in repr(chan) and "Transport" in repr(pair[0])


def test_recv_timeout_and_nonblocking(session: tuple[Channel, Channel]) -> None:
    chan, schan = session
    chan.settimeout(0.2)
    assert chan.gettimeout() == 0.2
    with pytest.raises(socket.timeout):
        chan.recv(10)
    chan.setblocking(False)
    assert chan.gettimeout() == 0.0
    with pytest.raises(socket.timeout):
        chan.recv(10)
    chan.setblocking(True)
    assert chan.gettimeout() is None
    schan.send(b"abc")
    assert chan.recv(10) == b"abc"


def test_send_timeout_when_window_is_shut(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    chan = ct.open_session()
    assert st.accept(10) is not None  # the server never reads
    chan.settimeout(0.3)
    with pytest.raises(socket.timeout):
        chan.sendall(b"x" * (ct.default_window_size + 10))


def test_send_ready_callback_says_when_the_window_grows_and_when_the_channel_closes(
    session: tuple[Channel, Channel],
) -> None:
    chan, schan = session
    calls: list[str] = []
    called = threading.Event()

    def ready() -> None:
        # the thread reading the socket, without the transport lock: a send
        # that has room must not wait here
        calls.append(threading.current_thread().name)
        called.set()

    chan.set_send_ready_callback(ready)
    window = chan.out_window_size
    chan.setblocking(False)
    sent = 0
    while chan.send_ready():
        sent += chan.send(b"x" * 65536)
    assert sent == window and not chan.send_ready()
    assert not called.is_set()  # nothing came back yet: no call
    got = 0
    while got < sent:  # the server reads: its window adjusts reopen ours
        got += len(schan.recv(sent - got))
    assert called.wait(10)
    assert chan.send_ready() and chan.send(b"y") == 1
    chan.set_send_ready_callback(None)
    before = len(calls)
    assert schan.recv(1) == b"y"
    chan.set_send_ready_callback(ready)
    called.clear()
    schan.close()
    assert called.wait(10)  # closing counts: a loop waiting for room must look again
    assert chan.send_ready()  # a closed channel never blocks a sender
    assert len(calls) > before


def test_a_failing_send_ready_callback_does_not_end_the_transport(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    chan, schan = open_session_pair(ct, st)
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("bug in the callback")

    chan.set_send_ready_callback(broken)
    schan.close()  # the client's reader thread calls it (and logs its failure)
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls
    chan2 = ct.open_session()  # the transport lives on
    schan2 = st.accept(10)
    assert schan2 is not None
    schan2.sendall(b"still here")
    assert chan2.recv(100) == b"still here"


def test_fileno_select(session: tuple[Channel, Channel]) -> None:
    chan, schan = session
    fd = chan.fileno()
    assert select.select([fd], [], [], 0.1)[0] == []
    schan.send(b"ping")
    assert select.select([chan], [], [], 5)[0] == [chan]
    assert chan.recv_ready()
    assert chan.recv(100) == b"ping"
    assert not chan.recv_ready()
    assert select.select([fd], [], [], 0.1)[0] == []
    schan.close()
    assert select.select([fd], [], [], 5)[0] == [fd]
    assert chan.recv(10) == b""


def test_makefile_lines_and_stderr(session: tuple[Channel, Channel]) -> None:
    chan, schan = session
    out = schan.makefile("w")
    out.write("line one\nline two\n")
    out.flush()
    err = schan.makefile_stderr("wb")
    err.write(b"bad\n")
    err.flush()
    schan.shutdown_write()
    f = chan.makefile("r")
    assert f.readline() == "line one\n"
    assert list(f) == ["line two\n"]
    assert chan.makefile_stderr("rb").read() == b"bad\n"


def test_combine_stderr(session: tuple[Channel, Channel]) -> None:
    chan, schan = session
    assert chan.set_combine_stderr(True) is False
    schan.sendall_stderr(b"E")
    schan.sendall(b"O")
    schan.close()
    got = b""
    while True:
        d = chan.recv(10)
        if not d:
            break
        got += d
    assert sorted(got) == sorted(b"EO") and not chan.recv_stderr_ready()


def test_shutdown_write_sends_eof(session: tuple[Channel, Channel]) -> None:
    chan, schan = session
    chan.sendall(b"data")
    chan.shutdown(1)
    assert schan.recv(10) == b"data"
    assert schan.recv(10) == b""
    with pytest.raises(OSError):
        chan.send(b"more")
    schan.send(b"still open")
    assert chan.recv(20) == b"still open"


def test_exit_signal(session: tuple[Channel, Channel]) -> None:
    chan, schan = session
    schan.send_exit_signal("TERM", False, "killed")
    schan.close()
    assert chan.recv_exit_status() == -1
    assert chan.exit_signal == ("TERM", False, "killed")


def test_large_transfer_both_ways(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    data = hashlib.sha256(b"seed").digest() * (8 * 1024 * 1024 // 32)
    _echo_roundtrip(ct, st, data)


def test_rekey_while_data_flows(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    chan = ct.open_session()
    schan = st.accept(10)
    assert schan is not None
    blob = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    got = hashlib.sha256()
    total = 0

    def reader() -> None:
        nonlocal total
        while True:
            d = schan.recv(1 << 20)
            if not d:
                return
            got.update(d)
            total += len(d)

    th = threading.Thread(target=reader)
    th.start()
    for i in range(16):
        chan.sendall(blob)
        digest.update(blob)
        if i % 4 == 1:
            ct.renegotiate_keys()
        if i % 4 == 3:
            st.renegotiate_keys()
    chan.shutdown_write()
    th.join(20)
    assert total == 16 * len(blob) and got.digest() == digest.digest()
    assert ct._events.kex_count >= 5


def test_automatic_rekey_by_bytes() -> None:
    def configure(ct: Transport, st: Transport) -> None:
        ct.rekey_bytes = 512 * 1024
        st.rekey_bytes = 700 * 1024

    ct, st, _ = make_pair(configure=configure)
    try:
        ct.auth_password("bob", "pw")
        _echo_roundtrip(ct, st, b"r" * (4 * 1024 * 1024))
        assert ct._events.kex_count >= 5 and st._events.kex_count >= 5
    finally:
        ct.close()
        st.close()


def test_fifty_channels_at_once(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    chans = [ct.open_session() for _ in range(50)]
    schans = [st.accept(10) for _ in range(50)]
    assert all(s is not None for s in schans)
    results: dict[int, bytes] = {}

    def serve(s: Channel) -> None:
        buf = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.sendall(hashlib.sha256(bytes(buf)).digest())
        s.close()

    def client(i: int, c: Channel) -> None:
        c.sendall(bytes([i]) * (50000 + i * 997))
        c.shutdown_write()
        results[i] = c.recv(64)

    threads = [threading.Thread(target=serve, args=(s,)) for s in schans]
    threads += [threading.Thread(target=client, args=(i, c)) for i, c in enumerate(chans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for i in range(50):
        assert results[i] == hashlib.sha256(bytes([i]) * (50000 + i * 997)).digest()


def test_slow_reader_stalls_only_its_channel(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    stalled, fast = ct.open_session(), ct.open_session()
    s_stalled, s_fast = st.accept(10), st.accept(10)
    assert s_stalled is not None and s_fast is not None
    s_stalled.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s_stalled.sendall(b"s" * (4 * ct.default_window_size))  # nobody reads it
    s_fast.sendall(b"f" * 100000)
    got = b""
    while len(got) < 100000:
        got += fast.recv(65536)
    assert got == b"f" * 100000
    assert stalled.recv_ready()


# -- open_channel kinds, global requests, forwarding -------------------------------------


def test_direct_tcpip_channel(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, srv = pair
    ct.auth_password("bob", "pw")
    chan = ct.open_channel("direct-tcpip", ("example.com", 80), ("127.0.0.1", 5555))
    schan = st.accept(10)
    assert schan is not None and schan.origin_addr == ("127.0.0.1", 5555)
    assert ("direct-tcpip", ("127.0.0.1", 5555), ("example.com", 80)) in srv.requests
    chan.send(b"GET /")
    assert schan.recv(10) == b"GET /"
    with pytest.raises(ChannelException) as info:
        ct.open_channel("direct-tcpip", ("example.com", 1), ("127.0.0.1", 5555))
    assert info.value.code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
    with pytest.raises(ChannelException):
        ct.open_channel("x11", src_addr=("127.0.0.1", 6000))


def test_global_requests(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, srv = pair
    ct.auth_password("bob", "pw")
    reply = ct.global_request("echo@test", (41,), wait=True)
    assert isinstance(reply, Message)
    assert reply.get_int() == 42 and reply.get_text() == "pong"
    assert ct.global_request("no@test", wait=True) is None
    assert isinstance(ct.global_request("yes@test"), Message)
    assert ct.global_request("yes@test", wait=False) is None
    assert ("global", "yes@test") in srv.requests


def test_port_forward_requests(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, srv = pair
    ct.auth_password("bob", "pw")
    got: list[tuple[Any, ...]] = []
    done = threading.Event()

    def handler(chan: Channel, origin: tuple[str, int], server: tuple[str, int]) -> None:
        got.append((origin, server))
        done.set()

    assert ct.request_port_forward("127.0.0.1", 0, handler) == 4242
    assert ct.request_port_forward("127.0.0.1", 8022) == 8022
    ct._channels.forward_handler = handler
    fwd = st.open_forwarded_tcpip_channel(("10.0.0.1", 1234), ("127.0.0.1", 4242))
    assert done.wait(10)
    assert got == [(("10.0.0.1", 1234), ("127.0.0.1", 4242))]
    fwd.close()
    ct.cancel_port_forward("127.0.0.1", 4242)
    assert srv.forwards == [("127.0.0.1", 0), ("127.0.0.1", 8022), ("cancel", 4242)]


def test_client_refuses_unrequested_forwarded_channels(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    with pytest.raises(ChannelException):
        st.open_channel("session")


class EchoHandler(SubsystemHandler):
    """Echoes everything back, upper-cased; records its thread."""

    threads: list[str] = []

    def start_subsystem(self, name: str, transport: Transport, channel: Channel) -> None:
        EchoHandler.threads.append(threading.current_thread().name)
        assert isinstance(self.get_server(), Server)
        while True:
            d = channel.recv(1024)
            if not d:
                return
            channel.sendall(d.upper())


def test_subsystem_handlers_run_in_their_own_threads(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    st.set_subsystem_handler("echo", EchoHandler)
    ct.auth_password("bob", "pw")
    chans = [ct.open_session() for _ in range(3)]
    for c in chans:
        assert c.invoke_subsystem("echo") is True
    for i, c in enumerate(chans):
        c.sendall(f"hello {i}".encode())
        assert c.recv(100) == f"HELLO {i}".encode()
        c.shutdown_write()
        assert c.recv(100) == b""  # finish_subsystem closed it
    assert len(set(EchoHandler.threads[-3:])) == 3
    other = ct.open_session()
    assert other.invoke_subsystem("nope") is False


# -- misc API ----------------------------------------------------------------------------


def test_send_ignore_keepalive_hexdump(pair: tuple[Transport, Transport, Server], caplog: Any) -> None:
    ct, st, _ = pair
    ct.auth_password("bob", "pw")
    ct.set_log_channel("paramiko.test")
    assert ct.get_log_channel() == "paramiko.test"
    with caplog.at_level(logging.DEBUG, logger="paramiko.test"):
        ct.set_hexdump(True)
        assert ct.get_hexdump()
        ct.send_ignore()
        ct.send_ignore(5)
        ct.set_hexdump(False)
    assert any("OUT:" in r.getMessage() for r in caplog.records)
    before = st._core.packets_in  # type: ignore[union-attr]
    ct.set_keepalive(1)
    deadline = time.monotonic() + 10
    while st._core.packets_in == before and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    assert st._core.packets_in > before  # type: ignore[union-attr]
    ct.set_keepalive(0)


def test_transport_from_address_forms() -> None:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(2)
    port = lsock.getsockname()[1]
    servers: list[Transport] = []

    def accept() -> None:
        for _ in range(2):
            conn, _ = lsock.accept()
            st = Transport(conn)
            st.add_server_key(host_key("ed25519"))
            servers.append(st)
            threading.Thread(target=serve_quietly, args=(st, Server()), daemon=True).start()

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    clients = [Transport(f"127.0.0.1:{port}"), Transport(("127.0.0.1", port))]
    try:
        for ct in clients:
            ct.start_client(timeout=10)
            assert ct.auth_password("bob", "pw") == []
            assert ct.getpeername()[1] == port
    finally:
        for t in clients + servers:
            t.close()
        lsock.close()


def test_start_client_event_form() -> None:
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    threading.Thread(target=serve_quietly, args=(st, Server()), daemon=True).start()
    ct = Transport(a)
    ev = threading.Event()
    try:
        ct.start_client(ev)
        assert ev.wait(10) and ct.is_active()
    finally:
        ct.close()
        st.close()


def test_start_client_against_garbage_fails_cleanly() -> None:
    a, b = socket.socketpair()
    ct = Transport(a)
    b.sendall(b"SSH-2.0-x\r\n" + b"\xff" * 64)
    try:
        with pytest.raises(SSHException):
            ct.start_client(timeout=10)
        assert not ct.is_active()
    finally:
        ct.close()
        b.close()


def test_start_client_times_out() -> None:
    a, b = socket.socketpair()
    ct = Transport(a)
    try:
        with pytest.raises(SSHException):
            ct.start_client(timeout=0.5)
    finally:
        ct.close()
        b.close()


# -- closing while things wait -------------------------------------------------------------


@pytest.mark.parametrize("closer", ["client", "server"])
def test_close_wakes_every_waiter(closer: str) -> None:
    ct, st, _ = make_pair()
    ct.auth_password("bob", "pw")
    chan = ct.open_session()
    schan = st.accept(10)
    assert schan is not None
    outcomes: dict[str, str] = {}

    def wait_recv() -> None:
        outcomes["recv"] = repr(chan.recv(10))

    def wait_status() -> None:
        outcomes["status"] = repr(chan.recv_exit_status())

    def wait_send() -> None:
        try:
            chan.sendall(b"x" * (8 * ct.default_window_size))
            outcomes["send"] = "done"
        except (OSError, SSHException) as exc:
            outcomes["send"] = type(exc).__name__

    def wait_accept() -> None:
        outcomes["accept"] = repr(st.accept())

    threads = [threading.Thread(target=f) for f in (wait_recv, wait_status, wait_send, wait_accept)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    (ct if closer == "client" else st).close()
    if closer == "client":
        st.close()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert outcomes["recv"] == "b''" and outcomes["status"] == "-1"
    assert outcomes["accept"] == "None"
    assert not ct.is_active()
    with pytest.raises(SSHException):
        ct.open_session()
    ct.close()
    st.close()


def test_peer_vanishing_mid_transfer() -> None:
    ct, st, _ = make_pair()
    ct.auth_password("bob", "pw")
    chan = ct.open_session()
    assert st.accept(10) is not None
    st.sock.close()  # no DISCONNECT, just gone
    with pytest.raises((OSError, SSHException)):
        for _ in range(1000):
            chan.sendall(b"y" * 65536)
    deadline = time.monotonic() + 10
    while ct.is_active() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not ct.is_active()
    assert isinstance(ct.get_exception(), SSHException)
    ct.close()
    st.close()


def test_start_server_event_form() -> None:
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    done = threading.Event()
    st.start_server(done, Server())
    ct = Transport(a)
    try:
        ct.start_client(timeout=10)
        assert done.wait(10) and st.is_active()
    finally:
        ct.close()
        st.close()


def test_group_exchange_with_loaded_moduli(tmp_path: Any) -> None:
    from ssh_transport.protocol.kex.groups import MODP_3072

    moduli = tmp_path / "moduli"
    moduli.write_text(f"20200101000000 2 6 100 3071 2 {MODP_3072:X}\n")
    try:
        assert Transport.load_server_moduli(str(moduli))

        def configure(ct: Transport, st: Transport) -> None:
            ct.get_security_options().kex = ("diffie-hellman-group-exchange-sha256",)

        ct, st, _ = make_pair(configure=configure)
        try:
            assert ct._core is not None and ct._core.neg.negotiated is not None
            assert ct._core.neg.negotiated.kex == "diffie-hellman-group-exchange-sha256"
            assert ct.auth_password("bob", "pw") == []
        finally:
            ct.close()
            st.close()
    finally:
        Transport._modulus_pack = None
    assert not Transport.load_server_moduli(str(tmp_path / "missing"))


def _raw_client_against_server() -> tuple[Any, socket.socket, Transport]:
    from ssh_transport.protocol.core import SSHProtocol

    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    st.start_server(threading.Event(), Server())
    core = SSHProtocol("client")
    core.start()
    a.settimeout(10)
    a.sendall(core.data_to_send())
    while not core.neg.session_id or core.neg.in_progress:
        core.receive_data(a.recv(65536))
        while core.next_event() is not None:
            pass
        a.sendall(core.data_to_send())
    return core, a, st


@pytest.mark.parametrize(
    "payload",
    [
        bytes([52]),  # USERAUTH_SUCCESS sent by a client
        Message().add_byte(90).add_string("session").add_int(0).add_int(1 << 20).add_int(32768).asbytes(),
        Message().add_byte(80).add_string("tcpip-forward").add_boolean(True).add_string("").add_int(0).asbytes(),
    ],
    ids=["userauth-success", "channel-open", "global-request"],
)
def test_server_transport_disconnects_misbehaving_client(payload: bytes) -> None:
    from ssh_transport.protocol import events as pev

    core, sock, st = _raw_client_against_server()
    try:
        core.send(payload)
        sock.sendall(core.data_to_send())
        seen: list[Any] = []
        while not core.closed:
            data = sock.recv(65536)
            core.receive_data(data)
            try:
                while (e := core.next_event()) is not None:
                    seen.append(e)
            except SSHException:
                break
            if not data:
                break
        assert any(isinstance(e, pev.DisconnectReceived) and e.reason == 2 for e in seen)
        deadline = time.monotonic() + 5
        while st.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not st.is_active() and not st.is_authenticated()
        assert isinstance(st.get_exception(), SSHException)
    finally:
        sock.close()
        st.close()


class SocketLike:
    """Not a socket: just recv/send/close, like ProxyCommand."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def recv(self, n: int) -> bytes:
        return self._sock.recv(n)

    def send(self, data: bytes) -> int:
        return self._sock.send(data)

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def test_transport_over_socket_like_object() -> None:
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    threading.Thread(target=serve_quietly, args=(st, Server()), daemon=True).start()
    ct = Transport(SocketLike(a))
    try:
        ct.start_client(timeout=10)
        ct.auth_password("bob", "pw")
        _echo_roundtrip(ct, st, b"through a socket-like object" * 10000)
    finally:
        ct.close()
        st.close()


def test_no_common_cipher_raises_incompatible_peer() -> None:
    from ssh_wire import IncompatiblePeer

    def configure(ct: Transport, st: Transport) -> None:
        ct.get_security_options().ciphers = ("aes128-ctr",)
        st.get_security_options().ciphers = ("aes256-gcm@openssh.com",)

    with pytest.raises(IncompatiblePeer):
        make_pair(configure=configure)


def test_close_wakes_global_request_waiter() -> None:
    release = threading.Event()

    class Slow(Server):
        def check_global_request(self, kind: str, msg: Message) -> bool:
            release.wait(10)
            return True

    ct, st, _ = make_pair(Slow())
    try:
        ct.auth_password("bob", "pw")
        result: list[Any] = []
        th = threading.Thread(target=lambda: result.append(ct.global_request("slow@test")))
        th.start()
        assert ct.global_request("slow@test", timeout=0.2) is None  # no reply in time
        ct.close()
        th.join(10)
        assert result == [None] and not th.is_alive()
    finally:
        release.set()
        ct.close()
        st.close()


@pytest.mark.parametrize("mode", ["r", "rb", "rU", "r+"])
def test_makefile_modes(session: tuple[Channel, Channel], mode: str) -> None:
    chan, schan = session
    schan.sendall(b"one\r\ntwo\rthree\n")
    schan.shutdown_write()
    f = chan.makefile(mode)
    lines = f.readlines()
    if "b" in mode:
        assert lines == [b"one\r\n", b"two\rthree\n"]
    elif "U" in mode:
        assert lines == ["one\n", "two\n", "three\n"]
    else:
        assert "".join(lines) == "one\r\ntwo\rthree\n"


def test_negotiated_algorithm_attributes() -> None:
    def configure(ct: Transport, st: Transport) -> None:
        from ssh_transport.protocol.negotiation import AlgorithmPreferences

        # different ciphers each way: the client prefers ctr, the server gcm
        ct._prefs = AlgorithmPreferences(ciphers=("aes128-ctr", "aes256-gcm@openssh.com"))
        st._prefs = AlgorithmPreferences(ciphers=("aes256-gcm@openssh.com", "aes128-ctr"))

    ct, st, _ = make_pair(configure=configure)
    try:
        assert ct.local_cipher == ct.remote_cipher == "aes128-ctr"  # the client's choice wins both ways
        assert st.local_cipher == st.remote_cipher == "aes128-ctr"
        assert ct.local_mac == st.remote_mac != ""
        assert ct.host_key_type == "ssh-ed25519"
        assert ct._core is not None and ct._core.neg.negotiated is not None
        n = ct._core.neg.negotiated
        # check the direction mapping with a hand-made asymmetric result
        object.__setattr__(n, "cipher_sc", "aes192-ctr")
        assert (ct.local_cipher, ct.remote_cipher) == ("aes128-ctr", "aes192-ctr")
        st._core.neg.negotiated = n  # type: ignore[union-attr]
        assert (st.local_cipher, st.remote_cipher) == ("aes192-ctr", "aes128-ctr")
    finally:
        ct.close()
        st.close()
