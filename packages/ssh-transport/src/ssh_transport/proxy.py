"""``ProxyCommand``: a socket-like object over a subprocess's stdin/stdout.

This is what the ``ProxyCommand`` option of ``ssh_config`` asks for: the SSH
stream goes through a program (``ssh -W %h:%p gateway``, ``nc``, a corporate
proxy helper) instead of a TCP socket. Hand it to ``Transport`` or to
``SSHClient.connect(sock=...)``.

The command runs as OpenSSH runs it: ``$SHELL -c "exec COMMAND"`` (``/bin/sh``
without ``$SHELL``), so quoting, redirections and pipes behave as in
``ssh_config``. As in paramiko, ``cmd`` is the command split into words
(``shlex.split``; unbalanced quotes raise ``ValueError``). Reads honour
``settimeout``; a program that exits with an error (or cannot be written to)
raises ``ProxyCommandFailure`` with what it wrote to stderr.

``close`` stops the program, in its own session, and helpers it started with
it; it signals only a child this object started and has not yet reaped, so a
replaced ``process`` (a test double whose pid reads as 1, say) or a pid that
may have been reused is never signalled. That is a deliberate difference from
paramiko, which sends SIGTERM to whatever ``process.pid`` holds.
"""

from __future__ import annotations

import errno
import os
import select
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from typing import Any

from ssh_wire import ClosingContextManager, ProxyCommandFailure

__all__ = ["ProxyCommand"]

_STDERR_KEEP = 8192

# The real class, kept before anything can patch ``subprocess.Popen``: only
# an instance of it that this module created is ever signalled.
_REAL_POPEN = subprocess.Popen


class ProxyCommand(ClosingContextManager):
    """A subprocess speaking the SSH stream on its stdin/stdout, usable where
    a socket is expected (``send``, ``sendall``, ``recv``, ``recv_into``,
    ``settimeout``, ``close``)."""

    #: Seconds ``close`` waits for the program to exit after SIGTERM.
    CLOSE_TIMEOUT = 2.0

    def __init__(self, command_line: str) -> None:
        """Start ``command_line`` through the shell.

        :raises ValueError: the command has unbalanced quotes.
        :raises ProxyCommandFailure: if the program cannot be started.
        """
        #: The command split into words, as paramiko keeps it.
        self.cmd: list[str] = shlex.split(command_line)
        #: The command line as given (what runs, and what errors name).
        self.command_line = command_line
        self.timeout: float | None = None
        self._close_called = False
        self._lock = threading.Lock()
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_thread: threading.Thread | None = None
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            self.process: Any = subprocess.Popen(
                [shell, "-c", f"exec {command_line}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,
            )
        except OSError as e:
            raise ProxyCommandFailure(command_line, e.strerror or str(e)) from e
        # what we started, if it is a real child process (None when
        # subprocess.Popen has been replaced, e.g. by a test double)
        self._child: subprocess.Popen[bytes] | None = self.process if isinstance(self.process, _REAL_POPEN) else None
        self._wfd = self._rfd = -1
        if self._child is not None:
            assert self._child.stdin is not None and self._child.stdout is not None
            self._wfd = self._child.stdin.fileno()
            self._rfd = self._child.stdout.fileno()
            # non-blocking pipes: every wait goes through poll, so timeouts hold
            os.set_blocking(self._wfd, False)
            os.set_blocking(self._rfd, False)
            self._stderr_thread = threading.Thread(target=self._drain_stderr, name="proxycommand-stderr", daemon=True)
            self._stderr_thread.start()

    def __repr__(self) -> str:
        """The command and whether it still runs."""
        state = "closed" if self._close_called else f"pid {self.process.pid}"
        return f"<ProxyCommand {self.command_line!r} {state}>"

    # -- socket API ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once ``close`` has been called or the program is known to
        have exited (as in paramiko)."""
        return self._close_called or getattr(self.process, "returncode", None) is not None

    @property
    def _closed(self) -> bool:
        """``closed`` under the name sockets use (paramiko's Transport reads it)."""
        return self.closed

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
        if self._child is None:
            return self._send_to_stand_in(content)
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
        if self._child is None:
            return self._recv_from_stand_in(size)
        while True:
            self._wait(self._rfd, for_write=False)
            try:
                data = os.read(self._rfd, size)
                break
            except BlockingIOError:
                continue
            except OSError as e:
                if self._close_called:
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
        """Stop the program (SIGTERM, then SIGKILL) and close the pipes.

        Only the child this object started is signalled, and only while it
        has not been reaped; anything else in ``process`` is left alone.
        """
        with self._lock:
            if self._close_called:
                return
            self._close_called = True
        proc = self._child
        if proc is None or self.process is not proc:
            return
        # the program runs in its own session: signal its whole process group
        # so helpers it started do not outlive it
        self._stop(proc, signal.SIGTERM)
        try:
            proc.wait(self.CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._stop(proc, signal.SIGKILL)
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
        if self._stderr_thread is not None:
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
            if not getattr(self, "_close_called", True):
                self.close()
        except Exception:
            pass

    # -- internals -------------------------------------------------------------------

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
        """Send ``sig`` to our child's process group, but only while the
        child is unreaped (so its pid, which is also the group's id since it
        leads its own session, cannot belong to anyone else)."""
        if proc.poll() is not None:
            return
        pid = proc.pid
        if type(pid) is not int or pid <= 1:
            return
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _send_to_stand_in(self, content: bytes | bytearray | memoryview) -> int:
        """``send`` when ``process`` is not a child we started (an object
        with ``stdin``/``stdout`` files standing in for one)."""
        try:
            self.process.stdin.write(bytes(content))
        except OSError as e:
            raise self._failure(e.strerror or str(e)) from e
        return len(content)

    def _recv_from_stand_in(self, size: int) -> bytes:
        """``recv`` when ``process`` is not a child we started."""
        try:
            data = self.process.stdout.read(size)
        except OSError as e:
            raise self._failure(e.strerror or str(e)) from e
        return bytes(data or b"")

    def _check_open(self) -> None:
        """Raise the error a closed socket raises."""
        if self._close_called:
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
                if self._close_called:
                    raise OSError(errno.EBADF, "ProxyCommand is closed") from e
                raise self._failure(str(e)) from e
            if ready:
                if ready[0][1] & select.POLLNVAL:
                    if self._close_called:
                        raise OSError(errno.EBADF, "ProxyCommand is closed")
                    raise self._failure("pipe closed")
                return
            if remaining is not None and remaining <= 0:
                raise TimeoutError("timed out")

    def _drain_stderr(self) -> None:
        """Keep the last few KiB the program writes to stderr (so it never
        blocks on a full pipe and errors can be reported)."""
        stream = self._child.stderr if self._child is not None else None
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
        if self._close_called or self._child is None:
            return
        try:
            code = self._child.wait(1.0)
        except subprocess.TimeoutExpired:
            return
        if code != 0:
            raise self._failure(f"exit status {code}")

    def _failure(self, reason: str) -> ProxyCommandFailure:
        """A ProxyCommandFailure with the reason and the program's stderr."""
        if self._stderr_thread is not None:
            self._stderr_thread.join(0.5)
        text = b"".join(self._stderr).decode("utf-8", "replace").strip()
        if text:
            reason = f"{reason}: {text}"
        return ProxyCommandFailure(self.command_line, reason)
