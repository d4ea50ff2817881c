"""asyncio client bulk benchmark: MB/s and client CPU ms per MB of
``ssh_transport.aio`` next to the threaded client (our ``paramiko.SSHClient``)
and AsyncSSH, through a private OpenSSH sshd: upload (``cat > /dev/null``)
and download (``head -c N /dev/zero``) with aes128-gcm and chacha20-poly1305.

Each measurement runs in its own process (CPU is ``time.process_time`` of
that client process only). AsyncSSH runs under the first Python that has
it: this one, ``$ASYNCSSH_PYTHON`` or ``/tmp/vr/bin/python``.

    python3 bench/bench_aio.py [--size MiB] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
CHUNK = 1 << 20


def _only_cipher(cipher: str) -> dict[str, list[str]]:
    from ssh_transport.protocol.negotiation import AlgorithmPreferences

    return {"ciphers": [c for c in AlgorithmPreferences.known("ciphers") if c != cipher]}


async def _aio(cfg: dict[str, Any]) -> tuple[float, float]:
    from ssh_transport import aio

    size = cfg["size"]
    async with aio.connect(
        cfg["host"],
        cfg["port"],
        username=cfg["user"],
        key_filename=cfg["key"],
        known_hosts=cfg["known_hosts"],
        look_for_keys=False,
        allow_agent=False,
        disabled_algorithms=_only_cipher(cfg["cipher"]),
    ) as conn:
        assert conn.get_extra_info("cipher") == cfg["cipher"]
        t0, c0 = time.perf_counter(), time.process_time()
        if cfg["direction"] == "up":
            proc = await conn.create_process("cat > /dev/null")
            block = bytes(CHUNK)
            for _ in range(size // CHUNK):
                proc.stdin.write(block)
                await proc.stdin.drain()
            proc.stdin.write_eof()
            await proc.wait()
        else:
            proc = await conn.create_process(f"head -c {size} /dev/zero")
            got = 0
            while data := await proc.stdout.read(CHUNK):
                got += len(data)
            await proc.wait()
            assert got == size
        return time.perf_counter() - t0, time.process_time() - c0


def _sync(cfg: dict[str, Any]) -> tuple[float, float]:
    import paramiko

    size = cfg["size"]
    client = paramiko.SSHClient()
    client.load_host_keys(cfg["known_hosts"])
    client.connect(
        cfg["host"],
        cfg["port"],
        username=cfg["user"],
        key_filename=cfg["key"],
        look_for_keys=False,
        allow_agent=False,
        disabled_algorithms=_only_cipher(cfg["cipher"]),
    )
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        if cfg["direction"] == "up":
            stdin, stdout, _ = client.exec_command("cat > /dev/null")
            block = bytes(CHUNK)
            for _ in range(size // CHUNK):
                stdin.write(block)
            stdin.channel.shutdown_write()
            stdout.channel.recv_exit_status()
        else:
            _, stdout, _ = client.exec_command(f"head -c {size} /dev/zero")
            got = 0
            while data := stdout.channel.recv(CHUNK):
                got += len(data)
            stdout.channel.recv_exit_status()
            assert got == size
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        client.close()


async def _asyncssh(cfg: dict[str, Any]) -> tuple[float, float]:
    import asyncssh

    size = cfg["size"]
    async with asyncssh.connect(
        cfg["host"],
        cfg["port"],
        username=cfg["user"],
        client_keys=[cfg["key"]],
        known_hosts=cfg["known_hosts"],
        encryption_algs=[cfg["cipher"]],
        agent_path=None,
    ) as conn:
        t0, c0 = time.perf_counter(), time.process_time()
        if cfg["direction"] == "up":
            proc = await conn.create_process("cat > /dev/null", encoding=None)
            block = bytes(CHUNK)
            for _ in range(size // CHUNK):
                proc.stdin.write(block)
                await proc.stdin.drain()
            proc.stdin.write_eof()
            await proc.wait()
        else:
            proc = await conn.create_process(f"head -c {size} /dev/zero", encoding=None)
            got = 0
            while data := await proc.stdout.read(CHUNK):
                got += len(data)
            await proc.wait()
            assert got == size
        return time.perf_counter() - t0, time.process_time() - c0


def _child(cfg: dict[str, Any]) -> None:
    impl = cfg["impl"]
    if impl == "aio":
        wall, cpu = asyncio.run(_aio(cfg))
    elif impl == "sync":
        wall, cpu = _sync(cfg)
    else:
        wall, cpu = asyncio.run(_asyncssh(cfg))
    print(json.dumps({"wall": wall, "cpu": cpu}))


def _python_with(module: str) -> str | None:
    candidates = [sys.executable, os.environ.get("ASYNCSSH_PYTHON", ""), "/tmp/vr/bin/python"]
    for py in candidates:
        if py and os.path.exists(py):
            ok = subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode == 0
            if ok:
                return py
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="MiB per transfer")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cipher", action="append", help="only these ciphers (repeatable)")
    ap.add_argument("--impl", action="append", help="only these clients: aio, sync, asyncssh (repeatable)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    sys.path.insert(0, str(HERE.parent.parent / "tests"))
    from support.sshd import start_sshd

    impls = {"aio": sys.executable, "sync": sys.executable}
    py = _python_with("asyncssh")
    if py is not None:
        impls["asyncssh"] = py
    if args.impl:
        impls = {k: v for k, v in impls.items() if k in args.impl}
    size = args.size * CHUNK
    with tempfile.TemporaryDirectory() as tmp, start_sshd(Path(tmp)) as sshd:
        print(f"{args.size} MiB per transfer, median of {args.runs} runs; CPU = client process only")
        print(f"{'client':10} {'cipher':30} {'dir':5} {'MB/s':>8} {'CPU ms/MB':>10}")
        for cipher in args.cipher or CIPHERS:
            for direction in ("up", "down"):
                for impl, python in impls.items():
                    cfg = {
                        "impl": impl,
                        "host": sshd.host,
                        "port": sshd.port,
                        "user": sshd.user,
                        "key": str(sshd.client_keys["ed25519"]),
                        "known_hosts": str(sshd.known_hosts),
                        "cipher": cipher,
                        "direction": direction,
                        "size": size,
                    }
                    walls, cpus = [], []
                    for _ in range(args.runs):
                        out = subprocess.run(
                            [python, str(HERE), "--child", json.dumps(cfg)],
                            capture_output=True,
                            text=True,
                            timeout=600,
                        )
                        if out.returncode != 0:
                            raise SystemExit(f"{impl} failed:\n{out.stderr}")
                        r = json.loads(out.stdout.strip().splitlines()[-1])
                        walls.append(r["wall"])
                        cpus.append(r["cpu"])
                    mb = size / 1e6
                    wall, cpu = statistics.median(walls), statistics.median(cpus)
                    print(f"{impl:10} {cipher:30} {direction:5} {mb / wall:8.1f} {cpu * 1000 / mb:10.2f}")


if __name__ == "__main__":
    main()
