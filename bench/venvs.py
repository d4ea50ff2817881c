"""The benchmark's virtual environments under ``bench/.venvs/``.

One per client library so that none shadows another (this project and the real
paramiko both install ``import paramiko``), plus ``tools`` for matplotlib:

- ``paramiko``: ``paramiko>=5,<6`` from PyPI;
- ``asyncssh``: AsyncSSH from PyPI;
- ``ours``: this project's six distributions built from ``./packages``;
  rebuilt whenever a file under ``packages/`` changes, so a re-run always
  measures the working tree;
- ``tools``: matplotlib, for the chart.

Each venv keeps a marker file with what was installed; a venv whose marker
matches is reused as it is.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = BENCH / ".venvs"
OUR_PACKAGES = ["ssh-wire", "ssh-keys", "ssh-transport", "ssh-sftp", "ssh-agent", "paramiko"]
REQUIREMENTS: dict[str, list[str]] = {
    "paramiko": ["paramiko>=5,<6"],
    "asyncssh": ["asyncssh"],
    "tools": ["matplotlib"],
}
MARKER = ".bench-installed"
PIP_TIMEOUT = 900.0


class VenvError(RuntimeError):
    """A venv could not be created or its packages installed."""


def python_of(name: str) -> Path:
    """The interpreter of venv ``name``."""
    return VENVS / name / "bin" / "python"


def _run(cmd: list[str], what: str) -> None:
    """Run an installer command; raise VenvError with its output tail on failure."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        raise VenvError(f"{what}: timed out after {PIP_TIMEOUT:.0f} s") from exc
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "is ignored" not in ln]
        raise VenvError(f"{what} failed ({proc.returncode}):\n" + "\n".join(lines[-15:]))


def _create(name: str) -> Path:
    """Create venv ``name`` if missing (with an up-to-date pip) and return its python."""
    python = python_of(name)
    if not python.exists():
        print(f"  creating venv bench/.venvs/{name}", flush=True)
        _run([sys.executable, "-m", "venv", str(VENVS / name)], f"venv {name}")
    return python


def _marker_matches(name: str, stamp: str) -> bool:
    marker = VENVS / name / MARKER
    return marker.exists() and marker.read_text() == stamp


def _write_marker(name: str, stamp: str) -> None:
    (VENVS / name / MARKER).write_text(stamp)


def _pip(python: Path, args: list[str], what: str) -> None:
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args], what)


def packages_fingerprint() -> str:
    """A digest of every source file of our distributions (path, size, mtime)."""
    h = hashlib.sha256()
    for pkg in OUR_PACKAGES:
        base = ROOT / "packages" / pkg
        for path in sorted(base.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            st = path.stat()
            h.update(f"{path.relative_to(ROOT)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def ensure(name: str) -> Path:
    """Make venv ``name`` ready (see the module docstring); return its python.

    Raises VenvError when pip fails, so the caller can record the error for
    that client and go on with the others.
    """
    VENVS.mkdir(parents=True, exist_ok=True)
    python = _create(name)
    if name == "ours":
        stamp = "ours " + packages_fingerprint()
        if not _marker_matches(name, stamp):
            paths = [f"./packages/{p}" for p in OUR_PACKAGES]
            first = not (VENVS / name / MARKER).exists()
            print("  installing our packages into bench/.venvs/ours", flush=True)
            if first:
                _pip(python, ["hatchling"], "pip install hatchling")
                _pip(python, paths, "pip install ./packages/*")
            else:  # uninstall first: same version numbers, so pip would keep the old build
                _run([str(python), "-m", "pip", "uninstall", "-y", "-q", *OUR_PACKAGES], "pip uninstall ours")
                _pip(python, ["--no-build-isolation", *paths], "reinstall ours")
            _write_marker(name, stamp)
        return python
    stamp = " ".join(REQUIREMENTS[name])
    if not _marker_matches(name, stamp):
        print(f"  installing {stamp} into bench/.venvs/{name}", flush=True)
        _pip(python, REQUIREMENTS[name], f"pip install {stamp}")
        _write_marker(name, stamp)
    return python


def module_version(python: Path, module: str) -> str:
    """``module.__version__`` as seen by ``python``, or why it could not be read."""
    code = (
        f"import importlib.metadata as md, {module}\n"
        f"v = getattr({module}, '__version__', None)\n"
        "try:\n"
        f"    v = v or md.version({module!r})\n"
        "except md.PackageNotFoundError:\n"
        "    pass\n"
        "print(v or '?')"
    )
    try:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "import timed out"
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return f"import failed: {tail[0]}"
    return proc.stdout.strip()
