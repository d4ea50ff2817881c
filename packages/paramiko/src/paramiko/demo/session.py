"""Run a session's command or shell as a local process and pipe it to a channel."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
from pathlib import Path
from typing import IO, Any

CHUNK = 256 * 1024


def _shell() -> str:
    return os.environ.get("SHELL") or "/bin/sh"


def _pump_out(read_fd: int, send: Any) -> None:
    """Copy a process's output fd to the channel until EOF."""
    try:
        while True:
            data = os.read(read_fd, CHUNK)
            if not data:
                return
            send(data)
    except OSError:
        return


def _pump_in(channel: Any, sink: IO[bytes]) -> None:
    """Copy what the client sends into the process's stdin until EOF."""
    try:
        while True:
            data = channel.recv(CHUNK)
            if not data:
                break
            sink.write(data)
            sink.flush()
    except (OSError, ValueError):
        pass
    finally:
        try:
            sink.close()
        except OSError:
            pass


def run_exec(channel: Any, command: str) -> None:
    """Run ``command`` through the user's shell, wired to ``channel``; send its exit status."""
    proc = subprocess.Popen(
        [_shell(), "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(Path.home()),
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    feeder = threading.Thread(target=_pump_in, args=(channel, proc.stdin), daemon=True)
    feeder.start()
    err = threading.Thread(target=_pump_out, args=(proc.stderr.fileno(), channel.sendall_stderr), daemon=True)
    err.start()
    _pump_out(proc.stdout.fileno(), channel.sendall)
    err.join()
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
    writer = os.fdopen(os.dup(master), "wb", buffering=0)
    threading.Thread(target=_pump_in, args=(channel, writer), daemon=True).start()
    _pump_out(master, channel.sendall)
    os.close(master)
    _finish(channel, proc.wait())
