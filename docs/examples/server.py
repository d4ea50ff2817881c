"""An SSH server: password and key logins, exec and a shell, SFTP, port forwarding.

The server guide (docs/guides/server.rst) shows this file; tests/docs runs it
and connects to it with the client guide's code and with OpenSSH's clients.
"""

from __future__ import annotations

import hmac
import socket
import subprocess
import threading

import paramiko
from ssh_sftp import LocalSFTPServerInterface


class Server(paramiko.ServerInterface):
    """One per connection: who may log in, and what they may open."""

    def __init__(
        self, users: dict[str, str], authorized_keys: list[paramiko.PKey]
    ) -> None:
        self.users = users  # username -> password
        self.authorized_keys = authorized_keys
        self.forwards: dict[int, socket.socket] = {}  # channel id -> connected socket

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        expected = self.users.get(username)
        if expected is not None and hmac.compare_digest(expected, password):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        # called once to ask, once more with the signature already verified
        return (
            paramiko.AUTH_SUCCESSFUL
            if key in self.authorized_keys
            else paramiko.AUTH_FAILED
        )

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(
        self, channel: paramiko.Channel, command: bytes
    ) -> bool:
        threading.Thread(
            target=run_command, args=(channel, command), daemon=True
        ).start()
        return True

    def check_channel_pty_request(
        self,
        channel: paramiko.Channel,
        term: bytes,
        width: int,
        height: int,
        pixelwidth: int,
        pixelheight: int,
        modes: bytes,
    ) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        threading.Thread(target=echo_shell, args=(channel,), daemon=True).start()
        return True

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        # the client's "ssh -L": connect now, so a refused port is refused to the client
        try:
            self.forwards[chanid] = socket.create_connection(destination, timeout=10)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        return paramiko.OPEN_SUCCEEDED


def run_command(channel: paramiko.Channel, command: bytes) -> None:
    """Run ``command`` in a shell; send its output, then its exit status."""
    result = subprocess.run(command, shell=True, capture_output=True, timeout=60)
    channel.sendall(result.stdout)
    channel.sendall_stderr(result.stderr)
    channel.send_exit_status(result.returncode)
    channel.close()


def echo_shell(channel: paramiko.Channel) -> None:
    """A toy shell: echo each line back until "exit"."""
    channel.sendall(b"$ ")
    with channel.makefile("rb") as lines:
        for line in lines:
            if line.strip() == b"exit":
                break
            channel.sendall(b"you typed: " + line.strip() + b"\r\n$ ")
    channel.send_exit_status(0)
    channel.close()


def pipe(channel: paramiko.Channel, sock: socket.socket) -> None:
    """Copy bytes between a forwarded channel and its socket until both ends close."""

    def copy_to_socket() -> None:
        while data := channel.recv(65536):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    upstream = threading.Thread(target=copy_to_socket, daemon=True)
    upstream.start()
    while data := sock.recv(65536):
        channel.sendall(data)
    channel.shutdown_write()
    upstream.join(30)
    channel.close()
    sock.close()


def serve_connection(
    sock: socket.socket, host_key: paramiko.PKey, server: Server, root: str
) -> None:
    """Run one client's connection until it closes."""
    with paramiko.Transport(sock) as transport:
        transport.add_server_key(host_key)
        # SFTP rooted at `root`: nothing outside it is reachable, symlinks included
        transport.set_subsystem_handler(
            "sftp", paramiko.SFTPServer, LocalSFTPServerInterface, root=root
        )
        try:
            transport.start_server(server=server)
        except paramiko.SSHException:  # the client left or failed during the handshake
            return
        # sessions are handled by the check_channel_* calls above; forwarded
        # connections arrive here, each after its check_channel_direct_tcpip_request
        while transport.is_active():
            channel = transport.accept(timeout=1)
            if channel is not None and channel.get_id() in server.forwards:
                forwarded = server.forwards.pop(channel.get_id())
                threading.Thread(
                    target=pipe, args=(channel, forwarded), daemon=True
                ).start()


def serve(
    listener: socket.socket,
    host_key: paramiko.PKey,
    users: dict[str, str],
    keys: list[paramiko.PKey],
    root: str,
) -> None:
    """Accept connections on ``listener`` until it is shut down."""
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:  # listener.shutdown() was called: stop serving
            return
        server = Server(users, keys)
        threading.Thread(
            target=serve_connection, args=(sock, host_key, server, root), daemon=True
        ).start()


if __name__ == "__main__":
    import sys

    listener = socket.create_server(("127.0.0.1", 2222))
    serve(
        listener,
        paramiko.Ed25519Key.generate(),
        {"me": "secret"},
        [],
        sys.argv[1] if len(sys.argv) > 1 else ".",
    )
