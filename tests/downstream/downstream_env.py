"""Helpers for the downstream tests: importing a package that comes from the
index, a loopback echo server, a real ``ssh-agent``, and tree comparison.

Plain Python (no paramiko import), so the same helpers serve the tests whether
``paramiko`` is ours or the real one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

REQUIRE_INTEROP = os.environ.get("SSH_REQUIRE_INTEROP") == "1"


@dataclass
class Target:
    """One SSH server the downstream packages connect to."""

    name: str
    host: str
    port: int
    user: str
    key: Path
    # True where a pty request gives the command a real terminal (sshd);
    # our test server accepts the request but runs the command on pipes.
    real_pty: bool

    @property
    def host_string(self) -> str:
        """``user@host:port`` as Fabric and Group take it."""
        return f"{self.user}@{self.host}:{self.port}"


# The servers that forward ports (the demo server does not): tests that need
# forwarding take ``@pytest.mark.parametrize("target", FORWARDING, indirect=True)``.
FORWARDING = ["sshd", "ours"]


def require(module: str) -> ModuleType:
    """Import ``module`` (a downstream package installed from the index by
    ``tox -e downstream``). When it is missing, usually because the index
    could not be reached, skip with the reason; under ``SSH_REQUIRE_INTEROP=1``
    (CI) fail instead, so a CI run never passes by skipping everything."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"{module} is not installed ({exc}); `tox -e downstream` installs it from the package index"
        if REQUIRE_INTEROP:
            pytest.fail(f"required downstream package missing: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
        raise  # unreachable: pytest.skip raises


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """A threaded TCP echo server on 127.0.0.1; yields its port. Each
    connection gets its bytes back until the client half-closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(None)
    port: int = listener.getsockname()[1]
    conns: list[socket.socket] = []

    def echo(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)
            except OSError:
                pass

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        thread.join(5)


def echo_roundtrip(port: int, payload: bytes, timeout: float = 20) -> bytes:
    """Send ``payload`` to 127.0.0.1:``port`` and read as many bytes back.

    Connecting is retried until ``timeout``: a forward's listener may come up
    just after the call that asked for it returns. The socket is not
    half-closed (Fabric's tunnels end the whole tunnel on a half-close)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with s:
        s.sendall(payload)
        chunks: list[bytes] = []
        got = 0
        while got < len(payload):
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
            got += len(data)
    return b"".join(chunks)


@dataclass
class RunningAgent:
    """A real OpenSSH ``ssh-agent`` we started: its socket and pid."""

    sock: str
    pid: int

    def env(self) -> dict[str, str]:
        """The environment for ``ssh-add`` and friends to reach this agent."""
        return dict(os.environ, SSH_AUTH_SOCK=self.sock)

    def add(self, key: Path) -> None:
        """``ssh-add key`` into this agent."""
        subprocess.run(
            ["ssh-add", str(key)],
            env=self.env(),
            check=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )

    def listing(self) -> str:
        """``ssh-add -l`` as this agent answers it."""
        out = subprocess.run(["ssh-add", "-l"], env=self.env(), timeout=30, capture_output=True, text=True)
        return out.stdout


@contextlib.contextmanager
def ssh_agent(workdir: Path) -> Iterator[RunningAgent]:
    """Run ``ssh-agent -D -a SOCK`` for the ``with`` block; ended by its pid."""
    sock = workdir / "agent.sock"
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ssh-agent did not create its socket")
            time.sleep(0.05)
        yield RunningAgent(str(sock), proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def make_tree(root: Path) -> dict[str, bytes]:
    """Write a small directory tree (nested dirs, an empty file, binary data
    with every byte value, a file larger than one SFTP/scp block) under
    ``root``; return its files as {relative path: bytes}."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "bin/all-bytes": bytes(range(256)) * 4,
        "bin/big": hashlib.sha256(b"seed").digest() * 20000,  # 640000 bytes
        "deep/er/still/leaf.txt": b"leaf\r\nwith crlf\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` as {relative path: bytes}."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
