"""Running one measurement: a client process against the private sshd.

Every measurement is its own subprocess, so a crash or hang in one client
costs one cell of the table. Python clients (``clients/*.py``) get a JSON spec
on the command line and print a JSON result with the wall and CPU time of the
measured phase only. OpenSSH's ``ssh``/``sftp`` are timed from outside: wall
time around the process, CPU from ``RUSAGE_CHILDREN`` deltas (``sftp``'s own
``ssh`` child is included); their connection set-up is removed afterwards by
subtracting the median of a no-op run of the same tool (see ``report.py``).

The spec fields: host, port, user, key (private key path), host_key ("type
base64"), known_hosts (path), cipher, fallback_cipher, fallback_macs,
kex (names to allow, in order; empty for the
client's default), scenario (chan_up, chan_down, sftp_get, sftp_put, latency), size (bytes),
command, remote, local, count (latency runs), timeout (seconds).
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
CLIENT_SCRIPTS = {
    "ours": BENCH / "clients" / "paramiko_client.py",
    "paramiko": BENCH / "clients" / "paramiko_client.py",
    "asyncssh": BENCH / "clients" / "asyncssh_client.py",
    "ours-aio": BENCH / "clients" / "aio_client.py",
}
THROUGHPUT = ("sftp_get", "sftp_put", "chan_up", "chan_down")
LATENCY_COMMAND = "true"


@dataclass
class Setup:
    """Everything fixed for a whole benchmark run."""

    host: str
    port: int
    user: str
    key: Path
    host_key: str
    known_hosts: Path
    ssh_base_args: list[str]
    cipher: str
    kex: list[str]
    fallback_cipher: str
    fallback_macs: list[str]
    size: int
    source: Path
    workdir: Path
    sshd_log: Path


@dataclass
class Sample:
    """One measurement (or one failure) of one client in one scenario."""

    client: str
    scenario: str
    ok: bool
    wall: float = 0.0
    cpu: float = 0.0
    cpu_process: float = 0.0
    nbytes: int = 0
    error: str = ""
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)
    negotiated: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def command_for(scenario: str, size: int) -> str:
    """The remote command of a channel scenario; ``exec`` keeps a shell out of the path."""
    if scenario == "chan_up":
        return "exec cat > /dev/null"
    if scenario == "chan_down":
        return f"exec head -c {size} /dev/zero"
    return LATENCY_COMMAND


def timeout_for(setup: Setup, scenario: str, count: int = 1) -> float:
    """A generous bound: 30 s plus 1 s per 4 MiB (or 5 s per latency run)."""
    if scenario == "latency" or scenario.endswith("_baseline"):
        return 30.0 + 5.0 * count
    return 30.0 + setup.size / (4 << 20)


def _paths(setup: Setup, client: str, scenario: str) -> tuple[str, str]:
    """(remote, local) paths of an SFTP scenario, per client so runs never collide."""
    if scenario == "sftp_get":
        return str(setup.source), str(setup.workdir / f"get.{client}.bin")
    return str(setup.workdir / f"put.{client}.bin"), str(setup.source)


def _spec(setup: Setup, client: str, scenario: str, count: int) -> dict[str, Any]:
    remote, local = _paths(setup, client, scenario)
    return {
        "host": setup.host,
        "port": setup.port,
        "user": setup.user,
        "key": str(setup.key),
        "host_key": setup.host_key,
        "known_hosts": str(setup.known_hosts),
        "cipher": setup.cipher,
        "kex": setup.kex,
        "fallback_cipher": setup.fallback_cipher,
        "fallback_macs": setup.fallback_macs,
        "scenario": scenario,
        "size": setup.size,
        "command": command_for(scenario, setup.size),
        "remote": remote,
        "local": local,
        "count": count,
        "timeout": timeout_for(setup, scenario, count),
    }


class _LogWindow:
    """The part of sshd's log written during one measurement."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def text(self) -> str:
        """What sshd logged since this window was opened."""
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


_KEX_RE = re.compile(r"kex: algorithm: (\S+)")
_CIPHER_RE = re.compile(r"kex: (client->server|server->client) cipher: (\S+) MAC: (\S+) compression: (\S+)")


def negotiated_from_log(text: str) -> dict[str, str]:
    """kex, ciphers and MACs that sshd (LogLevel DEBUG1) says it agreed on."""
    found: dict[str, str] = {}
    m = _KEX_RE.search(text)
    if m:
        found["kex"] = m.group(1)
    for direction, cipher, mac, comp in _CIPHER_RE.findall(text):
        tag = "c2s" if direction == "client->server" else "s2c"
        found[f"cipher_{tag}"] = cipher
        found[f"mac_{tag}"] = mac
        found[f"compression_{tag}"] = comp
    return found


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _check_output_file(setup: Setup, client: str, scenario: str) -> str:
    """Compare an SFTP result with the source file and delete it; '' when equal."""
    remote, local = _paths(setup, client, scenario)
    produced = Path(local if scenario == "sftp_get" else remote)
    try:
        if not produced.exists():
            return f"{produced.name} was not written"
        if produced.stat().st_size != setup.size:
            return f"{produced.name} has {produced.stat().st_size} bytes, expected {setup.size}"
        if not _same_content(produced, setup.source):
            return f"{produced.name} differs from the source file"
        return ""
    finally:
        produced.unlink(missing_ok=True)


def _same_content(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ba, bb = fa.read(1 << 22), fb.read(1 << 22)
            if ba != bb:
                return False
            if not ba:
                return True


def run_python(setup: Setup, client: str, python: Path, scenario: str, count: int = 1) -> Sample:
    """One scenario in a fresh process of a Python client."""
    spec = _spec(setup, client, scenario, count)
    log = _LogWindow(setup.sshd_log)
    cpu0 = _children_cpu()
    try:
        proc = subprocess.run(
            [str(python), str(CLIENT_SCRIPTS[client]), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=spec["timeout"] + 30,
        )
    except subprocess.TimeoutExpired:
        return Sample(client, scenario, False, error=f"timed out after {spec['timeout'] + 30:.0f} s")
    cpu_process = _children_cpu() - cpu0
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if not result.get("ok"):
        err = result.get("error") or (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        sample = Sample(client, scenario, False, error=str(err), cpu_process=cpu_process)
        sample.extra["traceback"] = result.get("traceback", proc.stderr[-2000:])
        return sample
    sample = Sample(
        client,
        scenario,
        True,
        wall=float(result.get("wall", 0.0)),
        cpu=float(result.get("cpu", 0.0)),
        cpu_process=cpu_process,
        nbytes=int(result.get("bytes", 0)),
        samples=[float(x) for x in result.get("samples", [])],
        cpu_samples=[float(x) for x in result.get("cpu_samples", [])],
        negotiated=negotiated_from_log(log.text()),
    )
    sample.extra = {k: result[k] for k in ("version", "requested_cipher", "requested_mac", "fallback") if k in result}
    if scenario in ("sftp_get", "sftp_put"):
        problem = _check_output_file(setup, client, scenario)
        if problem:
            sample.ok, sample.error = False, problem
    return sample


def _timed(cmd: list[str], stdin: Path | None, timeout: float) -> tuple[float, float, int, str]:
    """Run ``cmd``; (wall, children CPU, exit status, stderr tail). Output is discarded."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    with open(stdin if stdin is not None else "/dev/null", "rb") as f:
        proc = subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    wall = time.perf_counter() - t0
    tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
    return wall, _children_cpu() - cpu0, proc.returncode, " | ".join(tail)


def _openssh_cmd(setup: Setup, scenario: str, batch: Path) -> tuple[list[str], Path | None]:
    """The ssh/sftp command line and stdin file of an OpenSSH scenario."""
    common = ["-c", setup.cipher, "-o", "Compression=no", "-o", "ControlMaster=no", "-o", "ControlPath=none"]
    if setup.kex:
        common += ["-o", "KexAlgorithms=" + ",".join(setup.kex)]
    ssh = ["ssh", *setup.ssh_base_args, "-p", str(setup.port), *common, "-T", f"{setup.user}@{setup.host}"]
    sftp = ["sftp", *setup.ssh_base_args, "-P", str(setup.port), *common, "-q", "-b", str(batch)]
    sftp.append(f"{setup.user}@{setup.host}")
    if scenario == "chan_up":
        return [*ssh, command_for(scenario, setup.size)], setup.source
    if scenario == "chan_down":
        return [*ssh, command_for(scenario, setup.size)], None
    if scenario == "latency":
        return [*ssh, LATENCY_COMMAND], None
    remote, local = _paths(setup, "openssh", scenario)
    if scenario == "sftp_get":
        batch.write_text(f'get "{remote}" "{local}"\n')
    elif scenario == "sftp_put":
        batch.write_text(f'put "{local}" "{remote}"\n')
    else:  # sftp_baseline: connect, start the subsystem, do one round trip
        batch.write_text("pwd\n")
    return sftp, None


def run_openssh(setup: Setup, scenario: str, count: int = 1) -> Sample:
    """One scenario with OpenSSH's own ``ssh``/``sftp``, or ``count`` no-op runs
    (``latency``, ``sftp_baseline``) whose medians are the set-up cost."""
    batch = setup.workdir / f"batch.{scenario}"
    cmd, stdin = _openssh_cmd(setup, scenario, batch)
    timeout = timeout_for(setup, scenario, count)
    log = _LogWindow(setup.sshd_log)
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(count):
        try:
            wall, cpu, status, err = _timed(cmd, stdin, timeout)
        except subprocess.TimeoutExpired:
            return Sample("openssh", scenario, False, error=f"timed out after {timeout:.0f} s")
        if status != 0:
            return Sample("openssh", scenario, False, error=f"{cmd[0]} exited {status}: {err}")
        walls.append(wall)
        cpus.append(cpu)
    sample = Sample("openssh", scenario, True, negotiated=negotiated_from_log(log.text()))
    if scenario in THROUGHPUT:
        sample.wall, sample.cpu, sample.cpu_process, sample.nbytes = walls[0], cpus[0], cpus[0], setup.size
        if scenario in ("sftp_get", "sftp_put"):
            problem = _check_output_file(setup, "openssh", scenario)
            if problem:
                sample.ok, sample.error = False, problem
    else:
        sample.samples, sample.cpu_samples = walls, cpus
    return sample
