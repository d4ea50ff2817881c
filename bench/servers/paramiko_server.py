"""An exec + SFTP server on paramiko 5.x's own ``ServerInterface``, for bench/server_bench.py.

Written the way a paramiko user would: a thread per connection, a
subprocess per exec request with one thread pumping the channel into its
stdin, one its stderr out, and the handler thread its stdout out; SFTP
through ``paramiko.SFTPServer`` with a small local-filesystem interface
(paramiko ships none). Run it in a venv that has real paramiko:

    python paramiko_server.py HOST_KEY AUTHORIZED_KEYS

It prints ``listening on 127.0.0.1:PORT`` once it accepts connections.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from paramiko.sftp import SFTP_OK

import paramiko

CHUNK = 256 * 1024


def _pump_out(fd: int, send: Any) -> None:
    while True:
        data = os.read(fd, CHUNK)
        if not data:
            return
        send(data)


def _pump_in(channel: paramiko.Channel, fd: int) -> None:
    try:
        while True:
            data = channel.recv(CHUNK)
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    except OSError:
        pass
    finally:
        os.close(fd)


def run_exec(channel: paramiko.Channel, command: str) -> None:
    """The command through the user's shell, wired to the channel."""
    proc = subprocess.Popen(
        [os.environ.get("SHELL") or "/bin/sh", "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    threading.Thread(target=_pump_in, args=(channel, os.dup(proc.stdin.fileno())), daemon=True).start()
    proc.stdin.close()
    err = threading.Thread(target=_pump_out, args=(proc.stderr.fileno(), channel.sendall_stderr), daemon=True)
    err.start()
    _pump_out(proc.stdout.fileno(), channel.sendall)
    err.join()
    channel.send_exit_status(proc.wait())
    channel.shutdown_write()
    channel.close()


class Server(paramiko.ServerInterface):
    """Public-key login for one key; sessions may exec and open the sftp subsystem."""

    def __init__(self, allowed: list[paramiko.PKey]) -> None:
        self.allowed = allowed
        self.commands: dict[int, str] = {}
        self.requested = threading.Condition()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = any(key == k for k in self.allowed)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        # run by the connection's thread once accept() gave it the channel (as
        # paramiko's own demo server does), not here in the transport thread
        with self.requested:
            self.commands[channel.get_id()] = command.decode()
            self.requested.notify_all()
        return True

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        with self.requested:
            self.commands[channel.get_id()] = ""  # nothing to run: the subsystem handler serves it
            self.requested.notify_all()
        return bool(super().check_channel_subsystem_request(channel, name))


class Handle(paramiko.SFTPHandle):
    """An open local file."""

    def stat(self) -> Any:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class LocalFiles(paramiko.SFTPServerInterface):
    """The local filesystem, as much of it as sftp get/put needs."""

    def canonicalize(self, path: str) -> str:
        return os.path.normpath(os.path.join(os.path.expanduser("~"), path))

    def _attrs(self, st: os.stat_result, name: str | None = None) -> paramiko.SFTPAttributes:
        attr = paramiko.SFTPAttributes.from_stat(st)
        if name is not None:
            attr.filename = name
        return attr

    def stat(self, path: str) -> Any:
        try:
            return self._attrs(os.stat(self.canonicalize(path)))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def lstat(self, path: str) -> Any:
        try:
            return self._attrs(os.lstat(self.canonicalize(path)))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def list_folder(self, path: str) -> Any:
        path = self.canonicalize(path)
        try:
            return [self._attrs(os.lstat(os.path.join(path, n)), n) for n in os.listdir(path)]
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def open(self, path: str, flags: int, attr: Any) -> Any:
        path = self.canonicalize(path)
        mode = getattr(attr, "st_mode", None) or 0o666
        try:
            fd = os.open(path, flags | getattr(os, "O_BINARY", 0), mode & 0o7777)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        if flags & os.O_WRONLY:
            fmode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            fmode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            fmode = "rb"
        f = os.fdopen(fd, fmode)
        handle = Handle(flags)
        handle.filename = path
        handle.readfile = f
        handle.writefile = f
        return handle

    def remove(self, path: str) -> int:
        try:
            os.remove(self.canonicalize(path))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return SFTP_OK

    def chattr(self, path: str, attr: Any) -> int:
        try:
            paramiko.SFTPServer.set_file_attr(self.canonicalize(path), attr)
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return SFTP_OK


def serve(sock: socket.socket, host_key: paramiko.PKey, allowed: list[paramiko.PKey]) -> None:
    transport = paramiko.Transport(sock)
    transport.add_server_key(host_key)
    transport.set_subsystem_handler("sftp", paramiko.SFTPServer, LocalFiles)
    server = Server(allowed)
    try:
        transport.start_server(server=server)
    except (paramiko.SSHException, EOFError, OSError):
        return
    while transport.is_active():
        channel = transport.accept(1.0)
        if channel is None:
            continue
        chanid = channel.get_id()
        with server.requested:
            server.requested.wait_for(lambda c=chanid: c in server.commands, 10.0)  # type: ignore[misc]
            command = server.commands.pop(chanid, None)
        if command:
            threading.Thread(target=run_exec, args=(channel, command), daemon=True).start()


def main() -> int:
    host_key = paramiko.Ed25519Key.from_private_key_file(sys.argv[1])
    allowed = []
    with open(sys.argv[2]) as f:
        for line in f:
            kind, blob = line.split()[:2]
            if kind == "ssh-ed25519":
                allowed.append(paramiko.Ed25519Key(data=base64.b64decode(blob)))
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(conn, host_key, allowed), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
