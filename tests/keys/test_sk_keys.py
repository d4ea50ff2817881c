"""FIDO security-key keys (sk-ecdsa / sk-ed25519, PROTOCOL.u2f).

No token is attached here, so a "soft token" below makes sk signatures in
software exactly as a token does: the key pair is ordinary ECDSA P-256 /
Ed25519, the signed bytes are sha256(application) || flags || counter ||
sha256(message), built by hand (not with the code under test). ssh-keygen
checks the same construction where it can: it verifies the CA signature of
a certificate signed by an sk CA, and reads our sk key files and lines.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from keys_testdata import run

import ssh_keys
from ssh_keys import (
    Certificate,
    CertificateSignatureError,
    ECDSASKKey,
    Ed25519Key,
    Ed25519SKKey,
    PKey,
    SKKey,
    SKSignature,
    SKSignatureError,
    SKUserPresenceError,
    SKUserVerificationError,
    SSHException,
    sign_certificate,
)
from support.peers import need_program

ECDSA_SK = "sk-ecdsa-sha2-nistp256@openssh.com"
ED25519_SK = "sk-ssh-ed25519@openssh.com"
WEBAUTHN = "webauthn-sk-ecdsa-sha2-nistp256@openssh.com"
UP, UV = 0x01, 0x04


def s(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def mpint(n: int) -> bytes:
    raw = n.to_bytes(n.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return s(raw)


@dataclass
class SoftToken:
    """A security key in software: its private key and the public SKKey."""

    private: Any
    key: SKKey
    application: str

    @property
    def kind(self) -> str:
        return self.key.get_name()

    def sign(
        self,
        message: bytes,
        flags: int = UP,
        counter: int = 7,
        application: str | None = None,
        webauthn_origin: str | None = None,
    ) -> bytes:
        """The signature blob a token returns for ``message``."""
        app = (self.application if application is None else application).encode()
        if webauthn_origin is not None:
            challenge = base64.urlsafe_b64encode(message).rstrip(b"=").decode()
            client_data = (
                f'{{"type":"webauthn.get","challenge":"{challenge}","origin":"{webauthn_origin}","crossOrigin":false}}'
            ).encode()
            msg_hash = hashlib.sha256(client_data).digest()
        else:
            msg_hash = hashlib.sha256(message).digest()
        signed = hashlib.sha256(app).digest() + bytes([flags]) + struct.pack(">I", counter) + msg_hash
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            r, s_ = decode_dss_signature(self.private.sign(signed, ec.ECDSA(hashes.SHA256())))
            inner = mpint(r) + mpint(s_)
            name = ECDSA_SK if webauthn_origin is None else WEBAUTHN
        else:
            inner = self.private.sign(signed)
            name = ED25519_SK
        blob = s(name) + s(inner) + bytes([flags]) + struct.pack(">I", counter)
        if webauthn_origin is not None:
            blob += s(webauthn_origin) + s(client_data) + s(b"")
        return blob


def make_token(kind: str, application: str = "ssh:") -> SoftToken:
    if kind == ECDSA_SK:
        private: Any = ec.generate_private_key(ec.SECP256R1())
        return SoftToken(private, ECDSASKKey(key=private.public_key(), application=application), application)
    private = ed25519.Ed25519PrivateKey.generate()
    return SoftToken(private, Ed25519SKKey(key=private.public_key(), application=application), application)


KINDS = [ECDSA_SK, ED25519_SK]


@pytest.fixture(params=KINDS, ids=["ecdsa-sk", "ed25519-sk"])
def token(request: pytest.FixtureRequest) -> SoftToken:
    return make_token(request.param)


# -- public keys -------------------------------------------------------------------


def test_blob_layout_and_line_round_trip(token: SoftToken) -> None:
    key = token.key
    if token.kind == ECDSA_SK:
        point = token.private.public_key().public_numbers()
        q = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
        assert key.asbytes() == s(ECDSA_SK) + s("nistp256") + s(q) + s("ssh:")
    else:
        raw = key.asbytes()[len(s(ED25519_SK)) + 4 :][:32]
        assert key.asbytes() == s(ED25519_SK) + s(raw) + s("ssh:")
    line = f"{key.get_name()} {key.get_base64()} me@laptop"
    parsed = ssh_keys.key_from_line(line)
    assert type(parsed) is type(key) and parsed == key
    assert parsed.comment == "me@laptop" and parsed.application == "ssh:"
    assert parsed.get_openssh_line() == line
    assert ssh_keys.key_from_blob(key.asbytes()) == key
    assert PKey(data=key.asbytes()) == key
    assert PKey.from_type_string(key.get_name(), key.asbytes()) == key
    assert key.get_bits() == 256 and not key.can_sign()
    assert key.algorithm_name == ("ECDSA-SK" if token.kind == ECDSA_SK else "ED25519-SK")
    assert key.flags is None and key.key_handle is None and key.touch_required is None
    # authorized_keys options before the type are allowed, as for any key
    options, with_opts = ssh_keys.parse_public_key_line(f"no-touch-required,verify-required {line}")
    assert options == "no-touch-required,verify-required" and with_opts == key


def test_the_application_is_part_of_the_key(token: SoftToken) -> None:
    other = type(token.key)(key=token.private.public_key(), application="ssh:other")
    assert other != token.key and other.fingerprint != token.key.fingerprint
    parsed = ssh_keys.key_from_blob(other.asbytes())
    assert isinstance(parsed, SKKey) and parsed.application == "ssh:other"


def test_cannot_sign_and_says_why(token: SoftToken) -> None:
    with pytest.raises(SSHException, match="security key"):
        token.key.sign_ssh_data(b"data")
    with pytest.raises(SSHException, match="public key"):
        type(token.key)(key=token.private)  # the private half belongs on the token


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (s(ECDSA_SK) + s("nistp384") + s(b"\x04" + b"\x01" * 96) + s("ssh:"), "nistp256"),
        (s(ECDSA_SK) + s("nistp256") + s(b"\x02" + b"\x01" * 32) + s("ssh:"), "uncompressed"),
        (s(ED25519_SK) + s(b"\x01" * 31) + s("ssh:"), "31 bytes"),
        (s(ED25519_SK) + s(b"\x01" * 32), "truncated|short|end"),
        (s(ED25519_SK) + s(b"\x01" * 32) + s("ssh:") + b"x", "trailing|end|left"),
        (s(ED25519_SK) + s(b"\x01" * 32) + s(b"\xff"), "UTF-8"),
    ],
)
def test_bad_public_blobs_raise_sshexception(blob: bytes, message: str) -> None:
    with pytest.raises(SSHException, match=message):
        ssh_keys.key_from_blob(blob)


# -- signatures --------------------------------------------------------------------


def test_verify_a_token_signature(token: SoftToken) -> None:
    data = b"session id and userauth request"
    blob = token.sign(data, flags=UP, counter=1234)
    sig = token.key.verify_sk_signature(data, blob)
    assert isinstance(sig, SKSignature)
    assert (sig.flags, sig.counter, sig.algorithm) == (UP, 1234, token.kind)
    assert sig.user_present and not sig.user_verified
    assert sig.asbytes() == blob
    assert token.key.verify_ssh_sig(data, blob)
    assert token.key.verify_ssh_sig(data.decode(), ssh_keys.SKSignature.from_blob(blob).asbytes())


def test_user_presence_is_required_unless_no_touch_required(token: SoftToken) -> None:
    data = b"payload"
    blob = token.sign(data, flags=0)
    assert not token.key.verify_ssh_sig(data, blob)
    with pytest.raises(SKUserPresenceError, match="user presence"):
        token.key.verify_sk_signature(data, blob)
    sig = token.key.verify_sk_signature(data, blob, touch_required=False)
    assert not sig.user_present
    assert token.key.verify_ssh_sig(data, blob, touch_required=False)


def test_user_verification_when_verify_required(token: SoftToken) -> None:
    data = b"payload"
    with pytest.raises(SKUserVerificationError, match="user verification"):
        token.key.verify_sk_signature(data, token.sign(data, flags=UP), verify_required=True)
    sig = token.key.verify_sk_signature(data, token.sign(data, flags=UP | UV), verify_required=True)
    assert sig.user_verified
    # verified but not present: still refused unless no-touch-required
    with pytest.raises(SKUserPresenceError):
        token.key.verify_sk_signature(data, token.sign(data, flags=UV), verify_required=True)


def test_signature_for_another_application_fails(token: SoftToken) -> None:
    data = b"payload"
    blob = token.sign(data, application="ssh:elsewhere")
    with pytest.raises(SKSignatureError, match="does not verify"):
        token.key.verify_sk_signature(data, blob)
    moved = type(token.key)(key=token.private.public_key(), application="ssh:elsewhere")
    assert moved.verify_ssh_sig(data, blob)


def _patch_tail(blob: bytes, flags: int | None = None, counter: int | None = None) -> bytes:
    """Rewrite the flags byte / counter at the end of a plain sk signature."""
    head, old_flags, old_counter = blob[:-5], blob[-5], struct.unpack(">I", blob[-4:])[0]
    return (
        head
        + bytes([old_flags if flags is None else flags])
        + struct.pack(">I", old_counter if counter is None else counter)
    )


def test_tampered_counter_flags_or_message_fail(token: SoftToken) -> None:
    data = b"payload"
    blob = token.sign(data, flags=0, counter=41)
    assert token.key.verify_ssh_sig(data, blob, touch_required=False)
    for bad in (_patch_tail(blob, counter=42), _patch_tail(blob, flags=UP)):
        with pytest.raises(SKSignatureError, match="does not verify"):
            token.key.verify_sk_signature(data, bad, touch_required=False)
    assert not token.key.verify_ssh_sig(b"other payload", blob, touch_required=False)
    other = make_token(token.kind)
    assert not other.key.verify_ssh_sig(data, blob, touch_required=False)


MANGLES: dict[str, Any] = {
    "short counter": lambda b: b[:-1],
    "no counter": lambda b: b[:-4],
    "trailing byte": lambda b: b + b"\0",
    "truncated": lambda b: b[:10],
    "empty": lambda b: b"",
    "plain type": lambda b: s("ssh-ed25519") + b[len(s(ED25519_SK)) :],
    "unknown type": lambda b: s("sk-foo@openssh.com") + s(b"x") + b"\x01" + b"\0\0\0\0",
}


@pytest.mark.parametrize("mangle", list(MANGLES.values()), ids=list(MANGLES))
def test_malformed_signatures_raise_sk_errors_only(token: SoftToken, mangle: Any) -> None:
    blob = mangle(token.sign(b"data"))
    with pytest.raises(SKSignatureError):
        token.key.verify_sk_signature(b"data", blob)
    assert token.key.verify_ssh_sig(b"data", blob) is False


def test_a_signature_of_the_other_sk_type_is_refused() -> None:
    ecdsa, eddsa = make_token(ECDSA_SK), make_token(ED25519_SK)
    with pytest.raises(SKSignatureError, match="cannot be from"):
        ecdsa.key.verify_sk_signature(b"d", eddsa.sign(b"d"))
    with pytest.raises(SKSignatureError, match="cannot be from"):
        eddsa.key.verify_sk_signature(b"d", ecdsa.sign(b"d"))
    # a plain key does not take an sk signature either
    plain = Ed25519Key(key=eddsa.private)
    assert not plain.verify_ssh_sig(b"d", eddsa.sign(b"d"))


def test_webauthn_signatures_of_ecdsa_sk_keys() -> None:
    token = make_token(ECDSA_SK)
    data = b"userauth data"
    blob = token.sign(data, webauthn_origin="https://example.com")
    sig = token.key.verify_sk_signature(data, blob)
    assert sig.is_webauthn and sig.origin == "https://example.com" and sig.algorithm == WEBAUTHN
    assert token.key.signature_algorithms == (ECDSA_SK,)  # userauth's name; WebAuthn is verified under it
    assert sig.asbytes() == blob
    # the clientData's challenge is the message: another message does not verify
    with pytest.raises(SKSignatureError, match="challenge"):
        token.key.verify_sk_signature(b"another message", blob)
    with pytest.raises(SKSignatureError, match="origin"):
        token.key.verify_sk_signature(data, token.sign(data, webauthn_origin='https://"evil'))


# -- private key files -----------------------------------------------------------------


def _with_handle(token: SoftToken, flags: int = UP | 0x20) -> SKKey:
    key = type(token.key)(
        key=token.private.public_key(), application=token.application, key_handle=os.urandom(64), flags=flags
    )
    key.comment = "fido@laptop"
    return key


@pytest.mark.parametrize("password", [None, "token file pass"])
def test_key_file_round_trip(token: SoftToken, tmp_path: Path, password: str | None) -> None:
    key = _with_handle(token)
    path = tmp_path / "id_sk"
    key.write_private_key_file(path, password=password)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = PKey.from_private_key_file(str(path), password=password)
    assert type(loaded) is type(key) and loaded == key == token.key
    assert loaded.key_handle == key.key_handle and loaded.flags == UP | 0x20 and loaded.touch_required
    assert loaded.comment == "fido@laptop" and loaded.application == "ssh:"
    assert not loaded.can_sign()
    assert type(key).from_private_key_file(str(path), password=password) == key
    assert PKey.from_path(path, password) == key
    again = pickle.loads(pickle.dumps(loaded))
    assert again.key_handle == loaded.key_handle and again == loaded


def test_no_touch_required_key_file(token: SoftToken) -> None:
    key = _with_handle(token, flags=0)
    loaded = ssh_keys.load_private_key(key.private_key_text())
    assert isinstance(loaded, SKKey)
    assert loaded.touch_required is False and loaded.flags == 0


def test_public_sk_keys_have_no_key_file(token: SoftToken) -> None:
    with pytest.raises(SSHException, match="key handle"):
        token.key.private_key_text()
    with pytest.raises(ValueError, match="openssh"):
        _with_handle(token).private_key_text(format="pem")


def test_truncated_key_file_record_is_an_sshexception(token: SoftToken) -> None:
    record = _with_handle(token).private_message().asbytes()
    for cut in (len(record) - 1, len(record) - 5, len(s(token.kind)) + 3):
        with pytest.raises(SSHException):
            PKey.from_private_message(record[:cut])


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_ssh_keygen_reads_our_sk_files_and_lines(token: SoftToken, tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    key = _with_handle(token)
    key.write_private_key_file(tmp_path / "id_sk")
    key.write_private_key_file(tmp_path / "id_sk_enc", password="pw")
    (tmp_path / "id_sk.pub").write_text(key.get_openssh_line() + "\n")
    # -y needs no token: it reads the public half of the key file
    assert run([keygen, "-y", "-f", str(tmp_path / "id_sk")]).stdout.split()[:2] == key.get_openssh_line().split()[:2]
    out = run([keygen, "-y", "-P", "pw", "-f", str(tmp_path / "id_sk_enc")]).stdout
    assert out.split()[1] == key.get_base64()
    bits, fingerprint, *rest = run([keygen, "-l", "-f", str(tmp_path / "id_sk.pub")]).stdout.split()
    assert (int(bits), fingerprint, rest[-1]) == (256, key.fingerprint, f"({key.algorithm_name})")
    md5 = run([keygen, "-l", "-E", "md5", "-f", str(tmp_path / "id_sk.pub")]).stdout.split()[1]
    assert md5 == key.fingerprint_md5


# -- certificates ------------------------------------------------------------------------


def test_certificate_of_an_sk_key(token: SoftToken) -> None:
    ca = Ed25519Key.generate()
    cert = sign_certificate(token.key, ca, key_id="fido", principals=["alice"], extensions=["no-touch-required"])
    assert cert.key_type == token.kind.replace("@openssh.com", "-cert-v01@openssh.com")
    assert cert.key == token.key and isinstance(cert.key, SKKey) and cert.key.application == "ssh:"
    assert not cert.touch_required
    parsed = Certificate.from_line(cert.get_openssh_line())
    assert parsed == cert
    cert.check(principal="alice", ca_keys=[ca])
    # a key class reads the certificate blob as its key, keeping the certificate
    as_key = type(token.key)(data=cert.blob)
    assert as_key == token.key and as_key.public_blob is not None
    assert as_key.public_blob.key_type == cert.key_type
    holder = _with_handle(token)
    holder.load_certificate(cert.get_openssh_line())
    assert holder.public_blob == cert.to_public_blob()
    assert PKey.from_type_string(cert.key_type, cert.blob) == token.key


def _sk_ca_certificate(ca: SoftToken, flags: int, counter_patch: int | None = None) -> str:
    """A user certificate whose CA is a security key, signed by the soft token."""
    user = Ed25519Key.generate()
    body = (
        s("ssh-ed25519-cert-v01@openssh.com")
        + s(os.urandom(32))
        + user.asbytes()[len(s("ssh-ed25519")) :]
        + struct.pack(">QI", 9, 1)
        + s("sk-ca")
        + s(s("alice"))
        + struct.pack(">QQ", 0, 2**64 - 1)
        + s(b"")
        + s(b"")
        + s(b"")
        + s(ca.key.asbytes())
    )
    signature = ca.sign(body, flags=flags)
    if counter_patch is not None:
        signature = _patch_tail(signature, counter=counter_patch)
    return f"ssh-ed25519-cert-v01@openssh.com {base64.b64encode(body + s(signature)).decode()} sk-ca"


def test_certificate_signed_by_an_sk_ca(token: SoftToken) -> None:
    # OpenSSH checks no touch flag on a CA signature: flags 0 is fine
    line = _sk_ca_certificate(token, flags=0)
    cert = Certificate.from_line(line)
    assert cert.signature_key == token.key and cert.signature_algorithm == token.kind
    cert.check(principal="alice", ca_keys=[token.key])  # sk algorithms are accepted CA algorithms
    with pytest.raises(CertificateSignatureError):
        Certificate.from_line(_sk_ca_certificate(token, flags=0, counter_patch=99))
    with pytest.raises(SSHException, match="security key"):
        sign_certificate(Ed25519Key.generate(), token.key)


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_ssh_keygen_verifies_our_soft_token_signatures(token: SoftToken, tmp_path: Path) -> None:
    """ssh-keygen -L checks a certificate's CA signature: a certificate signed
    by our soft token passes, one with a tampered counter does not. So the
    signature we verify is the one OpenSSH makes and checks."""
    keygen = need_program("ssh-keygen")
    good = tmp_path / "good-cert.pub"
    good.write_text(_sk_ca_certificate(token, flags=UP) + "\n")
    out = run([keygen, "-L", "-f", str(good)]).stdout
    assert f"Signing CA: {token.key.algorithm_name} {token.key.fingerprint} (using {token.kind})" in out
    bad = tmp_path / "bad-cert.pub"
    bad.write_text(_sk_ca_certificate(token, flags=UP, counter_patch=12345) + "\n")
    import subprocess

    proc = subprocess.run([keygen, "-L", "-f", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_webauthn_signature_checked_by_ssh_keygen(tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    token = make_token(ECDSA_SK)
    user = Ed25519Key.generate()
    cert = sign_certificate(user, Ed25519Key.generate(), principals=["alice"])
    body = cert.signed_data[: -len(s(cert.signature_key.asbytes()))] + s(token.key.asbytes())
    signature = token.sign(body, webauthn_origin="https://ca.example")
    line = f"{cert.key_type} {base64.b64encode(body + s(signature)).decode()}"
    ours = Certificate.from_line(line)
    assert ours.signature_algorithm == WEBAUTHN
    path = tmp_path / "w-cert.pub"
    path.write_text(line + "\n")
    assert f"(using {WEBAUTHN})" in run([keygen, "-L", "-f", str(path)]).stdout


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_we_read_ssh_keygen_certificates_of_sk_keys(token: SoftToken, tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    (tmp_path / "id_sk.pub").write_text(token.key.get_openssh_line("fido") + "\n")
    run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "ca")])
    options = ["-O", "no-touch-required", "-O", "verify-required"]
    run([keygen, "-q", "-s", str(tmp_path / "ca"), "-I", "kid", "-n", "alice", *options, str(tmp_path / "id_sk.pub")])
    cert = Certificate.from_file(tmp_path / "id_sk-cert.pub")
    assert cert.key == token.key and cert.key_id == "kid" and cert.principals == ("alice",)
    assert not cert.touch_required and cert.verify_required
    ca = ssh_keys.load_public_key_file(tmp_path / "ca.pub")
    cert.check(principal="alice", ca_keys=[ca])
    # and ssh-keygen reads the certificate we sign for the same key
    ours = sign_certificate(token.key, ssh_keys.load_private_key_file(tmp_path / "ca"), key_id="ours")
    ours.write_file(tmp_path / "ours-cert.pub")
    out = run([keygen, "-L", "-f", str(tmp_path / "ours-cert.pub")]).stdout
    assert f"Type: {ours.key_type} user certificate" in out
    assert f"Public key: {token.key.algorithm_name}-CERT {token.key.fingerprint}" in out
