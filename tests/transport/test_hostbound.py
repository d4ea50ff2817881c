"""The threaded client signs publickey requests outside the transport lock,
binds them to the server's host key when the server offers
publickey-hostbound-v00@openssh.com, and reports the session binding an
agent's session-bind takes. Our client against our server over a socketpair."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import ssh_keys
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, ServerInterface, Transport
from ssh_wire import Message, SSHException
from support.corepair import host_key

pytestmark = pytest.mark.timeout(60)

USER_KEY = ssh_keys.Ed25519Key.generate()


class Server(ServerInterface):
    def __init__(self) -> None:
        self.keys: list[Any] = []

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        self.keys.append(key)
        return AUTH_SUCCESSFUL if key == USER_KEY else AUTH_FAILED


@pytest.fixture
def pair() -> Iterator[tuple[Transport, Transport, Server]]:
    a, b = socket.socketpair()
    server = Server()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    st.start_server(event=threading.Event(), server=server)
    ct = Transport(a)
    try:
        ct.start_client(timeout=20)
        yield ct, st, server
    finally:
        ct.close()
        st.close()


class WatchingKey:
    """A key that, while signing, has another thread use the transport: if
    the transport lock were held around the signature, that thread could not
    finish (the way an agent round trip used to stall the transport)."""

    def __init__(self, key: Any, transport: Transport) -> None:
        self.key = key
        self.transport = transport
        self.signed: list[bytes] = []
        self.other_thread_done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.key, name)

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Any:
        def use_transport() -> None:
            self.transport.get_session_binding()
            self.transport.is_active()

        th = threading.Thread(target=use_transport)
        th.start()
        th.join(30)
        self.other_thread_done = not th.is_alive()
        self.signed.append(bytes(data))
        return self.key.sign_ssh_data(data, algorithm)


def test_client_signs_outside_the_transport_lock(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, _ = pair
    key = WatchingKey(USER_KEY, ct)
    assert ct.auth_publickey("me", key) == []
    assert ct.is_authenticated()
    assert key.other_thread_done and len(key.signed) == 1


def test_our_client_and_server_use_hostbound_auth(
    pair: tuple[Transport, Transport, Server], caplog: pytest.LogCaptureFixture
) -> None:
    ct, _, server = pair
    key = WatchingKey(USER_KEY, ct)
    with caplog.at_level(logging.DEBUG):
        ct.auth_publickey("me", key)
    assert ct.is_authenticated() and server.keys == [USER_KEY]
    assert "publickey-hostbound-v00@openssh.com" in caplog.text
    # the signed data names the method and ends with the server's host key
    m = Message(key.signed[0])
    m.get_string(), m.get_byte(), m.get_text(), m.get_text()
    assert m.get_text() == "publickey-hostbound-v00@openssh.com"
    assert key.signed[0].endswith(Message().add_string(host_key("ed25519").asbytes()).asbytes())


def test_session_binding(pair: tuple[Transport, Transport, Server]) -> None:
    ct, st, _ = pair
    binding = ct.get_session_binding()
    assert binding is not None and binding == st.get_session_binding()
    blob, sid, sig = binding
    assert blob == host_key("ed25519").asbytes() and sid == ct.session_id
    assert host_key("ed25519").verify_ssh_sig(sid, Message(sig))


def test_a_failing_signer_leaves_the_client_usable(pair: tuple[Transport, Transport, Server]) -> None:
    ct, _, _ = pair

    class Broken(WatchingKey):
        def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Any:
            raise SSHException("the token was removed")

    with pytest.raises(SSHException, match="token"):
        ct.auth_publickey("me", Broken(USER_KEY, ct))
    assert ct.auth_publickey("me", USER_KEY) == []
