"""``SSHClient`` with OpenSSH certificates against our server: user
certificates found as OpenSSH and paramiko find them (``-cert.pub`` beside
the key file, the certificate file named, ``~/.ssh``, an explicit key), and
host certificates checked through ``@cert-authority`` / ``@revoked`` lines
of known_hosts, falling back to the plain host key when no CA applies."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import paramiko
from ssh_keys import (
    CertificateExpired,
    CertificatePrincipalError,
    CertificateRevoked,
    Ed25519Key,
    PKey,
    sign_certificate,
)
from ssh_transport.cert_policy import UserCertificatePolicy
from support.sshserver import ExecServer, serve

pytestmark = pytest.mark.timeout(60)

USER = "alice"
HOST = "127.0.0.1"


@dataclass
class CertServer(ExecServer):
    policy: UserCertificatePolicy | None = None

    def get_user_certificate_policy(self) -> UserCertificatePolicy | None:
        return self.policy


@pytest.fixture(scope="module")
def ca() -> PKey:
    return Ed25519Key.generate()


@pytest.fixture()
def user_key() -> PKey:
    return Ed25519Key.generate()


def host_key_with_cert(ca: PKey, **kwargs: Any) -> PKey:
    key = Ed25519Key.generate()
    kwargs.setdefault("principals", [HOST])
    key.load_certificate(sign_certificate(key, ca, cert_type="host", **kwargs).get_openssh_line())
    return key


@contextlib.contextmanager
def server(host_key: PKey, ca: PKey, authorized: tuple[PKey, ...] = ()) -> Iterator[Any]:
    def make() -> CertServer:
        return CertServer(policy=UserCertificatePolicy([ca]), authorized=authorized, allowed="publickey")

    with serve([host_key], make_server=make) as running:
        yield running


def connect(c: paramiko.SSHClient, running: Any, known_hosts: Path, text: str, **kwargs: Any) -> None:
    known_hosts.write_text(text)
    c.load_host_keys(str(known_hosts))
    kwargs.setdefault("allow_agent", False)
    kwargs.setdefault("look_for_keys", False)
    c.connect(HOST, port=running.port, username=USER, timeout=10, **kwargs)


def line(marker: str, names: str, key: PKey) -> str:
    return f"{marker} {names} {key.get_name()} {key.get_base64()}\n"


# -- user certificates ------------------------------------------------------------------


def _write_identity(directory: Path, key: PKey, ca: PKey, name: str = "id_ed25519") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    key.write_private_key_file(str(path))
    sign_certificate(key, ca, principals=[USER]).write_file(f"{path}-cert.pub")
    return path


def _plain_host(tmp_path: Path, running: Any, host_key: PKey) -> str:
    return f"[{HOST}]:{running.port} {host_key.get_name()} {host_key.get_base64()}\n"


@pytest.mark.parametrize("name_the_certificate", [False, True])
def test_key_filename_picks_up_the_certificate(
    tmp_path: Path, ca: PKey, user_key: PKey, name_the_certificate: bool
) -> None:
    host_key = Ed25519Key.generate()
    path = _write_identity(tmp_path / "keys", user_key, ca)
    filename = f"{path}-cert.pub" if name_the_certificate else str(path)
    with server(host_key, ca) as running, paramiko.SSHClient() as c:
        connect(c, running, tmp_path / "known_hosts", _plain_host(tmp_path, running, host_key), key_filename=filename)
        assert c.get_transport() is not None and c.get_transport().is_authenticated()  # type: ignore[union-attr]
        assert running.transports[0].get_user_certificate().key == user_key


def test_look_for_keys_finds_the_certificate_in_dot_ssh(
    tmp_path: Path, ca: PKey, user_key: PKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_key = Ed25519Key.generate()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _write_identity(tmp_path / "home" / ".ssh", user_key, ca)
    with server(host_key, ca) as running, paramiko.SSHClient() as c:
        connect(c, running, tmp_path / "known_hosts", _plain_host(tmp_path, running, host_key), look_for_keys=True)
        assert running.transports[0].get_user_certificate().key == user_key


def test_explicit_key_with_loaded_certificate(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    host_key = Ed25519Key.generate()
    user_key.load_certificate(sign_certificate(user_key, ca, principals=[USER]).get_openssh_line())
    with server(host_key, ca) as running, paramiko.SSHClient() as c:
        connect(c, running, tmp_path / "known_hosts", _plain_host(tmp_path, running, host_key), pkey=user_key)
        assert running.transports[0].get_user_certificate().key == user_key


def test_plain_key_without_certificate_is_refused_by_the_policy(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    host_key = Ed25519Key.generate()
    with server(host_key, ca) as running, paramiko.SSHClient() as c, pytest.raises(paramiko.AuthenticationException):
        connect(c, running, tmp_path / "known_hosts", _plain_host(tmp_path, running, host_key), pkey=user_key)


# -- host certificates ------------------------------------------------------------------


def test_host_certificate_accepted_through_cert_authority(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    host_key = host_key_with_cert(ca)
    with server(host_key, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        connect(c, running, tmp_path / "known_hosts", line("@cert-authority", "*", ca), pkey=user_key)
        t = c.get_transport()
        assert t is not None
        assert t.host_key_type == "ssh-ed25519-cert-v01@openssh.com"  # offered first, as OpenSSH does
        assert t.get_remote_server_key().public_blob == host_key.public_blob


def test_cert_authority_for_the_host_with_a_port(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    host_key = host_key_with_cert(ca)
    with server(host_key, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        names = f"[{HOST}]:{running.port}"
        connect(c, running, tmp_path / "known_hosts", line("@cert-authority", names, ca), pkey=user_key)


def test_no_certificate_asked_for_without_a_cert_authority(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    host_key = host_key_with_cert(ca)
    with server(host_key, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        connect(c, running, tmp_path / "known_hosts", _plain_host(tmp_path, running, host_key), pkey=user_key)
        t = c.get_transport()
        assert t is not None and t.host_key_type == "ssh-ed25519"


@pytest.mark.parametrize("revoke", ["ca", "host"])
def test_revoked_ca_or_host_key_is_refused(tmp_path: Path, ca: PKey, user_key: PKey, revoke: str) -> None:
    host_key = host_key_with_cert(ca)
    revoked = ca if revoke == "ca" else host_key
    text = line("@cert-authority", "*", ca) + line("@revoked", "*", revoked)
    with server(host_key, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        # the CA line is void once revoked, so offer certificates via a second CA line
        extra = line("@cert-authority", "*", Ed25519Key.generate()) if revoke == "ca" else ""
        with pytest.raises(CertificateRevoked, match="@revoked"):
            connect(c, running, tmp_path / "known_hosts", text + extra, pkey=user_key)


def test_invalid_host_certificate_raises_its_reason(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    expired = host_key_with_cert(ca, valid_before=int(time.time()) - 60)
    with server(expired, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        with pytest.raises(CertificateExpired):
            connect(c, running, tmp_path / "known_hosts", line("@cert-authority", "*", ca), pkey=user_key)
    wrong_name = host_key_with_cert(ca, principals=["other.example.org"])
    with server(wrong_name, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        with pytest.raises(CertificatePrincipalError):
            connect(c, running, tmp_path / "known_hosts", line("@cert-authority", "*", ca), pkey=user_key)


def test_invalid_host_certificate_but_known_plain_key_is_accepted(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    """OpenSSH falls back to the plain key when the certificate fails."""
    expired = host_key_with_cert(ca, valid_before=int(time.time()) - 60)
    with server(expired, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        text = line("@cert-authority", "*", ca) + _plain_host(tmp_path, running, expired)
        connect(c, running, tmp_path / "known_hosts", text, pkey=user_key)


def test_ca_for_other_hosts_falls_back_to_the_host_key_policy(tmp_path: Path, ca: PKey, user_key: PKey) -> None:
    host_key = host_key_with_cert(ca)
    text = line("@cert-authority", "*.example.org", ca)
    with server(host_key, ca, authorized=(user_key,)) as running, paramiko.SSHClient() as c:
        with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
            connect(c, running, tmp_path / "known_hosts", text, pkey=user_key)
