"""The server hangs up on a client that does not authenticate within
``login_grace_time`` (OpenSSH's LoginGraceTime), and leaves an
authenticated one alone."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport


class NoneServer(ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED


def _pair(grace: float) -> tuple[Transport, Transport]:
    a, b = socket.socketpair()
    server = Transport(b)
    server.add_server_key(Ed25519Key.generate())
    server.login_grace_time = grace
    threading.Thread(target=server.start_server, kwargs={"server": NoneServer()}, daemon=True).start()
    client = Transport(a)
    client.start_client(timeout=10)
    return client, server


def _wait_inactive(t: Transport, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while t.is_active() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not t.is_active()


@pytest.mark.timeout(30)
def test_unauthenticated_client_is_dropped_after_the_grace_time() -> None:
    client, server = _pair(0.3)
    try:
        assert _wait_inactive(server, 10)
        assert _wait_inactive(client, 10)
        assert "grace" in str(server.get_exception())
    finally:
        client.close()
        server.close()


@pytest.mark.timeout(30)
def test_authenticated_client_is_left_alone() -> None:
    client, server = _pair(0.3)
    try:
        client.auth_none("me")
        time.sleep(0.8)
        assert client.is_active() and server.is_active()
        chan = client.open_session()  # still usable
        chan.close()
    finally:
        client.close()
        server.close()
