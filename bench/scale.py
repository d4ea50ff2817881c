#!/usr/bin/env python3
"""Scale: what a server costs per connection, and fan-out to many hosts.

    python3 bench/scale.py [--clients 100] [--fanout 100] [--skip-server] [--skip-fanout]
    python3 bench/scale.py --server-env MALLOC_ARENA_MAX=2   # an allocator experiment

Server (the shipped threaded demo server, ``python -m paramiko.demo
server``): RSS (``VmRSS``), threads and descriptors of the server process
before, with N concurrent OpenSSH ``ssh`` clients each holding an idle
authenticated connection (``ssh -N``), after they all closed, and after a
``gc.collect()`` in the server (the bench starts it through a small wrapper
that collects on SIGUSR1); then the same with each client running a command
(``cat``, ended by closing its stdin). ControlMaster is off: every client is
its own TCP connection.

Fan-out: N concurrent connections each running ``true`` against a private
OpenSSH sshd: wall time and client CPU time (user+sys of the client process)
for our sync client (``paramiko.SSHClient`` from this stack, one thread per
connection), AsyncSSH, and OpenSSH's ``ssh`` (N processes) for reference.

The asyncio rows: ``aio.connect`` in the fan-out, and an asyncio server
(``ssh_transport.aio.listen``) holding 1,000 idle sessions (100 connections
of our aio client x 10 sessions, each reading its stdin): RSS per session,
after they close and after a gc. They are measured only when
``ssh_transport.aio`` imports in the interpreter running the bench;
otherwise they say "not available".

Prints markdown and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MIB = 1024 * 1024
SSH_OPTS = [
    "-F",
    "/dev/null",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=60",
]
# how long clients may take to log in / the server to give back what a phase took
READY_TIMEOUT = 180.0
SETTLE_TIMEOUT = 30.0


# -- the server process, seen from outside ---------------------------------------------


def sample(pid: int) -> dict[str, float]:
    """RSS (MiB), thread count and open descriptors of process ``pid``."""
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


class DemoServer:
    """The demo server in a child process (through ``--serve-demo``)."""

    def __init__(self, workdir: Path, max_clients: int, env: dict[str, str], trim: bool) -> None:
        key = workdir / "client_ed25519"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60)
        self.key = key
        (workdir / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-demo",
            *(["--trim"] if trim else []),
            "--",
            "server",
            "--port",
            "0",
            "--state",
            str(workdir / "state"),
            "--authorized-keys",
            str(workdir / "authorized_keys"),
            "--password",
            "not-used-here",
            "--root",
            str(workdir),
            "--max-startups",
            str(max_clients * 2),
        ]
        # its output goes to a file: a pipe closed after the first line made
        # the server die of a broken pipe on the lines it prints after it
        log = workdir / "server.log"
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
        self.port = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.port:
            for line in log.read_text().splitlines():
                if line.startswith("listening on "):
                    self.port = int(line.rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo server exited before listening: {log.read_text()[-500:]}")
            time.sleep(0.05)
        if not self.port:
            raise RuntimeError("the demo server did not say where it listens")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def collect(self) -> None:
        """Ask the server to run ``gc.collect()`` (the wrapper's SIGUSR1 handler)."""
        self.proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def serve_demo(argv: list[str], trim: bool) -> int:
    """(Child.) Run the demo server; SIGUSR1 runs ``gc.collect()`` (and
    ``malloc_trim(0)`` with ``--trim``, an experiment)."""
    import ctypes
    import ctypes.util

    from paramiko.demo.__main__ import main

    libc = ctypes.CDLL(ctypes.util.find_library("c")) if trim else None

    def collect(signum: int, frame: Any) -> None:
        gc.collect()
        if libc is not None:
            libc.malloc_trim(0)

    signal.signal(signal.SIGUSR1, collect)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))
    return main(argv)


def start_clients(server: DemoServer, n: int, command: str | None) -> list[subprocess.Popen[bytes]]:
    """``n`` OpenSSH clients, each printing ``ready`` once logged in: ``ssh -N``
    (no session) when ``command`` is None, else running ``command``."""
    base = ["ssh", *SSH_OPTS, "-p", str(server.port), "-i", str(server.key)]
    target = f"{os.environ.get('USER') or _user()}@127.0.0.1"
    if command is None:
        args = [*base, "-o", "PermitLocalCommand=yes", "-o", "LocalCommand=echo ready", "-N", target]
    else:
        args = [*base, target, f"echo ready; {command}"]
    return [
        subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for _ in range(n)
    ]


def _user() -> str:
    import getpass

    return getpass.getuser()


def wait_ready(procs: list[subprocess.Popen[bytes]]) -> int:
    """Wait until every client said ``ready`` (or exited); how many did."""
    sel = selectors.DefaultSelector()
    for p in procs:
        assert p.stdout is not None
        sel.register(p.stdout, selectors.EVENT_READ, p)
    ready = 0
    deadline = time.monotonic() + READY_TIMEOUT
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            line = key.fileobj.readline()  # type: ignore[union-attr]
            sel.unregister(key.fileobj)
            if line.strip() == b"ready":
                ready += 1
    sel.close()
    return ready


def end_clients(procs: list[subprocess.Popen[bytes]], command: bool) -> None:
    """Close every client: EOF on stdin ends a session's ``cat``; ``ssh -N`` is terminated."""
    for p in procs:
        if command:
            assert p.stdin is not None
            p.stdin.close()
        else:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
        for f in (p.stdin, p.stdout):
            if f is not None and not f.closed:
                f.close()


def settle(pid: int, base: dict[str, float]) -> dict[str, float]:
    """Wait (up to SETTLE_TIMEOUT) until the server's threads and descriptors
    are back at ``base``; then one more second for memory, and sample."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    s = sample(pid)
    while time.monotonic() < deadline and (s["threads"] > base["threads"] or s["fds"] > base["fds"]):
        time.sleep(0.25)
        s = sample(pid)
    time.sleep(1.0)
    return sample(pid)


def measure_server(n: int, env: dict[str, str], trim: bool) -> dict[str, Any]:
    """The demo server with ``n`` idle connections, then ``n`` running sessions."""
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        server = DemoServer(Path(tmp), n, env, trim)
        try:
            time.sleep(1.0)
            start = sample(server.pid)
            out: dict[str, Any] = {"clients": n, "env": env, "malloc_trim": trim, "start": start}
            for phase, command in (("idle", None), ("sessions", "exec cat")):
                before = sample(server.pid)
                procs = start_clients(server, n, command)
                try:
                    ready = wait_ready(procs)
                    time.sleep(1.0)
                    held = sample(server.pid)
                finally:
                    end_clients(procs, command is not None)
                closed = settle(server.pid, before)
                server.collect()
                after_gc = sample(server.pid)
                out[phase] = {
                    "ready": ready,
                    "before": before,
                    "held": held,
                    "closed": closed,
                    "after_gc": after_gc,
                    "rss_per_conn_kib": (held["rss_mib"] - before["rss_mib"]) * 1024 / max(ready, 1),
                    "threads_per_conn": (held["threads"] - before["threads"]) / max(ready, 1),
                    "fds_per_conn": (held["fds"] - before["fds"]) / max(ready, 1),
                    "rss_kept_mib": after_gc["rss_mib"] - start["rss_mib"],
                }
            return out
        finally:
            server.stop()


# -- fan-out ------------------------------------------------------------------------------


def fanout_child(kind: str, host: str, port: int, user: str, key: str, known_hosts: str, n: int) -> dict[str, Any]:
    """(Child.) ``n`` concurrent connections running ``true``; wall and CPU time."""
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    statuses: list[int]
    if kind == "ours":
        statuses = _fanout_sync(host, port, user, key, known_hosts, n)
    elif kind == "asyncssh":
        statuses = _fanout_asyncssh(host, port, user, key, known_hosts, n)
    elif kind == "aio":
        statuses = _fanout_aio(host, port, user, key, known_hosts, n)
    elif kind == "openssh":
        statuses = _fanout_openssh(host, port, user, key, known_hosts, n)
    else:
        raise SystemExit(f"unknown fan-out client {kind}")
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    cpu += (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "ok": sum(1 for s in statuses if s == 0), "n": n}


def _fanout_sync(host: str, port: int, user: str, key: str, known_hosts: str, n: int) -> list[int]:
    from concurrent.futures import ThreadPoolExecutor

    import paramiko

    def one(_: int) -> int:
        client = paramiko.SSHClient()
        client.load_host_keys(known_hosts)
        try:
            client.connect(
                host, port=port, username=user, key_filename=key, look_for_keys=False, allow_agent=False, timeout=60
            )
            _in, out, _err = client.exec_command("true")
            return out.channel.recv_exit_status()
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def _fanout_asyncssh(host: str, port: int, user: str, key: str, known_hosts: str, n: int) -> list[int]:
    import asyncio

    import asyncssh

    async def one() -> int:
        async with asyncssh.connect(
            host, port=port, username=user, client_keys=[key], known_hosts=known_hosts, agent_path=None
        ) as conn:
            result = await conn.run("true")
            return int(result.exit_status or 0)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(one() for _ in range(n))))

    return asyncio.run(main())


# -- asyncio rows: measured once ssh_transport.aio exists -----------------------------------
# The API used here is the one issue #13 specifies (aio.connect(...) as conn;
# await conn.run(cmd) -> result.exit_status). Until the module imports, the
# rows say "not available"; if it imports but the call fails, the error is
# reported instead of a figure.


def aio_available(python: str) -> bool:
    """Whether ``ssh_transport.aio`` imports in ``python``."""
    proc = subprocess.run([python, "-c", "from ssh_transport.aio import connect"], capture_output=True, timeout=60)
    return proc.returncode == 0


def _fanout_aio(host: str, port: int, user: str, key: str, known_hosts: str, n: int) -> list[int]:
    import asyncio

    from ssh_transport import aio

    async def one() -> int:
        async with aio.connect(
            host, port, username=user, key_filename=key, known_hosts=known_hosts, look_for_keys=False, allow_agent=False
        ) as conn:
            result = await conn.run("true")
            return int(result.exit_status or 0)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(one() for _ in range(n))))

    return asyncio.run(main())


def serve_aio(authorized: str) -> int:
    """(Child.) An asyncio server: publickey logins with the key in file
    ``authorized``; every session reads its stdin to EOF, then exits 0.
    SIGUSR1 runs ``gc.collect()``."""
    import asyncio

    from ssh_keys import Ed25519Key, key_from_line
    from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, aio

    allowed = key_from_line(Path(authorized).read_text())

    class Policy(ServerInterface):
        def get_allowed_auths(self, username: str) -> str:
            return "publickey"

        def check_auth_publickey(self, username: str, key: Any) -> int:
            return AUTH_SUCCESSFUL if key == allowed else AUTH_FAILED

        def check_channel_request(self, kind: str, chanid: int) -> int:
            return OPEN_SUCCEEDED if kind == "session" else super().check_channel_request(kind, chanid)

        def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
            return True

    async def hold(proc: Any) -> int:
        await proc.stdin.read()
        return 0

    async def main() -> None:
        server = await aio.listen(
            "127.0.0.1", 0, host_keys=[Ed25519Key.generate()], server_factory=Policy, process_factory=hold, backlog=1024
        )
        print(f"listening on 127.0.0.1:{server.port}", flush=True)
        await asyncio.Event().wait()

    signal.signal(signal.SIGUSR1, lambda s, f: gc.collect())
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(0))
    asyncio.run(main())
    return 0


def aio_sessions_child(host: str, port: int, user: str, key: str, conns: int, per: int) -> int:
    """(Child.) ``conns`` aio connections with ``per`` sessions each, held
    until a line on stdin; prints ``ready N`` once all are open, then ``done``."""
    import asyncio

    from ssh_transport import aio

    async def main() -> None:
        async def one() -> Any:
            return await aio.connect(
                host, port, username=user, key_filename=key, known_hosts=None, look_for_keys=False, allow_agent=False
            )

        connections = await asyncio.gather(*(one() for _ in range(conns)))
        procs = await asyncio.gather(*(c.create_process("hold") for c in connections for _ in range(per)))
        print(f"ready {len(procs)}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for proc in procs:
            proc.stdin.write_eof()
        statuses = await asyncio.gather(*(proc.wait(timeout=120) for proc in procs))
        for c in connections:
            c.close()
        print(f"done {sum(1 for st in statuses if st == 0)}", flush=True)

    asyncio.run(main())
    return 0


def aio_server_rows(python: str, sessions: int, per: int) -> dict[str, Any]:
    """An asyncio server holding ``sessions`` sessions (``per`` a connection):
    RSS per idle session, and after they close."""
    if not aio_available(python):
        return {"status": "not available (ssh_transport.aio does not import)"}
    conns = max(1, sessions // per)
    me = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="scale-aio-") as tmp:
        key = Path(tmp) / "client_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=60)
        server = subprocess.Popen(
            [python, me, "--serve-aio", f"{key}.pub"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        client: subprocess.Popen[str] | None = None
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if not line.startswith("listening on "):
                return {"status": f"error: server said {line.strip()!r}"}
            port = int(line.rsplit(":", 1)[1])
            server.stdout.close()
            time.sleep(1.0)
            start = sample(server.pid)
            client = subprocess.Popen(
                [python, me, "--aio-sessions", "127.0.0.1", str(port), _user(), str(key), str(conns), str(per)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert client.stdin is not None and client.stdout is not None
            said = client.stdout.readline().split()
            if said[:1] != ["ready"]:
                return {"status": f"error: client said {' '.join(said)!r}: {client.stderr.read()[-300:]!r}"}  # type: ignore[union-attr]
            time.sleep(1.0)
            held = sample(server.pid)
            client.stdin.write("close\n")
            client.stdin.flush()
            done = client.stdout.readline().split()
            client.wait(timeout=120)
            closed = settle(server.pid, start)
            server.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            after_gc = sample(server.pid)
            n = int(said[1])
            return {
                "sessions": n,
                "connections": conns,
                "closed_ok": int(done[1]) if done[:1] == ["done"] else 0,
                "start": start,
                "held": held,
                "closed": closed,
                "after_gc": after_gc,
                "rss_per_session_kib": (held["rss_mib"] - start["rss_mib"]) * 1024 / max(n, 1),
                "threads_held": held["threads"],
                "rss_kept_mib": after_gc["rss_mib"] - start["rss_mib"],
            }
        finally:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait(timeout=10)
            server.terminate()
            server.wait(timeout=10)


# ------------------------------------------------------------------------------------------


def _fanout_openssh(host: str, port: int, user: str, key: str, known_hosts: str, n: int) -> list[int]:
    args = ["ssh", *SSH_OPTS, "-p", str(port), "-i", key, f"{user}@{host}", "true"]
    procs = [subprocess.Popen(args, stdin=subprocess.DEVNULL) for _ in range(n)]
    return [p.wait(timeout=300) for p in procs]


def python_for(kind: str, ours: str) -> str | None:
    """The interpreter that has ``kind``'s library."""
    if kind in ("ours", "aio", "openssh"):
        return ours
    candidates = [str(BENCH / ".venvs" / "asyncssh" / "bin" / "python"), "/tmp/vr/bin/python"]
    for c in candidates:
        if os.path.exists(c) and subprocess.run([c, "-c", "import asyncssh"], capture_output=True).returncode == 0:
            return c
    return None


def measure_fanout(n: int, ours: str) -> dict[str, Any]:
    """Fan-out rows against a private sshd."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.sshd import start_sshd

    results: dict[str, Any] = {"connections": n}
    with (
        tempfile.TemporaryDirectory(prefix="scale-sshd-") as tmp,
        start_sshd(
            Path(tmp),
            [f"MaxStartups {2 * n}", "MaxSessions 10"],
            host_key_types=("ed25519",),
            client_key_types=("ed25519",),
        ) as sshd,
    ):
        common = [sshd.host, str(sshd.port), sshd.user, str(sshd.client_keys["ed25519"]), str(sshd.known_hosts), str(n)]
        for kind in ("ours", "aio", "asyncssh", "openssh"):
            python = python_for(kind, ours)
            if python is None:
                results[kind] = {"status": "not available (no Python with asyncssh)"}
                continue
            if kind == "aio" and not aio_available(python):
                results[kind] = {"status": "not available (ssh_transport.aio does not import)"}
                continue
            proc = subprocess.run(
                [python, str(Path(__file__).resolve()), "--fanout-child", kind, *common],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                results[kind] = {"status": f"error: {tail[0]}"}
                continue
            results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


# -- report ----------------------------------------------------------------------------------


def server_markdown(s: dict[str, Any]) -> str:
    lines = [
        f"### Threaded demo server, {s['clients']} concurrent OpenSSH clients"
        + (f" ({' '.join(f'{k}={v}' for k, v in s['env'].items())})" if s["env"] else "")
        + (" (malloc_trim after gc)" if s["malloc_trim"] else ""),
        "",
        "| phase | logged in | RSS MiB | threads | fds | per connection |",
        "|---|---:|---:|---:|---:|---|",
    ]
    st = s["start"]
    lines.append(f"| start | | {st['rss_mib']:.1f} | {st['threads']:.0f} | {st['fds']:.0f} | |")
    for phase in ("idle", "sessions"):
        p = s[phase]
        for label, key in (("held", "held"), ("all closed", "closed"), ("after gc", "after_gc")):
            x = p[key]
            per = ""
            if key == "held":
                per = (
                    f"{p['rss_per_conn_kib']:.0f} KiB RSS, {p['threads_per_conn']:.2f} threads, "
                    f"{p['fds_per_conn']:.2f} fds"
                )
            ready = str(p["ready"]) if key == "held" else ""
            lines.append(
                f"| {phase}: {label} | {ready} | {x['rss_mib']:.1f} | {x['threads']:.0f} | {x['fds']:.0f} | {per} |"
            )
        lines.append(f"| {phase}: kept after close | | {p['rss_kept_mib']:+.1f} | | | vs start |")
    return "\n".join(lines)


def aio_markdown(a: dict[str, Any]) -> str:
    title = "### asyncio server (`ssh_transport.aio.listen`), idle sessions"
    if "status" in a:
        return f"{title}\n\n{a['status']}"
    lines = [
        f"{title}: {a['sessions']} over {a['connections']} connections (our aio client)",
        "",
        "| phase | RSS MiB | threads | fds | per session |",
        "|---|---:|---:|---:|---|",
    ]
    for label, key in (("start", "start"), ("held", "held"), ("all closed", "closed"), ("after gc", "after_gc")):
        x = a[key]
        per = f"{a['rss_per_session_kib']:.0f} KiB RSS" if key == "held" else ""
        lines.append(f"| {label} | {x['rss_mib']:.1f} | {x['threads']:.0f} | {x['fds']:.0f} | {per} |")
    lines.append(f"| kept after close | {a['rss_kept_mib']:+.1f} | | | vs start; {a['closed_ok']} exited 0 |")
    return "\n".join(lines)


def fanout_markdown(f: dict[str, Any]) -> str:
    names = {
        "ours": "ours (sync SSHClient, a thread each)",
        "aio": "ours (aio.connect)",
        "asyncssh": "AsyncSSH",
        "openssh": "OpenSSH ssh (a process each)",
    }
    lines = [
        f"### Fan-out: {f['connections']} concurrent connections running `true` against OpenSSH sshd",
        "",
        "| client | ok | wall s | client CPU s |",
        "|---|---:|---:|---:|",
    ]
    for kind, name in names.items():
        r = f.get(kind, {"status": "not run"})
        if "status" in r:
            lines.append(f"| {name} | {r['status']} | | |")
        else:
            lines.append(f"| {name} | {r['ok']}/{r['n']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--clients", type=int, default=100, help="concurrent ssh clients for the server rows (100)")
    p.add_argument("--fanout", type=int, default=100, help="concurrent connections for the fan-out rows (100)")
    p.add_argument("--aio-sessions", type=int, default=1000, help="sessions held by the asyncio server (1000)")
    p.add_argument("--aio-per-connection", type=int, default=10, help="of them per connection (10)")
    p.add_argument("--skip-server", action="store_true")
    p.add_argument("--skip-fanout", action="store_true")
    p.add_argument("--skip-aio", action="store_true", help="leave out the asyncio server rows")
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help="environment for the server")
    p.add_argument("--trim", action="store_true", help="server calls malloc_trim(0) after gc (an experiment)")
    p.add_argument("--python", default=sys.executable, help="interpreter with this project installed")
    p.add_argument("--output", type=Path, default=BENCH / "results" / "scale.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-demo"]:
        rest = argv[1:]
        trim = rest[:1] == ["--trim"]
        rest = rest[1:] if trim else rest
        return serve_demo(rest[1:] if rest[:1] == ["--"] else rest, trim)
    if argv[:1] == ["--serve-aio"]:
        return serve_aio(argv[1])
    if argv[:1] == ["--aio-sessions"]:
        host, port, user, key, conns, per = argv[1:7]
        return aio_sessions_child(host, int(port), user, key, int(conns), int(per))
    if argv[:1] == ["--fanout-child"]:
        kind, host, port, user, key, known_hosts, n = argv[1:8]
        print(json.dumps(fanout_child(kind, host, int(port), user, key, known_hosts, int(n))))
        return 0
    args = parse_args(argv)
    if shutil.which("ssh") is None:
        print("OpenSSH's ssh is needed", file=sys.stderr)
        return 2
    env = dict(item.split("=", 1) for item in args.server_env)
    results: dict[str, Any] = {"python": args.python, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out: list[str] = []
    if not args.skip_server:
        results["server"] = measure_server(args.clients, env, args.trim)
        out.append(server_markdown(results["server"]))
        if not args.skip_aio:
            results["aio_server"] = aio_server_rows(args.python, args.aio_sessions, args.aio_per_connection)
            out.append(aio_markdown(results["aio_server"]))
    if not args.skip_fanout:
        results["fanout"] = measure_fanout(args.fanout, args.python)
        out.append(fanout_markdown(results["fanout"]))
    print("\n\n".join(out))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(args.output.read_text())
    previous.update(results)
    args.output.write_text(json.dumps(previous, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
