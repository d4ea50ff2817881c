"""Turning samples into the results JSON and the markdown tables.

Units: MB = 10**6 bytes. Throughput is bytes / wall seconds of the transfer;
client CPU is user+sys seconds of the client process during the transfer,
given as milliseconds per MB (1 ms/MB = 1.074 s/GiB). With several runs the
median run is reported; every run is kept in the JSON.

OpenSSH's tools cannot be timed from inside, so their wall and CPU time
include the connection set-up; it is removed by subtracting the median of a
no-op run of the same tool (``ssh … true`` for the channel, ``sftp -b`` with
a single ``pwd`` for SFTP). The raw figures stay in the JSON.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from scenarios import THROUGHPUT, Sample

MB = 1_000_000
GIB = 1 << 30
LABELS = {
    "sftp_get": "SFTP get MB/s",
    "sftp_put": "SFTP put MB/s",
    "chan_up": "chan up MB/s",
    "chan_down": "chan down MB/s",
}


def _median(values: Iterable[float]) -> float | None:
    vals = list(values)
    return statistics.median(vals) if vals else None


def _baseline(samples: list[Sample], scenario: str) -> tuple[float, float]:
    """Median wall and CPU of OpenSSH's no-op run for ``scenario``'s tool."""
    name = "sftp_baseline" if scenario.startswith("sftp") else "latency"
    for s in samples:
        if s.client == "openssh" and s.scenario == name and s.ok and s.samples:
            return statistics.median(s.samples), statistics.median(s.cpu_samples)
    return 0.0, 0.0


def _run_entry(s: Sample, base_wall: float, base_cpu: float) -> dict[str, Any]:
    """One throughput run, with the set-up cost removed for OpenSSH."""
    wall, cpu = s.wall, s.cpu
    if s.client == "openssh" and wall - base_wall > 0:
        wall, cpu = wall - base_wall, max(cpu - base_cpu, 0.0)
    mbytes = s.nbytes / MB
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "raw_wall_s": s.wall,
        "raw_cpu_s": s.cpu,
        "process_cpu_s": s.cpu_process,
        "bytes": s.nbytes,
        "mb_s": mbytes / wall if wall > 0 else None,
        "cpu_ms_per_mb": 1000.0 * cpu / mbytes if mbytes else None,
    }


def _scenario_result(runs: list[Sample], samples: list[Sample], scenario: str) -> dict[str, Any]:
    good = [s for s in runs if s.ok]
    errors = sorted({s.error for s in runs if not s.ok})
    out: dict[str, Any] = {"ok": bool(good), "errors": errors}
    if scenario in THROUGHPUT:
        base_wall, base_cpu = _baseline(samples, scenario) if runs and runs[0].client == "openssh" else (0.0, 0.0)
        entries = [_run_entry(s, base_wall, base_cpu) for s in good]
        out["runs"] = entries
        out["mb_s"] = _median(e["mb_s"] for e in entries if e["mb_s"] is not None)
        out["mb_s_best"] = max((e["mb_s"] for e in entries if e["mb_s"] is not None), default=None)
        cpu = _median(e["cpu_ms_per_mb"] for e in entries if e["cpu_ms_per_mb"] is not None)
        out["cpu_ms_per_mb"] = cpu
        out["cpu_s_per_gib"] = cpu * GIB / MB / 1000.0 if cpu is not None else None
        if runs and runs[0].client == "openssh":
            out["setup_subtracted"] = {"wall_s": base_wall, "cpu_s": base_cpu}
    else:
        walls = [w for s in good for w in s.samples]
        cpus = [c for s in good for c in s.cpu_samples]
        out["samples_ms"] = [1000.0 * w for w in walls]
        out["median_ms"] = 1000.0 * statistics.median(walls) if walls else None
        out["cpu_median_ms"] = 1000.0 * statistics.median(cpus) if cpus else None
    for s in runs:
        if not s.ok and s.extra.get("traceback"):
            out["traceback"] = s.extra["traceback"]
            break
    return out


def build_results(meta: dict[str, Any], clients: dict[str, dict[str, Any]], samples: list[Sample]) -> dict[str, Any]:
    """The whole results document: ``meta``, and per client its version, what
    was negotiated and, per scenario, the median figures and every run."""
    out: dict[str, Any] = {"meta": meta, "clients": {}}
    for name, info in clients.items():
        mine = [s for s in samples if s.client == name]
        negotiated: dict[str, str] = {}
        extra: dict[str, Any] = {}
        for s in mine:
            if s.ok:
                negotiated = negotiated or s.negotiated
                extra = extra or s.extra
        scenarios = {
            sc: _scenario_result([s for s in mine if s.scenario == sc], samples, sc)
            for sc in (*THROUGHPUT, "latency", "sftp_baseline")
            if any(s.scenario == sc for s in mine)
        }
        out["clients"][name] = {
            **info,
            "version": info.get("version") or extra.get("version"),
            "negotiated": negotiated,
            "fallback_cipher_used": bool(extra.get("fallback")),
            "scenarios": scenarios,
        }
    return out


def _cell(value: float | None, fmt: str, ok: bool = True) -> str:
    if not ok:
        return "error"
    return "n/a" if value is None else format(value, fmt)


def _short_cipher(neg: dict[str, str]) -> str:
    c2s, s2c = neg.get("cipher_c2s"), neg.get("cipher_s2c")
    if not c2s:
        return "?"
    text = c2s if c2s == s2c else f"{c2s}/{s2c}"
    mac = neg.get("mac_c2s")
    return text if mac in (None, "<implicit>") else f"{text}+{mac}"


def markdown(results: dict[str, Any]) -> str:
    """Two markdown tables (speed and latency; client CPU) and the errors."""
    lines = [
        "| client | version | " + " | ".join(LABELS.values()) + " | connect+auth+exec ms | cipher | kex |",
        "|---|---|" + "---:|" * (len(LABELS) + 1) + "---|---|",
    ]
    cpu_lines = [
        "| client CPU ms/MB | " + " | ".join(lbl.replace(" MB/s", "") for lbl in LABELS.values()) + " | connect ms |",
        "|---|" + "---:|" * (len(LABELS) + 1),
    ]
    errors: list[str] = []
    for name, c in results["clients"].items():
        sc = c["scenarios"]
        if c.get("setup_error"):
            errors.append(f"- {name}: setup failed: {c['setup_error']}")
        if c.get("import_error"):
            errors.append(f"- {name}: {c['import_error']}")
        speed, cpu = [], []
        for key in LABELS:
            r = sc.get(key, {})
            speed.append(_cell(r.get("mb_s"), ".0f", r.get("ok", False)))
            cpu.append(_cell(r.get("cpu_ms_per_mb"), ".2f", r.get("ok", False)))
            errors += [f"- {name} {key}: {e}" for e in r.get("errors", [])]
        lat = sc.get("latency", {})
        errors += [f"- {name} latency: {e}" for e in lat.get("errors", [])]
        latency = _cell(lat.get("median_ms"), ".1f", lat.get("ok", False))
        neg = c.get("negotiated", {})
        cipher = _short_cipher(neg) + (" (fallback)" if c.get("fallback_cipher_used") else "")
        version = c.get("version") or "?"
        kex = neg.get("kex", "?")
        lines.append(f"| {name} | {version} | " + " | ".join(speed) + f" | {latency} | {cipher} | {kex} |")
        lat_cpu = _cell(lat.get("cpu_median_ms"), ".1f", lat.get("ok", False))
        cpu_lines.append(f"| {name} | " + " | ".join(cpu) + f" | {lat_cpu} |")
    text = "\n".join(lines) + "\n\n" + "\n".join(cpu_lines) + "\n"
    if errors:
        text += "\nErrors:\n" + "\n".join(errors) + "\n"
    return text
