"""Interop with ssh-keygen: its files load here, ours load there.

Every key type ssh-keygen makes (RSA 2048/3072, DSA 1024, ECDSA 256/384/521,
Ed25519) in every private format it writes (openssh-key-v1, -m PEM, -m PKCS8),
plain and with a passphrase.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from keys_testdata import FORMATS, KEY_SPECS, PASSPHRASE, KeygenKey, run

import ssh_keys
from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, PasswordRequiredException, PKey, RSAKey, SSHException
from support.peers import need_program

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

LABELS = [label for label, _, _ in KEY_SPECS]
CLASSES: dict[str, Any] = {"rsa": RSAKey, "dsa": DSSKey, "ecdsa": ECDSAKey, "ed25519": Ed25519Key}


def _blob_of_line(line: str) -> str:
    return " ".join(line.split()[:2])


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "passphrase"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("label", LABELS)
def test_we_load_keygen_files(keygen_keys: dict[str, KeygenKey], label: str, fmt: str, encrypted: bool) -> None:
    info = keygen_keys[label]
    path = info.files[(fmt, encrypted)]
    password = PASSPHRASE if encrypted else None
    key = PKey.from_private_key_file(str(path), password)
    assert isinstance(key, CLASSES[info.keytype])
    assert key.can_sign()
    # Same public key as ssh-keygen -y derives from the same file.
    derived = run([need_program("ssh-keygen"), "-y", "-P", password or "", "-f", str(path)]).stdout
    assert key.get_openssh_line("") == _blob_of_line(derived)
    assert key.get_openssh_line("") == _blob_of_line(info.public_line)
    # Fingerprints and size as ssh-keygen -l prints them.
    assert key.fingerprint == info.sha256
    assert key.fingerprint_md5 == info.md5
    assert key.get_fingerprint().hex(":") == info.md5.removeprefix("MD5:")
    assert key.get_bits() == info.bits
    if path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----"):
        assert key.comment == info.comment  # only the OpenSSH format carries it
    # The subclass loads it too, through the constructor and the classmethods
    # (for plain files only: the path is the same and bcrypt is slow).
    klass = CLASSES[info.keytype]
    if not encrypted:
        assert klass(filename=str(path), password=password) == key
        assert klass.from_private_key_file(path, password) == key
        with open(path) as f:
            assert klass.from_private_key(f, password) == key
    other = RSAKey if klass is not RSAKey else Ed25519Key
    with pytest.raises(SSHException, match="key file holds"):
        other.from_private_key_file(str(path), password)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("label", ["rsa2048", "dsa1024", "ecdsa384", "ed25519"])
def test_encrypted_keygen_files_need_the_right_password(
    keygen_keys: dict[str, KeygenKey], label: str, fmt: str
) -> None:
    path = keygen_keys[label].files[(fmt, True)]
    with pytest.raises(PasswordRequiredException):
        PKey.from_private_key_file(path)
    with pytest.raises(PasswordRequiredException):
        PKey.from_private_key_file(path, "")
    with pytest.raises(SSHException, match="wrong password") as info:
        PKey.from_private_key_file(path, "not the passphrase")
    assert not isinstance(info.value, PasswordRequiredException)


def test_password_is_ignored_for_plain_files(keygen_keys: dict[str, KeygenKey]) -> None:
    for fmt in FORMATS:
        path = keygen_keys["ecdsa256"].files[(fmt, False)]
        assert PKey.from_private_key_file(path, "unused") == PKey.from_private_key_file(path)


def test_public_files_from_keygen(keygen_keys: dict[str, KeygenKey], tmp_path: Path) -> None:
    for info in keygen_keys.values():
        key = ssh_keys.key_from_line(info.public_line)
        assert key.comment == info.comment
        assert key.fingerprint == info.sha256
        pub = tmp_path / f"{info.label}.pub"
        pub.write_text(info.public_line + "\n")
        assert ssh_keys.load_public_key_file(pub) == key
        private = PKey.from_private_key_file(info.files[("openssh", False)])
        assert private == key and hash(private) == hash(key)
        assert not key.can_sign()


WRITE_FORMATS = [("openssh", None), ("pem", None), ("pkcs8", None), ("default", None)]


def _our_keys() -> list[PKey]:
    return [
        RSAKey.generate(2048),
        DSSKey.generate(1024),
        ECDSAKey.generate(bits=256),
        ECDSAKey.generate(bits=384),
        ECDSAKey.generate(bits=521),
        Ed25519Key.generate(),
    ]


@pytest.fixture(scope="module")
def our_keys() -> list[PKey]:
    return _our_keys()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "passphrase"])
@pytest.mark.parametrize("fmt", ["openssh", "pem", "pkcs8", None])
def test_keygen_loads_our_files(our_keys: list[PKey], tmp_path: Path, fmt: str | None, encrypted: bool) -> None:
    keygen = need_program("ssh-keygen")
    password = PASSPHRASE if encrypted else None
    for key in our_keys:
        if fmt == "pem" and isinstance(key, Ed25519Key):
            # Ed25519 has no traditional PEM form (ssh-keygen cannot write it either).
            with pytest.raises(SSHException, match="no traditional PEM"):
                key.write_private_key_file(tmp_path / "x", password, format=fmt)
            continue
        path = tmp_path / f"{key.get_name()}.{fmt}"
        key.comment = "written@ssh_keys"
        key.write_private_key_file(str(path), password, format=fmt)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        if not (fmt == "pkcs8" and isinstance(key, Ed25519Key)):
            # OpenSSH 9.2 cannot read Ed25519 from PKCS#8 ("invalid format"),
            # so that one combination is only checked through our own loader.
            out = run([keygen, "-y", "-P", password or "", "-f", str(path)]).stdout
            assert _blob_of_line(out) == key.get_openssh_line("")
            if fmt == "openssh":
                assert out.split(None, 2)[2].strip() == "written@ssh_keys"
        # And back through our loader.
        again = PKey.from_private_key_file(path, password)
        assert again == key and again.can_sign()
        if encrypted:
            with pytest.raises(PasswordRequiredException):
                PKey.from_private_key_file(path)


def test_default_formats_are_paramikos(our_keys: list[PKey], tmp_path: Path) -> None:
    heads = {}
    for key in our_keys:
        path = tmp_path / key.get_name()
        key.write_private_key_file(path, "pw")
        heads[key.get_name()] = path.read_text().splitlines()[:3]
    assert heads["ssh-rsa"] == ["-----BEGIN RSA PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED", heads["ssh-rsa"][2]]
    assert heads["ssh-rsa"][2].startswith("DEK-Info: AES-128-CBC,")
    assert heads["ssh-dss"][0] == "-----BEGIN DSA PRIVATE KEY-----"
    assert heads["ecdsa-sha2-nistp256"][0] == "-----BEGIN EC PRIVATE KEY-----"
    assert heads["ssh-ed25519"][0] == "-----BEGIN OPENSSH PRIVATE KEY-----"


def test_existing_file_is_made_private_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "id"
    path.write_text("old")
    path.chmod(0o644)
    Ed25519Key.generate().write_private_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_ssh_keygen_p_can_rewrite_our_encrypted_file(tmp_path: Path) -> None:
    """ssh-keygen changes the passphrase of a file we wrote; we read the result."""
    keygen = need_program("ssh-keygen")
    key = ECDSAKey.generate(bits=521)
    path = tmp_path / "id_ecdsa"
    key.write_private_key_file(path, "first pass", format="openssh")
    run([keygen, "-p", "-q", "-f", str(path), "-P", "first pass", "-N", "second pass"])
    assert PKey.from_private_key_file(path, "second pass") == key
