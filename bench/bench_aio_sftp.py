"""asyncio SFTP benchmark: get/put MB/s and client CPU per MB of
``ssh_sftp.aio.SFTPClient`` next to the threaded ``ssh_sftp.SFTPClient``,
against OpenSSH's sftp-server (a subprocess over pipes, no SSH), against
our servers (asyncio ``serve_sftp`` / threaded ``SFTPServer``, in-process
over a socketpair: the CPU then counts the server too; and as programs
over pipes: tests/support/aio_sftp_stdio.py, ``ssh-sftp-server``), and with --sshd
through a private OpenSSH sshd (threaded: our Transport; asyncio: our
``ssh_transport.aio`` connection, and OpenSSH's ``ssh -s sftp``, whose
crypto is then not in our CPU figure).

    python3 bench/bench_aio_sftp.py [--size MiB] [--runs N] [--sshd]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer, SocketStream, spawn_sftp_server
from ssh_sftp.aio import SFTPClient as AioClient
from ssh_sftp.aio import serve_sftp
from ssh_transport.server import ServerInterface

SFTP_SERVER = "/usr/lib/openssh/sftp-server"

# A setup yields (get(remote, local), put(local, remote), base directory).
Ops = tuple[Callable[[str, str], Awaitable[object]], Callable[[str, str], Awaitable[object]], str]
Setup = Callable[[Path], AbstractAsyncContextManager[Ops]]


def _threaded(c: SFTPClient) -> tuple[Callable[[str, str], Awaitable[object]], Callable[[str, str], Awaitable[object]]]:
    """The threaded client's get/put, called in a thread so all setups run
    under one loop (the call itself is what is timed)."""

    async def get(r: str, local: str) -> object:
        return await asyncio.to_thread(c.get, r, local)

    async def put(local: str, r: str) -> object:
        return await asyncio.to_thread(c.put, local, r)

    return get, put


@asynccontextmanager
async def sync_openssh(root: Path) -> AsyncIterator[Ops]:
    """Threaded client, OpenSSH sftp-server over pipes."""
    c = SFTPClient(spawn_sftp_server(SFTP_SERVER))
    try:
        yield (*_threaded(c), str(root))
    finally:
        c.close()


@asynccontextmanager
async def aio_openssh(root: Path) -> AsyncIterator[Ops]:
    """asyncio client, OpenSSH sftp-server over asyncio pipes."""
    proc = await asyncio.create_subprocess_exec(
        SFTP_SERVER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    c = await AioClient.from_streams(proc.stdout, proc.stdin)
    try:
        yield c.get, c.put, str(root)
    finally:
        await c.close()
        await proc.wait()


@asynccontextmanager
async def sync_ours(root: Path) -> AsyncIterator[Ops]:
    """Threaded client and threaded server over a socketpair."""
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
        yield (*_threaded(c), "/")
    finally:
        c.close()
        th.join(10)


@asynccontextmanager
async def aio_ours(root: Path) -> AsyncIterator[Ops]:
    """asyncio client and asyncio server over a socketpair."""
    a, b = socket.socketpair()
    sr, sw = await asyncio.open_connection(sock=b)
    task = asyncio.create_task(serve_sftp(sr, sw, LocalSFTPServerInterface(None, root=str(root))))
    cr, cw = await asyncio.open_connection(sock=a)
    c = await AioClient.from_streams(cr, cw)
    try:
        yield c.get, c.put, "/"
    finally:
        await c.close()
        await task


def _aio_on_program(*argv: str) -> Setup:
    """asyncio client against a server program over asyncio pipes."""

    @asynccontextmanager
    async def setup(root: Path) -> AsyncIterator[Ops]:
        proc = await asyncio.create_subprocess_exec(
            *argv, str(root), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdin is not None
        c = await AioClient.from_streams(proc.stdout, proc.stdin)
        try:
            yield c.get, c.put, "/"
        finally:
            await c.close()
            await proc.wait()

    return setup


AIO_STDIO = str(Path(__file__).resolve().parent.parent / "tests" / "support" / "aio_sftp_stdio.py")
# the threaded server as a program: ``ssh-sftp-server --root DIR``
THREADED_STDIO = ("-m", "ssh_sftp.stdio_server", "--root")


def _sshd_setups(work: Path, stack: list[Any]) -> list[tuple[str, Setup]]:
    """Setups through a private sshd (started once for both)."""
    import ssh_keys
    from ssh_transport import Transport
    from support.sshd import start_sshd

    cm = start_sshd(work / "sshd")
    sshd = cm.__enter__()
    stack.append(cm)

    @asynccontextmanager
    async def sync_sshd(root: Path) -> AsyncIterator[Ops]:
        t = Transport((sshd.host, sshd.port))
        t.connect(username=sshd.user, pkey=ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"])))
        c = SFTPClient.from_transport(t)
        assert c is not None
        try:
            yield (*_threaded(c), str(root))
        finally:
            c.close()
            t.close()

    @asynccontextmanager
    async def aio_sshd(root: Path) -> AsyncIterator[Ops]:
        ssh = shutil.which("ssh") or "ssh"
        proc = await asyncio.create_subprocess_exec(
            ssh,
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={sshd.known_hosts}",
            "-i",
            str(sshd.client_keys["ed25519"]),
            "-p",
            str(sshd.port),
            "-s",
            f"{sshd.user}@{sshd.host}",
            "sftp",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stdin is not None
        c = await AioClient.from_streams(proc.stdout, proc.stdin)
        try:
            yield c.get, c.put, str(root)
        finally:
            await c.close()
            await proc.wait()

    @asynccontextmanager
    async def aio_transport_sshd(root: Path) -> AsyncIterator[Ops]:
        from ssh_sftp.aio import open_sftp
        from ssh_transport import aio

        conn = await aio.connect(
            sshd.host,
            sshd.port,
            username=sshd.user,
            key_filename=str(sshd.client_keys["ed25519"]),
            known_hosts=str(sshd.known_hosts),
            look_for_keys=False,
            allow_agent=False,
        )
        try:
            async with open_sftp(conn) as c:
                yield c.get, c.put, str(root)
        finally:
            conn.close()

    return [
        ("threaded, sshd (our Transport)", sync_sshd),
        ("asyncio, sshd (ssh_transport.aio)", aio_transport_sshd),
        ("asyncio, sshd (OpenSSH ssh -s)", aio_sshd),
    ]


async def measure(fn: Callable[[], Awaitable[object]], size: int) -> tuple[float, float]:
    """(MB/s, process CPU ms per MB) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    await fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    mb = size / 1e6
    return mb / wall, cpu * 1000 / mb


async def amain(args: argparse.Namespace) -> int:
    """Run every setup and print a table."""
    size = args.size * 1024 * 1024
    setups: list[tuple[str, Setup]] = [
        ("threaded, sftp-server (pipes)", sync_openssh),
        ("asyncio, sftp-server (pipes)", aio_openssh),
        ("threaded, SFTPServer (socketpair)", sync_ours),
        ("asyncio, serve_sftp (socketpair)", aio_ours),
        ("asyncio, serve_sftp program (pipes)", _aio_on_program(sys.executable, AIO_STDIO)),
        ("asyncio, ssh-sftp-server (pipes)", _aio_on_program(sys.executable, *THREADED_STDIO)),
    ]
    stack: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "root"
        root.mkdir()
        src = work / "src.bin"
        with open(src, "wb") as fh:
            for _ in range(args.size):
                fh.write(os.urandom(1 << 20))
        if args.sshd:
            setups += _sshd_setups(work, stack)
        try:
            print(f"{args.size} MiB, median of {args.runs}")
            print(f"{'client, peer':36} {'get MB/s':>9} {'get ms/MB':>10} {'put MB/s':>9} {'put ms/MB':>10}")
            for name, setup in setups:
                async with setup(root) as (get, put, base):
                    remote = base.rstrip("/") + "/f.bin"
                    back = str(work / "back.bin")
                    puts = [await measure(lambda r=remote: put(str(src), r), size) for _ in range(args.runs)]
                    gets = [await measure(lambda r=remote, b=back: get(r, b), size) for _ in range(args.runs)]
                    if os.path.getsize(back) != size:
                        raise SystemExit(f"{name}: copy has the wrong size")
                g = statistics.median(x[0] for x in gets), statistics.median(x[1] for x in gets)
                p = statistics.median(x[0] for x in puts), statistics.median(x[1] for x in puts)
                print(f"{name:36} {g[0]:9.0f} {g[1]:10.2f} {p[0]:9.0f} {p[1]:10.2f}", flush=True)
        finally:
            for cm in stack:
                cm.__exit__(None, None, None)
    return 0


def main() -> int:
    """Parse the command line and run."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--size", type=int, default=64, help="file size in MiB (default 64)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sshd", action="store_true", help="also measure through OpenSSH sshd")
    return asyncio.run(amain(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
