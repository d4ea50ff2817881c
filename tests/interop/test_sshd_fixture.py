"""The private sshd fixture works with OpenSSH's own client (a sanity check
that failures elsewhere are ours, not the fixture's)."""

from __future__ import annotations

import subprocess

import pytest

from support.peers import need_program
from support.sshd import SSHD


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_openssh_client_logs_in_with_each_client_key(sshd: SSHD, kind: str) -> None:
    ssh = need_program("ssh")
    out = subprocess.run(
        [ssh, *sshd.ssh_args(kind), sshd.target, "echo hello; echo oops >&2; exit 3"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 3, sshd.log()
    assert out.stdout == b"hello\n"
    assert b"oops" in out.stderr
