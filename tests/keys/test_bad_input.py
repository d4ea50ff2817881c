"""Random and mutated input: the only exceptions that escape are SSHException
and its subclasses (PasswordRequiredException included); verification of a
garbage signature returns False."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ssh_keys
from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, HostKeyEntry, HostKeys, PKey, RSAKey, SSHException
from ssh_wire import Message

# SSH_KEYS_FUZZ_EXAMPLES raises the example count for a longer local hunt.
SETTINGS = settings(
    max_examples=int(os.environ.get("SSH_KEYS_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def only_ssh_errors(fn: Callable[..., Any], *args: Any) -> Any:
    """Call fn; an SSHException is fine, anything else fails the test."""
    try:
        return fn(*args)
    except SSHException:
        return None


def _make_keys() -> list[PKey]:
    return [
        RSAKey.generate(1024),
        DSSKey.generate(1024),
        ECDSAKey.generate(bits=256),
        ECDSAKey.generate(bits=521),
        Ed25519Key.generate(),
    ]


KEYS = _make_keys()
BLOBS = [k.asbytes() for k in KEYS]
SIGS = [k.sign_ssh_data(b"data").asbytes() for k in KEYS]
PRIVATE_RECORDS = [k.private_message().asbytes() for k in KEYS]
# Files in every format: (text, password to use when loading mutated copies).
FILES: list[tuple[str, str | None]] = []
for _key in KEYS:
    FILES.append((_key.private_key_text(None, "openssh"), "pw"))
    FILES.append((_key.private_key_text(None, "pkcs8"), "pw"))
    # Encrypted OpenSSH and PKCS#8 files are loaded without a password: a
    # key derivation per example (bcrypt, PBKDF2) would make the test slow.
    FILES.append((_key.private_key_text("pw", "openssh"), None))
    FILES.append((_key.private_key_text("pw", "pkcs8"), None))
    if not isinstance(_key, Ed25519Key):
        FILES.append((_key.private_key_text(None, "pem"), None))
        FILES.append((_key.private_key_text("pw", "pem"), "pw"))


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """A valid input with a few bytes flipped, cut short, or extended."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
    return bytes(data)


@SETTINGS
@given(
    st.binary(max_size=200),
    st.lists(st.sampled_from(["int", "int64", "string", "mpint", "text", "name", "list", "bool"]), max_size=8),
)
def test_message_strict_reads(data: bytes, reads: list[str]) -> None:
    m = Message(data, strict=True)
    for r in reads:
        only_ssh_errors(getattr(m, "get_" + ("boolean" if r == "bool" else r)))


@SETTINGS
@given(st.one_of(st.binary(max_size=300), mutated(BLOBS)))
def test_public_blob_parsing(blob: bytes) -> None:
    key = only_ssh_errors(ssh_keys.key_from_blob, blob)
    if key is not None:
        assert key.asbytes() == blob
    for klass in (PKey, RSAKey, DSSKey, ECDSAKey, Ed25519Key):
        only_ssh_errors(lambda k=klass: k(data=blob))
        only_ssh_errors(lambda k=klass: k(msg=Message(blob)))


@SETTINGS
@given(st.one_of(st.binary(max_size=300), mutated(PRIVATE_RECORDS)))
def test_private_record_parsing(record: bytes) -> None:
    only_ssh_errors(PKey.from_private_message, record)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), mutated(SIGS)), st.binary(max_size=20))
def test_verify_never_raises(sig: bytes, data: bytes) -> None:
    for key in KEYS:
        assert key.verify_ssh_sig(data, sig) in (True, False)
        assert key.verify_ssh_sig(data, Message(sig)) in (True, False)


def _rearmor(text: str, inner: bytes) -> bytes:
    lines = text.splitlines()
    head = [ln for ln in lines if ln.startswith("-----BEGIN") or ":" in ln]
    if any(":" in ln for ln in head):
        head.append("")
    end = next(ln for ln in lines if ln.startswith("-----END"))
    return ("\n".join(head) + "\n" + base64.encodebytes(inner).decode() + end + "\n").encode()


def _inner(text: str) -> bytes:
    body = [ln for ln in text.splitlines() if ln and not ln.startswith("-----") and ":" not in ln]
    return base64.b64decode("".join(body))


@SETTINGS
@given(st.data())
def test_private_key_loaders_on_mutated_files(data: st.DataObject) -> None:
    text, password = data.draw(st.sampled_from(FILES))
    if data.draw(st.booleans()):
        blob = _rearmor(text, data.draw(mutated([_inner(text)])))
    else:
        blob = data.draw(mutated([text.encode()]))
    only_ssh_errors(ssh_keys.load_private_key, blob, password)


@SETTINGS
@given(st.binary(max_size=400))
def test_private_key_loaders_on_random_bytes(blob: bytes) -> None:
    only_ssh_errors(ssh_keys.load_private_key, blob, "pw")
    for label in ("OPENSSH PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
        armored = f"-----BEGIN {label}-----\n{base64.encodebytes(blob).decode()}-----END {label}-----\n"
        only_ssh_errors(ssh_keys.load_private_key, armored, "pw")


@pytest.fixture(scope="module")
def files_on_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad")


@SETTINGS
@given(blob=mutated([FILES[0][0].encode()]))
def test_constructors_with_files(files_on_disk: Path, blob: bytes) -> None:
    path = files_on_disk / "k"
    path.write_bytes(blob)
    only_ssh_errors(PKey.from_private_key_file, path)
    only_ssh_errors(lambda: RSAKey(filename=str(path)))


LINE = KEYS[4].get_openssh_line("comment")


@SETTINGS
@given(st.one_of(st.text(max_size=120), mutated([LINE.encode()]).map(lambda b: b.decode("latin-1"))))
def test_public_lines_and_known_hosts(line: str) -> None:
    only_ssh_errors(ssh_keys.key_from_line, line)
    only_ssh_errors(ssh_keys.load_public_key, line)
    only_ssh_errors(HostKeyEntry.from_line, line)
    only_ssh_errors(HostKeyEntry.from_line, "host " + line)


@SETTINGS
@given(st.lists(st.one_of(st.text(max_size=80), st.just("h " + LINE)), max_size=6))
def test_known_hosts_file_never_fails_to_load(files_on_disk: Path, lines: list[str]) -> None:
    path = files_on_disk / "known_hosts"
    text = "\n".join(re.sub(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ", ln) for ln in lines) + "\n"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    hk = HostKeys(path)
    hk.lookup("h")
    hk.save(path)
    assert HostKeys(path).keys() == hk.keys()
