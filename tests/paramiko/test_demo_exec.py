"""The demo server's exec plumbing (paramiko/demo/session.py) under OpenSSH's ``ssh``:
exit status and stderr, large streams intact both ways, EOF on stdin, a
command that exits while the client is still sending, and death by signal."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.demoserver import demo_server as start_demo
from support.peers import need_program
from support.sshd import keygen

OPENSSH_OPTS = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
OPENSSH_OPTS += ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]


@pytest.fixture(scope="module")
def ssh_cmd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """``ssh`` logged in to one demo server for the whole module, ready for a command."""
    ssh = need_program("ssh")
    tmp = tmp_path_factory.mktemp("demo-exec")
    key = keygen(tmp / "id_ed25519", "ed25519")
    authorized = tmp / "authorized_keys"
    authorized.write_text(Path(f"{key}.pub").read_text())
    root = tmp / "root"
    root.mkdir()
    with start_demo(tmp / "state", root, authorized) as port:
        yield [ssh, *OPENSSH_OPTS, "-i", str(key), "-p", str(port), "-T", "127.0.0.1"]


def run(
    ssh_cmd: list[str], command: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*ssh_cmd, command],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.timeout(90)
def test_exit_status_and_stderr_apart_from_stdout(ssh_cmd: list[str]) -> None:
    out = run(ssh_cmd, "echo to-out; echo to-err >&2; exit 7")
    assert out.returncode == 7
    assert out.stdout == b"to-out\n"
    assert out.stderr == b"to-err\n"


@pytest.mark.timeout(90)
def test_large_stdout_arrives_intact(ssh_cmd: list[str], tmp_path: Path) -> None:
    # random bytes, so that a buffer reused before its bytes were sent shows
    data = os.urandom(24 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    out = run(ssh_cmd, f"exec cat {src}")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) == len(data)
    assert out.stdout == data


@pytest.mark.timeout(90)
def test_large_stdin_arrives_intact_and_eof_ends_the_command(ssh_cmd: list[str]) -> None:
    data = os.urandom(24 << 20)
    # sha256sum only prints once it has read to EOF: the client's EOF must reach its stdin
    out = run(ssh_cmd, "exec sha256sum", stdin=data)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


@pytest.mark.timeout(90)
def test_both_directions_at_once(ssh_cmd: list[str]) -> None:
    # cat echoes while the client still sends: neither side's window may wedge the other
    data = os.urandom(16 << 20)
    out = run(ssh_cmd, "exec cat", stdin=data)
    assert out.returncode == 0, out.stderr
    assert out.stdout == data


@pytest.mark.timeout(90)
def test_stdout_and_stderr_streams_together(ssh_cmd: list[str]) -> None:
    out = run(ssh_cmd, "head -c 8388608 /dev/zero; for i in 1 2 3; do echo err$i >&2; done; head -c 1000 /dev/zero")
    assert out.returncode == 0, out.stderr
    assert out.stdout == bytes((8 << 20) + 1000)
    assert out.stderr == b"err1\nerr2\nerr3\n"


@pytest.mark.timeout(90)
def test_empty_stdin_gives_eof_at_once(ssh_cmd: list[str]) -> None:
    out = run(ssh_cmd, "exec wc -c", stdin=b"")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == b"0"


@pytest.mark.timeout(90)
def test_command_that_exits_while_the_client_still_sends(ssh_cmd: list[str]) -> None:
    # head stops reading after 1000 bytes of a 64 MiB upload: the session must
    # end with head's output and status rather than hang on the unread rest
    out = run(ssh_cmd, "exec head -c 1000", stdin=bytes(64 << 20))
    assert out.returncode == 0, out.stderr
    assert out.stdout == bytes(1000)


@pytest.mark.timeout(90)
def test_command_that_never_reads_its_stdin(ssh_cmd: list[str]) -> None:
    out = run(ssh_cmd, "exec sh -c 'exit 3'", stdin=bytes(32 << 20))
    assert out.returncode == 3
    assert out.stdout == b""


@pytest.mark.timeout(90)
def test_command_killed_by_a_signal(ssh_cmd: list[str]) -> None:
    # the status of a process killed by SIGTERM is reported as a shell does: 128 + 15
    out = run(ssh_cmd, "exec sh -c 'kill -TERM $$'")
    assert out.returncode == 128 + 15
