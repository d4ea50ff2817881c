"""Public keys as text: authorized_keys / .pub lines and RFC 4716 files."""

from __future__ import annotations

import os

from ssh_wire import SSHException

from ._util import b64decode_strict
from .pkey import PathLike, PKey, key_from_blob

_UNSUPPORTED_HINTS = ("sk-", "-cert-v01@openssh.com", "ssh-", "ecdsa-", "x509")


def _tokens(text: str, limit: int) -> list[tuple[str, int]]:
    """Up to ``limit`` whitespace-separated tokens of ``text`` (double quotes
    protect spaces, as in authorized_keys options), each with its end offset."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n and len(out) < limit:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start, quoted = i, False
        while i < n and (quoted or text[i] not in " \t"):
            if text[i] == "\\" and quoted and i + 1 < n:
                i += 1
            elif text[i] == '"':
                quoted = not quoted
            i += 1
        out.append((text[start:i], i))
    return out


def parse_public_key_line(line: str | bytes) -> tuple[str | None, PKey]:
    """Parse an authorized_keys or .pub line ``[options] type base64 [comment]``.

    Returns ``(options, key)``; ``options`` is the raw option string or None,
    and ``key.comment`` is set from the line. ``SSHException`` for a line
    that is not a public key of a supported type.
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SSHException("public key line is not UTF-8") from exc
    text = line.strip()
    if not text or text.startswith("#"):
        raise SSHException("not a public key line: empty or a comment")
    tokens = _tokens(text, 3)
    registry = PKey._registry
    if tokens[0][0] in registry:
        at = 0
    elif len(tokens) > 1 and tokens[1][0] in registry:
        at = 1
    else:
        for tok, _ in tokens[:2]:
            if any(h in tok for h in _UNSUPPORTED_HINTS):
                raise SSHException(f"unsupported key type {tok[:64]!r}")
        raise SSHException("not a public key line")
    if len(tokens) <= at + 1:
        raise SSHException("public key line has no key data")
    keytype = tokens[at][0]
    b64, end = tokens[at + 1]
    key = key_from_blob(b64decode_strict(b64, "public key line"))
    if key.get_name() != keytype:
        raise SSHException(f"public key line says {keytype} but holds a {key.get_name()} key")
    key.comment = text[end:].strip() or None
    return (tokens[0][0] if at else None), key


def key_from_line(line: str | bytes) -> PKey:
    """The key on an authorized_keys / .pub line (options allowed before the
    type); its ``comment`` is the rest of the line, or None."""
    return parse_public_key_line(line)[1]


def _rfc4716(text: str) -> PKey:
    lines = [ln.strip() for ln in text.splitlines()]
    try:
        end = lines.index("---- END SSH2 PUBLIC KEY ----")
    except ValueError as exc:
        raise SSHException("truncated RFC 4716 public key: no END line") from exc
    body, comment, i = [], None, 1
    while i < end:
        ln = lines[i]
        if ":" in ln:
            header = ln
            while header.endswith("\\") and i + 1 < end:
                i += 1
                header = header[:-1] + lines[i]
            name, _, value = header.partition(":")
            if name.strip().lower() == "comment":
                comment = value.strip().strip('"')
        elif ln:
            body.append(ln)
        i += 1
    key = key_from_blob(b64decode_strict("".join(body), "RFC 4716 public key"))
    key.comment = comment
    return key


def load_public_key(text: str | bytes) -> PKey:
    """A public key from the contents of a .pub file: an OpenSSH line or an
    RFC 4716 ``---- BEGIN SSH2 PUBLIC KEY ----`` block."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if text.lstrip().startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
        return _rfc4716(text.lstrip())
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return key_from_line(line)
    raise SSHException("no public key in the file")


def load_public_key_file(path: PathLike) -> PKey:
    """Load the public key in ``path`` (a .pub file; ``~`` is expanded)."""
    with open(os.path.expanduser(os.fspath(path)), "rb") as f:
        return load_public_key(f.read())
