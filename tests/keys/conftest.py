"""Fixtures for the ssh-keys tests: key files written by ssh-keygen, made
once per session (RSA 3072 generation is slow) and reused by every test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from keys_testdata import FORMATS, KEY_SPECS, KEYGEN_FORMAT_FLAG, PASSPHRASE, KeygenKey, run

from support.peers import need_program


def _fingerprint(keygen: str, pub: Path, hash_name: str) -> tuple[int, str]:
    out = run([keygen, "-l", "-E", hash_name, "-f", str(pub)]).stdout.split()
    return int(out[0]), out[1]


@pytest.fixture(scope="session")
def keygen_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeygenKey]:
    """Every key type ssh-keygen makes, each in each format it writes, with
    and without a passphrase: 7 keys x 3 formats x 2 = 42 files."""
    keygen = need_program("ssh-keygen")
    base = tmp_path_factory.mktemp("keygen")
    keys: dict[str, KeygenKey] = {}
    for label, kind, bits in KEY_SPECS:
        comment = f"{label}@test"
        original = base / label
        args = [keygen, "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(original)]
        if bits is not None:
            args[4:4] = ["-b", str(bits)]
        run(args)
        files: dict[tuple[str, bool], Path] = {}
        for fmt in FORMATS:
            for encrypted in (False, True):
                path = base / f"{label}.{fmt}.{'enc' if encrypted else 'plain'}"
                shutil.copyfile(original, path)
                path.chmod(0o600)
                # -p rewrites the key in the -m format with the new passphrase.
                # (ssh-keygen writes Ed25519 in its own format whatever -m says.)
                new = PASSPHRASE if encrypted else ""
                run([keygen, "-p", "-q", "-f", str(path), "-m", KEYGEN_FORMAT_FLAG[fmt], "-P", "", "-N", new])
                files[(fmt, encrypted)] = path
        pub = Path(f"{original}.pub")
        size, sha = _fingerprint(keygen, pub, "sha256")
        _, md5 = _fingerprint(keygen, pub, "md5")
        keys[label] = KeygenKey(label, kind, size, pub.read_text().strip(), comment, sha, md5, files)
    return keys
