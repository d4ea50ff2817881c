"""Run a session's command or shell as a local process and pipe it to a channel."""

from __future__ import annotations

import fcntl
import os
import pty
import selectors
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024
# what an output pump's buffer starts at (it grows to CHUNK for a stream)
START_CHUNK = 16 * 1024
# Pipes to and from the command are grown to this (Linux's default is 64 KiB,
# and an unprivileged process may ask for up to 1 MiB): each read then takes
# what the command wrote meanwhile, so a fast stream costs fewer wake-ups and
# system calls on both sides. Where it cannot be set, the default stays.
PIPE_SIZE = 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _shell() -> str:
    return os.environ.get("SHELL") or "/bin/sh"


def _grow_pipe(fd: int) -> None:
    """Ask for a ``PIPE_SIZE`` pipe buffer (Linux); elsewhere, or when refused, keep the default."""
    if sys.platform.startswith("linux"):
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass


class _OutputPipe:
    """One of the command's output pipes and where its bytes go.

    Reads go into one reused buffer: ``Channel.sendall`` encrypts what it
    is given before it returns, so no bytes object is made (and its pages
    faulted in) per read. The buffer starts small (stderr, interactive
    output) and grows to ``CHUNK`` when reads fill it (a stream)."""

    def __init__(self, fd: int, send: Any) -> None:
        self.fd = fd
        self.send = send
        self.buf = bytearray(START_CHUNK)

    def pump_once(self) -> bool:
        """Move what one read gets to the channel; False at EOF."""
        buf = self.buf
        n = os.readv(self.fd, [buf])
        if not n:
            return False
        self.send(memoryview(buf)[:n])
        if n == len(buf) < CHUNK:
            self.buf = bytearray(min(CHUNK, 4 * n))
        return True


def _pump_outputs(*pipes: _OutputPipe) -> None:
    """Copy the command's output pipes to the channel until each ends, in
    one thread: whichever pipe has data is read (as sshd does, one loop for
    stdout and stderr). Stops early if the channel is gone."""
    with selectors.DefaultSelector() as sel:
        for pipe in pipes:
            sel.register(pipe.fd, selectors.EVENT_READ, pipe)
        try:
            while sel.get_map():
                for key, _ in sel.select():
                    pipe = key.data
                    if not pipe.pump_once():
                        sel.unregister(pipe.fd)
        except (OSError, EOFError):
            return


def _pump_out(read_fd: int, send: Any) -> None:
    """Copy one output fd (a pty's master) to the channel until EOF."""
    _pump_outputs(_OutputPipe(read_fd, send))


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (a pipe may take part of a write)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pump_in(channel: Any, fd: int) -> None:
    """Copy what the client sends into the process's stdin until EOF, then
    close it so the process sees EOF too. If the process stops reading (it
    exited), stop: the channel's window then stays shut, which bounds what
    the client can still send."""
    try:
        while True:
            data = channel.recv(CHUNK)
            if not data:
                break
            _write_all(fd, data)
    except (OSError, ValueError, EOFError):
        pass
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def run_exec(channel: Any, command: str, env: Mapping[str, str] | None = None) -> None:
    """Run ``command`` through the user's shell, wired to ``channel``; send its exit status.
    ``env`` adds to the server's environment (``SSH_ORIGINAL_COMMAND`` ...).

    One thread copies the channel into the command's stdin (a thread
    blocked in ``Channel.recv`` reads the socket itself, the fastest way in);
    the calling thread copies its stdout and stderr out, then waits for it to
    exit and sends the status (as sshd does: after all of its output)."""
    proc = subprocess.Popen(
        [_shell(), "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(Path.home()),
        bufsize=0,
        env=dict(os.environ, **env) if env else None,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        _grow_pipe(pipe.fileno())
    # the feeder owns (and closes) its own descriptor for stdin
    stdin_fd = os.dup(proc.stdin.fileno())
    proc.stdin.close()
    outputs = (
        _OutputPipe(proc.stdout.fileno(), channel.sendall),
        _OutputPipe(proc.stderr.fileno(), channel.sendall_stderr),
    )
    feeder = threading.Thread(target=_pump_in, args=(channel, stdin_fd), daemon=True)
    feeder.start()
    _pump_outputs(*outputs)
    proc.stdout.close()
    proc.stderr.close()
    status = proc.wait()
    _finish(channel, status)


def _finish(channel: Any, status: int) -> None:
    try:
        channel.send_exit_status(status if status >= 0 else 128 - status)
        channel.shutdown_write()
        channel.close()
    except (OSError, EOFError):
        pass
    except Exception:  # the transport may already be gone
        pass


def _set_winsize(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def run_shell(channel: Any, pty_info: tuple[str, int, int] | None) -> None:
    """Run the user's login shell for ``channel``: on a pseudo-terminal when the
    client asked for one, otherwise on plain pipes."""
    if pty_info is None:
        run_exec(channel, f"exec {_shell()}")
        return
    term, width, height = pty_info
    master, slave = pty.openpty()
    _set_winsize(master, width, height)
    env = dict(os.environ, TERM=term or "xterm")

    def make_controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [_shell(), "-l"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=str(Path.home()),
        env=env,
        start_new_session=True,
        preexec_fn=make_controlling_tty,
    )
    os.close(slave)
    channel._demo_resize = lambda w, h: _set_winsize(master, w, h)
    threading.Thread(target=_pump_in, args=(channel, os.dup(master)), daemon=True).start()
    _pump_out(master, channel.sendall)
    os.close(master)
    _finish(channel, proc.wait())
