"""OpenSSH certificates against real OpenSSH, both ways; ``ssh-keygen -s``
is the CA.

- our client with a user certificate into sshd with ``TrustedUserCAKeys``
  (and refused: wrong principal, expired, not yet valid); the same
  certificate held in ``ssh-agent``;
- our client checking sshd's ``HostCertificate`` through ``@cert-authority``,
  refused through ``@revoked``;
- OpenSSH's ``ssh`` with a user certificate into the demo server started
  with ``--trusted-user-ca-keys`` and ``--host-certificate``, trusting our
  host certificate through ``@cert-authority``; refused when expired, for
  the wrong principal or with an unknown critical option; its
  ``force-command`` honoured.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import paramiko
from ssh_keys import CertificateRevoked
from support.peers import missing_peer
from support.sshd import SSHD, free_port, keygen, sshd_available, start_sshd

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

# name -> ssh-keygen -s options for a user certificate (principal: the test user)
USER_CERTS = {
    "good": [],
    "wrong_principal": ["-n", "somebody-else"],
    "expired": ["-V", "20200101:20200102"],
    "future": ["-V", "+1d:+2d"],
    "force_command": ["-O", "force-command=echo forced"],
    "unknown_option": ["-O", "critical:frob@example.org=yes"],
}


def sign(ca: Path, pub: Path, *options: str, host: bool = False, principals: str = "", key_id: str = "test") -> Path:
    """``ssh-keygen -s``: certify ``pub``; returns the ``-cert.pub`` path."""
    cmd = ["ssh-keygen", "-q", "-s", str(ca), "-I", key_id]
    cmd += ["-h"] if host else []
    cmd += ["-n", principals] if principals and "-n" not in options else []
    subprocess.run([*cmd, *options, str(pub)], check=True, timeout=30, stdin=subprocess.DEVNULL)
    return pub.with_name(pub.name[: -len(".pub")] + "-cert.pub")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and one user key per certificate kind in ``USER_CERTS``."""
    if shutil.which("ssh-keygen") is None:
        missing_peer("ssh-keygen is not installed")
    d = tmp_path_factory.mktemp("pki")
    out = {"dir": d, "ca": keygen(d / "ca", "ed25519", "ca"), "other_ca": keygen(d / "other_ca", "ed25519", "ca2")}
    user = getpass.getuser()
    for name, options in USER_CERTS.items():
        key = keygen(d / f"user_{name}", "ed25519", name)
        sign(out["ca"], Path(f"{key}.pub"), *options, principals=user)
        out[name] = key
    rsa = keygen(d / "user_rsa", "rsa")
    sign(out["ca"], Path(f"{rsa}.pub"), principals=user)
    out["rsa"] = rsa
    return out


@pytest.fixture(scope="module")
def cert_sshd(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[SSHD]:
    """sshd trusting the CA for users and presenting a host certificate."""
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed")
    work = tmp_path_factory.mktemp("cert-sshd")
    host = keygen(work / "host_ed25519", "ed25519", "host")
    host_cert = sign(pki["ca"], Path(f"{host}.pub"), host=True, principals="127.0.0.1,localhost")
    config = [f"TrustedUserCAKeys {pki['ca']}.pub", f"HostCertificate {host_cert}"]
    with start_sshd(work, config, host_key_types=("ed25519",)) as server:
        yield server


def ca_line(ca: Path, names: str = "*", marker: str = "@cert-authority") -> str:
    return f"{marker} {names} {Path(f'{ca}.pub').read_text().strip()}\n"


def connect(sshd: SSHD, known_hosts: Path, text: str, **kwargs: Any) -> paramiko.SSHClient:
    known_hosts.write_text(text)
    c = paramiko.SSHClient()
    c.load_host_keys(str(known_hosts))
    kwargs.setdefault("allow_agent", False)
    kwargs.setdefault("look_for_keys", False)
    try:
        c.connect(sshd.host, port=sshd.port, username=sshd.user, timeout=15, **kwargs)
    except BaseException:
        c.close()
        raise
    return c


def run(c: paramiko.SSHClient, command: str) -> bytes:
    _, out, _ = c.exec_command(command, timeout=30)
    return bytes(out.read())


# -- our client, sshd's server -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["good", "rsa"])
def test_our_client_logs_in_with_a_user_certificate(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    known = f"[{cert_sshd.host}]:{cert_sshd.port} {cert_sshd.host_key_line('ed25519')}\n"
    with connect(cert_sshd, tmp_path / "kh", known, key_filename=str(pki[kind])) as c:
        assert run(c, "echo hi") == b"hi\n"
    expected = "ED25519-CERT" if kind == "good" else "RSA-CERT"
    assert expected in cert_sshd.log()


@pytest.mark.parametrize("kind", ["wrong_principal", "expired", "future"])
def test_sshd_refuses_bad_user_certificates(cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path, kind: str) -> None:
    known = f"[{cert_sshd.host}]:{cert_sshd.port} {cert_sshd.host_key_line('ed25519')}\n"
    with pytest.raises(paramiko.AuthenticationException):
        connect(cert_sshd, tmp_path / "kh", known, key_filename=str(pki[kind]))


def test_our_client_verifies_sshd_host_certificate(cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path) -> None:
    with connect(cert_sshd, tmp_path / "kh", ca_line(pki["ca"]), key_filename=str(pki["good"])) as c:
        t = c.get_transport()
        assert t is not None and t.host_key_type == "ssh-ed25519-cert-v01@openssh.com"


def test_our_client_refuses_sshd_host_certificate_of_a_revoked_ca(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path
) -> None:
    text = ca_line(pki["other_ca"]) + ca_line(pki["ca"]) + ca_line(pki["ca"], marker="@revoked")
    with pytest.raises(CertificateRevoked):
        connect(cert_sshd, tmp_path / "kh", text, key_filename=str(pki["good"]))


def test_our_client_uses_a_certificate_held_in_ssh_agent(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        missing_peer("ssh-agent is not installed")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True, timeout=5)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(pki["good"])], env=env, check=True, timeout=30, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        known = f"[{cert_sshd.host}]:{cert_sshd.port} {cert_sshd.host_key_line('ed25519')}\n"
        with connect(cert_sshd, tmp_path / "kh", known, allow_agent=True) as c:
            assert run(c, "echo agent") == b"agent\n"
    finally:
        agent.terminate()
        agent.wait(10)


# -- OpenSSH's ssh, our demo server --------------------------------------------------------


@contextlib.contextmanager
def demo_with_certificates(work: Path, ca: Path) -> Iterator[tuple[int, Path]]:
    """The demo server with a CA-signed host key, trusting ``ca`` for users."""
    state = work / "state"
    state.mkdir()
    host = keygen(state / "host_ed25519_key", "ed25519", "demo-host")
    host_cert = sign(ca, Path(f"{host}.pub"), host=True, principals="127.0.0.1")
    empty = work / "authorized_keys"
    empty.write_text("")
    port = free_port()
    cmd = [sys.executable, "-m", "paramiko.demo", "server", "--port", str(port), "--root", str(work)]
    cmd += ["--state", str(state), "--authorized-keys", str(empty)]
    cmd += ["--trusted-user-ca-keys", f"{ca}.pub", "--host-certificate", str(host_cert)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        printed = []
        for text in proc.stdout:
            printed.append(text)
            if text.startswith("listening on"):
                break
        else:
            proc.wait(10)
            raise AssertionError(f"the demo server did not start: {''.join(printed)}")
        yield port, host
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]) -> Iterator[tuple[int, Path]]:
    if shutil.which("ssh") is None:
        missing_peer("OpenSSH ssh is not installed")
    with demo_with_certificates(tmp_path_factory.mktemp("demo-certs"), pki["ca"]) as running:
        yield running


def ssh(port: int, key: Path, known_hosts: Path, command: str) -> subprocess.CompletedProcess[str]:
    """OpenSSH's ssh with ``key`` and its certificate, trusting only ``known_hosts``."""
    args = ["ssh", "-F", "/dev/null", "-p", str(port), "-i", str(key), "-o", f"CertificateFile={key}-cert.pub"]
    args += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
    args += ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    args += ["-o", "ConnectTimeout=10", f"{getpass.getuser()}@127.0.0.1", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_openssh_logs_in_with_a_certificate_and_trusts_our_host_certificate(
    demo: tuple[int, Path], pki: dict[str, Path], tmp_path: Path
) -> None:
    port, _ = demo
    known = tmp_path / "kh"
    known.write_text(ca_line(pki["ca"], f"[127.0.0.1]:{port}"))
    done = ssh(port, pki["good"], known, "echo via-cert")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "via-cert\n"


def test_openssh_refuses_our_host_certificate_when_revoked(
    demo: tuple[int, Path], pki: dict[str, Path], tmp_path: Path
) -> None:
    port, host = demo
    known = tmp_path / "kh"
    revoked = f"@revoked * {Path(f'{host}.pub').read_text().strip()}\n"
    known.write_text(ca_line(pki["ca"], f"[127.0.0.1]:{port}") + revoked)
    done = ssh(port, pki["good"], known, "echo no")
    assert done.returncode == 255 and "REVOKED" in done.stderr.upper(), done.stderr


@pytest.mark.parametrize("kind", ["wrong_principal", "expired", "future", "unknown_option"])
def test_our_server_refuses_bad_certificates_from_openssh(
    demo: tuple[int, Path], pki: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    port, _ = demo
    known = tmp_path / "kh"
    known.write_text(ca_line(pki["ca"], f"[127.0.0.1]:{port}"))
    done = ssh(port, pki[kind], known, "echo should-not-run")
    assert done.returncode == 255, done.stdout
    assert "Permission denied" in done.stderr


def test_our_server_honours_force_command(demo: tuple[int, Path], pki: dict[str, Path], tmp_path: Path) -> None:
    port, _ = demo
    known = tmp_path / "kh"
    known.write_text(ca_line(pki["ca"], f"[127.0.0.1]:{port}"))
    done = ssh(port, pki["force_command"], known, "echo mine")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "forced\n"
