#!/usr/bin/env python3
"""Run Fabric's and sshtunnel's own test suites on the real paramiko and on ours.

    python tests/downstream/upstream_suites.py [--only fabric] [--keep-going]

Downloads the sdists (Fabric 3.2.3, sshtunnel 0.5.1) with ``pip download
--no-binary`` into ``.downstream-cache/`` (git-ignored), builds two venvs there
(``venv-real``: paramiko 5.1.0 from the index; ``venv-ours``: our six packages,
in the same pip run as everything else so pip keeps our paramiko), runs each
suite in both, and prints passed/failed/skipped side by side, then the tests
that fail on ours but pass on the real paramiko. Exit status 1 when there are
such tests. ``--real-venv``/``--ours-venv`` reuse existing venvs instead.

Not collected by pytest (its name has no ``test_`` prefix); it needs the
package index, so it is a tool for developers, not part of CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".downstream-cache"
OUR_PACKAGES = ["ssh-wire", "ssh-keys", "ssh-transport", "ssh-sftp", "ssh-agent", "paramiko"]
REAL_PARAMIKO = "paramiko==5.1.0"


@dataclass(frozen=True)
class Suite:
    """One downstream project whose own tests we run."""

    name: str
    version: str
    test_deps: tuple[str, ...]
    args: tuple[str, ...] = ("tests",)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


SUITES = {
    # Fabric's suite wants pytest-relaxed, which breaks on pytest 8.
    "fabric": Suite("fabric", "3.2.3", ("pytest<8", "pytest-relaxed", "mock", "icecream", "pytest-timeout")),
    "sshtunnel": Suite("sshtunnel", "0.5.1", ("pytest<8", "mock", "pytest-timeout")),
}


def run(cmd: list[str], **kwargs: object) -> None:
    """Run ``cmd`` echoing it; stop the script if it fails."""
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, **kwargs)  # type: ignore[call-overload]
    if result.returncode:
        sys.exit(f"command failed ({result.returncode}): {' '.join(cmd)}")


def fetch_sdist(suite: Suite) -> Path:
    """Download and unpack ``suite``'s sdist once; return its source dir."""
    src = CACHE / "src" / f"{suite.name}-{suite.version}"
    if src.is_dir():
        return src
    sdists = CACHE / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    pattern = f"{suite.name}-{suite.version}.tar.gz"
    if not (sdists / pattern).exists():
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        run([*pip, "--dest", str(sdists), suite.requirement])
    archive = sdists / pattern
    if not archive.exists():
        sys.exit(f"no {pattern} after pip download")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        shutil.move(str(Path(tmp) / f"{suite.name}-{suite.version}"), src)
    own_rootdir(src)
    return src


def has_pytest_config(src: Path) -> bool:
    """Whether ``src`` carries its own pytest configuration."""
    checks = {"pytest.ini": "", "tox.ini": "[pytest]", "setup.cfg": "[tool:pytest]", "pyproject.toml": "[tool.pytest"}
    for name, needle in checks.items():
        path = src / name
        if path.is_file() and needle in path.read_text(errors="replace"):
            return True
    return False


def own_rootdir(src: Path) -> None:
    """Give an sdist without pytest settings an empty ``pytest.ini``, so pytest
    roots there and does not pick up this repository's settings above it
    (Fabric ships its pytest.ini in git but not in the sdist)."""
    if not has_pytest_config(src):
        (src / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")


def make_venv(path: Path, paramiko: list[str], suites: list[Suite], sources: dict[str, Path]) -> Path:
    """Create venv ``path`` (once) with ``paramiko`` (requirements for the
    real one, or our packages), the suites' projects and their test deps,
    all in one pip run; return its python."""
    python = path / "bin" / "python"
    marker = path / ".installed"
    wanted = "\n".join(paramiko + [str(sources[s.name]) for s in suites] + [d for s in suites for d in s.test_deps])
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    run([str(python), "-m", "pip", "install", "-q", *wanted.split("\n")])
    marker.write_text(wanted)
    return python


def check_paramiko(python: Path, ours: bool) -> str:
    """Which paramiko ``python`` imports; stop if it is not the expected one."""
    code = "import paramiko, sys; print(paramiko.__version__, paramiko.__file__)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    is_ours = str(ROOT / "packages" / "paramiko") in out
    if is_ours != ours:
        sys.exit(f"{python} imports the wrong paramiko: {out.strip()}")
    return out.split()[0]


def run_suite(python: Path, suite: Suite, src: Path, label: str, timeout: float) -> dict[str, str]:
    """Run ``suite``'s tests with ``python``; return {test id: outcome}."""
    results = CACHE / "results"
    results.mkdir(parents=True, exist_ok=True)
    xml = results / f"{suite.name}-{label}.xml"
    xml.unlink(missing_ok=True)
    log = results / f"{suite.name}-{label}.log"
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "PYTHONPATH")}
    cmd = [str(python), "-m", "pytest", *suite.args, "-p", "no:cacheprovider", "-o", "timeout=120"]
    cmd += [f"--junitxml={xml}"]
    print(f"* {suite.name} on {label}: {' '.join(cmd)} (log: {log})", flush=True)
    with open(log, "wb") as out:
        try:
            subprocess.run(cmd, cwd=src, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  {suite.name} on {label} did not finish within {timeout:.0f} s", flush=True)
    return parse_junit(xml)


def parse_junit(xml: Path) -> dict[str, str]:
    """{classname::name: passed|failed|skipped} from a JUnit XML report."""
    if not xml.exists():
        return {}
    outcomes: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        key = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[key] = "failed"
        elif case.find("skipped") is not None:
            outcomes[key] = "skipped"
        else:
            outcomes[key] = "passed"
    return outcomes


def summary(outcomes: dict[str, str]) -> str:
    counts = Counter(outcomes.values())
    if not outcomes:
        return "no results"
    return f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only this suite (repeatable)")
    parser.add_argument("--real-venv", type=Path, help="use this venv (real paramiko) instead of building one")
    parser.add_argument("--ours-venv", type=Path, help="use this venv (our paramiko) instead of building one")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for one suite run")
    ns = parser.parse_args()
    suites = [SUITES[n] for n in (ns.only or sorted(SUITES))]
    CACHE.mkdir(exist_ok=True)
    sources = {s.name: fetch_sdist(s) for s in suites}
    ours_reqs = [f"-e{ROOT / 'packages' / p}" for p in OUR_PACKAGES]
    real = (
        ns.real_venv / "bin" / "python"
        if ns.real_venv
        else make_venv(CACHE / "venv-real", [REAL_PARAMIKO], suites, sources)
    )
    ours = (
        ns.ours_venv / "bin" / "python" if ns.ours_venv else make_venv(CACHE / "venv-ours", ours_reqs, suites, sources)
    )
    real_version = check_paramiko(real, ours=False)
    ours_version = check_paramiko(ours, ours=True)

    rows: list[tuple[str, str, str]] = []
    regressions: dict[str, list[str]] = {}
    for suite in suites:
        on_real = run_suite(real, suite, sources[suite.name], "real", ns.timeout)
        on_ours = run_suite(ours, suite, sources[suite.name], "ours", ns.timeout)
        rows.append((f"{suite.name} {suite.version}", summary(on_real), summary(on_ours)))
        regressions[suite.name] = sorted(
            t for t, outcome in on_real.items() if outcome == "passed" and on_ours.get(t, "missing") != "passed"
        )

    head = ("suite", f"paramiko {real_version} (real)", f"paramiko {ours_version} (ours)")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    print()
    for row in [head, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    total = 0
    for name, tests in regressions.items():
        if tests:
            print(f"\n{name}: {len(tests)} test(s) pass on the real paramiko but not on ours:")
            for t in tests:
                print(f"  {t}")
        total += len(tests)
    if not total:
        print("\nno test passes on the real paramiko and fails on ours")
    print(f"\n(logs and JUnit XML under {CACHE / 'results'})")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
