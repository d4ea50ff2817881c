"""Helpers for the SFTP tests: a handle on a remote directory, OpenSSH's
sftp-server as a subprocess, and our server on a socketpair in a thread."""

from __future__ import annotations

import posixpath
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer, SocketStream, spawn_sftp_server
from ssh_sftp.interface import SFTPServerInterface
from ssh_transport.server import ServerInterface
from support.peers import missing_peer
from support.sshd import sftp_server_path


@dataclass
class Remote:
    """A client, the remote path of the served directory, and its local path."""

    client: SFTPClient
    base: str
    local: Path
    kind: str

    def r(self, *names: str) -> str:
        """A remote path below the served directory."""
        return posixpath.join(self.base, *names)


def openssh_server(*args: str) -> Any:
    """A stream to a fresh OpenSSH sftp-server (skips if it is absent)."""
    path = sftp_server_path()
    if path is None:
        missing_peer("OpenSSH sftp-server is not installed")
    assert path is not None
    return spawn_sftp_server(path, *args)


class OurServer:
    """Our SFTPServer on one end of a socketpair, run in a thread."""

    def __init__(self, path: Path, si: type[SFTPServerInterface] = LocalSFTPServerInterface, **kw: Any) -> None:
        """Start serving ``path`` with interface class ``si``."""
        a, b = socket.socketpair()
        a.settimeout(30)
        b.settimeout(30)
        self.client_stream = SocketStream(a)
        self.server_stream = SocketStream(b)
        if issubclass(si, LocalSFTPServerInterface):
            kw.setdefault("root", str(path))
        self.server = SFTPServer(self.server_stream, "sftp", ServerInterface(), si, **kw)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.start_subsystem("sftp", None, self.server_stream)
        finally:
            self.server.finish_subsystem()

    def close(self) -> None:
        """Close the client end and wait for the server thread."""
        self.client_stream.close()
        self.thread.join(10)
        assert not self.thread.is_alive()
