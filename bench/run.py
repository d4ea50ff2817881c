#!/usr/bin/env python3
"""Benchmark this project, paramiko 5.x, AsyncSSH and OpenSSH on one loopback.

    python3 bench/run.py [--size MiB] [--only ours,ours-aio,paramiko,asyncssh,openssh] [--runs N]
    python3 bench/run.py --quick          # 8 MiB, 1 run, 5 latency runs: a smoke test

Starts a private sshd (fresh ed25519 host and client keys, free loopback
port), builds the venvs under bench/.venvs/ when needed, then measures for
each client, every measurement in its own process: SFTP get and put of the
same file, raw channel throughput both ways (exec ``cat > /dev/null`` and
``head -c N /dev/zero``), the median connect+auth+exec latency of ``true``,
and the client's CPU time per MB. Every client is made to use the same
cipher (``--cipher``, default aes128-gcm@openssh.com) and kex (``--kex``,
default curve25519-sha256); the kex and cipher that sshd actually negotiated
are read from its log and reported.

Prints markdown tables and writes bench/results/results.json, results.md and
chart.png. See bench/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import report
import venvs
from scenarios import THROUGHPUT, Sample, Setup, run_openssh, run_python

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.sshd import start_sshd  # noqa: E402 - needs the tests folder on sys.path

ALL_CLIENTS = ("ours", "ours-aio", "paramiko", "asyncssh", "openssh")
DEFAULT_CIPHER = "aes128-gcm@openssh.com"
DEFAULT_KEX = "curve25519-sha256,curve25519-sha256@libssh.org"
FALLBACK_CIPHER = "aes128-ctr"
# the asyncio client of this project runs from the same venv as the threaded one
VENV_OF = {"ours-aio": "ours"}
FALLBACK_MACS = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` sets small defaults for a smoke run."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--size", type=int, default=None, help="file / stream size in MiB (default 256)")
    p.add_argument("--only", default=",".join(ALL_CLIENTS), help="comma-separated clients to measure")
    p.add_argument("--runs", type=int, default=None, help="runs per throughput scenario; the median is shown (3)")
    p.add_argument("--latency-runs", type=int, default=None, help="connect+auth+exec repetitions (20)")
    p.add_argument("--cipher", default=DEFAULT_CIPHER, help=f"cipher forced on every client ({DEFAULT_CIPHER})")
    p.add_argument(
        "--kex",
        default=DEFAULT_KEX,
        help=f"kex names allowed, in order; each client keeps those it has ({DEFAULT_KEX}); 'default' lets each choose",
    )
    p.add_argument("--quick", action="store_true", help="8 MiB, 1 run, 5 latency runs")
    p.add_argument("--output", type=Path, default=BENCH / "results", help="where results.json/.md/chart.png go")
    p.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a new one in /dev/shm)")
    p.add_argument("--no-chart", action="store_true", help="skip the PNG (and the tools venv)")
    args = p.parse_args(argv)
    args.size = args.size if args.size is not None else (8 if args.quick else 256)
    args.runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    args.latency_runs = args.latency_runs if args.latency_runs is not None else (5 if args.quick else 20)
    args.clients = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(args.clients) - set(ALL_CLIENTS)
    if unknown:
        p.error(f"unknown client(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL_CLIENTS)}")
    if args.size < 1 or args.runs < 1 or args.latency_runs < 1:
        p.error("--size, --runs and --latency-runs must be at least 1")
    return args


@contextlib.contextmanager
def scratch_dir(wanted: Path | None, size: int) -> Iterator[Path]:
    """A fresh scratch directory, on tmpfs when it has room for three copies of
    the file (source, a get copy, a put copy), removed afterwards."""
    if wanted is not None:
        wanted.mkdir(parents=True, exist_ok=True)
        base = str(wanted)
    elif os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 4 * size:
        base = "/dev/shm"
    else:
        base = None
    path = Path(tempfile.mkdtemp(prefix="ssh-bench-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def make_source(path: Path, size: int) -> None:
    """Write ``size`` random bytes (incompressible, so nothing can cheat)."""
    chunk = 4 << 20
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def _tool_version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def prepare_clients(names: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
    """Build the venv of every Python client; a failure is recorded, not fatal."""
    info: dict[str, dict[str, Any]] = {}
    pythons: dict[str, Path] = {}
    for name in names:
        if name == "openssh":
            info[name] = {"version": _tool_version(["ssh", "-V"]).split(",")[0]}
            continue
        try:
            python = venvs.ensure(VENV_OF.get(name, name))
        except venvs.VenvError as exc:
            info[name] = {"setup_error": str(exc)}
            print(f"  {name}: venv setup failed: {exc}", flush=True)
            continue
        module = "asyncssh" if name == "asyncssh" else "paramiko"
        version = venvs.module_version(python, module)
        label = f"{'paramiko API (this project) ' if name == 'ours' else ''}{version}"
        if name == "ours-aio" and not version.startswith("import "):
            version = label = f"paramiko.aio (this project) {version}"
        crypto = venvs.module_version(python, "cryptography")
        info[name] = {"version": version, "cryptography": crypto, "python": str(python)}
        if version.startswith("import "):  # still measured: each cell then shows the error
            info[name].update(version="?", import_error=version)
        pythons[name] = python
        print(f"  {name}: {label} (cryptography {crypto})", flush=True)
    return info, pythons


def _progress(s: Sample, note: str = "") -> None:
    if not s.ok:
        print(f"  {s.client:9s} {s.scenario:10s} ERROR {s.error}{note}", flush=True)
    elif s.samples:
        med = sorted(s.samples)[len(s.samples) // 2] * 1000
        print(f"  {s.client:9s} {s.scenario:10s} median {med:7.1f} ms of {len(s.samples)}{note}", flush=True)
    else:
        mbs = s.nbytes / 1e6 / s.wall if s.wall > 0 else 0.0
        cpu = 1000 * s.cpu / (s.nbytes / 1e6) if s.nbytes else 0.0
        print(f"  {s.client:9s} {s.scenario:10s} {mbs:8.1f} MB/s {cpu:6.2f} ms CPU/MB{note}", flush=True)


def measure(setup: Setup, clients: list[str], pythons: dict[str, Path], runs: int, latency_runs: int) -> list[Sample]:
    """Latency first (it also proves every client can log in), then the
    throughput scenarios, clients interleaved run by run so drift hits all alike."""
    samples: list[Sample] = []
    ready = [c for c in clients if c == "openssh" or c in pythons]
    print("connect+auth+exec latency", flush=True)
    for c in ready:
        if c == "openssh":
            for sc in ("latency", "sftp_baseline"):
                samples.append(run_openssh(setup, sc, latency_runs))
                _progress(samples[-1])
        else:
            samples.append(run_python(setup, c, pythons[c], "latency", latency_runs))
            _progress(samples[-1])
    # A client that cannot even log in would only time out in every other cell.
    failed = {s.client for s in samples if s.scenario == "latency" and not s.ok}
    for c in sorted(failed):
        err = next(s.error for s in samples if s.client == c and s.scenario == "latency")
        samples += [Sample(c, sc, False, error=f"skipped, the latency run failed: {err}") for sc in THROUGHPUT]
    ready = [c for c in ready if c not in failed]
    timed_out: set[tuple[str, str]] = set()  # a cell that hung once is not retried
    for r in range(runs):
        print(f"throughput, run {r + 1}/{runs} ({setup.size >> 20} MiB)", flush=True)
        for c in ready:
            for sc in THROUGHPUT:
                if (c, sc) in timed_out:
                    continue
                if c == "openssh":
                    s = run_openssh(setup, sc)
                    _progress(s, "  (raw, set-up included)")
                else:
                    s = run_python(setup, c, pythons[c], sc)
                    _progress(s)
                samples.append(s)
                if s.error.startswith("timed out"):
                    timed_out.add((c, sc))
    return samples


def draw_chart(results_path: Path, png: Path) -> str:
    """Render the chart with the tools venv; '' on success, else why not."""
    try:
        python = venvs.ensure("tools")
    except venvs.VenvError as exc:
        return str(exc)
    proc = subprocess.run(
        [str(python), str(BENCH / "chart.py"), str(results_path), str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return "" if proc.returncode == 0 else proc.stderr.strip()[-2000:]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 even when a client failed (its error is shown)."""
    args = parse_args(argv)
    size = args.size << 20
    print(f"preparing clients: {', '.join(args.clients)}", flush=True)
    info, pythons = prepare_clients(args.clients)
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "openssh": _tool_version(["ssh", "-V"]),
        "ours_git": _tool_version(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "size_mib": args.size,
        "runs": args.runs,
        "latency_runs": args.latency_runs,
        "cipher": args.cipher,
        "kex": args.kex,
        "fallback": {"cipher": FALLBACK_CIPHER, "macs": FALLBACK_MACS},
        "mb": "10**6 bytes",
    }
    with scratch_dir(args.workdir, size) as work:
        print(f"writing a {args.size} MiB source file in {work}", flush=True)
        make_source(work / "source.bin", size)
        # DEBUG1 makes sshd log the negotiated kex/cipher; it logs nothing per packet.
        with start_sshd(
            work / "sshd", ["LogLevel DEBUG1"], host_key_types=("ed25519",), client_key_types=("ed25519",)
        ) as sshd:
            key = sshd.client_keys["ed25519"]
            setup = Setup(
                host=sshd.host,
                port=sshd.port,
                user=sshd.user,
                key=key,
                host_key=sshd.host_key_line("ed25519"),
                known_hosts=sshd.known_hosts,
                ssh_base_args=[
                    *("-F", "/dev/null", "-i", str(key), "-o", f"UserKnownHostsFile={sshd.known_hosts}"),
                    *("-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"),
                    *("-o", "ConnectTimeout=10"),
                ],
                cipher=args.cipher,
                kex=[] if args.kex == "default" else [k for k in args.kex.split(",") if k],
                fallback_cipher=FALLBACK_CIPHER,
                fallback_macs=FALLBACK_MACS,
                size=size,
                source=work / "source.bin",
                workdir=work,
                sshd_log=sshd.log_path,
            )
            print(f"sshd on {sshd.host}:{sshd.port}", flush=True)
            samples = measure(setup, args.clients, pythons, args.runs, args.latency_runs)
    meta["load_average_at_end"] = list(os.getloadavg())
    results = report.build_results(meta, info, samples)
    table = report.markdown(results)
    args.output.mkdir(parents=True, exist_ok=True)
    results_path = args.output / "results.json"
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    header = f"{args.size} MiB, {args.cipher}, median of {args.runs} run(s); {meta['cpu']}, {meta['cores']} cores\n\n"
    (args.output / "results.md").write_text(header + table)
    print("\n" + header + table, flush=True)
    if meta["load_average_at_start"][0] > 0.7:  # at the end the load includes our own processes
        load = meta["load_average_at_start"][0]
        print(f"note: the machine was busy (load {load:.1f}); MB/s is noisy, CPU ms/MB much less so", flush=True)
    if not args.no_chart:
        why = draw_chart(results_path, args.output / "chart.png")
        print(f"chart: {args.output / 'chart.png'}" if not why else f"chart not drawn: {why}", flush=True)
    print(f"results: {results_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
