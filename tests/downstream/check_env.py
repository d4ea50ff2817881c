"""Check that the downstream env runs the downstream packages on OUR paramiko.

Run by ``tox -e downstream`` before the tests (not collected by pytest):
``paramiko`` must be the meta-package from packages/paramiko, its ``Transport``
the one from ``ssh_transport``, and ``pip check`` clean, so a pip run that
swapped in the real paramiko (to satisfy Fabric's requirement) fails loudly
instead of silently testing the wrong library.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def problems() -> list[str]:
    """What is wrong with this environment (empty when all is well)."""
    found: list[str] = []
    import paramiko
    import ssh_transport

    where = Path(paramiko.__file__).resolve()
    if ROOT / "packages" / "paramiko" not in where.parents:
        found.append(f"paramiko is imported from {where}, not from {ROOT / 'packages' / 'paramiko'}")
    if paramiko.Transport is not ssh_transport.Transport:
        found.append("paramiko.Transport is not ssh_transport.Transport")
    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    if check.returncode:
        found.append(f"pip check: {check.stdout.strip() or check.stderr.strip()}")
    return found


def main() -> int:
    for name in ("paramiko", "fabric", "invoke", "sshtunnel", "scp", "fsspec"):
        try:
            print(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            print(f"{name} not installed (its downstream tests skip, or fail under SSH_REQUIRE_INTEROP=1)")
    found = problems()
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    if not found:
        print("paramiko is ours and pip check is clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
