"""One benchmark scenario through this project's asyncio client, as a JSON line.

The same scenarios and spec as ``paramiko_client.py`` and ``asyncssh_client.py``,
written the way a ``paramiko.aio`` user would: ``create_process`` streams for
the raw channel (the same 256 KiB application buffer as the other clients)
and ``open_sftp(conn)`` with its default ``get``/``put`` pipelining for SFTP.
The socket is ours, with TCP_NODELAY set before connecting. The measured
phase starts once the process (channel and command) or the SFTP session is
ready. Runs in the ``ours`` venv, next to the threaded client.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
import traceback
from typing import Any

from phase_clock import PhaseClock

from paramiko import aio
from ssh_transport.protocol.negotiation import AlgorithmPreferences

CHUNK = 256 * 1024  # application buffer for channel writes/reads


def _algorithms(spec: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """``disabled_algorithms`` that leave only the spec's kex names and cipher
    (or the fallback cipher and MAC), and what was asked for."""
    disabled: dict[str, list[str]] = {}
    known_kex = AlgorithmPreferences.known("kex")
    wanted_kex = [k for k in spec.get("kex") or [] if k in known_kex]
    if wanted_kex:
        disabled["kex"] = [k for k in known_kex if k not in wanted_kex]
    ciphers = AlgorithmPreferences.known("ciphers")
    cipher = spec["cipher"]
    if cipher in ciphers:
        disabled["ciphers"] = [c for c in ciphers if c != cipher]
        return disabled, {"requested_cipher": cipher, "fallback": False}
    fallback = spec["fallback_cipher"]
    disabled["ciphers"] = [c for c in ciphers if c != fallback]
    macs = AlgorithmPreferences.known("digests")
    mac = next((m for m in spec["fallback_macs"] if m in macs), None)
    if mac is not None:
        disabled["macs"] = [m for m in macs if m != mac]
    return disabled, {"requested_cipher": fallback, "requested_mac": mac, "fallback": True}


def _connect(spec: dict[str, Any]) -> Any:
    """Connect on a TCP_NODELAY socket, check the host key, authenticate with the key."""
    timeout = float(spec["timeout"])
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    disabled, _ = _algorithms(spec)
    return aio.connect(
        spec["host"],
        int(spec["port"]),
        sock=sock,
        username=spec["user"],
        key_filename=spec["key"],
        known_hosts=spec["known_hosts"],
        look_for_keys=False,
        allow_agent=False,
        timeout=timeout,
        auth_timeout=timeout,
        disabled_algorithms=disabled,
    )


async def _chan_up(conn: Any, spec: dict[str, Any], clock: PhaseClock) -> int:
    """Write ``size`` zero bytes to the command's stdin, then wait for its exit."""
    size = int(spec["size"])
    proc = await conn.create_process(spec["command"])
    clock.start()
    block = bytes(CHUNK)
    left = size
    while left > 0:
        n = min(left, CHUNK)
        proc.stdin.write(block if n == CHUNK else block[:n])
        await proc.stdin.drain()
        left -= n
    proc.stdin.write_eof()
    status = await proc.wait()
    if status != 0:
        raise RuntimeError(f"remote command exited {status}")
    return size


async def _chan_down(conn: Any, spec: dict[str, Any], clock: PhaseClock) -> int:
    """Read the command's stdout to EOF; return how many bytes came."""
    proc = await conn.create_process(spec["command"])
    clock.start()
    got = 0
    while True:
        data = await proc.stdout.read(CHUNK)
        if not data:
            break
        got += len(data)
    status = await proc.wait()
    if status != 0 or got != int(spec["size"]):
        raise RuntimeError(f"remote command exited {status} after {got} bytes")
    return got


async def _sftp(conn: Any, spec: dict[str, Any], clock: PhaseClock) -> int:
    """SFTP get or put of the spec's file with the client's defaults."""
    async with aio.open_sftp(conn) as sftp:
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
        async with _connect(spec) as conn:
            result = await conn.run(spec["command"])
            if result.exit_status != 0:
                raise RuntimeError(f"remote command exited {result.exit_status}")
        samples.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {"samples": samples, "cpu_samples": cpus}


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario the spec names and return its measurements."""
    _, chosen = _algorithms(spec)
    if spec["scenario"] == "latency":
        return {**await _latency(spec), **chosen}
    async with _connect(spec) as conn:
        chosen["client_reported_cipher"] = conn.get_extra_info("cipher")
        body = {"chan_up": _chan_up, "chan_down": _chan_down, "sftp_get": _sftp, "sftp_put": _sftp}
        clock = PhaseClock()
        nbytes = await body[spec["scenario"]](conn, spec, clock)
        wall, cpu = clock.read()
    return {"wall": wall, "cpu": cpu, "bytes": nbytes, **chosen}


def main() -> int:
    """Parse the spec, run it under a deadline, print one JSON object; exit 1 on failure."""
    spec = json.loads(sys.argv[1])
    version = "?"
    try:
        import importlib.metadata as md

        version = "paramiko.aio (this project) " + md.version("paramiko")
        result = asyncio.run(asyncio.wait_for(run(spec), float(spec["timeout"])))
    except Exception as exc:
        tb = traceback.format_exc(limit=6)
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": tb, "version": version}))
        return 1
    print(json.dumps({"ok": True, "version": version, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
