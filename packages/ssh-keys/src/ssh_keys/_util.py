"""Small helpers shared by the key modules: passphrase key derivation,
0600 file creation, and the ``Message`` conversions keys accept."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable
from typing import IO, Any

from ssh_wire import Message, SSHException

BytesLike = bytes | bytearray | memoryview


def to_bytes(value: BytesLike | str) -> bytes:
    """``str`` as UTF-8, bytes-likes unchanged (as ``bytes``)."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def password_bytes(password: BytesLike | str | None) -> bytes | None:
    """A passphrase as bytes; an empty passphrase counts as none."""
    if password is None:
        return None
    raw = to_bytes(password)
    return raw or None


def _hash_factory(hash_alg: Any) -> Callable[[], Any]:
    """Turn a hashlib name, hashlib constructor or Crypto.Hash-style module
    into a zero-argument callable that returns a fresh hash object."""
    if isinstance(hash_alg, str):
        name = hash_alg
        return lambda: hashlib.new(name)
    new = getattr(hash_alg, "new", None)
    if callable(new) and not callable(getattr(hash_alg, "update", None)):
        return lambda: new()
    if callable(hash_alg):
        return lambda: hash_alg()
    raise TypeError(f"not a hash algorithm: {hash_alg!r}")


def generate_key_bytes(hash_alg: Any, salt: BytesLike, key: BytesLike | str, nbytes: int) -> bytes:
    """Stretch a passphrase into ``nbytes`` of key material, as OpenSSL's
    ``EVP_BytesToKey`` with one iteration (the legacy PEM key-file scheme).

    ``hash_alg`` is a hashlib constructor (``hashlib.md5``), a hashlib name
    (``"md5"``) or a Crypto.Hash-style module; only the first 8 bytes of
    ``salt`` are used. Each block is ``H(previous block + key + salt)``.
    """
    factory = _hash_factory(hash_alg)
    salt_b = bytes(salt)[:8]
    key_b = to_bytes(key)
    out = bytearray()
    digest = b""
    while len(out) < nbytes:
        h = factory()
        h.update(digest)
        h.update(key_b)
        h.update(salt_b)
        digest = h.digest()
        out += digest
    return bytes(out[:nbytes])


def open_private(filename: str | os.PathLike[str], binary: bool = False) -> IO[Any]:
    """Open ``filename`` for writing, created (or truncated) with mode 0600
    from its first byte: the mode is set by ``os.open`` (and, for a file that
    already existed, by ``fchmod`` before anything is written)."""
    fd = os.open(os.fspath(filename), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "wb" if binary else "w")
    except BaseException:
        os.close(fd)
        raise


def b64decode_strict(text: str | bytes, what: str) -> bytes:
    """Decode base64 (whitespace allowed), raising ``SSHException`` naming
    ``what`` when it is not valid base64."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    raw = b"".join(raw.split())
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SSHException(f"{what}: invalid base64 data") from exc


def as_message(msg: Message | BytesLike) -> Message:
    """A strict reader over ``msg`` (its unread part when it is a Message)."""
    if isinstance(msg, Message):
        return Message(msg.get_remainder(), strict=True)
    return Message(bytes(msg), strict=True)
