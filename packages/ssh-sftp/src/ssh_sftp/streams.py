"""Channel-like adapters so SFTP can run over plain file descriptors:
a pair of pipes (``PipeStream``, e.g. a local ``sftp-server`` process or our
own stdin/stdout) or a connected socket (``SocketStream``)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
from typing import Any

__all__ = ["PipeStream", "SocketStream", "spawn_sftp_server"]


class PipeStream:
    """Reads from one descriptor and writes to another, with the parts of
    the ``Channel`` API that SFTP uses (``send``/``sendall``/``recv``/
    ``close``, timeouts, ``get_id``/``get_transport``/``get_name``)."""

    def __init__(self, read_fd: int, write_fd: int, process: subprocess.Popen[bytes] | None = None) -> None:
        """Wrap ``read_fd`` and ``write_fd``; ``process`` (if given) is
        terminated on ``close``."""
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.process = process
        self._timeout: float | None = None
        self._closed = False

    def settimeout(self, timeout: float | None) -> None:
        """Seconds to wait in ``recv``/``send`` before ``socket.timeout``."""
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        """The current timeout."""
        return self._timeout

    def setblocking(self, blocking: int | bool) -> None:
        """False means a zero timeout, True none."""
        self._timeout = None if blocking else 0.0

    def _wait(self, fd: int, writing: bool) -> None:
        """Block until ``fd`` is ready, or raise ``socket.timeout`` (``poll``,
        so descriptors above ``FD_SETSIZE`` work too)."""
        if self._timeout is None:
            return
        poller = select.poll()
        poller.register(fd, select.POLLOUT if writing else select.POLLIN)
        if not poller.poll(self._timeout * 1000.0):
            raise TimeoutError("timed out")

    def recv(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` at end of stream."""
        if self._closed:
            return b""
        self._wait(self.read_fd, False)
        return os.read(self.read_fd, n)

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Write some of ``data``; how much was written."""
        if self._closed:
            raise EOFError("stream closed")
        self._wait(self.write_fd, True)
        try:
            return os.write(self.write_fd, data)
        except BrokenPipeError:
            raise EOFError("peer closed the pipe") from None

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``."""
        view = memoryview(data)
        while len(view):
            view = view[self.send(view) :]

    def close(self) -> None:
        """Close both descriptors (and end the process, if any)."""
        if self._closed:
            return
        self._closed = True
        # End the process first: a thread blocked reading its output then
        # sees end of file instead of waiting forever.
        if self.process is not None:
            try:
                self.process.terminate()
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=5)
        for fd in {self.read_fd, self.write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass

    def get_id(self) -> int:
        """A channel id (always 0: there is one stream)."""
        return 0

    def get_name(self) -> str:
        """A name for logs."""
        return f"pipe:{self.read_fd}/{self.write_fd}"

    def get_transport(self) -> Any:
        """No SSH transport under a pipe."""
        return None

    def fileno(self) -> int:
        """The descriptor to ``select`` on for reading."""
        return self.read_fd


class SocketStream:
    """A connected socket with the channel methods SFTP (and
    ``SFTPServer``) expect; everything else is passed to the socket."""

    def __init__(self, sock: socket.socket) -> None:
        """Wrap ``sock``."""
        self.sock = sock

    def __getattr__(self, name: str) -> Any:
        """Socket methods (send, recv, sendall, settimeout, ...)."""
        return getattr(self.sock, name)

    def close(self) -> None:
        """Shut the socket down both ways and close it (so a peer blocked in
        ``recv`` sees end of stream)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def get_id(self) -> int:
        """A channel id (always 0)."""
        return 0

    def get_name(self) -> str:
        """A name for logs."""
        return "socket"

    def get_transport(self) -> Any:
        """No SSH transport under a plain socket."""
        return None


def spawn_sftp_server(program: str = "/usr/lib/openssh/sftp-server", *args: str) -> PipeStream:
    """Start a local SFTP server program (default OpenSSH's) and return a
    stream talking to it over its stdin/stdout; ``close`` ends it."""
    proc = subprocess.Popen([program, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdin is not None and proc.stdout is not None
    read_fd = os.dup(proc.stdout.fileno())
    write_fd = os.dup(proc.stdin.fileno())
    proc.stdout.close()
    proc.stdin.close()
    return PipeStream(read_fd, write_fd, proc)
