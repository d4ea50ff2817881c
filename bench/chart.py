"""Draw bench/results/results.json as a PNG: throughput, client CPU, latency.

Runs in the ``tools`` venv (matplotlib); ``run.py`` calls it as
``python chart.py RESULTS_JSON OUTPUT_PNG``. Three panels of grouped bars,
one bar per client: MB/s per scenario, client CPU ms per MB per scenario,
and the median connect+auth+exec latency.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SCENARIOS = [("sftp_get", "SFTP get"), ("sftp_put", "SFTP put"), ("chan_up", "chan up"), ("chan_down", "chan down")]


def _bars(ax: Any, clients: dict[str, Any], field: str, title: str, ylabel: str) -> None:
    """Grouped bars of ``field`` per scenario, one colour per client."""
    names = list(clients)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = [clients[name]["scenarios"].get(sc, {}).get(field) for sc, _ in SCENARIOS]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(SCENARIOS))]
        label = "ours (this project)" if name == "ours" else name
        bars = ax.bar(xs, [v or 0.0 for v in values], width, label=label, color=f"C{i}")
        fmt = "{:.0f}" if field == "mb_s" else "{:.1f}"
        labels = ["err" if v is None else fmt.format(v) for v in values]
        ax.bar_label(bars, labels=labels, fontsize=7)
    ax.set_xticks(range(len(SCENARIOS)), [label for _, label in SCENARIOS])
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def draw(results: dict[str, Any], out: str) -> None:
    """Write the three-panel chart of ``results`` to ``out``."""
    clients = results["clients"]
    meta = results["meta"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5), gridspec_kw={"width_ratios": [3, 3, 1.4]})
    _bars(ax1, clients, "mb_s", f"Throughput ({meta['size_mib']} MiB, {meta['cipher']})", "MB/s (higher is better)")
    _bars(ax2, clients, "cpu_ms_per_mb", "Client CPU per MB", "ms CPU / MB (lower is better)")
    names = list(clients)
    lat = [clients[n]["scenarios"].get("latency", {}).get("median_ms") for n in names]
    bars = ax3.bar(names, [v or 0.0 for v in lat], color=[f"C{i}" for i in range(len(names))])
    ax3.bar_label(bars, labels=["err" if v is None else f"{v:.0f}" for v in lat], fontsize=7)
    ax3.set_title(f"connect+auth+exec (median of {meta['latency_runs']})")
    ax3.set_ylabel("ms (lower is better)")
    ax3.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"SSH loopback benchmark, {meta['date']} on {meta['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    """Entry point: ``chart.py RESULTS_JSON OUTPUT_PNG``."""
    with open(sys.argv[1]) as f:
        results = json.load(f)
    draw(results, sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
