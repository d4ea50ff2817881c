"""Certificates and ssh-keygen, both ways: certificates ``ssh-keygen -s`` signs
parse and verify here with every field as given; certificates we sign are
read by ``ssh-keygen -L`` (which checks the CA signature) with the same fields."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from keys_testdata import run

from ssh_keys import (
    DEFAULT_CA_SIGNATURE_ALGORITHMS,
    FOREVER,
    Certificate,
    CertificateSignatureError,
    CertificateType,
    PKey,
    load_private_key_file,
    load_public_key_file,
    sign_certificate,
)
from support.peers import need_program

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

# (label, ssh-keygen -t, -b)
KEYS = [
    ("ed25519", "ed25519", None),
    ("ecdsa256", "ecdsa", 256),
    ("ecdsa384", "ecdsa", 384),
    ("ecdsa521", "ecdsa", 521),
    ("rsa", "rsa", 2048),
]
# (CA label, ssh-keygen -t for -s, the algorithm the certificate says it used)
CAS = [
    ("ed25519", None, "ssh-ed25519"),
    ("ecdsa384", None, "ecdsa-sha2-nistp384"),
    ("rsa", None, "rsa-sha2-512"),
    ("rsa", "rsa-sha2-256", "rsa-sha2-256"),
    ("rsa", "ssh-rsa", "ssh-rsa"),
]
UTC = {**os.environ, "TZ": "UTC"}


@pytest.fixture(scope="module")
def keygen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ssh-keygen key pair per type (used as subject keys and as CAs)."""
    keygen = need_program("ssh-keygen")
    base = tmp_path_factory.mktemp("certs")
    for label, kind, bits in KEYS:
        args = [keygen, "-q", "-t", kind, "-N", "", "-C", f"{label}@test", "-f", str(base / label)]
        if bits is not None:
            args[4:4] = ["-b", str(bits)]
        run(args)
    return base


def keygen_sign(base: Path, label: str, ca: str, sig_type: str | None, *options: str) -> Path:
    """``ssh-keygen -s`` a copy of ``label``'s public key with the ``ca`` key."""
    subject = base / f"{label}-by-{ca}-{sig_type}.pub"
    subject.write_text((base / f"{label}.pub").read_text())
    args = [need_program("ssh-keygen"), "-q", "-s", str(base / ca)]
    if sig_type:
        args += ["-t", sig_type]
    run([*args, *options, str(subject)], env=UTC)
    return subject.with_name(subject.name[: -len(".pub")] + "-cert.pub")


def keygen_list(path: Path) -> dict[str, list[str]]:
    """``ssh-keygen -L`` output as {heading: [values]} (multi-line headings
    collect their indented lines)."""
    out = run([need_program("ssh-keygen"), "-L", "-f", str(path)], env=UTC).stdout
    fields: dict[str, list[str]] = {}
    heading = ""
    for line in out.splitlines()[1:]:
        text = line.strip()
        if ":" in text and line.startswith("        ") and not line.startswith("                "):
            heading, _, value = text.partition(":")
            fields[heading] = [value.strip()] if value.strip() else []
        elif text:
            fields[heading].append(text)
    return fields


@pytest.mark.parametrize(("ca", "sig_type", "signed_with"), CAS)
@pytest.mark.parametrize("label", [k[0] for k in KEYS])
def test_we_read_and_verify_keygen_certificates(
    keygen_dir: Path, label: str, ca: str, sig_type: str | None, signed_with: str
) -> None:
    path = keygen_sign(
        keygen_dir,
        label,
        ca,
        sig_type,
        *("-I", f"id of {label}", "-n", "alice,bob", "-z", "4242", "-V", "20200101:20300101"),
        *("-O", "clear", "-O", "permit-pty", "-O", "force-command=/bin/echo hi", "-O", "source-address=10.0.0.0/8"),
    )
    cert = Certificate.from_file(path)  # verifies the CA signature
    subject = load_public_key_file(keygen_dir / f"{label}.pub")
    ca_key = load_private_key_file(keygen_dir / ca)
    assert cert.key_type == subject.get_name() + "-cert-v01@openssh.com"
    assert cert.key == subject and cert.signature_key == ca_key
    assert cert.signature_algorithm == signed_with
    assert cert.cert_type is CertificateType.USER
    assert cert.key_id == f"id of {label}" and cert.serial == 4242
    assert cert.principals == ("alice", "bob")
    assert cert.valid_after == int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())
    assert cert.valid_before == int(datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp())
    assert cert.force_command == "/bin/echo hi" and cert.source_addresses == ("10.0.0.0/8",)
    assert cert.extensions == {"permit-pty": b""}
    assert cert.comment == f"{label}@test"
    now = int(datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp())
    # OpenSSH accepts SHA-1 CA signatures only when configured to.
    algorithms = [signed_with] if signed_with == "ssh-rsa" else DEFAULT_CA_SIGNATURE_ALGORITHMS
    cert.check(
        principal="bob",
        cert_type="user",
        now=now,
        ca_keys=[ca_key],
        source_address="10.2.3.4",
        ca_signature_algorithms=algorithms,
    )
    # The private key picks the certificate up from beside it, as OpenSSH does.
    key_path = keygen_dir / f"{label}-by-{ca}-{sig_type}"
    key_path.write_bytes((keygen_dir / label).read_bytes())
    key_path.chmod(0o600)
    assert Certificate.from_key(PKey.from_path(key_path)) == cert


def test_keygen_host_certificate_forever(keygen_dir: Path) -> None:
    path = keygen_sign(keygen_dir, "ecdsa256", "ed25519", None, "-h", "-I", "host", "-n", "db.example.com")
    cert = Certificate.from_file(path)
    assert cert.is_host and cert.valid_before == FOREVER and cert.valid_after == 0
    assert cert.extensions == {} and cert.critical_options == {}
    cert.check(principal="db.example.com", cert_type="host")


def test_keygen_unknown_options_are_kept_and_flagged(keygen_dir: Path) -> None:
    path = keygen_sign(
        keygen_dir, "ed25519", "ecdsa384", None, "-I", "x", "-n", "a", "-O", "critical:acme=v", "-O", "extension:ext"
    )
    cert = Certificate.from_file(path)
    assert cert.critical_options["acme"] == b"\x00\x00\x00\x01v"
    assert cert.unknown_critical_options == ("acme",)
    assert "ext" in cert.extensions
    assert not cert.is_valid(principal="a")
    assert cert.is_valid(principal="a", supported_options=["acme"])


@pytest.mark.parametrize(("ca", "algorithm", "signed_with"), CAS)
def test_keygen_lists_certificates_we_sign(
    keygen_dir: Path, tmp_path: Path, ca: str, algorithm: str | None, signed_with: str
) -> None:
    ca_key = load_private_key_file(keygen_dir / ca)
    subject = load_public_key_file(keygen_dir / "ecdsa521.pub")
    cert = sign_certificate(
        subject,
        ca_key,
        cert_type=CertificateType.USER,
        key_id="signed by us",
        principals=["alice", "root"],
        serial=99,
        valid_after=datetime(2021, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        valid_before=datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        critical_options={"force-command": "uptime", "source-address": "192.168.0.0/16,::1"},
        extensions=["permit-pty", "permit-agent-forwarding"],
        algorithm=algorithm,
    )
    path = tmp_path / "ours-cert.pub"
    cert.write_file(path, comment="ours")
    listed = keygen_list(path)
    assert listed["Type"] == ["ecdsa-sha2-nistp521-cert-v01@openssh.com user certificate"]
    assert listed["Public key"] == [f"ECDSA-CERT {subject.fingerprint}"]
    assert listed["Signing CA"] == [f"{ca_key.algorithm_name} {ca_key.fingerprint} (using {signed_with})"]
    assert listed["Key ID"] == ['"signed by us"']
    assert listed["Serial"] == ["99"]
    assert listed["Valid"] == ["from 2021-02-03T04:05:06 to 2031-02-03T04:05:06"]
    assert listed["Principals"] == ["alice", "root"]
    assert listed["Critical Options"] == ["force-command uptime", "source-address 192.168.0.0/16,::1"]
    assert listed["Extensions"] == ["permit-agent-forwarding", "permit-pty"]


def test_keygen_lists_a_host_certificate_we_sign(keygen_dir: Path, tmp_path: Path) -> None:
    cert = sign_certificate(
        load_public_key_file(keygen_dir / "ed25519.pub"),
        load_private_key_file(keygen_dir / "rsa"),
        cert_type="host",
        key_id="h",
    )
    path = tmp_path / "host-cert.pub"
    cert.write_file(path)
    listed = keygen_list(path)
    assert listed["Type"] == ["ssh-ed25519-cert-v01@openssh.com host certificate"]
    assert listed["Valid"] == ["forever"]
    assert listed["Principals"] == ["(none)"]
    assert listed["Critical Options"] == ["(none)"]
    assert listed["Extensions"] == ["(none)"]


def test_keygen_refuses_a_certificate_whose_signature_we_break(keygen_dir: Path, tmp_path: Path) -> None:
    cert = sign_certificate(
        load_public_key_file(keygen_dir / "ed25519.pub"), load_private_key_file(keygen_dir / "ed25519")
    )
    broken = bytearray(cert.blob)
    broken[-3] ^= 0x40
    forged = Certificate.from_blob(bytes(broken), verify=False)
    with pytest.raises(CertificateSignatureError):
        forged.verify_signature()
    path = tmp_path / "forged-cert.pub"
    forged.write_file(path)
    proc = subprocess.run(
        [need_program("ssh-keygen"), "-L", "-f", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode != 0
