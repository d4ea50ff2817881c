"""Run the fuzz targets: each in its own process, for a bounded time.

    python fuzz/run.py                      # every target, 3 s each (what CI runs)
    python fuzz/run.py -t 3600 core_server  # one target for an hour
    python fuzz/run.py --list

With atheris installed each target runs under libFuzzer, coverage-guided,
starting from the kept corpus ``fuzz/corpus/<target>/``; new inputs go to a
scratch directory (``--corpus-out DIR`` keeps them, ``--merge DIR`` folds
the interesting ones back into the kept corpus). Without atheris (or with
``--fallback``) each target replays its corpus and then random mutations of
it, so the targets are exercised either way. A crash (an exception the
target does not expect) is written to ``fuzz/findings/`` and fails the run.
Arguments after ``--`` go to libFuzzer.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FINDINGS = HERE / "findings"
# Only our code is instrumented for coverage (cryptography and the standard
# library are not), and for each target only the modules it exercises:
# instrumenting all of ssh_transport costs seconds per process.
PACKAGES = ["ssh_wire", "ssh_keys", "ssh_transport", "ssh_sftp", "ssh_agent"]
_PROTOCOL = ["ssh_wire", "ssh_keys", "ssh_transport.protocol"]
_KEYS = ["ssh_wire", "ssh_keys"]
SCOPES: dict[str, list[str]] = {
    "packet_reader_plain": [
        "ssh_wire",
        "ssh_transport.protocol.packets",
        "ssh_transport.protocol.opening",
        "ssh_transport.protocol.framing",
        "ssh_transport.protocol.compression",
    ],
    "packet_reader_keyed": [
        "ssh_wire",
        "ssh_transport.protocol.packets",
        "ssh_transport.protocol.opening",
        "ssh_transport.protocol.framing",
        "ssh_transport.protocol.compression",
    ],
    "core_client": _PROTOCOL,
    "core_server": _PROTOCOL,
    "userauth_server": _PROTOCOL,
    "userauth_client": _PROTOCOL,
    "kex_messages": _PROTOCOL,
    "key_blob": _KEYS,
    "private_key": _KEYS,
    "certificate": _KEYS,
    "sk_signature": _KEYS,
    "known_hosts": _KEYS,
    "ssh_config": ["ssh_wire", "ssh_transport.config"],
    "agent_client": ["ssh_wire", "ssh_keys", "ssh_agent"],
    "agent_relay": ["ssh_wire", "ssh_agent"],
    "sftp_server": ["ssh_wire", "ssh_sftp"],
    "sftp_client": ["ssh_wire", "ssh_sftp"],
    "aio_server": ["ssh_wire", "ssh_transport.aio", "ssh_transport.protocol"],
    "aio_client": ["ssh_wire", "ssh_transport.aio", "ssh_transport.protocol"],
}


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _load_targets(instrument_for: str | None = None) -> dict[str, Callable[[bytes], None]]:
    """The targets; with coverage instrumentation of ``instrument_for``'s scope."""
    if instrument_for is not None:
        import atheris

        with atheris.instrument_imports(include=SCOPES.get(instrument_for, PACKAGES)):
            from fuzz_targets import TARGETS
    else:
        from fuzz_targets import TARGETS
    return TARGETS


def _corpus(name: str) -> list[Path]:
    folder = CORPUS / name
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _save_finding(name: str, data: bytes) -> Path:
    FINDINGS.mkdir(exist_ok=True)
    path = FINDINGS / f"{name}-crash-{os.urandom(4).hex()}"
    path.write_bytes(data)
    return path


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One random edit: flip, insert, delete, duplicate, splice or truncate."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randint(0, len(b))
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del b[pos : pos + rng.randint(1, 16)]
        elif op == 3:
            b[pos:pos] = b[pos : pos + rng.randint(1, 32)]
        elif op == 4 and pool:
            other = rng.choice(pool)
            b[pos:] = other[rng.randint(0, len(other)) :]
        else:
            del b[pos:]
    return bytes(b)


def run_fallback(name: str, seconds: float, seed: int) -> int:
    """Replay the corpus, then random mutations of it until time is up."""
    target = _load_targets()[name]
    pool = [p.read_bytes() for p in _corpus(name)] or [b""]
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    runs = 0
    inputs = iter(pool)
    while True:
        data = next(inputs, None)
        if data is None:
            if time.monotonic() >= deadline:
                break
            data = _mutate(rng, rng.choice(pool), pool)
        runs += 1
        try:
            target(data)
        except Exception:
            traceback.print_exc()
            print(f"{name}: finding saved as {_save_finding(name, data)}", file=sys.stderr)
            return 1
    print(f"{name}: {runs} runs (random mutation, no coverage guidance)")
    return 0


def run_atheris(name: str, seconds: float, corpus_out: Path | None, merge: Path | None, extra: list[str]) -> int:
    """Run ``name`` under libFuzzer; returns only when libFuzzer does not exit itself."""
    import atheris

    target = _load_targets(name)[name]
    kept = CORPUS / name
    kept.mkdir(parents=True, exist_ok=True)
    FINDINGS.mkdir(exist_ok=True)
    args = [sys.argv[0], "-timeout=20", "-rss_limit_mb=2048", f"-artifact_prefix={FINDINGS}/{name}-"]
    if merge is not None:
        # keep in the repo only the inputs that add coverage
        args += ["-merge=1", str(kept), str(merge / name)]
    else:
        scratch = (corpus_out or Path(tempfile.gettempdir()) / "corpus") / name
        scratch.mkdir(parents=True, exist_ok=True)
        # libFuzzer writes new inputs into the first directory: never into the kept corpus
        args += [f"-max_total_time={max(1, int(seconds))}", str(scratch), str(kept)]
    atheris.Setup(args + extra, target)
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    parser.add_argument("-t", "--seconds", type=float, default=3.0, help="time per target (default 3)")
    parser.add_argument("--corpus-out", type=Path, help="keep new inputs under DIR/<target>/")
    parser.add_argument("--merge", type=Path, help="merge DIR/<target>/ into the kept corpus, then stop")
    parser.add_argument("--fallback", action="store_true", help="random mutation even if atheris is installed")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the fallback mode")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    use_atheris = _have_atheris() and not ns.fallback
    if ns.child:
        if use_atheris:
            return run_atheris(ns.child, ns.seconds, ns.corpus_out, ns.merge, extra)
        return run_fallback(ns.child, ns.seconds, ns.seed)
    names = list(_load_targets())
    if ns.list:
        print("\n".join(names))
        return 0
    unknown = sorted(set(ns.targets) - set(names))
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)} (see --list)")
    if not use_atheris:
        print("atheris is not installed: random mutation of the corpus, without coverage guidance")
    failed = []
    started = time.monotonic()
    for name in ns.targets or names:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--seconds", str(ns.seconds)]
        cmd += ["--seed", str(ns.seed)] + (["--fallback"] if ns.fallback else [])
        if ns.corpus_out is not None:
            cmd += ["--corpus-out", str(ns.corpus_out)]
        if ns.merge is not None:
            cmd += ["--merge", str(ns.merge)]
        if extra:
            cmd += ["--", *extra]
        print(f"== {name}", flush=True)
        # each child works in a scratch directory of its own (its TMPDIR: the
        # new inputs of a CI run, the targets' socket and SFTP root), removed
        # after it: libFuzzer ends the process without Python's clean-up
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as scratch:
            rc = subprocess.call(cmd, env={**os.environ, "TMPDIR": scratch})
        if rc != 0:
            failed.append(name)
    took = time.monotonic() - started
    if failed:
        print(f"fuzz: findings in {', '.join(failed)} (inputs under {FINDINGS}) after {took:.0f} s")
        return 1
    print(f"fuzz: {len(ns.targets or names)} targets, no findings, {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
