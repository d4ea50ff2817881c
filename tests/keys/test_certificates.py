"""OpenSSH certificates: the wire layout (both directions), signing with every
CA type, the validity checks as OpenSSH makes them, load_certificate, and bad
input (truncation, forged signatures, hostile fields, random bytes)."""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_keys import (
    FOREVER,
    Certificate,
    CertificateError,
    CertificateExpired,
    CertificateNotValid,
    CertificateNotYetValid,
    CertificateOptionError,
    CertificatePrincipalError,
    CertificateSignatureError,
    CertificateType,
    CertificateTypeError,
    CertificateUntrustedCA,
    DSSKey,
    ECDSAKey,
    Ed25519Key,
    PKey,
    PublicBlob,
    RSAKey,
    SSHException,
    sign_certificate,
)

SUFFIX = "-cert-v01@openssh.com"


def s(data: bytes | str) -> bytes:
    """An SSH string."""
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


def fixed_ed25519(seed: int) -> Ed25519Key:
    return Ed25519Key(key=ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


@pytest.fixture(scope="module")
def keys() -> dict[str, PKey]:
    return {
        "ed25519": Ed25519Key.generate(),
        "ecdsa256": ECDSAKey.generate(bits=256),
        "ecdsa384": ECDSAKey.generate(bits=384),
        "ecdsa521": ECDSAKey.generate(bits=521),
        "rsa": RSAKey.generate(1024),
        "dss": DSSKey.generate(1024),
    }


# -- the wire layout, both directions ------------------------------------------------

CA = fixed_ed25519(1)
USER = fixed_ed25519(2)
NONCE = bytes(range(32))


def expected_blob() -> bytes:
    """PROTOCOL.certkeys' layout for an ssh-ed25519 user certificate, built by
    hand; Ed25519 signatures are deterministic, so the bytes are fixed."""
    body = (
        s("ssh-ed25519" + SUFFIX)
        + s(NONCE)
        + s(USER.asbytes()[4 + 11 + 4 :])  # the raw 32-byte public key
        + struct.pack(">Q", 1234)
        + struct.pack(">I", 1)
        + s("key id")
        + s(s("alice") + s("bob"))
        + struct.pack(">Q", 1_600_000_000)
        + struct.pack(">Q", 1_900_000_000)
        + s(s("force-command") + s(s("true")) + s("source-address") + s(s("10.0.0.0/8")))
        + s(s("permit-pty") + s(b"") + s("permit-user-rc") + s(b""))
        + s(b"")
        + s(CA.asbytes())
    )
    signature = s("ssh-ed25519") + s(CA.key.sign(body))  # type: ignore[union-attr]
    return body + s(signature)


def test_sign_produces_the_specified_bytes() -> None:
    cert = sign_certificate(
        USER,
        CA,
        key_id="key id",
        serial=1234,
        principals=["alice", "bob"],
        valid_after=1_600_000_000,
        valid_before=1_900_000_000,
        critical_options={"source-address": "10.0.0.0/8", "force-command": "true"},
        extensions=["permit-user-rc", "permit-pty"],
        nonce=NONCE,
    )
    assert cert.asbytes() == bytes(cert) == expected_blob()


def test_parse_exposes_every_field() -> None:
    cert = Certificate.from_blob(expected_blob())
    assert cert.key_type == "ssh-ed25519-cert-v01@openssh.com"
    assert cert.nonce == NONCE
    assert cert.key == USER and not cert.key.can_sign() and cert.key.public_blob is None
    assert cert.serial == 1234
    assert cert.cert_type is CertificateType.USER and cert.is_user and not cert.is_host
    assert cert.key_id == "key id"
    assert cert.principals == ("alice", "bob")
    assert (cert.valid_after, cert.valid_before) == (1_600_000_000, 1_900_000_000)
    assert cert.valid_after_datetime() == datetime(2020, 9, 13, 12, 26, 40, tzinfo=timezone.utc)
    assert not cert.valid_forever
    assert cert.critical_options == {"force-command": s("true"), "source-address": s("10.0.0.0/8")}
    assert cert.force_command == "true"
    assert cert.source_addresses == ("10.0.0.0/8",)
    assert not cert.verify_required and cert.unknown_critical_options == ()
    assert cert.extensions == {"permit-pty": b"", "permit-user-rc": b""}
    assert cert.reserved == b""
    assert cert.signature_key == CA
    assert cert.signature_algorithm == "ssh-ed25519"
    assert cert.signed_data == expected_blob()[: len(cert.signed_data)]
    assert cert.blob[len(cert.signed_data) :] == s(cert.signature)


def test_forever_and_defaults() -> None:
    cert = sign_certificate(USER, CA, cert_type="host")
    assert cert.valid_after == 0 and cert.valid_before == FOREVER == 2**64 - 1
    assert cert.valid_forever and cert.valid_before_datetime() is None
    assert cert.is_host and cert.extensions == {} and cert.critical_options == {}
    assert len(cert.nonce) == 32
    user = sign_certificate(USER, CA)
    assert list(user.extensions) == [
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
    ]
    assert "forever" in repr(user) and "user" in repr(user)


def test_lines_files_and_public_blobs(tmp_path: Path) -> None:
    cert = sign_certificate(USER, CA, key_id="x", comment="me@host")
    line = cert.get_openssh_line()
    assert line == f"ssh-ed25519{SUFFIX} {base64.b64encode(cert.blob).decode()} me@host"
    assert cert.get_openssh_line("") == line.rsplit(" ", 1)[0]
    assert Certificate.from_line(line) == cert and Certificate.from_line(line).comment == "me@host"
    path = tmp_path / "id-cert.pub"
    cert.write_file(path)
    assert path.read_text() == line + "\n"
    assert Certificate.from_file(path) == cert
    blob = cert.to_public_blob()
    assert blob == PublicBlob.from_string(line) and blob.comment == "me@host"
    assert Certificate.from_public_blob(blob) == cert
    assert Certificate.from_blob(blob.key_blob) == cert
    assert hash(Certificate.from_blob(cert.blob)) == hash(cert)


# -- signing with every key type and CA type ----------------------------------------

KEY_LABELS = ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa", "dss"]
CA_CASES = [
    ("ed25519", None, "ssh-ed25519"),
    ("ecdsa256", None, "ecdsa-sha2-nistp256"),
    ("ecdsa521", None, "ecdsa-sha2-nistp521"),
    ("rsa", None, "rsa-sha2-512"),
    ("rsa", "rsa-sha2-256", "rsa-sha2-256"),
    ("rsa", "ssh-rsa", "ssh-rsa"),
    ("dss", None, "ssh-dss"),
]


@pytest.mark.parametrize("label", KEY_LABELS)
@pytest.mark.parametrize(("ca_label", "algorithm", "signed_with"), CA_CASES)
def test_sign_and_verify_every_pair(
    keys: dict[str, PKey], label: str, ca_label: str, algorithm: str | None, signed_with: str
) -> None:
    key, ca = keys[label], keys[ca_label]
    cert = sign_certificate(key, ca, key_id=label, principals="p", algorithm=algorithm)
    assert cert.key_type == key.get_name() + SUFFIX
    assert cert.key == key and cert.signature_key == ca
    assert cert.signature_algorithm == signed_with
    parsed = Certificate.from_line(cert.get_openssh_line())
    parsed.verify_signature()
    assert parsed.principals == ("p",)
    # The key classes read the certificate too (paramiko's from_type_string).
    assert PKey.from_type_string(cert.key_type, cert.blob) == key


def test_signing_needs_a_private_ca(keys: dict[str, PKey]) -> None:
    public_ca = Ed25519Key(data=keys["ed25519"].asbytes())
    with pytest.raises(SSHException, match="public key"):
        sign_certificate(keys["rsa"], public_ca)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"valid_after": 10, "valid_before": 10}, "earlier"),
        ({"valid_after": -1}, "out of range"),
        ({"valid_before": 2**64}, "out of range"),
        ({"principals": ["a", ""]}, "principal"),
        ({"principals": [f"p{i}" for i in range(257)]}, "too many principals"),
        ({"cert_type": "router"}, "'user' or 'host'"),
        ({"cert_type": 3}, "1 \\(user\\) or 2 \\(host\\)"),
        ({"serial": -1}, "64 bits"),
    ],
)
def test_sign_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sign_certificate(USER, CA, **kwargs)  # type: ignore[arg-type]


def test_sign_accepts_datetimes_and_raw_option_data() -> None:
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    cert = sign_certificate(
        USER, CA, valid_after=start, valid_before=1_900_000_000.9, critical_options={"my@example.com": b"\x01\x02"}
    )
    assert cert.valid_after == 1_893_456_000 and cert.valid_before == 1_900_000_000
    assert cert.critical_options == {"my@example.com": b"\x01\x02"}
    with pytest.raises(TypeError):
        sign_certificate(USER, CA, extensions="permit-pty")


# -- checks, as OpenSSH makes them ---------------------------------------------------

NOW = 1_700_000_000


def user_cert(**kwargs: object) -> Certificate:
    args: dict[str, object] = {"principals": ["alice"], "valid_after": NOW - 60, "valid_before": NOW + 60}
    args.update(kwargs)
    return sign_certificate(USER, CA, **args)  # type: ignore[arg-type]


def test_a_good_certificate_passes() -> None:
    cert = user_cert()
    cert.check(principal="alice", cert_type="user", now=NOW, ca_keys=[CA])
    cert.check(now=NOW - 60)  # valid_after is inclusive
    assert cert.is_valid(principal="alice", now=NOW)


REFUSALS = [
    ({}, {"now": NOW + 60}, CertificateExpired, "Certificate invalid: expired"),
    ({}, {"now": NOW + 10**9}, CertificateExpired, "expired"),
    ({}, {"now": NOW - 61}, CertificateNotYetValid, "Certificate invalid: not yet valid"),
    ({}, {"principal": "mallory"}, CertificatePrincipalError, "'mallory' is not a listed principal"),
    ({"principals": []}, {"principal": "alice"}, CertificatePrincipalError, "lacks principal list"),
    ({}, {"cert_type": "host"}, CertificateTypeError, "not a host certificate"),
    ({"cert_type": "host"}, {"cert_type": CertificateType.USER}, CertificateTypeError, "not a user certificate"),
    ({}, {"ca_keys": [USER]}, CertificateUntrustedCA, "untrusted CA"),
    (
        {"critical_options": {"no-such-option": "x"}},
        {},
        CertificateOptionError,
        'critical option "no-such-option" is not supported',
    ),
    ({"cert_type": "host", "critical_options": {"force-command": "ls"}}, {}, CertificateOptionError, "force"),
    ({"critical_options": {"source-address": "10.0.0.0/8"}}, {}, CertificateOptionError, "no client address"),
    (
        {"critical_options": {"source-address": "10.0.0.0/8,192.168.1.0/24"}},
        {"source_address": "192.168.2.1"},
        CertificateOptionError,
        "not in source-address",
    ),
    (
        {"critical_options": {"source-address": "10.0.0.1/8"}},
        {"source_address": "10.0.0.1"},
        CertificateOptionError,
        "corrupt",
    ),
    ({"critical_options": {"source-address": b"\x00\x00"}}, {"source_address": "::1"}, CertificateOptionError, ""),
]


@pytest.mark.parametrize(
    ("cert_kwargs", "check_kwargs", "error", "message"),
    REFUSALS,
    ids=[f"{e.__name__}-{i}" for i, (_, _, e, _) in enumerate(REFUSALS)],
)
def test_checks_refuse(
    cert_kwargs: dict[str, object], check_kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    cert = user_cert(**cert_kwargs)
    kwargs: dict[str, object] = {"now": NOW}
    kwargs.update(check_kwargs)
    with pytest.raises(error, match=message):
        cert.check(**kwargs)  # type: ignore[arg-type]
    assert issubclass(error, CertificateNotValid) and issubclass(error, SSHException)
    assert not cert.is_valid(**kwargs)


def test_host_certificates_and_wildcards() -> None:
    anyhost = sign_certificate(USER, CA, cert_type="host")
    anyhost.check(principal="example.com", cert_type="host")  # no principals: any host
    with pytest.raises(CertificatePrincipalError):
        anyhost.check(principal="example.com", require_principal=True)
    pattern = sign_certificate(USER, CA, cert_type="host", principals=["*.example.com", "db?"])
    with pytest.raises(CertificatePrincipalError):
        pattern.check(principal="www.example.com")
    pattern.check(principal="www.example.com", wildcard_principals=True)
    pattern.check(principal="db1", wildcard_principals=True)
    with pytest.raises(CertificatePrincipalError):
        pattern.check(principal="db12", wildcard_principals=True)


def test_source_address_matches() -> None:
    cert = user_cert(critical_options={"source-address": "10.0.0.0/8, 2001:db8::/32"})
    for address in ("10.1.2.3", "::ffff:10.9.9.9", "2001:db8::1"):
        cert.check(now=NOW, source_address=address)
    with pytest.raises(CertificateOptionError):
        cert.check(now=NOW, source_address="not-an-address")


def test_known_options_and_unknown_ones_are_kept_and_flagged() -> None:
    cert = user_cert(critical_options={"verify-required": None, "acme@example.com": "x"})
    assert cert.verify_required
    assert cert.unknown_critical_options == ("acme@example.com",)
    assert cert.critical_options["acme@example.com"] == s("x")
    with pytest.raises(CertificateOptionError, match=re.escape("acme@example.com")):
        cert.check(now=NOW)
    cert.check(now=NOW, supported_options=["verify-required", "acme@example.com"])


def test_sha1_ca_signatures_need_opting_in(keys: dict[str, PKey]) -> None:
    cert = sign_certificate(USER, keys["rsa"], principals="alice", algorithm="ssh-rsa")
    cert.verify_signature()  # the signature itself is good
    with pytest.raises(CertificateUntrustedCA, match="ssh-rsa is not an accepted CA signature algorithm"):
        cert.check(principal="alice")
    cert.check(principal="alice", ca_signature_algorithms=None)
    cert.check(principal="alice", ca_signature_algorithms=["ssh-rsa"])


# -- load_certificate and from_path use the parser -------------------------------


def test_load_certificate_and_from_key(tmp_path: Path) -> None:
    private = fixed_ed25519(2)
    cert = sign_certificate(private, CA, principals="alice", comment="c")
    private.load_certificate(cert.get_openssh_line())
    assert private.public_blob == cert.to_public_blob()
    assert Certificate.from_key(private) == cert
    with pytest.raises(CertificateError, match="no certificate"):
        Certificate.from_key(fixed_ed25519(3))
    private.write_private_key_file(str(tmp_path / "id_ed25519"))
    cert.write_file(tmp_path / "id_ed25519-cert.pub")
    loaded = PKey.from_path(tmp_path / "id_ed25519")
    assert Certificate.from_key(loaded) == cert and loaded.can_sign()


def test_load_certificate_refuses_a_corrupt_certificate() -> None:
    cert = sign_certificate(USER, CA)
    bad = cert.blob[:-10]  # the signature cut short
    line = f"{cert.key_type} {base64.b64encode(bad).decode()}"
    key = fixed_ed25519(2)
    with pytest.raises(ValueError, match="unreadable"):
        key.load_certificate(line)
    assert key.public_blob is None


# -- bad input -------------------------------------------------------------------


def test_every_truncation_is_a_certificate_error() -> None:
    blob = expected_blob()
    for n in range(len(blob)):
        with pytest.raises(CertificateError):
            Certificate.from_blob(blob[:n])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(CertificateError, match="unexpected bytes"):
        Certificate.from_blob(expected_blob() + b"\x00")


@pytest.mark.parametrize("where", ["signature", "signed data", "nonce"])
def test_a_forged_certificate_fails_verification(where: str) -> None:
    blob = bytearray(expected_blob())
    index = {"signature": len(blob) - 5, "signed data": len(blob) - 200, "nonce": 45}[where]
    blob[index] ^= 0x01
    with pytest.raises(CertificateSignatureError, match="does not verify"):
        Certificate.from_blob(bytes(blob))
    unverified = Certificate.from_blob(bytes(blob), verify=False)  # to inspect it
    assert unverified.key_id == "key id"
    with pytest.raises(CertificateSignatureError):
        unverified.check()


def test_a_certificate_signed_by_another_ca_fails() -> None:
    # Swap in another CA's public key: the signature no longer matches it.
    blob = expected_blob()
    forged = blob.replace(CA.asbytes(), fixed_ed25519(9).asbytes())
    with pytest.raises(CertificateSignatureError):
        Certificate.from_blob(forged)


def rebuild(field: str, value: bytes, ca: PKey = CA) -> bytes:
    """expected_blob() with one raw field replaced, re-signed by ``ca``."""
    fields = {
        "name": s("ssh-ed25519" + SUFFIX),
        "nonce": s(NONCE),
        "key": s(USER.asbytes()[19:]),
        "serial": struct.pack(">Q", 1),
        "type": struct.pack(">I", 1),
        "key id": s("id"),
        "principals": s(s("alice")),
        "after": struct.pack(">Q", 0),
        "before": struct.pack(">Q", FOREVER),
        "critical": s(b""),
        "extensions": s(b""),
        "reserved": s(b""),
        "ca": s(ca.asbytes()),
    }
    fields[field] = value
    body = b"".join(fields.values())
    return body + s(ca.sign_ssh_data(body).asbytes())


HOSTILE = [
    ("type", struct.pack(">I", 3), "unknown certificate type 3"),
    ("type", struct.pack(">I", 0), "unknown certificate type 0"),
    ("key id", s(b"\xff\xfe"), "UTF-8"),
    ("principals", s(b"".join(s(f"p{i}") for i in range(257))), "more than 256 principals"),
    ("principals", s(s("alice") + b"\x00\x00"), "truncated"),
    ("critical", s(s("force-command") + s(s("a")) + s("force-command") + s(s("b"))), "repeats"),
    ("extensions", s(s("permit-pty") + s(b"") + s("permit-pty") + s(b"")), "repeats"),
    ("extensions", s(s("permit-pty")), "truncated"),
    ("key", s(b"\x01" * 31), "31 bytes"),
    ("name", s("sk-ssh-foo" + SUFFIX), "unsupported"),
    ("name", s("ssh-ed25519"), "not a certificate"),
    ("ca", s(s("ssh-ed25519" + SUFFIX) + s(b"x")), "itself a certificate"),
    ("ca", s(s("ssh-foo") + s(b"x")), "signature key"),
]


@pytest.mark.parametrize(("field", "value", "message"), HOSTILE, ids=[f"{f}: {m}" for f, _, m in HOSTILE])
def test_hostile_fields_are_refused(field: str, value: bytes, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        Certificate.from_blob(rebuild(field, value))


def test_a_ca_signature_of_the_wrong_algorithm_is_refused(keys: dict[str, PKey]) -> None:
    blob = rebuild("ca", s(CA.asbytes()))
    body = blob[: -len(s(CA.sign_ssh_data(b"").asbytes()))]
    wrong = s(s("rsa-sha2-256") + s(CA.sign_ssh_data(body).asbytes()[19:]))
    with pytest.raises(CertificateSignatureError):
        Certificate.from_blob(body + wrong)


@pytest.mark.parametrize(
    ("reader", "text"),
    [
        (Certificate.from_line, "ssh-ed25519-cert-v01@openssh.com !!!"),
        (Certificate.from_line, "only-one-field"),
        (Certificate.from_line, f"ssh-ed25519 {Ed25519Key.generate().get_base64()}"),
        (Certificate.from_blob, b""),
    ],
)
def test_lines_that_are_not_certificates(reader: Callable[..., Certificate], text: str | bytes) -> None:
    with pytest.raises(CertificateError):
        reader(text)


def test_a_file_without_a_certificate(tmp_path: Path) -> None:
    path = tmp_path / "empty-cert.pub"
    path.write_text("# nothing here\n\n")
    with pytest.raises(CertificateError, match="no certificate"):
        Certificate.from_file(path)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_certificate_errors(data: bytes) -> None:
    for blob in (data, s("ssh-ed25519" + SUFFIX) + data):
        try:
            Certificate.from_blob(blob)
        except CertificateError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_mutated_certificates_raise_only_certificate_errors(position: int, flip: int) -> None:
    blob = bytearray(expected_blob())
    blob[position % len(blob)] ^= flip
    try:
        cert = Certificate.from_blob(bytes(blob))
    except CertificateError:
        return
    # A mutation that still verifies can only have touched nothing signed.
    assert cert.signed_data == expected_blob()[: len(cert.signed_data)]
