"""One benchmark scenario through the paramiko API, as a JSON line on stdout.

Runs unchanged in the ``paramiko`` venv (paramiko 5.x from PyPI) and in the
``ours`` venv (this project, which offers the same API under ``import
paramiko``), so both are measured by the same code. Only names that both
offer are used: ``Transport`` on a socket we open ourselves (TCP_NODELAY
from the first byte), ``get_security_options``, ``auth_publickey``,
``open_session``/``exec_command`` and ``SFTPClient.from_transport``.

Usage: ``python paramiko_client.py SPEC_JSON``; the spec is written by
``bench/run.py`` (see ``bench/scenarios.py`` for its fields). The result has the
wall time and the process CPU time of the measured phase only: it starts once
the session is ready (channel open and command started, or SFTP session
open) and ends with the transfer. Connect, auth and that set-up are outside
it (the set-up is what ``latency`` measures), as they are for OpenSSH's
tools, whose no-op runs are subtracted.
"""

from __future__ import annotations

import inspect
import json
import socket
import sys
import time
import traceback
from typing import Any

from phase_clock import PhaseClock

import paramiko

CHUNK = 256 * 1024  # application buffer for channel send/recv


def _connect(spec: dict[str, Any], key: Any) -> tuple[Any, dict[str, Any]]:
    """Open a socket, run kex with the forced algorithms, check the host key
    and authenticate; return the transport and what was negotiated."""
    timeout = float(spec["timeout"])
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = paramiko.Transport(sock)
    chosen = _force_algorithms(t, spec)
    if "timeout" in inspect.signature(t.start_client).parameters:
        t.start_client(timeout=timeout)
    else:  # the 1.5 signature, start_client(event=None)
        t.start_client()
    server_key = t.get_remote_server_key()
    if f"{server_key.get_name()} {server_key.get_base64()}" != spec["host_key"]:
        t.close()
        raise RuntimeError("host key mismatch")
    t.auth_publickey(spec["user"], key)
    if not t.is_authenticated():
        t.close()
        raise RuntimeError("authentication failed")
    chosen["client_reported_cipher"] = getattr(t, "local_cipher", None) or None
    return t, chosen


def _force_algorithms(t: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Ask for the spec's kex (the names this library offers) and cipher; fall
    back to the fallback cipher and MAC when it does not offer the cipher.
    Returns what was asked for."""
    opts = t.get_security_options()
    kex = [k for k in spec.get("kex") or [] if k in tuple(opts.kex)]
    if kex:
        opts.kex = tuple(kex)
    offered = tuple(opts.ciphers)
    cipher = spec["cipher"]
    if cipher in offered:
        opts.ciphers = (cipher,)
        return {"requested_cipher": cipher, "fallback": False}
    fallback = spec["fallback_cipher"]
    if fallback not in offered:
        raise RuntimeError(f"neither {cipher} nor {fallback} offered (have {offered})")
    opts.ciphers = (fallback,)
    macs = tuple(opts.digests)
    mac = next((m for m in spec["fallback_macs"] if m in macs), None)
    if mac is not None:
        opts.digests = (mac,)
    return {"requested_cipher": fallback, "requested_mac": mac, "fallback": True}


def _exec(t: Any, command: str, timeout: float) -> Any:
    """A session channel running ``command``, with the timeout on every call."""
    chan = t.open_session()
    chan.settimeout(timeout)
    chan.exec_command(command)
    return chan


def _chan_up(t: Any, spec: dict[str, Any], clock: PhaseClock) -> int:
    """Send ``size`` zero bytes to the command's stdin, then wait for it to end."""
    size = int(spec["size"])
    chan = _exec(t, spec["command"], float(spec["timeout"]))
    clock.start()
    block = memoryview(bytes(CHUNK))
    left = size
    while left > 0:
        n = min(left, CHUNK)
        chan.sendall(block[:n] if n < CHUNK else block)
        left -= n
    chan.shutdown_write()
    status = chan.recv_exit_status()
    chan.close()
    if status != 0:
        raise RuntimeError(f"remote command exited {status}")
    return size


def _chan_down(t: Any, spec: dict[str, Any], clock: PhaseClock) -> int:
    """Read the command's stdout to EOF; return how many bytes came."""
    chan = _exec(t, spec["command"], float(spec["timeout"]))
    clock.start()
    got = 0
    while True:
        data = chan.recv(CHUNK)
        if not data:
            break
        got += len(data)
    status = chan.recv_exit_status()
    chan.close()
    if status != 0 or got != int(spec["size"]):
        raise RuntimeError(f"remote command exited {status} after {got} bytes")
    return got


def _sftp(t: Any, spec: dict[str, Any], clock: PhaseClock) -> int:
    """SFTP get (prefetching, the default) or put of the spec's file."""
    sftp = paramiko.SFTPClient.from_transport(t)
    if sftp is None:
        raise RuntimeError("the server refused the sftp subsystem")
    try:
        get_channel = getattr(sftp, "get_channel", None)  # not in every API version
        channel = get_channel() if get_channel is not None else None
        if channel is not None:
            channel.settimeout(float(spec["timeout"]))
        clock.start()
        if spec["scenario"] == "sftp_get":
            sftp.get(spec["remote"], spec["local"])
        else:
            sftp.put(spec["local"], spec["remote"])
    finally:
        sftp.close()
    return int(spec["size"])


def _latency(spec: dict[str, Any], key: Any) -> dict[str, Any]:
    """``count`` times: connect, kex, auth, exec ``true``, wait for its exit status."""
    samples: list[float] = []
    cpus: list[float] = []
    chosen: dict[str, Any] = {}
    for _ in range(int(spec["count"])):
        c0, w0 = time.process_time(), time.perf_counter()
        t, chosen = _connect(spec, key)
        try:
            chan = _exec(t, spec["command"], float(spec["timeout"]))
            status = chan.recv_exit_status()
            if status != 0:
                raise RuntimeError(f"remote command exited {status}")
        finally:
            t.close()
        samples.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {"samples": samples, "cpu_samples": cpus, **chosen}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario the spec names and return its measurements."""
    key = paramiko.Ed25519Key.from_private_key_file(spec["key"])
    if spec["scenario"] == "latency":
        return _latency(spec, key)
    t, chosen = _connect(spec, key)
    try:
        body = {"chan_up": _chan_up, "chan_down": _chan_down, "sftp_get": _sftp, "sftp_put": _sftp}
        clock = PhaseClock()
        nbytes = body[spec["scenario"]](t, spec, clock)
        wall, cpu = clock.read()
    finally:
        t.close()
    return {"wall": wall, "cpu": cpu, "bytes": nbytes, **chosen}


def main() -> int:
    """Parse the spec, run it, print one JSON object; exit 1 on failure."""
    spec = json.loads(sys.argv[1])
    version = getattr(paramiko, "__version__", "?")
    try:
        result = run(spec)
    except Exception as exc:
        tb = traceback.format_exc(limit=6)
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": tb, "version": version}))
        return 1
    print(json.dumps({"ok": True, "version": version, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
