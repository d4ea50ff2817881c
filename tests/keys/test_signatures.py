"""Signatures: round trips for every key type and RSA algorithm, failures that
return False, the RFC 8032 vector, and SSHSIG interop with ssh-keygen -Y."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from keys_testdata import ED_SECRET, ED_SIG_EMPTY

from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, PKey, RSAKey, SSHException, key_from_blob
from ssh_wire import Message
from support.peers import need_program

DATA = b"the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def pairs() -> dict[str, tuple[PKey, PKey]]:
    """Two keys of each type: one to sign, one that must not verify."""

    def two(make: object) -> tuple[PKey, PKey]:
        return make(), make()  # type: ignore[operator]

    return {
        "rsa": two(lambda: RSAKey.generate(1024)),
        "dss": two(lambda: DSSKey.generate(1024)),
        "ecdsa256": two(lambda: ECDSAKey.generate(bits=256)),
        "ecdsa384": two(lambda: ECDSAKey.generate(bits=384)),
        "ecdsa521": two(lambda: ECDSAKey.generate(bits=521)),
        "ed25519": two(Ed25519Key.generate),
    }


CASES = [
    ("rsa", "ssh-rsa"),
    ("rsa", "rsa-sha2-256"),
    ("rsa", "rsa-sha2-512"),
    ("dss", "ssh-dss"),
    ("ecdsa256", "ecdsa-sha2-nistp256"),
    ("ecdsa384", "ecdsa-sha2-nistp384"),
    ("ecdsa521", "ecdsa-sha2-nistp521"),
    ("ed25519", "ssh-ed25519"),
]


@pytest.mark.parametrize(("which", "alg"), CASES)
def test_sign_verify_round_trip(pairs: dict[str, tuple[PKey, PKey]], which: str, alg: str) -> None:
    key, other = pairs[which]
    sig = key.sign_ssh_data(DATA, alg)
    assert isinstance(sig, Message)
    m = Message(sig.asbytes(), strict=True)
    assert m.get_text() == alg
    raw = m.get_string()
    m.expect_end()
    public = key_from_blob(key.asbytes())
    assert public.verify_ssh_sig(DATA, sig)
    assert public.verify_ssh_sig(DATA, sig.asbytes())  # bytes work too
    assert key.verify_ssh_sig(DATA.decode(), Message(sig.asbytes()))  # str data is UTF-8
    # Failures return False, never raise.
    assert not public.verify_ssh_sig(DATA + b"!", sig)
    assert not other.verify_ssh_sig(DATA, sig)
    blob = sig.asbytes()
    for cut in (0, 3, 4, len(blob) // 2, len(blob) - 1):
        assert not public.verify_ssh_sig(DATA, blob[:cut])
    shorter = Message().add_string(alg).add_string(raw[:-1]).asbytes()
    assert not public.verify_ssh_sig(DATA, shorter)
    flipped = bytearray(raw)
    flipped[len(flipped) // 2] ^= 0x01
    assert not public.verify_ssh_sig(DATA, Message().add_string(alg).add_string(bytes(flipped)))
    assert not public.verify_ssh_sig(DATA, Message().add_string("ssh-foo").add_string(raw))
    assert not public.verify_ssh_sig(DATA, Message().add_string(alg).add_string(b""))
    assert not public.verify_ssh_sig(DATA, b"\xff\xff\xff\xff" + blob)


def test_default_algorithms(pairs: dict[str, tuple[PKey, PKey]]) -> None:
    for which, (key, _) in pairs.items():
        name = Message(key.sign_ssh_data(DATA).asbytes()).get_text()
        assert name == ("rsa-sha2-512" if which == "rsa" else key.get_name())  # paramiko 4+ default
        assert key.signature_algorithms[0] == ("rsa-sha2-512" if which == "rsa" else key.get_name())
    assert pairs["rsa"][0].signature_algorithms == ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


def test_rsa_algorithm_label_must_match_the_hash(pairs: dict[str, tuple[PKey, PKey]]) -> None:
    key = pairs["rsa"][0]
    raw = Message(key.sign_ssh_data(DATA, "rsa-sha2-512").asbytes())
    raw.get_text()
    sig = raw.get_string()
    for label in ("ssh-rsa", "rsa-sha2-256"):
        assert not key.verify_ssh_sig(DATA, Message().add_string(label).add_string(sig))
    assert key.verify_ssh_sig(DATA, Message().add_string("rsa-sha2-512").add_string(sig))


def test_rsa_signature_with_leading_zeros_stripped_still_verifies() -> None:
    key = RSAKey.generate(1024)
    # A signature starts with a zero byte 1 time in 128-256 (it is below
    # 2**1016 and the modulus is 2**1023..2**1024), so 8000 tries miss with
    # odds under 1e-13; the loop stops at the first hit (~200 tries).
    for i in range(8000):
        data = b"%d" % i
        raw = Message(key.sign_ssh_data(data, "rsa-sha2-256").asbytes())
        raw.get_text()
        sig = raw.get_string()
        if sig[0] == 0:
            short = Message().add_string("rsa-sha2-256").add_string(sig.lstrip(b"\x00"))
            assert key.verify_ssh_sig(data, short)
            return
    pytest.fail("no signature with a leading zero byte in 8000 tries")


def test_cross_type_signatures_fail(pairs: dict[str, tuple[PKey, PKey]]) -> None:
    sigs = {w: k.sign_ssh_data(DATA) for w, (k, _) in pairs.items()}
    for which, (key, _) in pairs.items():
        for other, sig in sigs.items():
            assert key.verify_ssh_sig(DATA, sig) == (which == other)


def test_old_rpool_call_form(pairs: dict[str, tuple[PKey, PKey]]) -> None:
    class RandPool:
        pass

    for key, _ in pairs.values():
        sig = key.sign_ssh_data(RandPool(), DATA)
        assert key.verify_ssh_sig(DATA, sig)
        assert key.verify_ssh_sig(DATA, key.sign_ssh_data(None, DATA.decode()))
        assert key.verify_ssh_sig(DATA, key.sign_ssh_data(Message(DATA)))
        assert key.verify_ssh_sig(DATA, key.sign_ssh_data(RandPool(), Message(DATA)))


def test_signing_errors(pairs: dict[str, tuple[PKey, PKey]]) -> None:
    key = pairs["ed25519"][0]
    with pytest.raises(SSHException, match="cannot make"):
        key.sign_ssh_data(DATA, "rsa-sha2-256")
    with pytest.raises(SSHException, match="cannot sign"):
        key_from_blob(key.asbytes()).sign_ssh_data(DATA)
    rsa = pairs["rsa"][0]
    sig = rsa.sign_ssh_data(DATA, "rsa-sha2-256-cert-v01@openssh.com")
    assert Message(sig.asbytes()).get_text() == "rsa-sha2-256"


def test_ed25519_rfc8032_vector() -> None:
    key = Ed25519Key(key=ed25519.Ed25519PrivateKey.from_private_bytes(ED_SECRET))
    sig = key.sign_ssh_data(b"")
    assert sig.asbytes() == Message().add_string("ssh-ed25519").add_string(ED_SIG_EMPTY).asbytes()


# -- SSHSIG (PROTOCOL.sshsig) interop with ssh-keygen -Y ---------------------

NAMESPACE = "file@ssh-keys-tests"


def _sshsig_signed_data(message: bytes, hash_alg: str) -> bytes:
    digest = hashlib.new(hash_alg, message).digest()
    m = Message().add_bytes(b"SSHSIG").add_string(NAMESPACE).add_string(b"").add_string(hash_alg)
    return m.add_string(digest).asbytes()


def _parse_sshsig(armored: str) -> tuple[bytes, str, Message]:
    body = "".join(line for line in armored.splitlines() if not line.startswith("-----"))
    m = Message(base64.b64decode(body), strict=True)
    assert m.get_bytes(6) == b"SSHSIG" and m.get_int() == 1
    public = m.get_string()
    assert m.get_text() == NAMESPACE
    m.get_string()
    hash_alg = m.get_text()
    return public, hash_alg, Message(m.get_string())


def _armor_sshsig(key: PKey, message: bytes, alg: str | None) -> str:
    sig = key.sign_ssh_data(_sshsig_signed_data(message, "sha512"), alg)
    m = Message().add_bytes(b"SSHSIG").add_int(1).add_string(key.asbytes()).add_string(NAMESPACE)
    b64 = base64.b64encode(m.add_string(b"").add_string("sha512").add_string(sig.asbytes()).asbytes()).decode()
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----\n"


@pytest.mark.interop
@pytest.mark.timeout(60)
@pytest.mark.parametrize(("which", "alg"), [c for c in CASES if c[1] != "ssh-rsa"])
def test_sshsig_interop_with_ssh_keygen(
    pairs: dict[str, tuple[PKey, PKey]], tmp_path: Path, which: str, alg: str
) -> None:
    """ssh-keygen -Y sign makes a signature we verify, and accepts ours.
    (SSHSIG forbids SHA-1 ssh-rsa signatures, so that algorithm is left out.)"""
    keygen = need_program("ssh-keygen")
    key = pairs[which][0]
    keyfile = tmp_path / "id"
    key.write_private_key_file(keyfile, format="openssh")
    message = tmp_path / "message"
    message.write_bytes(DATA)
    subprocess.run([keygen, "-Y", "sign", "-q", "-f", str(keyfile), "-n", NAMESPACE, str(message)],
                   check=True, timeout=30, capture_output=True)  # fmt: skip
    public, hash_alg, sig = _parse_sshsig((tmp_path / "message.sig").read_text())
    assert public == key.asbytes()
    assert key.verify_ssh_sig(_sshsig_signed_data(DATA, hash_alg), sig)
    assert not key.verify_ssh_sig(_sshsig_signed_data(DATA + b"x", hash_alg), Message(sig.asbytes()))
    # Ours, checked by ssh-keygen.
    ours = tmp_path / "ours.sig"
    ours.write_text(_armor_sshsig(key, DATA, alg))
    check = [keygen, "-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(ours)]
    good = subprocess.run(check, input=DATA, timeout=30, capture_output=True)
    assert good.returncode == 0, good.stderr
    bad = subprocess.run(check, input=DATA + b"x", timeout=30, capture_output=True)
    assert bad.returncode != 0
