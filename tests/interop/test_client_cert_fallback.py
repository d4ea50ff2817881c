"""``SSHClient`` tries the plain key after the server refuses its
certificate, as OpenSSH does: OpenSSH's sshd (which trusts no CA here) lets
the client in with the key from authorized_keys although the certificate
beside the key file was signed by an unknown CA."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import paramiko
from ssh_keys import Ed25519Key, sign_certificate
from support.sshd import SSHD

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def _key_with_untrusted_certificate(sshd: SSHD, tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    shutil.copy(sshd.client_keys["ed25519"], key)
    key.chmod(0o600)
    pkey = paramiko.PKey.from_path(key)
    cert = sign_certificate(pkey, Ed25519Key.generate(), principals=[sshd.user], key_id="untrusted")
    Path(f"{key}-cert.pub").write_text(cert.get_openssh_line() + "\n")
    return key


def test_refused_certificate_then_plain_key(sshd: SSHD, tmp_path: Path) -> None:
    key = _key_with_untrusted_certificate(sshd, tmp_path)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts.read_text())
    before = len(sshd.log())
    with paramiko.SSHClient() as client:
        client.load_host_keys(str(known))
        client.connect(
            sshd.host, sshd.port, username=sshd.user, key_filename=str(key), allow_agent=False, look_for_keys=False
        )
        _, out, _ = client.exec_command("echo in", timeout=30)
        assert out.read() == b"in\n"
    log = sshd.log()[before:]
    assert "ED25519-CERT" in log  # the certificate was offered first
    assert "Accepted publickey" in log and "ED25519 SHA256" in log.split("Accepted publickey", 1)[1].splitlines()[0]


def test_explicit_certified_key_falls_back_too(sshd: SSHD, tmp_path: Path) -> None:
    key = _key_with_untrusted_certificate(sshd, tmp_path)
    pkey = paramiko.PKey.from_path(key)
    pkey.load_certificate(f"{key}-cert.pub")
    with paramiko.SSHClient() as client:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(sshd.host, sshd.port, username=sshd.user, pkey=pkey, allow_agent=False, look_for_keys=False)
        t = client.get_transport()
        assert t is not None and t.is_authenticated()
    assert pkey.public_blob is not None  # the caller's key keeps its certificate
