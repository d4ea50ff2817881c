"""known_hosts for certificate-based host verification: which ``@cert-authority``
keys a host name trusts, ``@revoked`` keys and CAs, and ``check_certificate``;
matched against ``ssh-keygen -F`` on the same files."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from keys_testdata import run

from ssh_keys import (
    Certificate,
    CertificateExpired,
    CertificateOptionError,
    CertificatePrincipalError,
    CertificateRevoked,
    CertificateTypeError,
    CertificateUntrustedCA,
    ECDSAKey,
    Ed25519Key,
    HostKeys,
    PKey,
    key_from_line,
    sign_certificate,
)
from support.peers import need_program

NAMES = ["ca1", "ca2", "ca3", "ca4", "ca5", "ca6", "host", "other"]


@pytest.fixture(scope="module")
def k() -> dict[str, PKey]:
    keys: dict[str, PKey] = {name: Ed25519Key.generate() for name in NAMES}
    keys["ca4"] = ECDSAKey.generate()
    return keys


def line(k: dict[str, PKey], name: str) -> str:
    return k[name].get_openssh_line("")


def known_hosts(k: dict[str, PKey]) -> str:
    return (
        "# CAs by pattern, port, negation and hashed name\n"
        f"@cert-authority *.example.com,!bad.example.com {line(k, 'ca1')}\n"
        f"@cert-authority [*.example.com]:2222 {line(k, 'ca2')} port CA\n"
        f"@cert-authority {HostKeys.hash_host('secret.example.org')} {line(k, 'ca3')}\n"
        f"@cert-authority 192.0.2.?,db.example.net {line(k, 'ca4')}\n"
        f"@cert-authority * {line(k, 'ca5')}\n"
        f"@revoked old.example.com {line(k, 'ca5')}\n"
        f"@revoked *.example.net {line(k, 'host')}\n"
        f"plain.example.com {line(k, 'other')}\n"
    )


EXPECTED = {
    "www.example.com": {"ca1", "ca5"},
    "WWW.Example.COM": {"ca1", "ca5"},
    "bad.example.com": {"ca5"},
    "[www.example.com]:2222": {"ca2", "ca5"},
    "[www.example.com]:2200": {"ca5"},
    "secret.example.org": {"ca3", "ca5"},
    "192.0.2.7": {"ca4", "ca5"},
    "192.0.2.77": {"ca5"},
    "db.example.net": {"ca4", "ca5"},
    "old.example.com": {"ca1"},  # ca5 is revoked there
    "example.com": {"ca5"},
}


def _names(k: dict[str, PKey], keys: list[PKey]) -> set[str]:
    return {n for n in NAMES if k[n] in keys}


@pytest.mark.parametrize(("host", "cas"), EXPECTED.items())
def test_cert_authorities_for_a_host(k: dict[str, PKey], tmp_path: Path, host: str, cas: set[str]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts(k))
    hk = HostKeys(path)
    assert _names(k, hk.cert_authorities(host)) == cas
    # CA lines are not host keys
    assert hk.lookup(host) is None


def test_revoked_per_host_name(k: dict[str, PKey], tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts(k))
    hk = HostKeys(path)
    assert hk.is_revoked(k["ca5"], "old.example.com") and not hk.is_revoked(k["ca5"], "new.example.com")
    assert hk.is_revoked(k["host"], "db.example.net") and not hk.is_revoked(k["host"], "db.example.org")
    assert hk.is_revoked(k["ca5"]) and hk.is_revoked(k["host"])  # no host name: any @revoked line
    assert not hk.is_revoked(k["ca1"])
    # a certificate is revoked when its key or its CA is
    cert = sign_certificate(k["other"], k["ca5"], cert_type="host", principals=["old.example.com"])
    assert hk.is_revoked(cert, "old.example.com") and not hk.is_revoked(cert, "new.example.com")
    host_cert = sign_certificate(k["host"], k["ca1"], cert_type="host")
    assert hk.is_revoked(host_cert, "db.example.net") and not hk.is_revoked(host_cert, "www.example.com")
    # check() refuses a host key revoked for that host only
    hk.add("db.example.net", "ssh-ed25519", k["host"])
    hk.add("db.example.org", "ssh-ed25519", k["host"])
    assert not hk.check("db.example.net", k["host"])
    assert hk.check("db.example.org", k["host"])


def _host_cert(k: dict[str, PKey], ca: str = "ca1", **kw: object) -> Certificate:
    args: dict[str, object] = {"cert_type": "host", "principals": ["www.example.com"], "key_id": "www"}
    args.update(kw)
    return sign_certificate(k["host"], k[ca], **args)  # type: ignore[arg-type]


def test_check_certificate_accepts_a_trusted_host_certificate(k: dict[str, PKey], tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts(k))
    hk = HostKeys(path)
    cert = _host_cert(k)
    assert hk.check_certificate("www.example.com", cert) == cert
    # every form a certificate comes in
    as_key = Ed25519Key(data=cert.blob)
    assert hk.check_certificate("www.example.com", as_key) == cert
    assert hk.check_certificate("www.example.com", cert.to_public_blob()) == cert
    assert hk.check_certificate("www.example.com", cert.blob) == cert
    # a port: [host]:port picks the CA lines, the plain name is the principal
    port_cert = _host_cert(k, ca="ca2")
    assert hk.check_certificate("www.example.com", port_cert, port=2222) == port_cert
    assert hk.check_certificate("[www.example.com]:2222", port_cert) == port_cert
    with pytest.raises(CertificateUntrustedCA, match=r"\[www.example.com\]:2200"):
        hk.check_certificate("www.example.com", port_cert, port=2200)
    # wildcard principals are allowed in host certificates, as OpenSSH allows them
    wild = _host_cert(k, principals=["*.example.com"])
    assert hk.check_certificate("mail.example.com", wild) == wild


def test_check_certificate_refusals(k: dict[str, PKey], tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts(k))
    hk = HostKeys(path)
    with pytest.raises(CertificateUntrustedCA, match="no @cert-authority"):
        hk.check_certificate("bad.example.com", _host_cert(k, principals=["bad.example.com"]))
    with pytest.raises(CertificateUntrustedCA):
        hk.check_certificate("www.example.com", _host_cert(k, ca="ca3"))
    with pytest.raises(CertificatePrincipalError):
        hk.check_certificate("mail.example.com", _host_cert(k))
    with pytest.raises(CertificateTypeError):
        hk.check_certificate("www.example.com", _host_cert(k, cert_type="user"))
    with pytest.raises(CertificateExpired):
        hk.check_certificate("www.example.com", _host_cert(k, valid_after=1, valid_before=time.time() - 60))
    with pytest.raises(CertificateOptionError):
        hk.check_certificate("www.example.com", _host_cert(k, critical_options={"force-command": "true"}))
    with pytest.raises(CertificateRevoked, match="certificate authority"):
        hk.check_certificate("old.example.com", _host_cert(k, ca="ca5", principals=["old.example.com"]))
    with pytest.raises(CertificateRevoked, match="host key"):
        hk.check_certificate("db.example.net", _host_cert(k, ca="ca4", principals=["db.example.net"]))
    # the same CA is fine where it is not revoked
    ok = _host_cert(k, ca="ca5", principals=["new.example.com"])
    assert hk.check_certificate("new.example.com", ok) == ok


def test_markers_round_trip_and_are_added(k: dict[str, PKey], tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    text = known_hosts(k)
    path.write_text(text)
    hk = HostKeys(path)
    hk.save(tmp_path / "saved")
    assert (tmp_path / "saved").read_text() == text
    hk.add_cert_authority(["*.corp.example", "[*.corp.example]:2222"], k["ca6"], comment="corp CA")
    hk.add_cert_authority("*.corp.example", k["ca6"])
    hk.add_revoked("*", k["ca3"])
    hk.add_revoked("*", k["ca3"])  # already there: not added twice
    with pytest.raises(ValueError):
        hk.add_revoked("a,b", k["ca3"])
    hk.save(path)
    saved = path.read_text()
    assert saved.startswith(text)
    assert saved[len(text) :] == (
        f"@cert-authority *.corp.example,[*.corp.example]:2222 {line(k, 'ca6')} corp CA\n"
        f"@cert-authority *.corp.example {line(k, 'ca6')}\n"
        f"@revoked * {line(k, 'ca3')}\n"
    )
    again = HostKeys(path)
    again.load(path)  # loading the same file twice adds nothing
    again.save(tmp_path / "twice")
    assert (tmp_path / "twice").read_text() == saved
    assert _names(k, again.cert_authorities("[x.corp.example]:2222")) == {"ca5", "ca6"}
    assert _names(k, again.cert_authorities("secret.example.org")) == {"ca5"}  # ca3 now revoked everywhere


def _keygen_markers(keygen: str, host: str, path: Path) -> dict[str, set[str]]:
    """What ``ssh-keygen -F host`` finds: marker ("CA", "REVOKED", "") ->
    base64 keys of the matching lines."""
    out = subprocess.run([keygen, "-F", host, "-f", str(path)], capture_output=True, text=True, timeout=30).stdout
    found: dict[str, set[str]] = {"CA": set(), "REVOKED": set(), "": set()}
    lines = out.splitlines()
    for i, text in enumerate(lines):
        header = re.match(r"# Host .* found: line \d+ ?(\S*)$", text)
        if header:
            fields = lines[i + 1].split()
            if fields[0].startswith("@"):
                fields = fields[1:]
            found[header.group(1)].add(fields[2])  # names, type, base64
    return found


@pytest.mark.interop
@pytest.mark.timeout(60)
@pytest.mark.parametrize("host", [h for h in EXPECTED if h != "WWW.Example.COM"])
def test_ca_lines_match_what_ssh_keygen_finds(k: dict[str, PKey], tmp_path: Path, host: str) -> None:
    keygen = need_program("ssh-keygen")
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts(k))
    hk = HostKeys(path)
    found = _keygen_markers(keygen, host, path)
    ours_ca = {e.key.get_base64() for e in hk.entries if e.marker == "@cert-authority" and e.key and e.matches(host)}
    ours_revoked = {e.key.get_base64() for e in hk.entries if e.marker == "@revoked" and e.key and e.matches(host)}
    assert ours_ca == found["CA"]
    assert ours_revoked == found["REVOKED"]
    revoked = {n for n in NAMES if k[n].get_base64() in found["REVOKED"]}
    assert _names(k, hk.cert_authorities(host)) == {n for n in NAMES if k[n].get_base64() in found["CA"]} - revoked


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_ca_line_with_names_hashed_by_ssh_keygen(k: dict[str, PKey], tmp_path: Path) -> None:
    """ssh-keygen -H leaves marker lines alone, but a hashed name works on
    them: hash the names with ssh-keygen, put them on a CA line, and both
    ssh-keygen -F and we find it."""
    keygen = need_program("ssh-keygen")
    path = tmp_path / "known_hosts"
    path.write_text(f"hidden.example {line(k, 'ca1')}\n[hidden.example]:2022 {line(k, 'ca1')}\n")
    run([keygen, "-H", "-f", str(path)])
    hashed = [text.split()[0] for text in path.read_text().splitlines()]
    assert all(h.startswith("|1|") for h in hashed)
    path.write_text(f"@cert-authority {hashed[0]} {line(k, 'ca2')}\n@cert-authority {hashed[1]} {line(k, 'ca3')}\n")
    hk = HostKeys(path)
    assert _names(k, hk.cert_authorities("hidden.example")) == {"ca2"}
    assert _names(k, hk.cert_authorities("[hidden.example]:2022")) == {"ca3"}
    assert hk.cert_authorities("other.example") == []
    assert _keygen_markers(keygen, "hidden.example", path)["CA"] == {k["ca2"].get_base64()}
    cert = _host_cert(k, ca="ca3", principals=["hidden.example"])
    assert hk.check_certificate("hidden.example", cert, port=2022) == cert


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_host_certificate_made_by_ssh_keygen(k: dict[str, PKey], tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "ca")])
    run([keygen, "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "host")])
    names = "srv.example,*.srv.example"
    run(
        [
            keygen,
            "-q",
            "-s",
            str(tmp_path / "ca"),
            "-h",
            "-I",
            "srv",
            "-n",
            names,
            "-V",
            "-5m:+1h",
            str(tmp_path / "host.pub"),
        ]
    )
    ca_line = (tmp_path / "ca.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"@cert-authority *.example {ca_line[0]} {ca_line[1]}\n")
    hk = HostKeys(tmp_path / "known_hosts")
    key = PKey.from_path(tmp_path / "host")
    cert = hk.check_certificate("srv.example", key)
    assert cert.key_id == "srv" and cert.is_host
    assert hk.check_certificate("a.srv.example", Certificate.from_file(tmp_path / "host-cert.pub")) == cert
    with pytest.raises(CertificateExpired):
        hk.check_certificate("srv.example", cert, now=time.time() + 7200)
    hk.add_revoked("srv.example", key_from_line(" ".join(ca_line)))
    with pytest.raises(CertificateRevoked):
        hk.check_certificate("srv.example", cert)
    assert hk.check_certificate("a.srv.example", cert) == cert
