"""Public key lines (authorized_keys, .pub) and files."""

from __future__ import annotations

from pathlib import Path

import pytest

import ssh_keys
from ssh_keys import ECDSAKey, Ed25519Key, RSAKey, SSHException


@pytest.fixture(scope="module")
def ed() -> Ed25519Key:
    return Ed25519Key.generate()


def test_line_forms(ed: Ed25519Key) -> None:
    b64 = ed.get_base64()
    table = [
        # (line, options, comment)
        (f"ssh-ed25519 {b64}", None, None),
        (f"ssh-ed25519 {b64}\n", None, None),
        (f"ssh-ed25519 {b64} user@host", None, "user@host"),
        (f"  ssh-ed25519\t{b64}   my  laptop key  ", None, "my  laptop key"),
        (f"no-pty ssh-ed25519 {b64} c", "no-pty", "c"),
        (f'command="echo hi there",no-pty ssh-ed25519 {b64} c d', 'command="echo hi there",no-pty', "c d"),
        (f'from="a b",command="x \\" ssh-rsa y" ssh-ed25519 {b64}', 'from="a b",command="x \\" ssh-rsa y"', None),
    ]
    for line, options, comment in table:
        got_options, key = ssh_keys.parse_public_key_line(line)
        assert key == ed, line
        assert got_options == options, line
        assert key.comment == comment, line
        assert ssh_keys.key_from_line(line.encode()) == ed


def test_openssh_line_round_trip(ed: Ed25519Key) -> None:
    line = ed.get_openssh_line("a comment")
    assert line == f"ssh-ed25519 {ed.get_base64()} a comment"
    key = ssh_keys.key_from_line(line)
    assert key.get_openssh_line() == line
    assert key.get_openssh_line("") == f"ssh-ed25519 {ed.get_base64()}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "empty"),
        ("# just a comment", "comment"),
        ("ssh-ed25519", "no key data"),
        ("ssh-ed25519 !!!notbase64", "base64"),
        ("hello world foo", "not a public key line"),
        ("sk-ssh-foo@openssh.com AAAA x", "unsupported key type"),
        ("ssh-ed25519-cert-v01@openssh.com AAAA x", "unsupported key type"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "truncated"),
    ],
)
def test_bad_lines(line: str, message: str) -> None:
    with pytest.raises(SSHException, match=message):
        ssh_keys.key_from_line(line)


def test_type_must_match_blob(ed: Ed25519Key) -> None:
    with pytest.raises(SSHException, match="holds a ssh-ed25519 key"):
        ssh_keys.key_from_line(f"ssh-rsa {ed.get_base64()}")
    with pytest.raises(SSHException, match="UTF-8"):
        ssh_keys.key_from_line(b"ssh-ed25519 \xff\xfe")


def test_public_key_files(tmp_path: Path) -> None:
    keys = [Ed25519Key.generate(), ECDSAKey.generate(bits=521), RSAKey.generate(1024)]
    for i, key in enumerate(keys):
        path = tmp_path / f"{i}.pub"
        path.write_text(f"# leading comment\n\n{key.get_openssh_line('c' + str(i))}\n")
        loaded = ssh_keys.load_public_key_file(str(path))
        assert loaded == key and loaded.comment == f"c{i}" and not loaded.can_sign()
    empty = tmp_path / "empty.pub"
    empty.write_text("# nothing\n")
    with pytest.raises(SSHException, match="no public key"):
        ssh_keys.load_public_key_file(empty)


def test_rfc4716_headers(ed: Ed25519Key) -> None:
    b64 = ed.get_base64()
    text = (
        "---- BEGIN SSH2 PUBLIC KEY ----\n"
        'Comment: "a long comment that \\\n'
        'continues"\n'
        "x-other: value\n"
        f"{b64[:40]}\n{b64[40:]}\n"
        "---- END SSH2 PUBLIC KEY ----\n"
    )
    key = ssh_keys.load_public_key(text)
    assert key == ed and key.comment == "a long comment that continues"
    with pytest.raises(SSHException, match="no END line"):
        ssh_keys.load_public_key(text.replace("---- END SSH2 PUBLIC KEY ----", ""))
