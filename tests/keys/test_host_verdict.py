"""``verify_host_key``: the known_hosts verdict both clients act on. One test
per outcome (known, certified, revoked, mismatch, unknown, certificate
invalid), through hashed names, ``[host]:port`` names and several sets."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from ssh_keys import (
    Certificate,
    CertificateExpired,
    CertificateNotValid,
    CertificatePrincipalError,
    CertificateRevoked,
    ECDSAKey,
    Ed25519Key,
    HostKeys,
    HostKeyStatus,
    PKey,
    sign_certificate,
    verify_host_key,
)

pytestmark = pytest.mark.timeout(30)

HOST = "www.example.com"


@pytest.fixture(scope="module")
def keys() -> dict[str, PKey]:
    return {
        "host": Ed25519Key.generate(),
        "other": Ed25519Key.generate(),
        "ecdsa": ECDSAKey.generate(),
        "ca": Ed25519Key.generate(),
        "ca2": Ed25519Key.generate(),
    }


def line(marker: str, names: str, key: PKey) -> str:
    return f"{marker} {names} {key.get_name()} {key.get_base64()}\n".lstrip()


def hostkeys(tmp_path: Path, text: str) -> HostKeys:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return HostKeys(path)


def certified(keys: dict[str, PKey], ca: str = "ca", **kwargs: object) -> PKey:
    """The host key carrying a host certificate, as a server presents it."""
    args: dict[str, object] = {"cert_type": "host", "principals": [HOST], "key_id": "web"}
    args.update(kwargs)
    cert = sign_certificate(keys["host"], keys[ca], **args)  # type: ignore[arg-type]
    key = Ed25519Key(data=keys["host"].asbytes())
    key.load_certificate(cert.get_openssh_line())
    return key


def test_listed_key_is_known(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("", f"mail.example.com,{HOST}", keys["host"]))
    verdict = verify_host_key(known, HOST, keys["host"])
    assert verdict.status is HostKeyStatus.KNOWN
    assert verdict.accepted and verdict.hostname == HOST and verdict.key is keys["host"]
    assert verdict.error is None and verdict.certificate is None


def test_hashed_entry_is_known(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("", HostKeys.hash_host(HOST), keys["host"]))
    assert verify_host_key(known, HOST, keys["host"]).status is HostKeyStatus.KNOWN
    assert verify_host_key(known, "mail.example.com", keys["host"]).status is HostKeyStatus.UNKNOWN


def test_port_names_are_separate_hosts(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("", f"[{HOST}]:2222", keys["host"]) + line("", HOST, keys["other"]))
    assert verify_host_key(known, f"[{HOST}]:2222", keys["host"]).status is HostKeyStatus.KNOWN
    mismatch = verify_host_key(known, HOST, keys["host"])
    assert mismatch.status is HostKeyStatus.MISMATCH and mismatch.expected == keys["other"]
    assert verify_host_key(known, f"[{HOST}]:2200", keys["host"]).status is HostKeyStatus.UNKNOWN


def test_another_key_of_the_same_type_is_a_mismatch(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("", HOST, keys["other"]) + line("", HOST, keys["ecdsa"]))
    verdict = verify_host_key(known, HOST, keys["host"])
    assert verdict.status is HostKeyStatus.MISMATCH and not verdict.accepted
    assert verdict.expected == keys["other"]


def test_unknown_host_and_keys_of_other_types(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("", HOST, keys["ecdsa"]))
    nothing = verify_host_key(known, "new.example.com", keys["host"])
    assert nothing.status is HostKeyStatus.UNKNOWN and nothing.other_keys == ()
    other_type = verify_host_key(known, HOST, keys["host"])
    assert other_type.status is HostKeyStatus.UNKNOWN and not other_type.accepted
    assert other_type.other_keys == (keys["ecdsa"],)
    assert verify_host_key(HostKeys(), HOST, keys["host"]).status is HostKeyStatus.UNKNOWN


def test_revoked_plain_key_only_for_the_hosts_of_its_line(keys: dict[str, PKey], tmp_path: Path) -> None:
    text = line("", "*.example.com", keys["host"]) + line("@revoked", HOST, keys["host"])
    known = hostkeys(tmp_path, text)
    verdict = verify_host_key(known, HOST, keys["host"])
    assert verdict.status is HostKeyStatus.REVOKED and verdict.error is None and not verdict.accepted
    assert verify_host_key(known, "mail.example.com", keys["host"]).status is HostKeyStatus.KNOWN


def test_valid_certificate_from_a_trusted_ca(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("@cert-authority", "*.example.com", keys["ca"]))
    verdict = verify_host_key(known, HOST, certified(keys))
    assert verdict.status is HostKeyStatus.CERTIFIED and verdict.accepted
    assert isinstance(verdict.certificate, Certificate)
    assert verdict.certificate.key_id == "web" and verdict.certificate.key == keys["host"]


def test_certificate_on_a_port_and_a_hashed_ca_line(keys: dict[str, PKey], tmp_path: Path) -> None:
    text = line("@cert-authority", HostKeys.hash_host(f"[{HOST}]:2222"), keys["ca"])
    known = hostkeys(tmp_path, text)
    # the CA line names [host]:port; the certificate names the host alone
    assert verify_host_key(known, f"[{HOST}]:2222", certified(keys)).status is HostKeyStatus.CERTIFIED
    # no CA for the plain name: the certificate counts as its (unlisted) key
    assert verify_host_key(known, HOST, certified(keys)).status is HostKeyStatus.UNKNOWN


@pytest.mark.parametrize("revoke", ["ca", "host"])
def test_revoked_ca_or_certified_key(keys: dict[str, PKey], tmp_path: Path, revoke: str) -> None:
    text = line("@cert-authority", "*", keys["ca"]) + line("@revoked", "*.example.com", keys[revoke])
    text += line("", HOST, keys["host"])
    known = hostkeys(tmp_path, text)
    verdict = verify_host_key(known, HOST, certified(keys))
    assert verdict.status is HostKeyStatus.REVOKED
    assert isinstance(verdict.error, CertificateRevoked) and "@revoked" in str(verdict.error)
    # the line revokes for its hosts only
    assert verify_host_key(known, "db.example.net", certified(keys, principals=["db.example.net"])).accepted


def test_expired_certificate(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("@cert-authority", "*", keys["ca"]))
    expired = certified(keys, valid_after=1, valid_before=time.time() - 60)
    verdict = verify_host_key(known, HOST, expired)
    assert verdict.status is HostKeyStatus.CERTIFICATE_INVALID and not verdict.accepted
    assert isinstance(verdict.error, CertificateExpired)


def test_checked_at_another_time(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("@cert-authority", "*", keys["ca"]))
    key = certified(keys, valid_after=1000, valid_before=2000)
    assert verify_host_key(known, HOST, key, now=1500).status is HostKeyStatus.CERTIFIED
    assert verify_host_key(known, HOST, key, now=2500).status is HostKeyStatus.CERTIFICATE_INVALID


def test_wrong_principal(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("@cert-authority", "*", keys["ca"]))
    verdict = verify_host_key(known, "mail.example.com", certified(keys))
    assert verdict.status is HostKeyStatus.CERTIFICATE_INVALID
    assert isinstance(verdict.error, CertificatePrincipalError)


def test_invalid_certificate_falls_back_to_the_listed_plain_key(keys: dict[str, PKey], tmp_path: Path) -> None:
    text = line("@cert-authority", "*", keys["ca"]) + line("", "mail.example.com", keys["host"])
    known = hostkeys(tmp_path, text)
    verdict = verify_host_key(known, "mail.example.com", certified(keys))
    assert verdict.status is HostKeyStatus.KNOWN and verdict.accepted
    assert isinstance(verdict.error, CertificatePrincipalError)


def test_untrusted_ca_is_the_plain_key(keys: dict[str, PKey], tmp_path: Path) -> None:
    text = line("@cert-authority", "*", keys["ca2"]) + line("", HOST, keys["host"])
    known = hostkeys(tmp_path, text)
    listed = verify_host_key(known, HOST, certified(keys))
    assert listed.status is HostKeyStatus.KNOWN and listed.error is None
    assert verify_host_key(known, "new.example.com", certified(keys)).status is HostKeyStatus.UNKNOWN


def test_bad_ca_signature_is_an_invalid_certificate(keys: dict[str, PKey], tmp_path: Path) -> None:
    known = hostkeys(tmp_path, line("@cert-authority", "*", keys["ca"]))
    cert = sign_certificate(keys["host"], keys["ca"], cert_type="host", principals=[HOST])
    blob = bytearray(cert.blob)
    blob[-1] ^= 1  # the last byte of the CA's signature
    key = Ed25519Key(data=keys["host"].asbytes())
    key.load_certificate(f"{cert.key_type} {base64.b64encode(bytes(blob)).decode()}")
    verdict = verify_host_key(known, HOST, key)
    assert verdict.status is HostKeyStatus.CERTIFICATE_INVALID
    assert isinstance(verdict.error, CertificateNotValid)


def test_several_sets(keys: dict[str, PKey], tmp_path: Path) -> None:
    system, user = HostKeys(), HostKeys()
    system.add(HOST, keys["ecdsa"].get_name(), keys["ecdsa"])
    user.add(HOST, keys["host"].get_name(), keys["host"])
    # the first set naming the host holds its keys, as paramiko looks them up
    first = verify_host_key([system, user], HOST, keys["host"])
    assert first.status is HostKeyStatus.UNKNOWN and first.other_keys == (keys["ecdsa"],)
    assert verify_host_key([user, system], HOST, keys["host"]).status is HostKeyStatus.KNOWN
    # markers count in every set
    user.add_cert_authority("*", keys["ca"])
    assert verify_host_key([system, user], HOST, certified(keys)).status is HostKeyStatus.CERTIFIED
    system.add_revoked("*", keys["host"])
    assert verify_host_key([user, system], HOST, keys["host"]).status is HostKeyStatus.REVOKED
    assert verify_host_key((s for s in (system, user)), HOST, certified(keys)).status is HostKeyStatus.REVOKED
