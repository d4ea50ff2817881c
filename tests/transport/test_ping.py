"""``ping@openssh.com`` (OpenSSH PROTOCOL 1.9): a server advertises it in
EXT_INFO, either side answers a PING with a PONG echoing its data once the
user is authenticated (before that, and during a key exchange, a PING is
dropped, as OpenSSH drops it), a PONG is never answered, and
``Transport.ping()`` times a round trip to a peer that advertised it.
OpenSSH 9.2's sshd (the one on the test machines) predates the extension
(9.5), so against it ``ping()`` must refuse cleanly."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import Transport
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.constants import MSG_PING, MSG_PONG
from ssh_wire import Message, ProtocolError, SSHException
from support.corepair import CorePair
from support.peers import missing_peer
from support.sshd import SSHD, sshd_available, start_sshd
from support.sshserver import RunningServer, serve

pytestmark = pytest.mark.timeout(60)


def ping_payload(data: bytes, kind: int = MSG_PING) -> bytes:
    return Message().add_byte(bytes([kind])).add_string(data).asbytes()


def pongs(events: list[ev.Event]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, ev.PongReceived)]


# -- the core ------------------------------------------------------------------------------


def test_server_advertises_ping_in_ext_info() -> None:
    pair = CorePair()
    pair.kex()
    assert pair.client.extensions.get("ping@openssh.com") == b"0"
    assert pair.client.peer_supports_ping
    # our client sends no EXT_INFO, so the server cannot ping it
    assert not pair.server.peer_supports_ping


def test_ping_pong_after_login() -> None:
    pair = CorePair()
    pair.login()
    pair.client.send_ping(b"hello")
    pair.pump()
    assert pongs(pair.client_events) == [b"hello"]
    assert pongs(pair.server_events) == []  # a PONG is not answered


def test_server_answers_raw_ping_after_login_only() -> None:
    pair = CorePair()
    pair.kex()
    # before authentication: dropped, no PONG (as OpenSSH: no reply in preauth)
    pair.client.send(ping_payload(b"early"))
    pair.pump()
    assert pongs(pair.client_events) == []
    assert not pair.client.closed and not pair.server.closed
    pair.client.auth_password("user", pair.policy.password)
    pair.pump()
    pair.client.send(ping_payload(b"late"))
    pair.pump()
    assert pongs(pair.client_events) == [b"late"]


def test_client_core_answers_a_servers_ping() -> None:
    pair = CorePair()
    pair.login()
    pair.server.send(ping_payload(b"from-server"))
    pair.pump()
    assert pongs(pair.server_events) == [b"from-server"]


def test_unsolicited_pong_is_only_reported() -> None:
    pair = CorePair()
    pair.login()
    pair.server.send(ping_payload(b"stray", MSG_PONG))
    pair.pump()
    assert pongs(pair.client_events) == [b"stray"]
    assert not pair.client.closed


def test_ping_needs_authentication_and_support() -> None:
    pair = CorePair()
    pair.kex()
    with pytest.raises(SSHException):
        pair.client.send_ping(b"x")  # not authenticated yet
    pair.client.auth_password("user", pair.policy.password)
    pair.pump()
    with pytest.raises(SSHException, match=r"ping@openssh\.com"):
        pair.server.send_ping(b"x")  # the client did not advertise it


def test_malformed_ping_is_a_protocol_error() -> None:
    pair = CorePair()
    pair.login()
    pair.client.send(bytes([MSG_PING]) + b"\x00\x00\x00\x09short")
    with pytest.raises(ProtocolError):
        pair.pump()


# -- Transport.ping() -------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with serve([Ed25519Key.generate()]) as running:
        yield running


def connect(host: str, port: int, password: str | None = "secret", user: str = "alice") -> Transport:
    t = Transport(socket.create_connection((host, port), timeout=10))
    t.start_client(timeout=10)
    if password is not None:
        t.auth_password(user, password)
    return t


def test_transport_ping_round_trip(server: RunningServer) -> None:
    t = connect(server.host, server.port)
    try:
        assert t.ping_supported()
        rtts = [t.ping(timeout=10) for _ in range(3)]
        assert all(0 <= r < 10 for r in rtts)
        # channels still work after pings
        chan = t.open_session(timeout=10)
        chan.close()
    finally:
        t.close()


def test_transport_ping_before_login_refused(server: RunningServer) -> None:
    t = connect(server.host, server.port, password=None)
    try:
        with pytest.raises(SSHException):
            t.ping(timeout=5)
    finally:
        t.close()


def test_server_transport_cannot_ping_our_client(server: RunningServer) -> None:
    t = connect(server.host, server.port)
    try:
        st = server.transports[-1]
        assert not st.ping_supported()
        with pytest.raises(SSHException, match=r"ping@openssh\.com"):
            st.ping(timeout=5)
    finally:
        t.close()


def test_ping_on_closed_transport(server: RunningServer) -> None:
    t = connect(server.host, server.port)
    t.close()
    with pytest.raises(SSHException):
        t.ping(timeout=5)


# -- OpenSSH 9.2 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed")
    with start_sshd(tmp_path_factory.mktemp("ping-sshd"), host_key_types=("ed25519",)) as running:
        yield running


def test_sshd_without_ping_extension(sshd: SSHD) -> None:
    """sshd 9.2 does not advertise ping@openssh.com: ``ping()`` refuses
    with an SSHException (newer sshd advertise it and answer)."""
    key = Ed25519Key.from_private_key_file(str(sshd.client_keys["ed25519"]))
    t = Transport(socket.create_connection((sshd.host, sshd.port), timeout=10))
    try:
        t.start_client(timeout=15)
        t.auth_publickey(sshd.user, key)
        if t.ping_supported():  # a newer sshd: it must answer
            assert t.ping(timeout=10) >= 0
        else:
            assert "server-sig-algs" in t.server_extensions
            with pytest.raises(SSHException, match=r"ping@openssh\.com"):
                t.ping(timeout=5)
    finally:
        t.close()
