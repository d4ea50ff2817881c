#!/usr/bin/env python3
"""Benchmark SSH servers under OpenSSH's own clients: sshd, ours, paramiko's, AsyncSSH's.

    python3 bench/server_bench.py [--size MiB] [--runs N] [--only sshd,ours,paramiko,asyncssh]

Starts each server in turn on a free loopback port (OpenSSH's sshd with
sftp-server; this project's demo server, ``python -m paramiko.demo server``;
and a small exec + SFTP server per Python peer under ``bench/servers/``, each
in its bench venv), all with the same ed25519 host key and client key, and
drives it with OpenSSH's ``ssh`` and ``sftp`` forced onto the same cipher and
kex: channel up (``cat > /dev/null`` fed N MiB), channel down (``head -c N
/dev/zero``), SFTP get and put of an N MiB random file. For every run it
records the wall time and the server's CPU time, both with the connection
set-up removed (the median of no-op runs of the same tool is subtracted, as
in ``run.py``).

Server CPU is read from ``/proc/<pid>/stat`` of the server's main process:
its own utime+stime plus cutime+cstime, which holds every descendant once
reaped (sshd's per-connection processes and sftp-server, the Python servers'
threads and children). The exec'd command is run under ``/usr/bin/time``,
which writes the command's own CPU to a file; that is subtracted and shown
on its own (``cmd CPU``), so the server's figure is the server alone.

Prints a markdown table and writes bench/results/server.json and server.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import getpass
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import venvs
from run import DEFAULT_CIPHER, DEFAULT_KEX, _cpu_model, _tool_version, make_source, scratch_dir
from scenarios import THROUGHPUT, Setup, _check_output_file, _paths, command_for, timeout_for

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.sshd import keygen, start_sshd  # noqa: E402 - needs the tests folder on sys.path

ALL_SERVERS = ("sshd", "ours", "paramiko", "asyncssh")
LABELS = {
    "sshd": "OpenSSH sshd + sftp-server",
    "ours": "this project (paramiko.demo server)",
    "paramiko": "paramiko",
    "asyncssh": "AsyncSSH",
}
SERVER_SCRIPTS = {
    "paramiko": BENCH / "servers" / "paramiko_server.py",
    "asyncssh": BENCH / "servers" / "asyncssh_server.py",
}
TIME = "/usr/bin/time"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1_000_000
BASELINE_RUNS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--size", type=int, default=256, help="stream / file size in MiB (256)")
    p.add_argument("--runs", type=int, default=3, help="runs per scenario; the median is shown (3)")
    p.add_argument("--only", default=",".join(ALL_SERVERS), help="comma-separated servers to measure")
    p.add_argument("--scenarios", default=",".join(THROUGHPUT), help="comma-separated scenarios to run")
    p.add_argument("--cipher", default=DEFAULT_CIPHER, help=f"cipher forced on ssh/sftp ({DEFAULT_CIPHER})")
    p.add_argument("--kex", default=DEFAULT_KEX, help=f"kex names for ssh/sftp ({DEFAULT_KEX})")
    p.add_argument(
        "--ours-python",
        type=Path,
        default=None,
        help="interpreter for our server (default: bench/.venvs/ours, rebuilt from ./packages)",
    )
    p.add_argument("--output", type=Path, default=BENCH / "results", help="where server.json/.md go")
    p.add_argument("--workdir", type=Path, default=None, help="scratch directory (default: a new one in /dev/shm)")
    args = p.parse_args(argv)
    args.servers = [s.strip() for s in args.only.split(",") if s.strip()]
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if set(args.servers) - set(ALL_SERVERS):
        p.error(f"unknown server(s); choose from {', '.join(ALL_SERVERS)}")
    if set(args.scenario_list) - set(THROUGHPUT):
        p.error(f"unknown scenario(s); choose from {', '.join(THROUGHPUT)}")
    if args.size < 1 or args.runs < 1:
        p.error("--size and --runs must be at least 1")
    return args


# -- CPU accounting ----------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its reaped descendants (utime+stime+cutime+cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the command name: state is field 3, utime 14 .. cstime 17 (1-based)
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def wait_reaped(pid: int, expected: int, timeout: float = 10.0) -> None:
    """Wait until the server has no more than ``expected`` children (sshd's
    per-connection processes are reaped a moment after the client exits)."""
    deadline = time.monotonic() + timeout
    while len(_children(pid)) > expected and time.monotonic() < deadline:
        time.sleep(0.005)


# -- the servers -----------------------------------------------------------------------


@dataclass
class Server:
    """A running server: its port, main process, and the children it keeps (sshd: none)."""

    name: str
    port: int
    pid: int
    known_hosts: Path
    idle_children: int = 0
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _python_server(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run a server script that prints ``listening on HOST:PORT``; stop it by its pid."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        port = 0
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.startswith("listening on "):
                port = int(line.rsplit(":", 1)[1])
                break
            if time.monotonic() > deadline:
                break
        if not port:
            said = proc.stdout.read()[-2000:] if proc.poll() is not None else ""
            raise RuntimeError(f"{cmd[0]} did not start: {said}")
        # keep draining its output so it never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _known_hosts(work: Path, name: str, port: int, host_key_line: str) -> Path:
    path = work / f"known_hosts.{name}"
    path.write_text(f"[127.0.0.1]:{port} {host_key_line}\n")
    return path


@contextlib.contextmanager
def start_server(name: str, keys: Path, work: Path, ours_python: Path | None) -> Iterator[Server]:
    """Start server ``name`` with the host key and authorized_keys in ``keys``."""
    host_key = keys / "host_ed25519"
    host_line = " ".join((keys / "host_ed25519.pub").read_text().split()[:2])
    authorized = keys / "authorized_keys"
    if name == "sshd":
        with start_sshd(keys, ["LogLevel INFO"], host_key_types=("ed25519",), client_key_types=("ed25519",)) as sshd:
            assert sshd.proc is not None
            version = _tool_version(["ssh", "-V"]).split(",")[0]
            yield Server(name, sshd.port, sshd.proc.pid, sshd.known_hosts, version=version)
        return
    if name == "ours":
        python = ours_python or venvs.ensure("ours")
        state = work / "ours-state"
        state.mkdir(exist_ok=True)
        shutil.copy(host_key, state / "host_ed25519_key")
        os.chmod(state / "host_ed25519_key", 0o600)
        cmd = [str(python), "-m", "paramiko.demo", "server", "--port", "0", "--root", "/"]
        cmd += ["--state", str(state), "--authorized-keys", str(authorized), "--max-startups", "1000"]
        version = venvs.module_version(python, "paramiko")
    else:
        python = venvs.ensure(name)
        cmd = [str(python), str(SERVER_SCRIPTS[name]), str(host_key), str(authorized)]
        version = venvs.module_version(python, name)
    env = dict(os.environ, SHLVL="1")  # as sshd's SetEnv SHLVL=1: no ~/.bashrc in the data path
    with _python_server(cmd, env) as (proc, port):
        yield Server(name, port, proc.pid, _known_hosts(work, name, port, host_line), version=version)


# -- one run -------------------------------------------------------------------------


@dataclass
class Run:
    """One ssh/sftp process against a server: wall, server CPU, command CPU (seconds)."""

    wall: float
    server_cpu: float
    cmd_cpu: float | None
    ok: bool = True
    error: str = ""


def _ssh_common(args: argparse.Namespace, keys: Path, server: Server) -> list[str]:
    common = ["-F", "/dev/null", "-i", str(keys / "client_ed25519")]
    common += ["-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    common += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"]
    common += ["-c", args.cipher, "-o", "Compression=no", "-o", "ControlMaster=no", "-o", "ControlPath=none"]
    if args.kex and args.kex != "default":
        common += ["-o", "KexAlgorithms=" + args.kex]
    return common


def _command(scenario: str, setup: Setup, cmd_cpu_file: Path) -> str:
    """The remote command, under /usr/bin/time when present so its own CPU can be told apart."""
    cmd = command_for(scenario, setup.size)
    if scenario in ("chan_up", "chan_down") and os.path.exists(TIME):
        # "exec cat > /dev/null" -> "exec /usr/bin/time -f '%U %S' -o FILE cat > /dev/null"
        cmd = cmd.replace("exec ", f"exec {TIME} -f '%U %S' -o {cmd_cpu_file} ", 1)
    return cmd


def run_once(args: argparse.Namespace, keys: Path, server: Server, setup: Setup, scenario: str) -> Run:
    """One scenario (or a no-op: ``latency`` is ``ssh true``, ``sftp_baseline`` is ``sftp`` with ``pwd``)."""
    common = _ssh_common(args, keys, server)
    target = f"{setup.user}@127.0.0.1"
    cmd_cpu_file = setup.workdir / "cmd_cpu"
    cmd_cpu_file.unlink(missing_ok=True)
    stdin: Path | None = None
    if scenario in ("chan_up", "chan_down", "latency"):
        cmd = ["ssh", *common, "-p", str(server.port), "-T", target, _command(scenario, setup, cmd_cpu_file)]
        stdin = setup.source if scenario == "chan_up" else None
    else:
        batch = setup.workdir / "batch"
        if scenario == "sftp_baseline":
            batch.write_text("pwd\n")
        else:
            remote, local = _paths(setup, server.name, scenario)
            batch.write_text(f'get "{remote}" "{local}"\n' if scenario == "sftp_get" else f'put "{local}" "{remote}"\n')
        cmd = ["sftp", *common, "-P", str(server.port), "-q", "-b", str(batch), target]
    timeout = timeout_for(setup, scenario)
    cpu0 = tree_cpu(server.pid)
    t0 = time.perf_counter()
    try:
        with open(stdin if stdin is not None else "/dev/null", "rb") as f:
            proc = subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(0.0, 0.0, None, False, f"timed out after {timeout:.0f} s")
    wall = time.perf_counter() - t0
    wait_reaped(server.pid, server.idle_children)
    time.sleep(0.05)  # let the Python servers finish tearing the connection down
    server_cpu = tree_cpu(server.pid) - cpu0
    cmd_cpu = None
    if cmd_cpu_file.exists():
        parts = cmd_cpu_file.read_text().split()
        with contextlib.suppress(ValueError, IndexError):
            cmd_cpu = float(parts[-2]) + float(parts[-1])
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
        return Run(wall, server_cpu, cmd_cpu, False, f"{cmd[0]} exited {proc.returncode}: {tail}")
    if scenario in ("sftp_get", "sftp_put"):
        problem = _check_output_file(setup, server.name, scenario)
        if problem:
            return Run(wall, server_cpu, cmd_cpu, False, problem)
    return Run(wall, server_cpu - (cmd_cpu or 0.0), cmd_cpu)


def measure_server(args: argparse.Namespace, keys: Path, server: Server, setup: Setup) -> dict[str, Any]:
    """Baselines, then ``--runs`` rounds of every scenario, for one running server."""
    out: dict[str, Any] = {"label": LABELS[server.name], "version": server.version, "scenarios": {}}
    base: dict[str, tuple[float, float]] = {}
    for kind in ("latency", "sftp_baseline"):
        runs = [run_once(args, keys, server, setup, kind) for _ in range(BASELINE_RUNS)]
        bad = [r.error for r in runs if not r.ok]
        if bad:
            out["error"] = f"{kind}: {bad[0]}"
            print(f"  {server.name:9s} {kind:13s} ERROR {bad[0]}", flush=True)
            return out
        base[kind] = (statistics.median(r.wall for r in runs), statistics.median(r.server_cpu for r in runs))
        print(
            f"  {server.name:9s} {kind:13s} set-up {base[kind][0] * 1000:6.1f} ms, "
            f"server CPU {base[kind][1] * 1000:5.1f} ms",
            flush=True,
        )
    out["setup"] = {k: {"wall_s": w, "server_cpu_s": c} for k, (w, c) in base.items()}
    mbytes = setup.size / MB
    for _ in range(args.runs):
        for sc in args.scenario_list:
            run = run_once(args, keys, server, setup, sc)
            cell = out["scenarios"].setdefault(sc, {"runs": [], "errors": []})
            if not run.ok:
                cell["errors"].append(run.error)
                print(f"  {server.name:9s} {sc:13s} ERROR {run.error}", flush=True)
                continue
            bw, bc = base["sftp_baseline" if sc.startswith("sftp") else "latency"]
            wall = run.wall - bw if run.wall > bw else run.wall
            cpu = max(run.server_cpu - bc, 0.0)
            entry = {
                "raw_wall_s": run.wall,
                "wall_s": wall,
                "raw_server_cpu_s": run.server_cpu,
                "server_cpu_s": cpu,
                "cmd_cpu_s": run.cmd_cpu,
                "mb_s": mbytes / wall,
                "server_cpu_ms_per_mb": 1000 * cpu / mbytes,
                "cmd_cpu_ms_per_mb": None if run.cmd_cpu is None else 1000 * run.cmd_cpu / mbytes,
            }
            cell["runs"].append(entry)
            print(
                f"  {server.name:9s} {sc:13s} {entry['mb_s']:8.1f} MB/s  server {entry['server_cpu_ms_per_mb']:5.2f} "
                f"ms CPU/MB" + (f"  (cmd {entry['cmd_cpu_ms_per_mb']:.2f})" if run.cmd_cpu is not None else ""),
                flush=True,
            )
    for cell in out["scenarios"].values():
        good = cell["runs"]
        for key in ("mb_s", "server_cpu_ms_per_mb", "cmd_cpu_ms_per_mb"):
            vals = [e[key] for e in good if e[key] is not None]
            cell[key] = statistics.median(vals) if vals else None
    return out


# -- output --------------------------------------------------------------------------

COLUMNS = {"chan_up": "chan up", "chan_down": "chan down", "sftp_get": "SFTP get", "sftp_put": "SFTP put"}


def markdown(results: dict[str, Any]) -> str:
    """MB/s and server CPU ms/MB per server and scenario, with the ratio to sshd."""
    scen = results["meta"]["scenarios"]
    head = "| server | " + " | ".join(f"{COLUMNS[s]} MB/s | CPU ms/MB" for s in scen) + " |"
    rule = "|---|" + "---:|---:|" * len(scen)
    rows = [head, rule]
    ref = results["servers"].get("sshd", {}).get("scenarios", {})
    for name, res in results["servers"].items():
        cells = []
        for sc in scen:
            cell = res.get("scenarios", {}).get(sc)
            if not cell or cell.get("mb_s") is None:
                cells += ["error", ""]
                continue
            mbs = f"{cell['mb_s']:,.0f}"
            base = (ref.get(sc) or {}).get("mb_s")
            if name != "sshd" and base:
                mbs += f" ({cell['mb_s'] / base:.2f}x)"
            cells += [mbs, f"{cell['server_cpu_ms_per_mb']:.2f}"]
        label = f"{res['label']} {res.get('version', '')}".strip()
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    notes = []
    for name, res in results["servers"].items():
        if res.get("error"):
            notes.append(f"- {name}: {res['error']}")
        for sc, cell in res.get("scenarios", {}).items():
            for err in sorted(set(cell.get("errors", []))):
                notes.append(f"- {name} {sc}: {err}")
    cmd = []
    for name, res in results["servers"].items():
        vals = [
            f"{COLUMNS[sc]} {cell['cmd_cpu_ms_per_mb']:.2f}"
            for sc, cell in res.get("scenarios", {}).items()
            if cell.get("cmd_cpu_ms_per_mb") is not None
        ]
        if vals:
            cmd.append(f"{name}: " + ", ".join(vals))
    text = "\n".join(rows) + "\n"
    if cmd:
        text += "\nCPU of the exec'd command itself (cat / head), ms/MB, not in the server's figure: "
        text += "; ".join(cmd) + "\n"
    if notes:
        text += "\nErrors:\n" + "\n".join(notes) + "\n"
    return text


def main(argv: list[str] | None = None) -> int:
    """Measure every server in turn; exit 0 even when one failed (its error is shown)."""
    args = parse_args(argv)
    size = args.size << 20
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
        "cipher": args.cipher,
        "kex": args.kex,
        "scenarios": args.scenario_list,
        "server_cpu": "server process + reaped descendants, minus the exec'd command (/usr/bin/time) "
        "and minus the median set-up of a no-op run",
        "mb": "10**6 bytes",
    }
    results: dict[str, Any] = {"meta": meta, "servers": {}}
    with scratch_dir(args.workdir, size) as work:
        print(f"writing a {args.size} MiB source file in {work}", flush=True)
        make_source(work / "source.bin", size)
        keys = work / "keys"
        keys.mkdir()
        keygen(keys / "host_ed25519", "ed25519", "host")
        keygen(keys / "client_ed25519", "ed25519", "client")
        (keys / "authorized_keys").write_text((keys / "client_ed25519.pub").read_text())
        for name in args.servers:
            print(f"{name}: starting", flush=True)
            try:
                with start_server(name, keys, work, args.ours_python) as server:
                    setup = Setup(
                        host="127.0.0.1",
                        port=server.port,
                        user=getpass.getuser(),
                        key=keys / "client_ed25519",
                        host_key="",
                        known_hosts=server.known_hosts,
                        ssh_base_args=[],
                        cipher=args.cipher,
                        kex=[],
                        fallback_cipher="",
                        fallback_macs=[],
                        size=size,
                        source=work / "source.bin",
                        workdir=work,
                        sshd_log=work / "unused.log",
                    )
                    server.idle_children = len(_children(server.pid))
                    results["servers"][name] = measure_server(args, keys, server, setup)
            except (RuntimeError, OSError, venvs.VenvError) as exc:
                results["servers"][name] = {"label": LABELS[name], "error": f"could not start: {exc}"}
                print(f"  {name}: could not start: {exc}", flush=True)
    meta["load_average_at_end"] = list(os.getloadavg())
    table = markdown(results)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "server.json").write_text(json.dumps(results, indent=2) + "\n")
    header = (
        f"{args.size} MiB, {args.cipher}, OpenSSH's ssh/sftp as the client, median of {args.runs} run(s); "
        f"{meta['cpu']}, {meta['cores']} cores, {meta['date']}\n\n"
    )
    (args.output / "server.md").write_text(header + table)
    print("\n" + header + table, flush=True)
    print(f"results: {args.output / 'server.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
