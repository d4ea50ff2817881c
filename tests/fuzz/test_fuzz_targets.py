"""The fuzz targets (fuzz/fuzz_targets.py) without atheris: every kept corpus
input replays clean, hypothesis feeds each target arbitrary bytes, and the
runner's fallback mode works. Also the regression tests of what the fuzzer
found."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
sys.path.insert(0, str(FUZZ))

import fuzz_targets  # noqa: E402
from fuzz_provider import Bytes  # noqa: E402

CORPUS = sorted((d.name, f) for d in (FUZZ / "corpus").iterdir() for f in d.iterdir())


def test_every_target_has_a_corpus() -> None:
    assert {name for name, _ in CORPUS} == set(fuzz_targets.TARGETS)


@pytest.mark.parametrize(("name", "path"), CORPUS, ids=[f"{n}/{p.name}" for n, p in CORPUS])
def test_corpus_replays_clean(name: str, path: Path) -> None:
    fuzz_targets.TARGETS[name](path.read_bytes())


@pytest.mark.parametrize("name", sorted(fuzz_targets.TARGETS))
def test_target_takes_arbitrary_bytes(name: str) -> None:
    target = fuzz_targets.TARGETS[name]

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=600))
    def check(data: bytes) -> None:
        target(data)

    check()


def test_an_unexpected_exception_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target lets through what its entry point does not document."""

    def broken(blob: bytes) -> None:
        raise KeyError("parser bug")

    monkeypatch.setattr(fuzz_targets, "key_from_blob", broken)
    with pytest.raises(KeyError):
        fuzz_targets.key_blob(b"\x00\x01x")


def test_sftp_server_failure_logged_with_traceback_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SFTP server answers a request that crashed with a FAILURE status
    and logs the traceback; the target turns that log into a finding."""
    from ssh_sftp import LocalSFTPServerInterface

    def crash(self: object, path: str, attr: object) -> int:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(LocalSFTPServerInterface, "mkdir", crash)
    seed = next(p for n, p in CORPUS if n == "sftp_server" and len(p.read_bytes()) > 300)
    with pytest.raises(fuzz_targets.Finding, match=r"^SFTP server: sftp: \S+ failed$"):
        fuzz_targets.sftp_server(seed.read_bytes())


def test_provider_is_total() -> None:
    src = Bytes(b"\x00\x03abcd")
    assert src.chunk() == b"abc"
    assert src.u16() == ord("d")  # one byte left: read as the low byte
    assert src.take(5) == b""
    assert (src.u8(), src.boolean(), src.pick(3), src.rest()) == (0, False, 0, b"")


def test_runner_fallback_mode() -> None:
    """``run.py --fallback`` replays the corpus and mutates it, without atheris."""
    out = subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), "--fallback", "-t", "0.5", "kex_messages", "ssh_config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no findings" in out.stdout


def test_runner_rejects_unknown_target() -> None:
    out = subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), "no_such_target"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "unknown targets" in out.stderr


# -- what the fuzzer found --------------------------------------------------------------


def test_config_tilde_with_nul_byte_does_not_raise() -> None:
    """``~`` followed by a name with a NUL byte made ``lookup`` raise
    ``ValueError`` (from the password database); it is left as written,
    like an unknown user's ``~name``."""
    from ssh_transport.config import SSHConfig

    config = SSHConfig.from_text("Host *\n  IdentityFile ~\x00x/.ssh/id ~nosuchuser-fuzz/id\n")
    assert config.lookup("example.com")["identityfile"] == ["~\x00x/.ssh/id ~nosuchuser-fuzz/id"]


def test_every_target_has_an_instrumentation_scope() -> None:
    spec = importlib.util.spec_from_file_location("fuzz_run", FUZZ / "run.py")
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert set(run.SCOPES) == set(fuzz_targets.TARGETS)


@pytest.mark.timeout(20)
def test_config_host_pattern_with_many_stars_does_not_hang() -> None:
    """A Host pattern of thirty '*' before a character that never matches
    took minutes (a regex of '.*' runs backtracks exponentially); the
    timeout fails the test if it is back."""
    from ssh_transport.config import SSHConfig

    config = SSHConfig.from_text("Host !" + "*" * 30 + "x *.example.com\n  User alice\n")
    assert config.lookup("host." + "a" * 60 + ".example.com").get("user") == "alice"


@pytest.mark.timeout(20)
def test_known_hosts_pattern_with_many_stars_does_not_hang() -> None:
    """The same pattern on a known_hosts line made HostKeys.lookup hang
    (ssh_keys used the same kind of regex)."""
    import ssh_keys

    key = ssh_keys.Ed25519Key.generate()
    hosts = ssh_keys.HostKeys()
    hosts.add("*" * 25 + "x", key.get_name(), key)
    assert hosts.lookup("example.com." + "a" * 10) is None
    hosts.add("*.example.com", key.get_name(), key)
    assert hosts.lookup("host." + "a" * 60 + ".example.com") is not None


@settings(max_examples=300, deadline=None, database=None)
@given(st.text("ab*?.", max_size=8), st.text("abAB.", max_size=10), st.booleans())
def test_config_pattern_matches_like_a_regex(pattern: str, value: str, ignore_case: bool) -> None:
    """The linear matcher agrees with the regex it replaced."""
    import re

    from ssh_transport.config import _match_list

    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    expected = re.fullmatch(body, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None
    assert _match_list(value, [pattern], ignore_case) is expected
    assert _match_list(value, ["*", "!" + pattern], ignore_case) is (not expected)
