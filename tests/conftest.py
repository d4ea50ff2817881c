"""Root test configuration: shared fixtures for real OpenSSH peers.

Every test has a timeout (pytest-timeout, set in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.peers import missing_peer
from support.sshd import SSHD, sshd_available, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """One private OpenSSH sshd for the whole test session (ed25519, ecdsa
    and rsa host keys; ed25519, ecdsa and rsa client keys authorized)."""
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed (apt-get install openssh-server)")
    with start_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
