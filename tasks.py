#!/usr/bin/env python3
"""The project's two commands, for a fresh machine that has only python3.

    python3 tasks.py demo    set everything up and run a loopback SSH session end to end
    python3 tasks.py test    run the whole test suite (lint, types, each layer alone, the full stack,
                             and Fabric/sshtunnel/scp/fsspec on our paramiko)

Both bootstrap their own virtual environments under the repository (``.venv``
for the demo, ``.venv-tools`` for tox), so nothing is installed system-wide.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGES = ["ssh-wire", "ssh-keys", "ssh-transport", "ssh-sftp", "ssh-agent", "paramiko"]
# What CI runs: lint and types, each layer installed alone, the whole stack,
# then the downstream packages (Fabric, sshtunnel, scp, fsspec) on our paramiko,
# then the documentation site (built with warnings as errors, guides' code run).
TEST_ENVS = "lint,type,wire,keys,transport,sftp,agent,full,downstream,docs,fuzz"


def _venv(path: Path) -> Path:
    """Create ``path`` as a virtual environment once; return its python."""
    python = path / "bin" / "python"
    if not python.exists():
        print(f"* creating {path}", flush=True)
        venv.EnvBuilder(with_pip=True).create(path)
        _run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    return python


def _run(cmd: list[str], **kwargs: object) -> None:
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if result.returncode:
        sys.exit(result.returncode)


def test(envs: str, pytest_args: list[str]) -> None:
    """Run the tox envs ``envs`` (comma-separated), passing ``pytest_args`` on."""
    python = _venv(ROOT / ".venv-tools")
    _run([str(python), "-m", "pip", "install", "-q", "tox>=4.11"])
    cmd = [str(python), "-m", "tox", "run", "-e", envs]
    if pytest_args:
        cmd += ["--", *pytest_args]
    _run(cmd)


def demo(args: list[str]) -> None:
    """Install the stack into ``.venv`` and run the loopback demo."""
    python = _venv(Path(os.environ.get("DEMO_VENV", ROOT / ".venv")))
    packages = [f"./packages/{p}" for p in PACKAGES if p != "paramiko"] + ["./packages/paramiko[demo]"]
    _run([str(python), "-m", "pip", "install", "-q", *packages])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    _run([str(python), "-m", "paramiko.demo", *(args or ["loopback"])], env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test", help="run the test suite through tox")
    t.add_argument("-e", "--envs", default=TEST_ENVS, help=f"tox envs (default {TEST_ENVS})")
    t.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    d = sub.add_parser("demo", help="run the loopback demo (or: demo server|client ...)")
    d.add_argument("demo_args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    if ns.command == "test":
        test(ns.envs, ns.pytest_args)
    else:
        demo(ns.demo_args)


if __name__ == "__main__":
    main()
