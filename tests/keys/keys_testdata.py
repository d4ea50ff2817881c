"""Shared data for the ssh-keys tests: the key types and formats of the
ssh-keygen matrix, fixed test vectors and a subprocess helper."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

# (label, ssh-keygen -t, -b); bits None means the type's only size.
KEY_SPECS = [
    ("rsa2048", "rsa", 2048),
    ("rsa3072", "rsa", 3072),
    ("dsa1024", "dsa", 1024),
    ("ecdsa256", "ecdsa", 256),
    ("ecdsa384", "ecdsa", 384),
    ("ecdsa521", "ecdsa", 521),
    ("ed25519", "ed25519", None),
]
# ssh-keygen's private key formats: its default (openssh-key-v1), -m PEM, -m PKCS8.
FORMATS = ["openssh", "pem", "pkcs8"]
KEYGEN_FORMAT_FLAG = {"openssh": "RFC4716", "pem": "PEM", "pkcs8": "PKCS8"}
PASSPHRASE = "correct horse battery"


def run(args: list[str], timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a program with a timeout; fail the test with its stderr if it fails."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass
class KeygenKey:
    """One key made by ssh-keygen: its files in every format, its public
    line and the fingerprints ssh-keygen prints for it."""

    label: str
    keytype: str
    bits: int
    public_line: str  # "type base64 comment"
    comment: str
    sha256: str  # "SHA256:..."
    md5: str  # "MD5:aa:bb:..."
    files: dict[tuple[str, bool], Path]  # (format, encrypted) -> file


# RFC 8032 section 7.1, test 1.
ED_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ED_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ED_SIG_EMPTY = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
# The NIST P-256 base point G (the public key of d = 1).
P256_GX = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
P256_GY = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
