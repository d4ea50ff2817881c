"""The README's main command: a whole SSH session on this machine, end to end.

Starts the demo server on a free loopback port, connects to it with
SSHClient, runs a command, puts and gets a file with progress bars, checks
the hash, prints the throughput and the OpenSSH command lines that reach the
same server.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .client import connect, put_and_get, run_command, sha256_file


def _write_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


def _start_server(root: Path, state: Path, password: str) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "paramiko.demo", "server", "--port", "0", "--root", str(root)]
    # "--password=...": a random password starts with "-" one time in 64,
    # and argparse would take it for an option as a separate argument
    cmd += ["--state", str(state), f"--password={password}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    said: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("listening on "):
            return proc, int(line.rsplit(":", 1)[1])
        said.append(line)
    proc.kill()
    raise RuntimeError("the demo server did not start; it said:\n" + "".join(said[-30:]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The loopback demo's command-line options."""
    parser.add_argument("--size", type=int, default=64, help="MiB to move each way (default 64)")
    parser.add_argument("--keep", action="store_true", help="keep the server running until Enter is pressed")


def run(args: argparse.Namespace) -> int:
    """Run the loopback session; 0 when every check passed."""
    user = getpass.getuser()
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="paramiko-demo-") as tmp:
        work = Path(tmp)
        root, local = work / "served", work / "local"
        root.mkdir()
        local.mkdir()
        server, port = _start_server(root, work / "state", password)
        try:
            print(f"demo server on 127.0.0.1:{port} serving {root}", flush=True)
            source = local / "random.bin"
            _write_random_file(source, args.size * 1024 * 1024)
            with connect("127.0.0.1", port, user, password, None) as client:
                status = run_command(client, "echo hello from $(hostname) as $(whoami)")
                transfers = put_and_get(client, source, "random.bin", local / "random.back")
            same = sha256_file(source) == sha256_file(local / "random.back")
            for t in transfers:
                print(
                    f"{t.direction}: {t.nbytes / 1e6:.1f} MB in {t.seconds:.2f} s = {t.mb_per_s:.1f} MB/s", flush=True
                )
            print(f"sha256 {'matches' if same else 'DIFFERS'}: {sha256_file(source)[:16]}...", flush=True)
            print("\nTry the same server with OpenSSH (password above is one-time):", flush=True)
            print(f"  password: {password}")
            print(f"  ssh -p {port} -o StrictHostKeyChecking=no {user}@127.0.0.1")
            print(f"  sftp -P {port} -o StrictHostKeyChecking=no {user}@127.0.0.1", flush=True)
            if args.keep and sys.stdin.isatty():
                input("server running; press Enter to stop it ")
            ok = same and status == 0
            print("loopback demo: OK" if ok else "loopback demo: FAILED", flush=True)
            return 0 if ok else 1
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
