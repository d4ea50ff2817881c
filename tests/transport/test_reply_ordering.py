"""A server's reply to a channel request always precedes output from a
handler thread that the request's hook started (a hook that starts a thread
which writes and closes at once used to race the reply, so the client saw
the exec as refused)."""

from __future__ import annotations

import socket
import threading

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import AUTH_SUCCESSFUL, OPEN_SUCCEEDED, Channel, ServerInterface, Transport


class EagerServer(ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        def answer() -> None:
            channel.sendall(b"out:" + command)
            channel.send_exit_status(3)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


@pytest.mark.timeout(60)
def test_exec_reply_is_never_overtaken_by_handler_output() -> None:
    a, b = socket.socketpair()
    server = Transport(b)
    server.add_server_key(Ed25519Key.generate())
    client = Transport(a)
    try:
        threading.Thread(target=server.start_server, kwargs={"server": EagerServer()}, daemon=True).start()
        client.start_client(timeout=10)
        client.auth_none("me")
        for i in range(40):
            chan = client.open_session()
            chan.settimeout(10)
            assert chan.exec_command(f"run {i}") is not False
            data = b""
            while chunk := chan.recv(1024):
                data += chunk
            assert data == f"out:run {i}".encode()
            assert chan.recv_exit_status() == 3
    finally:
        client.close()
        server.close()
