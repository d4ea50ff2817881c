"""One benchmark scenario through AsyncSSH, as a JSON line on stdout.

The same scenarios and spec as ``paramiko_client.py``, written the way an
AsyncSSH user would: ``create_process`` streams for the raw channel and
``start_sftp_client().get/put`` (with AsyncSSH's default parallelism) for SFTP.
The socket is ours, with TCP_NODELAY set before connecting. The measured phase
starts once the process (channel and command) or the SFTP session is ready.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
import traceback
from typing import Any

import asyncssh
from phase_clock import PhaseClock

CHUNK = 256 * 1024  # application buffer for channel writes/reads


def _algorithms(spec: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments forcing the spec's kex and cipher (or the fallback
    cipher and MAC when AsyncSSH lacks the cipher)."""
    have_kex = [a.decode() for a in asyncssh.kex.get_kex_algs()]
    kex = [k for k in spec.get("kex") or [] if k in have_kex]
    extra: dict[str, Any] = {"kex_algs": kex} if kex else {}
    offered = [a.decode() for a in asyncssh.encryption.get_encryption_algs()]
    if spec["cipher"] in offered:
        return {"encryption_algs": [spec["cipher"]], **extra}
    macs = [a.decode() for a in asyncssh.mac.get_mac_algs()]
    mac = [m for m in spec["fallback_macs"] if m in macs][:1]
    return {"encryption_algs": [spec["fallback_cipher"]], "mac_algs": mac, **extra}


async def _connect(spec: dict[str, Any]) -> asyncssh.SSHClientConnection:
    """Connect on a TCP_NODELAY socket, check the host key, authenticate."""
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=float(spec["timeout"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return await asyncssh.connect(
        sock=sock,
        username=spec["user"],
        client_keys=[spec["key"]],
        known_hosts=spec["known_hosts"],
        agent_path=None,
        config=None,
        preferred_auth="publickey",
        login_timeout=float(spec["timeout"]),
        **_algorithms(spec),
    )


async def _chan_up(conn: asyncssh.SSHClientConnection, spec: dict[str, Any], clock: PhaseClock) -> int:
    """Write ``size`` zero bytes to the command's stdin, then wait for its exit."""
    size = int(spec["size"])
    proc = await conn.create_process(spec["command"], encoding=None)
    clock.start()
    block = bytes(CHUNK)
    left = size
    while left > 0:
        n = min(left, CHUNK)
        proc.stdin.write(block if n == CHUNK else block[:n])
        await proc.stdin.drain()
        left -= n
    proc.stdin.write_eof()
    result = await proc.wait()
    if result.exit_status != 0:
        raise RuntimeError(f"remote command exited {result.exit_status}")
    return size


async def _chan_down(conn: asyncssh.SSHClientConnection, spec: dict[str, Any], clock: PhaseClock) -> int:
    """Read the command's stdout to EOF; return how many bytes came."""
    proc = await conn.create_process(spec["command"], encoding=None)
    clock.start()
    got = 0
    while True:
        data = await proc.stdout.read(CHUNK)
        if not data:
            break
        got += len(data)
    result = await proc.wait()
    if result.exit_status != 0 or got != int(spec["size"]):
        raise RuntimeError(f"remote command exited {result.exit_status} after {got} bytes")
    return got


async def _sftp(conn: asyncssh.SSHClientConnection, spec: dict[str, Any], clock: PhaseClock) -> int:
    """SFTP get or put of the spec's file with AsyncSSH's defaults."""
    async with conn.start_sftp_client() as sftp:
        clock.start()
        if spec["scenario"] == "sftp_get":
            await sftp.get(spec["remote"], spec["local"])
        else:
            await sftp.put(spec["local"], spec["remote"])
    return int(spec["size"])


async def _latency(spec: dict[str, Any]) -> dict[str, Any]:
    """``count`` times: connect, kex, auth, exec ``true``, wait for its exit status."""
    samples: list[float] = []
    cpus: list[float] = []
    for _ in range(int(spec["count"])):
        c0, w0 = time.process_time(), time.perf_counter()
        conn = await _connect(spec)
        try:
            await conn.run(spec["command"], check=True)
        finally:
            conn.close()
            await conn.wait_closed()
        samples.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {"samples": samples, "cpu_samples": cpus}


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario the spec names and return its measurements."""
    asked = _algorithms(spec)
    chosen = {"requested_cipher": asked["encryption_algs"][0], "fallback": "mac_algs" in asked}
    if spec["scenario"] == "latency":
        return {**await _latency(spec), **chosen}
    conn = await _connect(spec)
    try:
        body = {"chan_up": _chan_up, "chan_down": _chan_down, "sftp_get": _sftp, "sftp_put": _sftp}
        clock = PhaseClock()
        nbytes = await body[spec["scenario"]](conn, spec, clock)
        wall, cpu = clock.read()
    finally:
        conn.close()
        await conn.wait_closed()
    return {"wall": wall, "cpu": cpu, "bytes": nbytes, **chosen}


def main() -> int:
    """Parse the spec, run it under a deadline, print one JSON object; exit 1 on failure."""
    spec = json.loads(sys.argv[1])
    try:
        result = asyncio.run(asyncio.wait_for(run(spec), float(spec["timeout"])))
    except Exception as exc:
        tb = traceback.format_exc(limit=6)
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": tb}))
        return 1
    print(json.dumps({"ok": True, "version": asyncssh.__version__, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
