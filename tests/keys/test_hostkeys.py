"""known_hosts: HostKeys and HostKeyEntry, checked against ssh-keygen -F / -H."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

import ssh_keys
from ssh_keys import ECDSAKey, Ed25519Key, HostKeyEntry, HostKeys, InvalidHostKey, PKey, RSAKey, SSHException
from support.peers import need_program


@pytest.fixture(scope="module")
def k() -> dict[str, PKey]:
    return {
        "ed": Ed25519Key.generate(),
        "ed2": Ed25519Key.generate(),
        "ec": ECDSAKey.generate(),
        "rsa": RSAKey.generate(1024),
        "ca": Ed25519Key.generate(),
    }


def _keygen_find(keygen: str, host: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([keygen, "-F", host, "-f", str(path)], capture_output=True, text=True, timeout=30)


def test_load_lookup_check(k: dict[str, PKey], tmp_path: Path) -> None:
    hashed = HostKeys.hash_host("secret.example")
    text = (
        "# a comment line\n"
        f"alpha,beta,10.0.0.1 {k['ed'].get_openssh_line('')}\n"
        f"[gamma]:2222 {k['ec'].get_openssh_line('')} trailing comment\n"
        f"{hashed} {k['rsa'].get_openssh_line('')}\n"
        f"alpha {k['rsa'].get_openssh_line('')}\n"
        f"@cert-authority *.example.com {k['ca'].get_openssh_line('')}\n"
        f"@revoked * {k['ed2'].get_openssh_line('')}\n"
        "delta sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t\n"
        "epsilon ssh-ed25519 AAAAnot-valid-base64!!\n"
        "\n"
    )
    path = tmp_path / "known_hosts"
    path.write_text(text)
    hk = HostKeys(str(path))
    assert sorted(hk.keys()) == sorted(["alpha", "beta", "10.0.0.1", "[gamma]:2222", hashed])
    assert hk.lookup("alpha") == {"ssh-ed25519": k["ed"], "ssh-rsa": k["rsa"]}
    assert hk.lookup("BETA") is not None  # host names are case-insensitive
    assert hk.lookup("gamma") is None  # the port matters
    assert hk.lookup("[gamma]:2222") == {"ecdsa-sha2-nistp256": k["ec"]}
    assert hk.lookup("secret.example") == {"ssh-rsa": k["rsa"]}
    assert hk.lookup("other.example.com") is None  # CA lines are not host keys
    assert hk.cert_authorities("www.example.com") == [k["ca"]]
    assert hk.is_revoked(k["ed2"]) and not hk.is_revoked(k["ed"])
    assert hk.check("alpha", k["ed"]) and hk.check("10.0.0.1", k["ed"])
    assert not hk.check("alpha", k["ed2"]) and not hk.check("alpha", k["ec"])
    assert not hk.check("nowhere", k["ed"])
    assert hk["alpha"]["ssh-rsa"] == k["rsa"]
    with pytest.raises(KeyError):
        hk["nowhere"]
    assert "alpha" in hk and "nowhere" not in hk
    # load_host_keys gives the documented hostname -> keytype -> PKey mapping.
    loaded = ssh_keys.load_host_keys(str(path))
    assert {h: dict(v) for h, v in loaded.items()}["[gamma]:2222"] == {"ecdsa-sha2-nistp256": k["ec"]}
    # Saving keeps every line, markers, comments and lines we cannot use included.
    out = tmp_path / "saved"
    hk.save(str(out))
    assert out.read_text() == text.replace("\n\n", "\n")
    # Loading the same file again adds nothing (SSHClient.save_host_keys does that).
    hk.load(path)
    hk.save(str(out))
    assert out.read_text() == text.replace("\n\n", "\n")


def test_revoked_key_never_checks(k: dict[str, PKey]) -> None:
    hk = HostKeys()
    hk.add("host", "ssh-ed25519", k["ed2"])
    assert hk.check("host", k["ed2"])
    hk._entries.append(HostKeyEntry(["*"], k["ed2"], marker="@revoked"))
    assert not hk.check("host", k["ed2"])


def test_patterns_and_negation(k: dict[str, PKey]) -> None:
    hk = HostKeys()
    hk.entries.append(HostKeyEntry(["*.example.com", "!bad.example.com", "h?st"], k["ed"]))
    assert hk.check("www.example.com", k["ed"])
    assert not hk.check("bad.example.com", k["ed"])
    assert hk.check("host", k["ed"]) and not hk.check("hoost", k["ed"])
    hk.add("[a.b]:22", "ssh-ed25519", k["ed"])  # brackets are not character classes
    assert hk.check("[a.b]:22", k["ed"]) and not hk.check("a", k["ed"])


def test_mutable_mapping_api(k: dict[str, PKey]) -> None:
    hk = HostKeys()
    hk.add("h1", "ssh-ed25519", k["ed"])
    hk.add("h1", "ssh-ed25519", k["ed2"])  # replaces
    assert dict(hk["h1"]) == {"ssh-ed25519": k["ed2"]}
    hk["h2"] = {"ssh-rsa": k["rsa"], "ecdsa-sha2-nistp256": k["ec"]}
    assert len(hk) == 2 and set(hk) == {"h1", "h2"}
    sub = hk["h2"]
    assert len(sub) == 2 and set(sub) == {"ssh-rsa", "ecdsa-sha2-nistp256"}
    sub["ssh-ed25519"] = k["ed"]
    assert hk.check("h2", k["ed"])
    del sub["ssh-rsa"]
    assert not hk.check("h2", k["rsa"])
    with pytest.raises(KeyError):
        del sub["ssh-rsa"]
    del hk["h1"]
    assert "h1" not in hk
    with pytest.raises(KeyError):
        del hk["h1"]
    assert len(hk.values()) == 1
    hk.clear()
    assert len(hk) == 0 and hk.lookup("h2") is None


def test_load_does_not_duplicate(k: dict[str, PKey], tmp_path: Path) -> None:
    path = tmp_path / "kh"
    path.write_text(f"a {k['ed'].get_openssh_line('')}\na,b {k['ed'].get_openssh_line('')}\n")
    hk = HostKeys(path)
    assert [e.hostnames for e in hk.entries] == [["a"], ["b"]]
    hk.load(path)  # loading again adds nothing
    assert len(hk.entries) == 2


def test_hash_host() -> None:
    hashed = HostKeys.hash_host("example.com")
    assert hashed.startswith("|1|") and hashed.count("|") == 3
    assert HostKeys.hash_host("example.com", hashed) == hashed
    salt = bytes(range(20))
    by_bytes = HostKeys.hash_host("example.com", salt)
    assert by_bytes == HostKeys.hash_host("example.com", base64.b64encode(salt).decode())
    assert by_bytes == HostKeys.hash_host("example.com", HostKeys.hash_host("other", salt))
    assert by_bytes != HostKeys.hash_host("example.org", salt)
    with pytest.raises(SSHException):
        HostKeys.hash_host("example.com", "|1|!!!|x")


def test_entry_from_line(k: dict[str, PKey]) -> None:
    line = f"h1,h2 {k['ec'].get_openssh_line('')} note"
    entry = HostKeyEntry.from_line(line)
    assert entry is not None and entry.hostnames == ["h1", "h2"] and entry.key == k["ec"]
    assert entry.comment == "note" and entry.to_line() == line + "\n"
    assert HostKeyEntry.from_line("# comment") is None
    assert HostKeyEntry.from_line("") is None
    assert HostKeyEntry.from_line("host ssh-ed25519") is None
    assert HostKeyEntry.from_line("@weird host ssh-ed25519 AAAA") is None
    assert HostKeyEntry.from_line("host ssh-unknown AAAA") is None
    with pytest.raises(InvalidHostKey):
        HostKeyEntry.from_line("host ssh-ed25519 AAAA!!")
    with pytest.raises(InvalidHostKey):
        HostKeyEntry.from_line(f"host ssh-rsa {k['ed'].get_base64()}")
    assert isinstance(InvalidHostKey("l", ValueError("x")), SSHException)
    assert HostKeyEntry().to_line() is None


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_ssh_keygen_finds_our_hashed_entries(k: dict[str, PKey], tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    hk = HostKeys()
    hk.add(HostKeys.hash_host("server.example"), "ssh-ed25519", k["ed"])
    hk.add(HostKeys.hash_host("[server.example]:2222"), "ecdsa-sha2-nistp256", k["ec"])
    hk.add("plain.example", "ssh-rsa", k["rsa"])
    path = tmp_path / "known_hosts"
    hk.save(path)
    found = _keygen_find(keygen, "server.example", path)
    assert found.returncode == 0 and k["ed"].get_base64() in found.stdout
    found = _keygen_find(keygen, "[server.example]:2222", path)
    assert found.returncode == 0 and k["ec"].get_base64() in found.stdout
    assert _keygen_find(keygen, "plain.example", path).returncode == 0
    assert _keygen_find(keygen, "other.example", path).returncode != 0
    assert "server.example" not in path.read_text()
    # and we read our own file back
    again = HostKeys(path)
    assert again.check("server.example", k["ed"]) and again.check("[server.example]:2222", k["ec"])


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_we_read_files_hashed_by_ssh_keygen(k: dict[str, PKey], tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    path = tmp_path / "known_hosts"
    path.write_text(
        f"one.example,192.0.2.7 {k['ed'].get_openssh_line('')}\n"
        f"[two.example]:2200 {k['rsa'].get_openssh_line('')}\n"
        f"@cert-authority *.example {k['ca'].get_openssh_line('')}\n"
    )
    subprocess.run([keygen, "-H", "-f", str(path)], check=True, capture_output=True, timeout=30)
    hashed_text = path.read_text()
    assert "one.example" not in hashed_text and "|1|" in hashed_text
    hk = HostKeys(path)
    assert hk.check("one.example", k["ed"])
    assert hk.check("192.0.2.7", k["ed"])
    assert hk.check("[two.example]:2200", k["rsa"])
    assert not hk.check("two.example", k["rsa"])
    assert hk.lookup("three.example") is None
    assert hk.cert_authorities("x.example") == [k["ca"]]
    assert all(name.startswith("|1|") for name in hk)


def test_non_utf8_host_names_load_and_round_trip(k: dict[str, PKey], tmp_path: Path) -> None:
    """A known_hosts file with a Latin-1 host name after a hashed entry loads
    (names are matched as the raw bytes they are, as OpenSSH does) and saves
    back byte for byte."""
    key = k["ed"]
    raw = (
        f"{HostKeys.hash_host('example.com')} {key.get_name()} {key.get_base64()}\n".encode()
        + b"caf\xe9.example "
        + f"{key.get_name()} {key.get_base64()}\n".encode()
    )
    path = tmp_path / "known_hosts"
    path.write_bytes(raw)
    hk = HostKeys(str(path))
    latin1_name = b"caf\xe9.example".decode("utf-8", "surrogateescape")
    assert hk.check(latin1_name, key)
    assert hk.check("example.com", key)
    hashed = HostKeys.hash_host(latin1_name)
    hk.add(hashed, key.get_name(), key)
    assert hk.lookup(latin1_name) is not None
    hk.save(str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes().startswith(raw)


@pytest.mark.parametrize("salt", ["abc\u00e9", "abc\udce9", "\u00e9"])
def test_corrupt_hashed_name_does_not_break_lookups(k: dict[str, PKey], tmp_path: Path, salt: str) -> None:
    """A hashed name with non-ASCII garbage is just a name that matches nothing."""
    key = k["ed"]
    path = tmp_path / "known_hosts"
    line = f"|1|{salt}|def {key.get_name()} {key.get_base64()}\nexample.com {key.get_name()} {key.get_base64()}\n"
    path.write_bytes(line.encode("utf-8", "surrogateescape"))
    hk = HostKeys(str(path))
    assert hk.check("example.com", key)
    assert hk.lookup("other.example") is None
