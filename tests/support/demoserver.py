"""Run the shipped demo server (``python -m paramiko.demo server``) as a child
process for tests that need the server users actually start."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .sshd import free_port


@contextlib.contextmanager
def demo_server(
    state: Path, root: Path, authorized_keys: Path, password: str = "s3cret", extra: Sequence[str] = ()
) -> Iterator[int]:
    """Start the demo server on a free loopback port; yield the port.

    ``state`` holds its host key, ``root`` is what SFTP serves as "/", and
    the keys in ``authorized_keys`` may log in (as may ``password``);
    ``extra`` are more command-line options (``--hardened`` ...).
    """
    port = free_port()
    cmd = [sys.executable, "-m", "paramiko.demo", "server", "--port", str(port), "--root", str(root)]
    cmd += ["--state", str(state), "--password=" + password, "--authorized-keys", str(authorized_keys), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:  # ends at EOF if the server dies before listening
            printed.append(line)
            if line.startswith("listening on"):
                break
        else:
            proc.wait(10)
            raise AssertionError(f"the demo server did not start (exit {proc.returncode}): {''.join(printed)}")
        yield port
    finally:
        if proc.poll() is None:  # our child, still running: stop it
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
