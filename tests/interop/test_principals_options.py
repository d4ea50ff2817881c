"""OpenSSH's ``ssh`` with user certificates against the demo server:
``AuthorizedPrincipalsFile`` lines with options (``command=``, ``from=``,
``no-pty``, ``restrict``; an unknown option refuses the line) are honoured
as sshd honours them, and a forced command (the certificate's
``force-command`` or a line's ``command=``) sees what the client asked for
in ``SSH_ORIGINAL_COMMAND``."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.demoserver import demo_server
from support.peers import missing_peer
from support.sshd import keygen

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

PRINCIPALS = """\
# principal lines with options
command="echo line:$SSH_ORIGINAL_COMMAND" cmd-principal
from="10.0.0.0/8" far-principal
from="127.0.0.1,10.*" near-principal
no-pty nopty-principal
restrict,permit-pty restricted-principal
environment="X=1" unknown-option-principal
plain-principal
"""


def sign(ca: Path, pub: Path, principal: str, *options: str) -> Path:
    cmd = ["ssh-keygen", "-q", "-s", str(ca), "-I", principal, "-n", principal, *options, str(pub)]
    subprocess.run(cmd, check=True, timeout=30, stdin=subprocess.DEVNULL)
    return pub.with_name(pub.name[: -len(".pub")] + "-cert.pub")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, Path]]]:
    if shutil.which("ssh-keygen") is None or shutil.which("ssh") is None:
        missing_peer("OpenSSH ssh and ssh-keygen are needed")
    work = tmp_path_factory.mktemp("principals")
    ca = keygen(work / "ca", "ed25519", "ca")
    keys: dict[str, Path] = {}
    for line in PRINCIPALS.splitlines():
        if line and not line.startswith("#"):
            name = line.split()[-1]
            keys[name] = keygen(work / f"user_{name}", "ed25519", name)
            sign(ca, Path(f"{keys[name]}.pub"), name)
    forced = keygen(work / "user_forced", "ed25519", "forced")
    sign(ca, Path(f"{forced}.pub"), "plain-principal", "-O", "force-command=echo cert:$SSH_ORIGINAL_COMMAND")
    keys["forced"] = forced
    principals = work / "principals"
    principals.write_text(PRINCIPALS)
    (work / "root").mkdir()
    empty = work / "authorized_keys"
    empty.write_text("")
    extra = ["--trusted-user-ca-keys", f"{ca}.pub", "--authorized-principals-file", str(principals)]
    with demo_server(work / "state", work / "root", empty, extra=extra) as port:
        yield port, keys


def ssh(port: int, key: Path, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["ssh", "-F", "/dev/null", "-p", str(port), "-i", str(key), "-o", f"CertificateFile={key}-cert.pub"]
    args += ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes"]
    args += ["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", *extra, f"{getpass.getuser()}@127.0.0.1", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_plain_principal_runs_the_command(setup: tuple[int, dict[str, Path]]) -> None:
    port, keys = setup
    done = ssh(port, keys["plain-principal"], "echo mine; echo ${SSH_ORIGINAL_COMMAND-unset}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "mine\nunset\n"


def test_line_command_is_forced_with_the_original(setup: tuple[int, dict[str, Path]]) -> None:
    port, keys = setup
    done = ssh(port, keys["cmd-principal"], "echo mine")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "line:echo mine\n"


def test_certificate_force_command_sees_the_original(setup: tuple[int, dict[str, Path]]) -> None:
    port, keys = setup
    done = ssh(port, keys["forced"], "uname -a")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "cert:uname -a\n"


@pytest.mark.parametrize(("principal", "allowed"), [("far-principal", False), ("near-principal", True)])
def test_from_option(setup: tuple[int, dict[str, Path]], principal: str, allowed: bool) -> None:
    port, keys = setup
    done = ssh(port, keys[principal], "echo in")
    if allowed:
        assert done.returncode == 0 and done.stdout == "in\n", done.stderr
    else:
        assert done.returncode == 255 and "Permission denied" in done.stderr, done.stdout


def test_unknown_option_refuses_the_line(setup: tuple[int, dict[str, Path]]) -> None:
    port, keys = setup
    done = ssh(port, keys["unknown-option-principal"], "echo in")
    assert done.returncode == 255 and "Permission denied" in done.stderr, done.stdout


@pytest.mark.parametrize(("principal", "pty"), [("nopty-principal", False), ("restricted-principal", True)])
def test_pty_options(setup: tuple[int, dict[str, Path]], principal: str, pty: bool) -> None:
    port, keys = setup
    done = ssh(port, keys[principal], "echo ran", "-tt")
    if pty:  # granted (the demo runs commands on pipes even then)
        assert done.returncode == 0, done.stderr
        assert "PTY allocation request failed" not in done.stderr
        assert done.stdout.strip() == "ran"
    else:  # refused: ssh -tt gives up when a terminal it insisted on is denied
        assert "PTY allocation request failed" in done.stderr
        assert "ran" not in done.stdout
