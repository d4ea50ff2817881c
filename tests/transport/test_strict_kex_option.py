"""``Transport(strict_kex=..., server_sig_algs=...)``, as in paramiko: each
side may stop offering strict kex (then neither uses it), and a server may
skip the EXT_INFO that lists its signature algorithms."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport
from ssh_transport.protocol.negotiation import STRICT_CLIENT, AlgorithmPreferences, KexNegotiator
from ssh_transport.protocol.packets import PacketReader, PacketWriter
from support.corepair import host_key

pytestmark = pytest.mark.timeout(60)


class Server(ServerInterface):
    """Password "pw" for anyone; session channels allowed."""

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if password == "pw" else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED


def _pair(client_opts: dict[str, Any], server_opts: dict[str, Any]) -> tuple[Transport, Transport]:
    a, b = socket.socketpair()
    st = Transport(b, **server_opts)
    st.add_server_key(host_key("ed25519"))
    ct = Transport(a, **client_opts)
    th = threading.Thread(target=st.start_server, kwargs={"server": Server()})
    th.start()
    try:
        ct.start_client(timeout=20)
    finally:
        th.join(20)
    return ct, st


@pytest.mark.parametrize(
    ("client_strict", "server_strict"), [(True, True), (False, True), (True, False), (False, False)]
)
def test_strict_kex_only_when_both_offer_it(client_strict: bool, server_strict: bool) -> None:
    ct, st = _pair({"strict_kex": client_strict}, {"strict_kex": server_strict})
    try:
        both = client_strict and server_strict
        assert ct.agreed_on_strict_kex is both and st.agreed_on_strict_kex is both
        assert ct.advertise_strict_kex is client_strict
        # the session works either way
        ct.auth_password("bob", "pw")
        chan = ct.open_session()
        schan = st.accept(10)
        assert schan is not None
        chan.sendall(b"ping")
        assert schan.recv(4) == b"ping"
    finally:
        ct.close()
        st.close()


@pytest.mark.parametrize("offer", [True, False])
def test_strict_kex_marker_is_not_offered_when_off(offer: bool) -> None:
    neg = KexNegotiator(
        "client", AlgorithmPreferences(), PacketWriter(), PacketReader(), lambda p: None, strict_kex=offer
    )
    assert (STRICT_CLIENT.encode() in neg.build_kexinit()) is offer


@pytest.mark.parametrize("send", [True, False])
def test_server_sig_algs_can_be_withheld(send: bool) -> None:
    ct, st = _pair({}, {"server_sig_algs": send})
    try:
        ct.auth_password("bob", "pw")
        assert ("server-sig-algs" in ct.server_extensions) is send
        assert st.server_sig_algs is send
    finally:
        ct.close()
        st.close()
