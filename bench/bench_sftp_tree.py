"""Many small files: recursive SFTP put and get of a directory of N files
(default 1,000 x 4 KiB) through a private OpenSSH sshd, for

- ours: ``SFTPClient.put/get(..., recursive=True)`` (files pipelined);
- ours, one file at a time: a loop of ``put``/``get`` (what users wrote
  before ``recursive=``, and what paramiko offers);
- OpenSSH: ``sftp -b`` with ``put -R`` / ``get -R`` (its connection set-up,
  the median of a batch with one ``pwd``, subtracted);
- AsyncSSH: ``sftp.put/get(..., recurse=True)`` in ``bench/.venvs/asyncssh``
  (installed from PyPI on first use; skipped with ``--no-asyncssh``).

The Python clients time only the transfer, from inside, on an open session.

    python3 bench/bench_sftp_tree.py [--files 1000] [--size 4096] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))

import ssh_keys  # noqa: E402
from ssh_sftp import SFTPClient  # noqa: E402
from ssh_transport import Transport  # noqa: E402
from support.sshd import SSHD, start_sshd  # noqa: E402

ASYNCSSH_SCRIPT = r"""
import asyncio, json, shutil, sys, time
import asyncssh

async def main(host, port, user, key, known, src, remote, back, runs):
    out = {"put": [], "get": []}
    async with asyncssh.connect(host, port=port, username=user, client_keys=[key], known_hosts=known) as conn:
        async with conn.start_sftp_client() as sftp:
            for _ in range(runs):
                shutil.rmtree(remote, ignore_errors=True)
                t = time.perf_counter()
                await sftp.put(src, remote, recurse=True)
                out["put"].append(time.perf_counter() - t)
                shutil.rmtree(back, ignore_errors=True)
                t = time.perf_counter()
                await sftp.get(remote, back, recurse=True)
                out["get"].append(time.perf_counter() - t)
    print(json.dumps(out))

a = sys.argv[1:]
asyncio.run(main(a[0], int(a[1]), a[2], a[3], a[4], a[5], a[6], a[7], int(a[8])))
"""


def make_source(src: Path, files: int, size: int) -> None:
    """``files`` random files of ``size`` bytes in ``src``."""
    src.mkdir()
    for i in range(files):
        (src / f"f{i:05}").write_bytes(os.urandom(size))


def check_copy(src: Path, copy: Path) -> None:
    """Fail loudly unless ``copy`` holds the same files as ``src``."""
    names = sorted(os.listdir(src))
    if sorted(os.listdir(copy)) != names:
        raise SystemExit(f"bad copy in {copy}: {len(os.listdir(copy))} files")
    for name in names[:: max(1, len(names) // 20)]:
        if (src / name).read_bytes() != (copy / name).read_bytes():
            raise SystemExit(f"bad copy of {name} in {copy}")


def connect(sshd: SSHD) -> tuple[Transport, SFTPClient]:
    """Our transport and SFTP session to the sshd."""
    t = Transport((sshd.host, sshd.port))
    t.connect(username=sshd.user, pkey=ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"])))
    c = SFTPClient.from_transport(t)
    assert c is not None
    return t, c


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_ours(sshd: SSHD, src: Path, work: Path, runs: int, one_by_one: bool) -> dict[str, list[float]]:
    """Our client, recursive or a loop of single-file calls."""
    remote, back = work / "remote", work / "back"
    out: dict[str, list[float]] = {"put": [], "get": []}
    t, c = connect(sshd)
    try:
        for _ in range(runs):
            shutil.rmtree(remote, ignore_errors=True)
            shutil.rmtree(back, ignore_errors=True)
            if one_by_one:

                def put() -> None:
                    c.mkdir(str(remote))
                    for name in sorted(os.listdir(src)):
                        c.put(str(src / name), f"{remote}/{name}")

                def get() -> None:
                    back.mkdir()
                    for name in c.listdir(str(remote)):
                        c.get(f"{remote}/{name}", str(back / name))

            else:

                def put() -> None:
                    c.put(str(src), str(remote), recursive=True)

                def get() -> None:
                    c.get(str(remote), str(back), recursive=True)

            out["put"].append(timed(put))
            out["get"].append(timed(get))
            check_copy(src, remote)
            check_copy(src, back)
    finally:
        c.close()
        t.close()
    return out


def run_openssh(sshd: SSHD, src: Path, work: Path, runs: int) -> dict[str, list[float]]:
    """OpenSSH's sftp -b, set-up subtracted."""
    remote, back = work / "remote", work / "back"

    def batch(cmd: str) -> float:
        f = work / "batch"
        f.write_text(cmd + "\n")
        t0 = time.perf_counter()
        subprocess.run(
            ["sftp", *sshd.ssh_args(program="sftp"), "-q", "-b", str(f), sshd.target],
            check=True,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        return time.perf_counter() - t0

    setup = statistics.median(batch("pwd") for _ in range(5))
    out: dict[str, list[float]] = {"put": [], "get": [], "setup": [setup]}
    for _ in range(runs):
        shutil.rmtree(remote, ignore_errors=True)
        shutil.rmtree(back, ignore_errors=True)
        out["put"].append(batch(f"put -R {src} {remote}") - setup)
        out["get"].append(batch(f"get -R {remote} {back}") - setup)
        check_copy(src, remote)
        check_copy(src, back)
    return out


def run_asyncssh(sshd: SSHD, src: Path, work: Path, runs: int) -> dict[str, list[float]] | str:
    """AsyncSSH in its bench venv; a reason string if it cannot run."""
    from venvs import VenvError, ensure

    try:
        python = ensure("asyncssh")
    except VenvError as exc:
        return f"not run: {exc}"
    remote, back = work / "remote", work / "back"
    args = [sshd.host, str(sshd.port), sshd.user, str(sshd.client_keys["ed25519"]), str(sshd.known_hosts)]
    proc = subprocess.run(
        [str(python), "-c", ASYNCSSH_SCRIPT, *args, str(src), str(remote), str(back), str(runs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1:]}"
    check_copy(src, remote)
    check_copy(src, back)
    result: dict[str, list[float]] = json.loads(proc.stdout)
    return result


def main() -> int:
    """Run every client and print a table (files/s and MB/s, median)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--size", type=int, default=4096, help="bytes per file (default 4096)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-asyncssh", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        src = base / "src"
        make_source(src, args.files, args.size)
        results: dict[str, dict[str, list[float]] | str] = {}
        with start_sshd(base / "sshd") as sshd:
            work = base / "work"
            work.mkdir()
            results["ours (recursive=True)"] = run_ours(sshd, src, work, args.runs, one_by_one=False)
            results["ours (one file at a time)"] = run_ours(sshd, src, work, args.runs, one_by_one=True)
            results["OpenSSH sftp -R"] = run_openssh(sshd, src, work, args.runs)
            if not args.no_asyncssh:
                results["AsyncSSH recurse=True"] = run_asyncssh(sshd, src, work, args.runs)
    mb = args.files * args.size / 1e6
    print(f"{args.files} files x {args.size} B, median of {args.runs} (wall s, files/s, MB/s)")
    print(f"{'client':28} {'put s':>7} {'files/s':>8} {'MB/s':>6} {'get s':>7} {'files/s':>8} {'MB/s':>6}")
    for name, r in results.items():
        if isinstance(r, str):
            print(f"{name:28} {r}")
            continue
        p, g = statistics.median(r["put"]), statistics.median(r["get"])
        print(f"{name:28} {p:7.3f} {args.files / p:8.0f} {mb / p:6.1f} {g:7.3f} {args.files / g:8.0f} {mb / g:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
