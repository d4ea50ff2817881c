"""One exec or shell session: its local process, wired to its channel.

A ``Session`` never blocks and owns no thread: the connection's
``SessionLoop`` (loop.py) watches its descriptors and calls it when one is
ready. It ends the way sshd ends a session: once the process has exited and
its output streams reached EOF and went out, the exit status is sent, then
EOF and CLOSE.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from .streams import OutputPipe, SessionChannel, StdinFeed, set_nonblocking

# Pipes to and from the command are grown to this (Linux's default is 64 KiB,
# and an unprivileged process may ask for up to 1 MiB): each read then takes
# what the command wrote meanwhile, so a fast stream costs fewer wake-ups and
# system calls on both sides. Where it cannot be set, the default stays.
PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# reads of one stream in a row before the other descriptors get a turn
# (a streaming command keeps its pipe full; each read is up to 256 KiB)
BURST = 4


class Reactor(Protocol):
    """What a session asks of the loop that runs it."""

    def watch(self, owner: Session, fd: int, writable: bool, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever ``fd`` is readable (or writable)."""

    def unwatch(self, fd: int) -> None:
        """Stop watching ``fd`` (nothing if it is not watched)."""

    def watching(self, fd: int) -> bool:
        """Whether ``fd`` is watched."""

    def retry_soon(self, session: Session) -> None:
        """Call ``session.retry`` after a short wait (to look for the exit
        of a process that has no pidfd)."""

    def tick_soon(self, session: Session) -> None:
        """Call ``session.tick`` every ``TICK`` seconds while it returns True."""

    def wake_for(self, session: Session) -> None:
        """(Any thread.) Call ``session.refresh`` in the loop's thread."""

    def ended(self, session: Session) -> None:
        """The session is over: forget it."""


class ExitChannel(SessionChannel, Protocol):
    """The rest of ``ssh_transport.Channel`` a session uses."""

    def send_exit_status(self, status: int) -> None: ...

    def shutdown_write(self) -> None: ...

    def close(self) -> None: ...


def user_shell() -> str:
    """The shell commands run through (``$SHELL``, else /bin/sh)."""
    return os.environ.get("SHELL") or "/bin/sh"


def _grow_pipe(fd: int) -> None:
    """Ask for a ``PIPE_SIZE`` pipe buffer (Linux); elsewhere, or when refused, keep the default."""
    if sys.platform.startswith("linux"):
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass


def _set_winsize(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _pidfd(pid: int) -> int | None:
    """A descriptor readable once ``pid`` exits (Linux 5.3+), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


class Session:
    """A command (``exec``) or the user's shell on plain pipes or on a
    pseudo-terminal, and the channel it talks through."""

    def __init__(
        self,
        channel: ExitChannel,
        command: str | None,
        env: Mapping[str, str] | None = None,
        pty_info: tuple[str, int, int] | None = None,
    ) -> None:
        """``command``: run through the user's shell (None: a login shell);
        ``env``: added to the server's environment; ``pty_info``: (TERM,
        width, height) of the terminal the client asked for, if any."""
        self.channel = channel
        self._command = command
        self._env = dict(env or {})
        self._pty_info = pty_info
        self._master: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._outputs: list[OutputPipe] = []
        self._feed: StdinFeed | None = None
        self._pidfd: int | None = None
        self._status: int | None = None
        self._reactor: Reactor | None = None
        self._over = False
        # output waits for the peer's window (set here, read by the reader thread)
        self._held = False

    # -- starting ---------------------------------------------------------------

    def start(self, reactor: Reactor) -> None:
        """Start the process and hand its descriptors to ``reactor``."""
        self._reactor = reactor
        try:
            if self._pty_info is None:
                out_fds, stdin_fd = self._spawn_pipes()
            else:
                out_fds, stdin_fd = self._spawn_pty(self._pty_info)
        except OSError as exc:
            self._fail(f"cannot run {self._command or 'the shell'}: {exc}\n")
            return
        for i, fd in enumerate(out_fds):
            set_nonblocking(fd)
            pipe = OutputPipe(fd, self.channel, stderr=i == 1)
            self._outputs.append(pipe)
            reactor.watch(self, fd, False, lambda p=pipe: self._on_output(p))  # type: ignore[misc]
        set_nonblocking(stdin_fd)
        self._feed = StdinFeed(stdin_fd, self.channel, lambda: reactor.wake_for(self))
        self.channel.set_send_ready_callback(self._on_send_ready)
        assert self._proc is not None
        self._pidfd = _pidfd(self._proc.pid)
        if self._pidfd is not None:
            reactor.watch(self, self._pidfd, False, self._on_exit)
        self._feed.start()

    def _spawn_pipes(self) -> tuple[list[int], int]:
        """The command on pipes: (stdout and stderr read ends, stdin write end), ours to close."""
        argv = [user_shell(), "-c", self._command] if self._command is not None else [user_shell()]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(Path.home()),
            bufsize=0,
            env=dict(os.environ, **self._env) if self._env else None,
        )
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        fds = [os.dup(f.fileno()) for f in (proc.stdout, proc.stderr, proc.stdin)]
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()
        for fd in fds:
            _grow_pipe(fd)
        return fds[:2], fds[2]

    def _spawn_pty(self, info: tuple[str, int, int]) -> tuple[list[int], int]:
        """A login shell on a new pseudo-terminal: (the master, a copy of it for input)."""
        term, width, height = info
        master, slave = pty.openpty()
        self._master = master
        _set_winsize(master, width, height)
        env = dict(os.environ, TERM=term or "xterm", **self._env)

        def make_controlling_tty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self._proc = subprocess.Popen(
                [user_shell(), "-l"],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=str(Path.home()),
                env=env,
                start_new_session=True,
                preexec_fn=make_controlling_tty,
            )
        finally:
            os.close(slave)
        return [master], os.dup(master)

    def resize(self, width: int, height: int) -> None:
        """The client's terminal changed size (pty sessions only)."""
        if self._master is not None and not self._over:
            try:
                _set_winsize(self._master, width, height)
            except OSError:
                pass

    # -- events from the loop ------------------------------------------------------

    def _on_output(self, pipe: OutputPipe) -> None:
        """An output stream is readable: copy it out, a few reads in a row
        while it streams."""
        for _ in range(BURST):
            if self._pump(pipe) != OutputPipe.MORE:
                break

    def _on_exit(self) -> None:
        """The process exited (its pidfd is readable)."""
        self._close_pidfd()
        self._reap()
        if self._over:  # ended earlier (the channel went away): now it is reaped
            assert self._reactor is not None
            self._reactor.ended(self)
        else:
            self._maybe_finish()

    def _on_stdin_writable(self) -> None:
        feed = self._feed
        if feed is not None:
            feed.drain()
            self.refresh()

    def _on_send_ready(self) -> None:
        """(The thread reading the socket.) The client's window grew or the
        channel closed: if output waits for it, have the loop send it."""
        reactor = self._reactor
        if self._held and reactor is not None:
            reactor.wake_for(self)

    def refresh(self) -> None:
        """(Loop thread, after ``wake_for``.) Send output the window held
        back once it has room; bring the stdin pipe's watch up to date:
        watched for writing while bytes wait for it, closed once the
        client's stream ended (or the process stopped taking it)."""
        feed = self._feed
        reactor = self._reactor
        if self._over or reactor is None:
            return
        if self.channel.closed:  # the client closed it (not only EOF): stop the pipes
            self._channel_gone()
            return
        if self._held:
            self._held = False
            for pipe in self._outputs:
                if not pipe.ended and not reactor.watching(pipe.fd):
                    self._pump(pipe)
            if self._over:
                return
            feed = self._feed
        if feed is None:
            return
        if feed.ticking:
            reactor.tick_soon(self)
        if feed.finished:
            reactor.unwatch(feed.fd)
            feed.close()
            self._feed = None
        elif feed.wants_write:
            if not reactor.watching(feed.fd):
                reactor.watch(self, feed.fd, True, self._on_stdin_writable)
        else:
            reactor.unwatch(feed.fd)

    def tick(self) -> bool:
        """(Loop thread, every ``TICK`` after ``tick_soon``.) Let the stdin
        feed write what it holds; True while it wants more ticks."""
        feed = self._feed
        if feed is None or self._over:
            return False
        feed.tick()
        self.refresh()
        return feed.ticking if self._feed is not None else False

    def retry(self) -> None:
        """(Loop thread, a while after ``retry_soon``.) Look for the exit of
        a process that has no pidfd."""
        if self._over:
            return
        reactor = self._reactor
        assert reactor is not None
        if self._status is None and self._pidfd is None and self._proc is not None and self._proc.poll() is not None:
            self._reap()
            self._maybe_finish()
        elif self._status is None and self._pidfd is None and all(p.ended for p in self._outputs):
            reactor.retry_soon(self)  # no pidfd: look for the exit again

    # -- internals -------------------------------------------------------------------

    def _pump(self, pipe: OutputPipe) -> int:
        """Copy from one output stream; watch it while it may have more,
        retry later while the window holds it back."""
        reactor = self._reactor
        assert reactor is not None
        try:
            state = pipe.pump()
        except OSError:
            self._channel_gone()
            return OutputPipe.EOF
        if state == OutputPipe.BLOCKED:
            # read no more until the window opens (the process then waits on its
            # pipe); the channel's send-ready callback brings us back. Flag first,
            # then look again: a window that grew in between is not missed.
            reactor.unwatch(pipe.fd)
            self._held = True
            if self.channel.out_window_size > 0 or self.channel.closed:
                reactor.wake_for(self)
        elif state == OutputPipe.EOF:
            reactor.unwatch(pipe.fd)
            pipe.close()
            self._maybe_finish()
        elif not reactor.watching(pipe.fd):
            reactor.watch(self, pipe.fd, False, lambda: self._on_output(pipe))
        return state

    def _reap(self) -> None:
        assert self._proc is not None
        status = self._proc.wait()
        # killed by a signal: reported as a shell does, 128 + the signal
        self._status = status if status >= 0 else 128 - status

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            if self._reactor is not None:
                self._reactor.unwatch(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _maybe_finish(self) -> None:
        """End the session once the process exited and its output went out."""
        if self._over or not all(p.ended for p in self._outputs):
            return
        if self._status is not None:
            self._finish(self._status)
        elif self._pidfd is None and self._reactor is not None:
            self._reactor.retry_soon(self)  # no pidfd: look for the exit on each retry

    def _channel_gone(self) -> None:
        """The channel cannot send any more (closed by the client, or the
        connection dropped): stop reading the output, so that the process
        gets EPIPE, and end without a status."""
        self._finish(None)

    def abort(self) -> None:
        """(The connection is gone.) Close everything now; the process sees
        EOF and EPIPE and is reaped whenever it exits (``subprocess`` keeps
        track of it)."""
        self._aborted = True
        self._finish(None)

    _aborted = False

    def _fail(self, message: str) -> None:
        """The process could not be started: say why, exit status 127."""
        try:
            self.channel.sendall_stderr(message.encode(errors="replace"))
        except OSError:
            pass
        self._finish(127)

    def _finish(self, status: int | None) -> None:
        """Close the process's descriptors; send ``status`` (None: none,
        the channel is gone), EOF and CLOSE. A process still running is
        reaped when it exits (its pidfd stays watched) unless aborted."""
        reactor = self._reactor
        if not self._over:
            self._over = True
            feed, self._feed = self._feed, None
            if feed is not None:
                if reactor is not None:
                    reactor.unwatch(feed.fd)
                feed.close()
            for pipe in self._outputs:
                if reactor is not None:
                    reactor.unwatch(pipe.fd)
                pipe.close()
            self._master = None  # closed with its OutputPipe
            self._held = False
            self.channel.set_send_ready_callback(None)
            if status is not None:
                try:
                    self.channel.send_exit_status(status)
                    self.channel.shutdown_write()
                except Exception:  # the client may have closed the channel already
                    pass
            try:
                self.channel.close()
            except Exception:  # the transport may already be gone
                pass
        if self._pidfd is not None and self._status is None and not self._aborted:
            return  # _on_exit reaps it, then the session is forgotten
        self._close_pidfd()
        if reactor is not None:
            reactor.ended(self)

    @property
    def stdin_backlog(self) -> int:
        """Bytes of the client's stdin held here, waiting for room in the pipe."""
        feed = self._feed
        return feed.pending_size if feed is not None else 0

    @property
    def over(self) -> bool:
        """Whether the session ended."""
        return self._over

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The command's process (None before ``start``, or if it could not start)."""
        return self._proc
