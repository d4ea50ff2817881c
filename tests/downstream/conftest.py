"""Downstream tests: Fabric 3, sshtunnel, scp and fsspec, unchanged, running on
whatever ``paramiko`` is installed, against two servers on loopback:

* ``sshd``: a private OpenSSH sshd (tests/support/sshd.py);
* ``ours``: our own server (tests/support/sshserver.py's ``ExecServer``, with
  our SFTP server serving "/" so paths mean the same on both);
* ``demo``: the demo server users start (``python -m paramiko.demo server``,
  SFTP rooted at "/"), which has no port forwarding: the forwarding tests
  run on the first two only (``downstream_env.FORWARDING``).

Both accept the same ed25519 client key, so one key file logs in everywhere.

How to run: ``tox -e downstream`` (installs our stack and the downstream
packages in one pip run, checks that ``paramiko`` is ours and ``pip check`` is
clean, then runs this folder). By hand, in a venv that has them:
``python -m pytest tests/downstream``. The same tests pass with the real
paramiko 5.x installed in place of ours (our layer packages are still needed
for the "ours" server), which is how they were validated.

A downstream package that is not installed makes its tests skip with the
reason, or fail under ``SSH_REQUIRE_INTEROP=1`` (CI): see ``downstream_env.require``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from downstream_env import Target

from support.peers import need_program
from support.sshd import SSHD, keygen


def pytest_report_header(config: pytest.Config) -> str:
    """Say which paramiko the downstream packages are running on."""
    try:
        import paramiko
    except ImportError as exc:  # pragma: no cover - reported, not raised
        return f"downstream: paramiko not importable ({exc})"
    return f"downstream: paramiko {paramiko.__version__} from {Path(paramiko.__file__).parent}"


@pytest.fixture(autouse=True)
def hermetic_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the user's ~/.ssh (config, known_hosts, keys) and agent out of the
    tests: each downstream package reads them by default."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unencrypted OpenSSH ed25519 key pair that both servers accept."""
    need_program("ssh-keygen")
    return keygen(tmp_path_factory.mktemp("downstream-key") / "id_ed25519", "ed25519", "downstream-test")


@pytest.fixture(scope="session")
def sshd_target(sshd: SSHD, client_key: Path) -> Target:
    """The session's OpenSSH sshd, with ``client_key`` authorized too."""
    pub = Path(f"{client_key}.pub").read_text()
    if pub not in sshd.authorized_keys.read_text():
        with sshd.authorized_keys.open("a") as f:
            f.write(pub)
    return Target("sshd", sshd.host, sshd.port, sshd.user, client_key, real_pty=True)


@pytest.fixture(scope="session")
def ours_target(client_key: Path) -> Iterator[Target]:
    """Our own server (ssh_transport + ssh_sftp), authorizing ``client_key``."""
    ssh_keys = pytest.importorskip("ssh_keys")
    from ssh_sftp import LocalSFTPServerInterface, SFTPServer
    from support.sshserver import ExecServer, serve

    authorized = [ssh_keys.PKey.from_private_key_file(str(client_key))]
    host_key = ssh_keys.Ed25519Key.generate()

    def configure(t: Any) -> None:
        t.set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root="/")

    with serve([host_key], lambda: ExecServer(authorized=authorized), configure) as running:
        yield Target("ours", running.host, running.port, getpass.getuser(), client_key, real_pty=False)


@pytest.fixture(scope="session")
def demo_target(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The shipped demo server, as a child process, authorizing ``client_key``."""
    from support.demoserver import demo_server

    state = tmp_path_factory.mktemp("demo-state")
    authorized = state / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    with demo_server(state / "hostkey", Path("/"), authorized) as port:
        yield Target("demo", "127.0.0.1", port, getpass.getuser(), client_key, real_pty=False)


@pytest.fixture(params=["sshd", "ours", "demo"])
def target(request: pytest.FixtureRequest) -> Target:
    """Each test that takes ``target`` runs against every server."""
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]
