"""The demo programs: the README's main command end to end in a fresh venv,
and OpenSSH's ssh and sftp against the demo server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.demoserver import demo_server as start_demo
from support.peers import need_program
from support.sshd import keygen

ROOT = Path(__file__).resolve().parents[2]
OPENSSH_OPTS = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


@pytest.mark.timeout(600)
def test_readme_main_command_in_a_fresh_venv(tmp_path: Path) -> None:
    env = dict(os.environ, DEMO_VENV=str(tmp_path / "venv"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "tasks.py"), "demo", "loopback", "--size", "8"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        stdin=subprocess.DEVNULL,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "hello from" in text
    assert "[exit status 0]" in text
    assert re.search(r"put: 8\.4 MB in [\d.]+ s = [\d.]+ MB/s", text), text
    assert re.search(r"get: 8\.4 MB in [\d.]+ s = [\d.]+ MB/s", text), text
    assert "sha256 matches" in text
    assert re.search(r"ssh -p \d+ .*@127\.0\.0\.1", text)
    assert re.search(r"sftp -P \d+ .*@127\.0\.0\.1", text)
    assert "loopback demo: OK" in text


@pytest.mark.timeout(60)
def test_loopback_starts_its_server_with_a_password_that_looks_like_an_option(tmp_path: Path) -> None:
    from paramiko.demo import loopback

    root = tmp_path / "root"
    root.mkdir()
    proc, port = loopback._start_server(root, tmp_path / "state", "-dash-first_" + "x" * 4)
    try:
        assert port > 0
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A demo server on a free port: (port, sftp root, client private key)."""
    key = keygen(tmp_path / "id_ed25519", "ed25519")
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(Path(f"{key}.pub").read_text())
    root = tmp_path / "root"
    root.mkdir()
    with start_demo(tmp_path / "state", root, authorized) as port:
        yield port, root, key


@pytest.mark.timeout(60)
def test_openssh_ssh_runs_a_command_on_the_demo_server(demo_server: tuple[int, Path, Path]) -> None:
    port, _root, key = demo_server
    ssh = need_program("ssh")
    out = subprocess.run(
        [ssh, *OPENSSH_OPTS, "-o", "BatchMode=yes", "-i", str(key), "-p", str(port), "127.0.0.1", "echo hi; exit 7"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 7, out.stderr
    assert out.stdout == b"hi\n"


@pytest.mark.timeout(60)
def test_openssh_ssh_with_the_one_time_password(demo_server: tuple[int, Path, Path]) -> None:
    port, _root, _key = demo_server
    sshpass, ssh = need_program("sshpass"), need_program("ssh")
    out = subprocess.run(
        [
            sshpass,
            "-p",
            "s3cret",
            ssh,
            *OPENSSH_OPTS,
            "-o",
            "PubkeyAuthentication=no",
            "-p",
            str(port),
            "127.0.0.1",
            "echo pw-ok",
        ],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"pw-ok\n"


@pytest.mark.timeout(60)
def test_openssh_sftp_against_the_demo_server(demo_server: tuple[int, Path, Path], tmp_path: Path) -> None:
    port, root, key = demo_server
    sftp = need_program("sftp")
    payload = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(payload)
    batch = tmp_path / "batch"
    batch.write_text(
        f"put {tmp_path / 'up.bin'} up.bin\nmkdir d\nrename up.bin d/x.bin\nget d/x.bin {tmp_path / 'back.bin'}\n"
    )
    out = subprocess.run(
        [sftp, *OPENSSH_OPTS, "-i", str(key), "-P", str(port), "-b", str(batch), "127.0.0.1"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert (root / "d" / "x.bin").read_bytes() == payload
    assert (tmp_path / "back.bin").read_bytes() == payload
