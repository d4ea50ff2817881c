"""Helpers for the agent tests: key pairs made by ``ssh-keygen`` and a real
OpenSSH ``ssh-agent`` on a private socket, loaded with ``ssh-add``."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.peers import need_program

KEYGEN_ARGS = {"ed25519": ["-t", "ed25519"], "ecdsa": ["-t", "ecdsa", "-b", "256"], "rsa": ["-t", "rsa", "-b", "2048"]}


@dataclass
class KeyPair:
    """A key pair on disk and what ``ssh-keygen`` says about it."""

    kind: str
    path: Path
    blob: bytes
    comment: str
    sha256: str


@dataclass
class RunningAgent:
    """A private ssh-agent: its socket and the keys it holds."""

    sock: str
    proc: subprocess.Popen[bytes]
    keys: dict[str, KeyPair]

    def env(self) -> dict[str, str]:
        """The environment for OpenSSH programs to use this agent."""
        return {**os.environ, "SSH_AUTH_SOCK": self.sock}


def make_keypair(workdir: Path, kind: str) -> KeyPair:
    """Generate a key with ssh-keygen; read its blob (``-y``) and fingerprint (``-l``)."""
    keygen = need_program("ssh-keygen")
    path = workdir / f"id_{kind}"
    comment = f"agent-test-{kind}"
    subprocess.run(
        [keygen, "-q", *KEYGEN_ARGS[kind], "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    pub = subprocess.run([keygen, "-y", "-f", str(path)], check=True, timeout=30, capture_output=True).stdout
    blob = base64.b64decode(pub.split()[1])
    listing = subprocess.run(
        [keygen, "-l", "-E", "sha256", "-f", str(path)], check=True, timeout=30, capture_output=True
    ).stdout
    return KeyPair(kind, path, blob, comment, listing.split()[1].decode())


def wait_for_socket(path: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait until a UNIX socket at ``path`` accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ssh-agent exited with status {proc.returncode}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(path)
                return
            except OSError:
                time.sleep(0.02)
    raise RuntimeError("ssh-agent did not start listening")


@contextlib.contextmanager
def start_agent(workdir: Path, keys: dict[str, KeyPair]) -> Iterator[RunningAgent]:
    """Run ``ssh-agent -D -a SOCK`` holding ``keys`` (added with ``ssh-add``);
    it is ended by its pid on exit."""
    agent_prog = need_program("ssh-agent")
    add_prog = need_program("ssh-add")
    workdir.mkdir(parents=True, exist_ok=True)
    sock = str(workdir / "agent.sock")
    proc = subprocess.Popen(
        [agent_prog, "-D", "-a", sock], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for_socket(sock, proc)
        running = RunningAgent(sock, proc, keys)
        if keys:
            subprocess.run(
                [add_prog, *(str(k.path) for k in keys.values())],
                check=True,
                timeout=30,
                env=running.env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def keypair_from_file(path: Path, kind: str) -> KeyPair:
    """Describe an existing unencrypted key pair (blob, comment, fingerprint) with ssh-keygen."""
    keygen = need_program("ssh-keygen")
    pub = subprocess.run([keygen, "-y", "-f", str(path)], check=True, timeout=30, capture_output=True).stdout
    listing = subprocess.run(
        [keygen, "-l", "-E", "sha256", "-f", str(path)], check=True, timeout=30, capture_output=True
    ).stdout.split()
    comment = Path(f"{path}.pub").read_text().split(None, 2)[2].strip() if Path(f"{path}.pub").exists() else ""
    return KeyPair(kind, path, base64.b64decode(pub.split()[1]), comment, listing[1].decode())
