"""Regressions found in the review of the transport core and driver."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from ssh_transport import AUTH_PARTIALLY_SUCCESSFUL, ChannelException, Transport
from ssh_transport.protocol import constants as c
from ssh_transport.protocol import events as ev
from ssh_wire import AuthenticationException, Message, ProtocolError
from support.corepair import CorePair
from transport.test_transport_pair import USER_KEY, Server, make_pair

pytestmark = pytest.mark.timeout(30)


def test_client_refuses_forwarded_tcpip_it_never_asked_for() -> None:
    ct, st, _ = make_pair()
    try:
        ct.auth_password("bob", "pw")
        with pytest.raises(ChannelException):
            st.open_forwarded_tcpip_channel(("10.0.0.1", 1234), ("127.0.0.1", 4242))
        assert ct.accept(0.1) is None
        # Once asked for (no handler), forwarded channels come through accept().
        assert ct.request_port_forward("127.0.0.1", 8022) == 8022
        fwd = st.open_forwarded_tcpip_channel(("10.0.0.1", 1234), ("127.0.0.1", 8022))
        chan = ct.accept(10)
        assert chan is not None and chan.origin_addr == ("10.0.0.1", 1234)
        fwd.close()
        ct.cancel_port_forward("127.0.0.1", 8022)
        with pytest.raises(ChannelException):
            st.open_forwarded_tcpip_channel(("10.0.0.1", 1234), ("127.0.0.1", 8022))
    finally:
        ct.close()
        st.close()


def test_channel_request_reply_wait_honours_the_channel_timeout() -> None:
    release = threading.Event()

    class SlowServer(Server):
        def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
            release.wait(10)
            return True

    ct, st, _ = make_pair(SlowServer())
    try:
        ct.auth_password("bob", "pw")
        chan = ct.open_session()
        chan.settimeout(0.3)
        with pytest.raises(socket.timeout):
            chan.exec_command("true")
    finally:
        release.set()
        ct.close()
        st.close()


def test_repeated_none_requests_count_as_failures() -> None:
    """Only the first "none" probe is free; endless ones would hold a
    pre-auth session open forever."""
    pair = CorePair(max_auth_attempts=3)
    pair.kex()
    with pytest.raises(ProtocolError):
        for _ in range(4):
            pair.client.auth_none("bob")
            pair.pump()
    assert pair.server.closed


def test_server_refuses_user_keys_of_disabled_pubkey_algorithms() -> None:
    def configure(ct: Transport, st: Transport) -> None:
        st._disabled_pubkeys = ("ecdsa-sha2-nistp256",)

    ct, st, _ = make_pair(configure=configure)
    try:
        assert "ecdsa-sha2-nistp256" not in ct.server_extensions.get("server-sig-algs", b"").decode()
        with pytest.raises(AuthenticationException):
            ct.auth_publickey("bob", USER_KEY)
        assert not st.is_authenticated()
    finally:
        ct.close()
        st.close()


def test_unsigned_publickey_query_never_reports_partial_success() -> None:
    """A query proves nothing: a hook's "partially successful" must become
    PK_OK, not USERAUTH_FAILURE with partial success set."""
    pair = CorePair()

    def answer(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested) and e.method == "publickey":
            pair.server.auth_result(AUTH_PARTIALLY_SUCCESSFUL, ["password"])
            return True
        return False

    pair.on_server_event = answer
    pair.kex()
    pair.client.auth_none("bob")
    pair.pump()
    ca = pair.client.client_auth
    assert ca is not None
    ca.method = "publickey"  # an unsigned query, as other clients send
    m = Message().add_byte(c.MSG_USERAUTH_REQUEST).add_string("bob").add_string("ssh-connection")
    m.add_string("publickey").add_boolean(False).add_string(USER_KEY.get_name()).add_string(USER_KEY.asbytes())
    pair.client.send(m.asbytes())
    pair.pump()
    assert not [e for e in pair.client_of(ev.AuthFailed) if e.partial]
    assert pair.client_of(ev.AuthPublicKeyAccepted)
