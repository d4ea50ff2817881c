"""A private OpenSSH ``sshd`` for interop tests and benchmarks.

``start_sshd(workdir)`` generates host keys and client keys with
``ssh-keygen``, writes a config that listens on a free loopback port, runs
``/usr/sbin/sshd -D -e -f CONFIG`` as the current user and waits until it
answers with its banner. The process is ended by its pid when the context
exits. Plain Python: usable from pytest fixtures and from ``bench/``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SSHD_PATH = "/usr/sbin/sshd"
SFTP_SERVER_CANDIDATES = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/libexec/sftp-server",
)
KEY_TYPES = {"ed25519": ["-t", "ed25519"], "ecdsa": ["-t", "ecdsa", "-b", "256"], "rsa": ["-t", "rsa", "-b", "2048"]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def keygen(path: Path, kind: str, comment: str = "test") -> Path:
    """Write an unencrypted OpenSSH-format key pair ``path``/``path.pub``."""
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", *KEY_TYPES[kind], "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    return path


def sftp_server_path() -> str | None:
    """Where OpenSSH's sftp-server program lives on this machine, if anywhere."""
    return next((p for p in SFTP_SERVER_CANDIDATES if os.path.exists(p)), None)


@dataclass
class SSHD:
    """A running sshd: where it listens and which keys get in."""

    workdir: Path
    host: str
    port: int
    user: str
    client_keys: dict[str, Path]
    host_keys: dict[str, Path]
    known_hosts: Path
    authorized_keys: Path
    config_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def log(self) -> str:
        """What sshd has written to stderr so far (LogLevel VERBOSE)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def host_key_line(self, kind: str) -> str:
        """The public host key of ``kind`` as 'type base64' (no comment)."""
        return " ".join(Path(f"{self.host_keys[kind]}.pub").read_text().split()[:2])

    def ssh_args(self, kind: str = "ed25519", *, program: str = "ssh") -> list[str]:
        """Arguments for OpenSSH's ``ssh``/``sftp`` to log in with client key ``kind``,
        checking the host key against ``known_hosts`` and never prompting."""
        port_flag = "-P" if program in ("sftp", "scp") else "-p"
        return [
            "-F",
            "/dev/null",
            port_flag,
            str(self.port),
            "-i",
            str(self.client_keys[kind]),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=10",
        ]

    @property
    def target(self) -> str:
        """``user@host`` for OpenSSH's clients."""
        return f"{self.user}@{self.host}"


def _config_text(sshd: SSHD, extra_config: Sequence[str]) -> str:
    sftp = sftp_server_path() or "internal-sftp"
    lines = [
        # Extra lines come first: for most keywords sshd keeps the first value.
        *extra_config,
        f"ListenAddress {sshd.host}:{sshd.port}",
        *(f"HostKey {p}" for p in sshd.host_keys.values()),
        f"PidFile {sshd.workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {sshd.authorized_keys}",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin yes",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AllowTcpForwarding yes",
        "AllowAgentForwarding yes",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "MaxStartups 200",
        "MaxSessions 200",
        "MaxAuthTries 20",
        "LogLevel VERBOSE",
        "AcceptEnv LANG LC_* TEST_*",
        "SetEnv SHLVL=1",
        f"Subsystem sftp {sftp}",
    ]
    return "\n".join(lines) + "\n"


def _wait_for_banner(host: str, port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with status {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not answer within its start-up timeout")


@contextlib.contextmanager
def start_sshd(
    workdir: Path,
    extra_config: Sequence[str] = (),
    *,
    host_key_types: Sequence[str] = ("ed25519", "ecdsa", "rsa"),
    client_key_types: Sequence[str] = ("ed25519", "ecdsa", "rsa"),
    start_timeout: float = 20.0,
) -> Iterator[SSHD]:
    """Run a private sshd for the duration of the ``with`` block.

    Keys already present in ``workdir`` are reused, so a session-wide
    workdir pays for ``ssh-keygen`` once.
    """
    if not os.path.exists(SSHD_PATH):
        raise FileNotFoundError(SSHD_PATH)
    workdir.mkdir(parents=True, exist_ok=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    host_keys = {k: keygen(workdir / f"host_{k}", k, "host") for k in host_key_types}
    client_keys = {k: keygen(workdir / f"client_{k}", k, f"client-{k}") for k in client_key_types}
    authorized = workdir / "authorized_keys"
    authorized.write_text("".join(Path(f"{p}.pub").read_text() for p in client_keys.values()))
    port = free_port()
    sshd = SSHD(
        workdir=workdir,
        host="127.0.0.1",
        port=port,
        user=getpass.getuser(),
        client_keys=client_keys,
        host_keys=host_keys,
        known_hosts=workdir / "known_hosts",
        authorized_keys=authorized,
        config_path=workdir / f"sshd_config.{port}",
        log_path=workdir / f"sshd.{port}.log",
    )
    sshd.known_hosts.write_text("".join(f"[127.0.0.1]:{port} {sshd.host_key_line(k)}\n" for k in host_key_types))
    sshd.config_path.write_text(_config_text(sshd, extra_config))
    log = open(sshd.log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [SSHD_PATH, "-D", "-e", "-f", str(sshd.config_path)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    sshd.proc = proc
    try:
        _wait_for_banner(sshd.host, port, proc, time.monotonic() + start_timeout)
        yield sshd
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def sshd_available() -> bool:
    """Whether sshd and ssh-keygen are installed."""
    return os.path.exists(SSHD_PATH) and shutil.which("ssh-keygen") is not None
