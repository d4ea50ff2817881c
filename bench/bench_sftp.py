"""SFTP micro-benchmark for the ssh-sftp layer alone: get/put MB/s and client
CPU per MB for our SFTPClient against OpenSSH's sftp-server (a subprocess
over pipes, no SSH), against our SFTPServer (in-process, socketpair), and,
with --sshd, through our Transport to a private OpenSSH sshd.

    python3 bench/bench_sftp.py [--size MiB] [--runs N] [--sshd]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer, SocketStream, spawn_sftp_server
from ssh_transport.server import ServerInterface


@contextmanager
def openssh_subprocess(root: Path) -> Iterator[tuple[SFTPClient, str]]:
    """Our client against OpenSSH's sftp-server over pipes."""
    c = SFTPClient(spawn_sftp_server())
    try:
        yield c, str(root)
    finally:
        c.close()


@contextmanager
def ours_socketpair(root: Path) -> Iterator[tuple[SFTPClient, str]]:
    """Our client against our server over a socketpair."""
    a, b = socket.socketpair()
    ss = SocketStream(b)
    srv = SFTPServer(ss, "sftp", ServerInterface(), LocalSFTPServerInterface, root=str(root))

    def run() -> None:
        try:
            srv.start_subsystem("sftp", None, ss)
        finally:
            srv.finish_subsystem()

    th = threading.Thread(target=run)
    th.start()
    c = SFTPClient(SocketStream(a))
    try:
        yield c, "/"
    finally:
        c.close()
        th.join(10)


@contextmanager
def through_sshd(root: Path) -> Iterator[tuple[SFTPClient, str]]:
    """Our client over our Transport to a private OpenSSH sshd."""
    import ssh_keys
    from ssh_transport import Transport
    from support.sshd import start_sshd

    with start_sshd(root.parent / "sshd") as sshd:
        t = Transport((sshd.host, sshd.port))
        t.connect(username=sshd.user, pkey=ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"])))
        c = SFTPClient.from_transport(t)
        assert c is not None
        try:
            yield c, str(root)
        finally:
            c.close()
            t.close()


def measure(fn: Callable[[], object], size: int) -> tuple[float, float]:
    """(MB/s, client CPU ms per MB) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    mb = size / 1e6
    return mb / wall, cpu * 1000 / mb


def main() -> int:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256, help="file size in MiB (default 256)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sshd", action="store_true", help="also measure through OpenSSH sshd")
    args = ap.parse_args()
    size = args.size * 1024 * 1024
    setups = [("sftp-server (pipes)", openssh_subprocess), ("our server (socketpair)", ours_socketpair)]
    if args.sshd:
        setups.append(("OpenSSH sshd (our Transport)", through_sshd))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "root"
        root.mkdir()
        src = work / "src.bin"
        with open(src, "wb") as fh:
            for _ in range(args.size):
                fh.write(os.urandom(1 << 20))
        print(f"{args.size} MiB, median of {args.runs}")
        print(f"{'peer':32} {'get MB/s':>9} {'get ms/MB':>10} {'put MB/s':>9} {'put ms/MB':>10}")
        for name, setup in setups:
            with setup(root) as (c, base):
                remote = base.rstrip("/") + "/f.bin"
                back = str(work / "back.bin")

                def put(c: SFTPClient = c, r: str = remote) -> object:
                    return c.put(str(src), r)

                def get(c: SFTPClient = c, r: str = remote, back: str = back) -> object:
                    c.get(r, back)
                    return None

                puts = [measure(put, size) for _ in range(args.runs)]
                gets = [measure(get, size) for _ in range(args.runs)]
            g = statistics.median(x[0] for x in gets), statistics.median(x[1] for x in gets)
            p = statistics.median(x[0] for x in puts), statistics.median(x[1] for x in puts)
            print(f"{name:32} {g[0]:9.0f} {g[1]:10.2f} {p[0]:9.0f} {p[1]:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
