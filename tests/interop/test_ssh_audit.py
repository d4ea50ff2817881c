"""``ssh-audit`` against our server (the demo server) and our client
(``Transport``, ``SSHClient``), read from its JSON output (``-j``).

With default settings we may have no failure that OpenSSH 9.2 (this
machine's ``sshd`` and ``ssh``, with their defaults) does not also have; with
the hardened preset (``ssh_transport.hardened``, the demo's ``--hardened``)
ssh-audit must report no failure and no warning at all.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramiko import AutoAddPolicy, SSHClient
from ssh_transport import Transport
from ssh_transport.hardened import HARDENED_ALGORITHMS, harden, hardened_disabled_algorithms
from ssh_transport.protocol.kex import MLKEM_AVAILABLE
from ssh_wire import SSHException
from support.demoserver import demo_server as start_demo
from support.peers import missing_peer, need_program
from support.sshd import free_port, sshd_available, start_sshd

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

PASSWORD = "audit-pw"
# ssh-audit's exit codes (ssh_audit/exitcodes.py)
GOOD, CONNECTION_ERROR, WARNING, FAILURE = 0, 1, 2, 3
# The algorithm sections of ssh-audit's JSON report.
SECTIONS = ("kex", "key", "enc", "mac")

Finding = tuple[str, str, str, str]  # (section, algorithm, "fail"|"warn", message)


def ssh_audit_command() -> list[str]:
    """How to run ssh-audit here, or skip (fail under SSH_REQUIRE_INTEROP=1)."""
    if importlib.util.find_spec("ssh_audit") is not None:
        return [sys.executable, "-m", "ssh_audit"]
    program = shutil.which("ssh-audit")
    if program is None:
        missing_peer("ssh-audit is not installed (pip install ssh-audit)")
    assert program is not None
    return [program]


def findings(report: dict[str, Any], levels: tuple[str, ...] = ("fail", "warn")) -> set[Finding]:
    """Every failure/warning of the report; a CVE counts as a failure."""
    found: set[Finding] = set()
    for section in SECTIONS:
        for entry in report.get(section, []):
            notes = entry.get("notes", {})
            for level in levels:
                found.update((section, entry["algorithm"], level, msg) for msg in notes.get(level, []))
    if "fail" in levels:
        found.update(("cve", cve["name"], "fail", cve.get("description", "")) for cve in report.get("cves", []))
    return found


def parse_report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON report of a finished ssh-audit run (asserting it produced one)."""
    assert proc.returncode in (GOOD, WARNING, FAILURE), f"ssh-audit exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout)
    assert report["kex"] and report["enc"] and report["mac"], report  # it saw a KEXINIT
    return report


def audit_server(port: int) -> tuple[int, dict[str, Any]]:
    """ssh-audit's exit code and report for the server on 127.0.0.1:port.

    The DHEat connection-rate probe is skipped: it yields a note, never a
    failure or warning, and connection throttling is tested elsewhere.
    """
    cmd = [*ssh_audit_command(), "-j", "--skip-rate-test", "-t", "10", "-p", str(port), "127.0.0.1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode, parse_report(proc)


@contextlib.contextmanager
def client_auditor() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """ssh-audit in client mode, listening on a free port for one client."""
    port = free_port()
    cmd = [*ssh_audit_command(), "-c", "-j", "-t", "15", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        yield port, proc
    finally:
        if proc.poll() is None:  # our child, still running: stop it
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def client_report(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any]]:
    """Wait for the client audit to finish; its exit code and report."""
    out, err = proc.communicate(timeout=30)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done.returncode, parse_report(done)


def connect_when_listening(port: int, deadline: float = 15.0) -> socket.socket:
    """A socket to 127.0.0.1:port, retrying while the listener starts up
    (a probe would be audited as the client, so we connect only once)."""
    end = time.monotonic() + deadline
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def run_our_client(port: int, hardened: bool) -> None:
    """Our Transport starts a client session with the auditor, which hangs
    up after reading our KEXINIT."""
    transport = Transport(connect_when_listening(port))
    if hardened:
        harden(transport.get_security_options())
    try:
        with pytest.raises((SSHException, EOFError, OSError)):
            transport.start_client(timeout=15)
    finally:
        transport.close()


@contextlib.contextmanager
def demo_server(tmp_path: Path, *extra: str) -> Iterator[int]:
    """The shipped demo server (``python -m paramiko.demo server``) with
    ``extra`` options, on a free port; yields the port."""
    (tmp_path / "root").mkdir(exist_ok=True)
    (tmp_path / "authorized_keys").touch()
    with start_demo(tmp_path / "state", tmp_path / "root", tmp_path / "authorized_keys", PASSWORD, extra) as port:
        yield port


@pytest.fixture(scope="module")
def sshd_failures(tmp_path_factory: pytest.TempPathFactory) -> set[Finding]:
    """What ssh-audit fails in OpenSSH's sshd with its default algorithms."""
    ssh_audit_command()
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed")
    with start_sshd(tmp_path_factory.mktemp("audit-sshd")) as sshd:
        _, report = audit_server(sshd.port)
    return findings(report, ("fail",))


@pytest.fixture(scope="module")
def ssh_client_failures() -> set[Finding]:
    """What ssh-audit fails in OpenSSH's ssh client with its defaults."""
    ssh = need_program("ssh")
    with client_auditor() as (port, proc):
        args = [ssh, "-F", "/dev/null", "-p", str(port), "-o", "BatchMode=yes", "-o", "ConnectionAttempts=20"]
        args += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"]
        subprocess.run([*args, "127.0.0.1", "true"], capture_output=True, timeout=40, stdin=subprocess.DEVNULL)
        _, report = client_report(proc)
    return findings(report, ("fail",))


def need_mlkem() -> None:
    if not MLKEM_AVAILABLE:
        pytest.skip("this cryptography has no ML-KEM: the hardened preset has no key exchange")


# --- our server --------------------------------------------------------------


def test_default_server_fails_nothing_openssh_92_passes(tmp_path: Path, sshd_failures: set[Finding]) -> None:
    with demo_server(tmp_path) as port:
        _, report = audit_server(port)
    ours = findings(report, ("fail",))
    assert ours - sshd_failures == set()


def test_hardened_server_has_no_failure_or_warning(tmp_path: Path) -> None:
    need_mlkem()
    ssh_audit_command()
    with demo_server(tmp_path, "--hardened") as port:
        code, report = audit_server(port)
    assert findings(report) == set()
    assert code == GOOD
    offered = {entry["algorithm"] for entry in report["kex"]}
    assert "mlkem768x25519-sha256" in offered


def test_hardened_server_serves_a_hardened_client(tmp_path: Path) -> None:
    """The preset on both sides still makes a working session."""
    need_mlkem()
    with demo_server(tmp_path, "--hardened") as port, SSHClient() as client:
        client.set_missing_host_key_policy(AutoAddPolicy())
        client.connect(
            "127.0.0.1",
            port,
            username=getpass.getuser(),
            password=PASSWORD,
            look_for_keys=False,
            allow_agent=False,
            disabled_algorithms=hardened_disabled_algorithms(),
            timeout=15,
        )
        transport = client.get_transport()
        assert transport is not None
        assert transport.preferred_kex == ("mlkem768x25519-sha256",)
        _, stdout, _ = client.exec_command("echo audited", timeout=15)
        assert stdout.read().strip() == b"audited"


def test_hardened_server_refuses_a_default_openssh_92_client(tmp_path: Path) -> None:
    """What the preset costs: OpenSSH before 9.9 has no ML-KEM."""
    need_mlkem()
    ssh = need_program("ssh")
    with demo_server(tmp_path, "--hardened") as port:
        args = [ssh, "-F", "/dev/null", "-p", str(port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        args += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        done = subprocess.run([*args, "127.0.0.1", "true"], capture_output=True, text=True, timeout=30)
    if "mlkem768x25519-sha256" in subprocess.run([ssh, "-Q", "kex"], capture_output=True, text=True).stdout:
        pytest.skip("this ssh has ML-KEM: it gets past key exchange")
    assert done.returncode == 255
    assert "no matching key exchange method" in done.stderr


# --- our client --------------------------------------------------------------


def test_default_client_fails_nothing_openssh_92_passes(ssh_client_failures: set[Finding]) -> None:
    with client_auditor() as (port, proc):
        run_our_client(port, hardened=False)
        _, report = client_report(proc)
    assert findings(report, ("fail",)) - ssh_client_failures == set()


def test_hardened_transport_client_has_no_failure_or_warning() -> None:
    need_mlkem()
    with client_auditor() as (port, proc):
        run_our_client(port, hardened=True)
        code, report = client_report(proc)
    assert findings(report) == set()
    assert code == GOOD


def test_hardened_sshclient_has_no_failure_or_warning() -> None:
    """The paramiko-API route: ``SSHClient.connect(disabled_algorithms=...)``."""
    need_mlkem()
    with client_auditor() as (port, proc), SSHClient() as client:
        client.set_missing_host_key_policy(AutoAddPolicy())
        with pytest.raises((SSHException, EOFError, OSError)):
            client.connect(
                "127.0.0.1",
                port,
                username="audit",
                password="x",
                sock=connect_when_listening(port),
                look_for_keys=False,
                allow_agent=False,
                disabled_algorithms=hardened_disabled_algorithms(),
                timeout=15,
                banner_timeout=15,
            )
        code, report = client_report(proc)
    assert findings(report) == set()
    assert code == GOOD
    offered = {entry["algorithm"] for section in SECTIONS for entry in report[section]}
    allowed = set().union(*HARDENED_ALGORITHMS.values())
    markers = {"ext-info-c", "kex-strict-c-v00@openssh.com"}
    assert offered - markers <= allowed
