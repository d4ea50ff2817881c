"""``ProxyCommand``: a socket-like object over a subprocess's stdin/stdout.

This is what the ``ProxyCommand`` option of ``ssh_config`` asks for: the SSH
stream goes through a program (``ssh -W %h:%p gateway``, ``nc``, a corporate
proxy helper) instead of a TCP socket. Hand it to ``Transport`` or to
``SSHClient.connect(sock=...)``.

The command runs as OpenSSH runs it: ``$SHELL -c "exec COMMAND"`` (``/bin/sh``
without ``$SHELL``), so quoting, redirections and pipes behave as in
``ssh_config``. Reads honour ``settimeout``; a program that exits with an
error (or cannot be written to) raises ``ProxyCommandFailure`` with what it
wrote to stderr.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections import deque

from ssh_wire import ProxyCommandFailure

__all__ = ["ProxyCommand"]

_STDERR_KEEP = 8192


class ProxyCommand:
    """A subprocess speaking the SSH stream on its stdin/stdout, usable where
    a socket is expected (``send``, ``sendall``, ``recv``, ``recv_into``,
    ``settimeout``, ``close``)."""

    #: Seconds ``close`` waits for the program to exit after SIGTERM.
    CLOSE_TIMEOUT = 2.0

    def __init__(self, command_line: str) -> None:
        """Start ``command_line`` through the shell.

        :raises ProxyCommandFailure: if the program cannot be started.
        """
        self.cmd = command_line
        self.timeout: float | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            self.process = subprocess.Popen(
                [shell, "-c", f"exec {command_line}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,
            )
        except OSError as e:
            raise ProxyCommandFailure(command_line, e.strerror or str(e)) from e
        assert self.process.stdin is not None and self.process.stdout is not None
        self._wfd = self.process.stdin.fileno()
        self._rfd = self.process.stdout.fileno()
        # non-blocking pipes: every wait goes through select, so timeouts hold
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, name="proxycommand-stderr", daemon=True)
        self._stderr_thread.start()

    def __repr__(self) -> str:
        """The command and whether it still runs."""
        state = "closed" if self._closed else f"pid {self.process.pid}"
        return f"<ProxyCommand {self.cmd!r} {state}>"

    # -- socket API ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once ``close`` has been called."""
        return self._closed

    def settimeout(self, timeout: float | None) -> None:
        """Seconds ``recv``/``send`` wait before raising ``socket.timeout``
        (None waits forever)."""
        self.timeout = timeout

    def gettimeout(self) -> float | None:
        """The current timeout (None: blocking)."""
        return self.timeout

    def setblocking(self, flag: bool) -> None:
        """Blocking (``True``) or zero-timeout (``False``) operation."""
        self.timeout = None if flag else 0.0

    def send(self, content: bytes | bytearray | memoryview) -> int:
        """Write some of ``content`` to the program; how many bytes went.

        :raises socket.timeout: the program did not take input in time.
        :raises ProxyCommandFailure: the program has gone away.
        """
        self._check_open()
        if not len(content):
            return 0
        while True:
            self._wait(self._wfd, for_write=True)
            try:
                return os.write(self._wfd, content)
            except BlockingIOError:
                continue
            except OSError as e:
                raise self._failure(e.strerror or str(e)) from e

    def sendall(self, content: bytes | bytearray | memoryview) -> None:
        """Write all of ``content`` (``send`` until done)."""
        view = memoryview(content).cast("B")
        while len(view):
            sent = self.send(view)
            view = view[sent:]

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes from the program, as soon as any are there;
        ``b""`` once it has closed its output (exited normally).

        :raises socket.timeout: nothing arrived within the timeout.
        :raises ProxyCommandFailure: the program exited with an error.
        """
        self._check_open()
        while True:
            self._wait(self._rfd, for_write=False)
            try:
                data = os.read(self._rfd, size)
                break
            except BlockingIOError:
                continue
            except OSError as e:
                if self._closed:
                    return b""
                raise self._failure(e.strerror or str(e)) from e
        if not data and size:
            self._check_exit()
        return data

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0) -> int:
        """Like ``recv`` but into ``buffer`` (at most ``nbytes`` if given)."""
        view = memoryview(buffer).cast("B")
        if nbytes:
            view = view[:nbytes]
        data = self.recv(len(view))
        view[: len(data)] = data
        return len(data)

    def shutdown(self, how: int) -> None:
        """``SHUT_WR`` closes the program's stdin (it sees end of input);
        anything else closes the proxy."""
        if how == socket.SHUT_WR:
            stdin = self.process.stdin
            if stdin is not None and not stdin.closed:
                stdin.close()
        else:
            self.close()

    def close(self) -> None:
        """Stop the program (SIGTERM, then SIGKILL) and close the pipes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        proc = self.process
        # the program runs in its own session: signal its whole process group
        # so helpers it started do not outlive it
        self._signal_group(signal.SIGTERM)
        try:
            proc.wait(self.CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            try:
                proc.wait(self.CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except OSError:
                    pass
        self._stderr_thread.join(self.CLOSE_TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> ProxyCommand:
        """Use in a ``with`` block; the program is stopped at the end."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the proxy."""
        self.close()

    def __del__(self) -> None:
        """Do not leave the program running when the object is dropped."""
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass

    # -- internals -------------------------------------------------------------------

    def _signal_group(self, sig: int) -> None:
        """Send ``sig`` to the program's process group (it leads it)."""
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _check_open(self) -> None:
        """Raise the error a closed socket raises."""
        if self._closed:
            raise OSError(errno.EBADF, "ProxyCommand is closed")

    def _wait(self, fd: int, for_write: bool) -> None:
        """Block until ``fd`` is ready or the timeout passes (``poll``, so
        descriptors above ``FD_SETSIZE`` work in processes with many files)."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        poller = select.poll()
        poller.register(fd, (select.POLLOUT if for_write else select.POLLIN) | select.POLLERR | select.POLLHUP)
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready = poller.poll(None if remaining is None else remaining * 1000.0)
            except (OSError, ValueError) as e:
                if self._closed:
                    raise OSError(errno.EBADF, "ProxyCommand is closed") from e
                raise self._failure(str(e)) from e
            if ready:
                if ready[0][1] & select.POLLNVAL:
                    if self._closed:
                        raise OSError(errno.EBADF, "ProxyCommand is closed")
                    raise self._failure("pipe closed")
                return
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out")

    def _drain_stderr(self) -> None:
        """Keep the last few KiB the program writes to stderr (so it never
        blocks on a full pipe and errors can be reported)."""
        stream = self.process.stderr
        if stream is None:
            return
        try:
            while True:
                chunk = stream.read(4096)
                if not chunk:
                    return
                self._stderr.append(chunk)
                self._stderr_size += len(chunk)
                while self._stderr_size > _STDERR_KEEP and len(self._stderr) > 1:
                    self._stderr_size -= len(self._stderr.popleft())
        except (OSError, ValueError):
            return

    def _check_exit(self) -> None:
        """At end of output: raise if the program failed (it normally exits
        right after closing stdout)."""
        if self._closed:
            return
        try:
            code = self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            return
        if code != 0:
            raise self._failure(f"exit status {code}")

    def _failure(self, reason: str) -> ProxyCommandFailure:
        """A ProxyCommandFailure with the reason and the program's stderr."""
        self._stderr_thread.join(0.5)
        text = b"".join(self._stderr).decode("utf-8", "replace").strip()
        if text:
            reason = f"{reason}: {text}"
        return ProxyCommandFailure(self.cmd, reason)
