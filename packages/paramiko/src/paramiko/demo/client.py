"""Connect with SSHClient, run a command, upload and download with a progress bar."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..client import AutoAddPolicy, SSHClient
from .progress import progress_bar


@dataclass
class Transfer:
    """What one SFTP transfer did."""

    direction: str
    nbytes: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB/s (10^6 bytes a second)."""
        return self.nbytes / max(self.seconds, 1e-9) / 1e6

    def summary(self) -> str:
        """One line: direction, size, time and throughput."""
        return f"{self.direction}: {self.nbytes / 1e6:.1f} MB in {self.seconds:.2f} s = {self.mb_per_s:.1f} MB/s"


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in large chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def connect(host: str, port: int, user: str, password: str | None, key_filename: str | None) -> SSHClient:
    """An SSHClient logged in to ``host``; unknown host keys are added (and said so)."""
    client = SSHClient()
    client.load_system_host_keys()
    client.set_missing_host_key_policy(AutoAddPolicy())
    client.connect(
        host,
        port=port,
        username=user,
        password=password,
        key_filename=key_filename,
        allow_agent=password is None,
        look_for_keys=password is None,
        timeout=15,
    )
    return client


def run_command(client: SSHClient, command: str) -> int:
    """Run ``command``, print its output, return its exit status."""
    _stdin, stdout, stderr = client.exec_command(command, timeout=30)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    status = stdout.channel.recv_exit_status()
    print(f"$ {command}\n{out}{err}[exit status {status}]", flush=True)
    return status


def put_and_get(client: SSHClient, local: Path, remote: str, back: Path) -> list[Transfer]:
    """Upload ``local`` as ``remote``, download it to ``back``, with progress bars."""
    sftp = client.open_sftp()
    size = local.stat().st_size
    results = []
    try:
        with progress_bar(f"put {local.name}", size) as callback:
            start = time.perf_counter()
            sftp.put(str(local), remote, callback=callback)
            results.append(Transfer("put", size, time.perf_counter() - start))
        with progress_bar(f"get {remote}", size) as callback:
            start = time.perf_counter()
            sftp.get(remote, str(back), callback=callback)
            results.append(Transfer("get", size, time.perf_counter() - start))
    finally:
        sftp.close()
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The client demo's command-line options."""
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--user", default=getpass.getuser())
    parser.add_argument("--password", default=None, help="log in with this password instead of keys")
    parser.add_argument("-i", "--identity", default=None, help="private key file")
    parser.add_argument("--command", default="uname -a", help="command to run (default: uname -a)")
    parser.add_argument("--put", type=Path, default=None, help="local file to upload and download back")


def run(args: argparse.Namespace) -> int:
    """Connect, run the command, and move ``--put`` both ways if given."""
    with connect(args.host, args.port, args.user, args.password, args.identity) as client:
        status = run_command(client, args.command)
        if args.put is not None:
            remote = f"demo-{os.getpid()}-{args.put.name}"
            back = args.put.with_name(args.put.name + ".back")
            for t in put_and_get(client, args.put, remote, back):
                print(t.summary())
            same = sha256_file(args.put) == sha256_file(back)
            print(f"sha256 {'matches' if same else 'DIFFERS'}")
            if not same:
                return 1
        return status
