"""OpenSSH's ``sftp`` client in batch mode against our SFTPServer with the
local-directory interface, run over stdio (``sftp -D``) through our
``python -m ssh_sftp.stdio_server`` entry point."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.peers import need_program

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def run_batch(tmp_path: Path, root: Path, commands: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``sftp -b`` with ``commands`` against our server serving ``root``."""
    sftp = need_program("sftp")
    wrapper = tmp_path / "our-sftp-server"
    wrapper.write_text(
        f"#!/bin/sh\nexec {sys.executable} -m ssh_sftp.stdio_server --root {root} 2>>{tmp_path / 'server.log'}\n"
    )
    wrapper.chmod(0o755)
    batch = tmp_path / "batch"
    batch.write_text(commands)
    return subprocess.run(
        [sftp, "-D", str(wrapper), "-b", str(batch)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    local = tmp_path / "local"
    root.mkdir()
    local.mkdir()
    return root, local


def test_batch_session(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, local = dirs
    data = os.urandom(3 * 1024 * 1024 + 17)
    (local / "up.bin").write_bytes(data)
    (root / "hello.txt").write_text("hello\n")
    result = run_batch(
        tmp_path,
        root,
        "\n".join(
            [
                "ls -l",
                "put up.bin",
                "get up.bin down.bin",
                "mkdir dir",
                "rename up.bin dir/moved.bin",
                "chmod 600 dir/moved.bin",
                "symlink moved.bin dir/link",
                "ls -l dir",
                "df",
                "get dir/link via-link.bin",
                "rm dir/link",
                "mkdir empty",
                "rmdir empty",
                "pwd",
                "",
            ]
        ),
        local,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "hello.txt" in out
    assert "moved.bin" in out and "link" in out
    assert "%Capacity" in out or "Avail" in out  # df output
    assert "Remote working directory: /" in out
    digest = hashlib.sha256(data).digest()
    assert hashlib.sha256((local / "down.bin").read_bytes()).digest() == digest
    assert hashlib.sha256((local / "via-link.bin").read_bytes()).digest() == digest
    moved = root / "dir" / "moved.bin"
    assert moved.read_bytes() == data
    assert moved.stat().st_mode & 0o777 == 0o600
    assert not (root / "dir" / "link").exists()
    assert not (root / "empty").exists()
    assert sorted(os.listdir(root)) == ["dir", "hello.txt"]
    result = run_batch(tmp_path, root, "rm dir/moved.bin\nrmdir dir\n", local)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(root)) == ["hello.txt"]


def test_ls_long_lines(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, local = dirs
    (root / "f").write_bytes(b"12345")
    os.chmod(root / "f", 0o640)
    result = run_batch(tmp_path, root, "ls -l\n", local)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.endswith(" f"))
    assert line.startswith("-rw-r-----")
    assert " 5 " in line


@pytest.mark.parametrize(
    "command",
    [
        "get ../../../../etc/passwd stolen",
        "get /../etc/passwd stolen",
        "get /etc/passwd stolen",
        "get escape/passwd stolen",
        "get abs/passwd stolen",
        "ls escape/",
        "put canary escape/planted",
        "put canary abs/planted",
    ],
)
def test_path_escapes_are_refused(tmp_path: Path, dirs: tuple[Path, Path], command: str) -> None:
    root, local = dirs
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("secret\n")
    (local / "canary").write_text("canary\n")
    # links planted inside the root (by someone with shell access) pointing out
    os.symlink("../outside", root / "escape")
    os.symlink(str(outside), root / "abs")
    result = run_batch(tmp_path, root, command + "\n", local)
    if command.startswith("ls"):
        assert "passwd" not in result.stdout  # the listing of the target is refused
    else:
        assert result.returncode != 0
    assert not (local / "stolen").exists()
    assert sorted(os.listdir(outside)) == ["passwd"]
    assert "secret" not in result.stdout


def test_symlink_created_by_client_cannot_escape(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    root, local = dirs
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("secret\n")
    result = run_batch(tmp_path, root, f"symlink {outside}/passwd l1\nsymlink ../outside/passwd l2\n", local)
    assert result.returncode == 0, result.stderr
    # the absolute target was taken as a path inside the root
    assert os.readlink(root / "l1") == str(root) + str(outside) + "/passwd"
    for name in ("l1", "l2"):
        result = run_batch(tmp_path, root, f"get {name} stolen\n", local)
        assert result.returncode != 0
        assert not (local / "stolen").exists()
