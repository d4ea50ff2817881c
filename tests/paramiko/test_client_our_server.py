"""SSHClient against our own server: password auth, the keyboard-interactive
fallback, and wrong credentials (OpenSSH's sshd fixture allows keys only)."""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Iterator

import pytest

import paramiko


class PasswordOrInteractiveServer(paramiko.ServerInterface):
    """Accepts user 'me' with 'pw', by password or keyboard-interactive per ``methods``."""

    def __init__(self, methods: str) -> None:
        self.methods = methods
        self.rounds = 0

    def get_allowed_auths(self, username: str) -> str:
        return self.methods

    def check_auth_password(self, username: str, password: str) -> int:
        if "password" in self.methods and username == "me" and hmac.compare_digest(password, "pw"):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> paramiko.InteractiveQuery | int:
        if "keyboard-interactive" not in self.methods or username != "me":
            return paramiko.AUTH_FAILED
        return paramiko.InteractiveQuery("login", "", ("Password: ", False))

    def check_auth_interactive_response(self, responses: list[str]) -> int:
        self.rounds += 1
        ok = len(responses) == 1 and hmac.compare_digest(responses[0], "pw")
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            channel.sendall(b"ran " + command)
            channel.send_exit_status(5)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


@pytest.fixture(params=["password", "keyboard-interactive"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[int, PasswordOrInteractiveServer]]:
    host_key = paramiko.Ed25519Key.generate()
    iface = PasswordOrInteractiveServer(request.param)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            t = paramiko.Transport(sock)
            transports.append(t)
            t.add_server_key(host_key)
            try:
                t.start_server(server=iface)
            except paramiko.SSHException:
                continue

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield port, iface
    finally:
        listener.close()
        for t in transports:
            t.close()


def _client() -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    return client


@pytest.mark.timeout(60)
def test_password_login_and_exec(server: tuple[int, PasswordOrInteractiveServer]) -> None:
    """connect(password=...) gets in by password, or by the keyboard-interactive fallback."""
    port, iface = server
    with _client() as client:
        client.connect("127.0.0.1", port, "me", "pw", allow_agent=False, look_for_keys=False, timeout=10)
        _stdin, stdout, _stderr = client.exec_command("hello", timeout=10)
        assert stdout.read() == b"ran hello"
        assert stdout.channel.recv_exit_status() == 5
    if iface.methods == "keyboard-interactive":
        assert iface.rounds == 1


@pytest.mark.timeout(60)
def test_wrong_password_is_refused(server: tuple[int, PasswordOrInteractiveServer]) -> None:
    port, _iface = server
    with _client() as client, pytest.raises(paramiko.AuthenticationException):
        client.connect("127.0.0.1", port, "me", "wrong", allow_agent=False, look_for_keys=False, timeout=10)
