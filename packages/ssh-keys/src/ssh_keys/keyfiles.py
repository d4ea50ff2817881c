"""Private key file formats: detection, decryption and encoding.

Handled here: OpenSSH ``openssh-key-v1`` (plain and bcrypt-pbkdf encrypted),
traditional PEM (PKCS#1 RSA, DSA, SEC1 EC) plain or with the legacy
``Proc-Type: 4,ENCRYPTED`` / ``DEK-Info`` encryption, and PKCS#8 (plain and
encrypted). ``cryptography`` parses the DER and PKCS#8 structures; the
OpenSSH container and the legacy PEM encryption are done here. This module
knows nothing of key classes: OpenSSH records are handed back undecoded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bcrypt
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ssh_wire import Message, PasswordRequiredException, ProtocolError, SSHException

from ._util import b64decode_strict, generate_key_bytes

OPENSSH_MAGIC = b"openssh-key-v1\x00"
# A bcrypt round count above this is refused: a hostile file must not make
# loading take minutes (ssh-keygen's default is 16).
MAX_BCRYPT_ROUNDS = 10_000
DEFAULT_BCRYPT_ROUNDS = 16
# The same for a PKCS#8 file's PBKDF2 iteration count (or scrypt N): OpenSSL
# writes 2048, cryptography and newer tools some hundred thousand.
MAX_PKCS8_WORK = 5_000_000

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----[ \t]*\r?\n(.*?)-----END \1-----", re.S)
_TRADITIONAL = {"RSA PRIVATE KEY", "DSA PRIVATE KEY", "EC PRIVATE KEY"}


@dataclass(frozen=True)
class _OpenSSHCipher:
    """One cipher an openssh-key-v1 file may be encrypted with."""

    key_len: int
    iv_len: int
    block: int
    mode: str  # "ctr", "cbc" or "gcm"
    tag_len: int = 0


_OPENSSH_CIPHERS = {
    "aes128-ctr": _OpenSSHCipher(16, 16, 16, "ctr"),
    "aes192-ctr": _OpenSSHCipher(24, 16, 16, "ctr"),
    "aes256-ctr": _OpenSSHCipher(32, 16, 16, "ctr"),
    "aes128-cbc": _OpenSSHCipher(16, 16, 16, "cbc"),
    "aes192-cbc": _OpenSSHCipher(24, 16, 16, "cbc"),
    "aes256-cbc": _OpenSSHCipher(32, 16, 16, "cbc"),
    "aes128-gcm@openssh.com": _OpenSSHCipher(16, 12, 16, "gcm", 16),
    "aes256-gcm@openssh.com": _OpenSSHCipher(32, 12, 16, "gcm", 16),
}

# Legacy PEM encryption: DEK-Info name -> (cipher factory, key length, IV length)
_LEGACY_CIPHERS: dict[str, tuple[Any, int, int]] = {
    "AES-128-CBC": (algorithms.AES, 16, 16),
    "AES-192-CBC": (algorithms.AES, 24, 16),
    "AES-256-CBC": (algorithms.AES, 32, 16),
    "DES-EDE3-CBC": (TripleDES, 24, 8),
}
LEGACY_CIPHER_NAMES = tuple(_LEGACY_CIPHERS)


def legacy_cipher_table() -> dict[str, dict[str, Any]]:
    """The legacy PEM ciphers in the shape paramiko publishes as
    ``PKey._CIPHER_TABLE``: DEK-Info name -> cipher, keysize, blocksize, mode."""
    return {
        name: {"cipher": factory, "keysize": key_len, "blocksize": iv_len, "mode": modes.CBC}
        for name, (factory, key_len, iv_len) in _LEGACY_CIPHERS.items()
    }


_WRONG_PASSWORD = "wrong password, or the key file is corrupt"


@dataclass
class Decoded:
    """A decoded key file: either a ``cryptography`` key (PEM, PKCS#8) or,
    for OpenSSH files, the decrypted record section and the public blob."""

    crypto_key: Any = None
    record: bytes | None = None
    public_blob: bytes = b""


# -- detection -------------------------------------------------------------


def decode_private(data: bytes, password: bytes | None) -> Decoded:
    """Decode the contents of a private key file.

    ``PasswordRequiredException`` when it is encrypted and ``password`` is
    None; ``SSHException`` naming the problem for a wrong password, a
    corrupt, truncated or unsupported file.
    """
    found = _PEM_BLOCK.search(data)
    if found is None:
        raise SSHException(_explain_not_pem(data))
    label = found.group(1).decode("ascii")
    headers, body = _split_headers(found.group(2))
    der = b64decode_strict(body, f"corrupt key file ({label})")
    if label == "OPENSSH PRIVATE KEY":
        try:
            return _decode_openssh(der, password)
        except ProtocolError as exc:
            raise SSHException(f"corrupt or truncated OpenSSH key file: {exc}") from exc
    if label in _TRADITIONAL:
        proc = headers.get("proc-type")
        if proc is not None:
            if proc.replace(" ", "") != "4,ENCRYPTED":
                raise SSHException(f"unsupported PEM Proc-Type {proc!r}")
            der = _legacy_decrypt(der, headers.get("dek-info"), password)
            return Decoded(crypto_key=_load_traditional(label, der, encrypted=True))
        return Decoded(crypto_key=_load_traditional(label, der, encrypted=False))
    if label == "PRIVATE KEY":
        return Decoded(crypto_key=_load_der(der, None, encrypted=False))
    if label == "ENCRYPTED PRIVATE KEY":
        if password is None:
            raise PasswordRequiredException("private key file is encrypted (PKCS#8) and no password was given")
        work = _pkcs8_work_factor(der)
        if work is not None and work > MAX_PKCS8_WORK:
            raise SSHException(f"unsupported PKCS#8 encryption: work factor {work} is above the limit {MAX_PKCS8_WORK}")
        return Decoded(crypto_key=_load_der(der, password, encrypted=True))
    raise SSHException(f"unsupported key file type: BEGIN {label}")


def _explain_not_pem(data: bytes) -> str:
    head = data.lstrip()[:64]
    if head.startswith(b"-----BEGIN"):
        return "truncated or corrupt key file: its -----END----- line is missing or does not match"
    if head.startswith((b"ssh-", b"ecdsa-", b"sk-")):
        return "this is a public key line, not a private key file"
    if head.startswith(b"PuTTY-User-Key-File"):
        return "unsupported key file type: PuTTY .ppk (convert it with puttygen)"
    if head.startswith(b"---- BEGIN SSH2"):
        return "this is an RFC 4716 public key, not a private key file"
    return "not a private key file: no -----BEGIN ... PRIVATE KEY----- block"


def _split_headers(block: bytes) -> tuple[dict[str, str], bytes]:
    """RFC 1421 headers (``Name: value`` lines before a blank line) and the body."""
    lines = block.splitlines()
    headers: dict[str, str] = {}
    i = 0
    while i < len(lines) and b":" in lines[i]:
        name, _, value = lines[i].partition(b":")
        headers[name.strip().decode("ascii", "replace").lower()] = value.strip().decode("ascii", "replace")
        i += 1
    if headers:
        while i < len(lines) and not lines[i].strip():
            i += 1
    return headers, b"".join(lines[i:])


# -- PEM and PKCS#8 (through cryptography) ------------------------------------


def _der_items(data: bytes, pos: int, end: int) -> list[tuple[int, int, int]]:
    """The (tag, start, end) of each DER element in ``data[pos:end]``."""
    out = []
    while pos < end:
        if pos + 2 > end:
            raise ValueError("truncated DER")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            if n == 0 or n > 4 or pos + n > end:
                raise ValueError("bad DER length")
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        if pos + length > end:
            raise ValueError("truncated DER")
        out.append((tag, pos, pos + length))
        pos += length
    return out


def _pkcs8_work_factor(der: bytes) -> int | None:
    """The first INTEGER inside an EncryptedPrivateKeyInfo's algorithm
    parameters: the PBKDF2 / PBES1 / PKCS#12 iteration count, or scrypt's N.
    None when the structure cannot be read (cryptography then says why)."""
    try:
        (outer,) = _der_items(der, 0, len(der))
        algorithm = _der_items(der, outer[1], outer[2])[0]
        stack = [algorithm]
        while stack:
            tag, start, end = stack.pop(0)
            if tag == 0x02:
                return int.from_bytes(der[start:end], "big")
            if tag & 0x20:
                stack[0:0] = _der_items(der, start, end)
    except (ValueError, IndexError):
        return None
    return None


def _load_der(der: bytes, password: bytes | None, encrypted: bool) -> Any:
    return _crypto_load(lambda: serialization.load_der_private_key(der, password), encrypted, "")


def _load_traditional(label: str, der: bytes, encrypted: bool) -> Any:
    pem = _pem_wrap(label, der, [])
    return _crypto_load(lambda: serialization.load_pem_private_key(pem.encode("ascii"), None), encrypted, label)


def _crypto_load(load: Callable[[], Any], encrypted: bool, label: str) -> Any:
    """Run a ``cryptography`` key loader, its errors turned into ``SSHException``
    (a wrong password when the data was encrypted)."""
    try:
        return load()
    except UnsupportedAlgorithm as exc:
        raise SSHException(f"unsupported key type or encryption in key file: {exc}") from exc
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise SSHException(_WRONG_PASSWORD) from exc
        where = f" ({label})" if label else ""
        raise SSHException(f"corrupt key file{where}: {exc}") from exc


def _legacy_key(name: str, iv: bytes, password: bytes) -> tuple[Any, bytes]:
    factory, key_len, _ = _LEGACY_CIPHERS[name]
    return factory, generate_key_bytes(hashlib.md5, iv[:8], password, key_len)


def _legacy_decrypt(data: bytes, dek_info: str | None, password: bytes | None) -> bytes:
    """Undo the legacy OpenSSL PEM encryption (key from EVP_BytesToKey-MD5)."""
    if dek_info is None:
        raise SSHException("corrupt key file: encrypted PEM without a DEK-Info header")
    name, _, iv_hex = dek_info.partition(",")
    name = name.strip().upper()
    if name not in _LEGACY_CIPHERS:
        raise SSHException(f"unsupported key file encryption {name!r}")
    if password is None:
        raise PasswordRequiredException("private key file is encrypted and no password was given")
    _, _, iv_len = _LEGACY_CIPHERS[name]
    try:
        iv = bytes.fromhex(iv_hex.strip())
    except ValueError as exc:
        raise SSHException("corrupt key file: DEK-Info IV is not hex") from exc
    if len(iv) != iv_len:
        raise SSHException("corrupt key file: DEK-Info IV has the wrong length")
    if not data or len(data) % iv_len:
        raise SSHException("corrupt or truncated key file: encrypted data is not a whole number of blocks")
    factory, key = _legacy_key(name, iv, password)
    dec = Cipher(factory(key), modes.CBC(iv)).decryptor()
    plain = dec.update(data) + dec.finalize()
    pad = plain[-1]
    if not 1 <= pad <= iv_len or plain[-pad:] != bytes([pad]) * pad:
        raise SSHException(_WRONG_PASSWORD)
    return plain[:-pad]


# -- OpenSSH openssh-key-v1 -------------------------------------------------


def _decode_openssh(blob: bytes, password: bytes | None) -> Decoded:
    if not blob.startswith(OPENSSH_MAGIC):
        raise SSHException("corrupt OpenSSH key file: bad magic")
    m = Message(blob[len(OPENSSH_MAGIC) :], strict=True)
    cipher_name = m.get_name()
    kdf_name = m.get_name()
    kdf_options = m.get_string()
    count = m.get_int()
    if count != 1:
        raise SSHException(f"OpenSSH key file holds {count} keys; exactly one is supported")
    public_blob = m.get_string()
    encrypted = m.get_string()
    if cipher_name == "none":
        if kdf_name != "none":
            raise SSHException(f"corrupt OpenSSH key file: kdf {kdf_name!r} without a cipher")
        plain = encrypted
        block = 8
    else:
        spec = _OPENSSH_CIPHERS.get(cipher_name)
        if spec is None:
            raise SSHException(f"unsupported OpenSSH key file cipher {cipher_name!r}")
        if kdf_name != "bcrypt":
            raise SSHException(f"unsupported OpenSSH key file kdf {kdf_name!r}")
        if password is None:
            raise PasswordRequiredException("private key file is encrypted and no password was given")
        tag = m.get_bytes(spec.tag_len) if spec.tag_len else b""
        plain = _openssh_decrypt(spec, kdf_options, password, encrypted, tag)
        block = spec.block
    if len(plain) % block:
        raise SSHException("corrupt OpenSSH key file: private section is not a whole number of blocks")
    pm = Message(plain, strict=True)
    if pm.get_int() != pm.get_int():
        raise SSHException(_WRONG_PASSWORD if cipher_name != "none" else "corrupt OpenSSH key file: check bytes differ")
    return Decoded(record=pm.get_remainder(), public_blob=public_blob)


def _bcrypt_key(kdf_options: bytes, password: bytes, nbytes: int) -> bytes:
    km = Message(kdf_options, strict=True)
    salt = km.get_string()
    rounds = km.get_int()
    if not salt or not 1 <= rounds <= MAX_BCRYPT_ROUNDS:
        raise SSHException(f"unsupported bcrypt parameters in key file (salt {len(salt)} bytes, {rounds} rounds)")
    try:
        key: bytes = bcrypt.kdf(password, salt, nbytes, rounds, ignore_few_rounds=True)
    except (ValueError, TypeError) as exc:
        raise SSHException(f"bcrypt key derivation failed: {exc}") from exc
    return key


def _openssh_decrypt(spec: _OpenSSHCipher, kdf_options: bytes, password: bytes, data: bytes, tag: bytes) -> bytes:
    if not data or len(data) % spec.block:
        raise SSHException("corrupt or truncated OpenSSH key file: encrypted section has a bad length")
    keyiv = _bcrypt_key(kdf_options, password, spec.key_len + spec.iv_len)
    key, iv = keyiv[: spec.key_len], keyiv[spec.key_len :]
    if spec.mode == "gcm":
        try:
            return AESGCM(key).decrypt(iv, data + tag, None)
        except InvalidTag as exc:
            raise SSHException(_WRONG_PASSWORD) from exc
    mode = modes.CTR(iv) if spec.mode == "ctr" else modes.CBC(iv)
    dec = Cipher(algorithms.AES(key), mode).decryptor()
    return dec.update(data) + dec.finalize()


def read_comment_and_padding(m: Message) -> str:
    """After an OpenSSH private record: the comment, and a check that the rest
    is the 1, 2, 3, ... padding (anything else means a corrupt file)."""
    comment = m.get_string().decode("utf-8", "replace")
    rest = m.get_remainder()
    if rest != bytes(range(1, len(rest) + 1)):
        raise SSHException("corrupt OpenSSH key file: bad padding after the private key")
    return comment


def encode_openssh(public_blob: bytes, record: bytes, comment: str, password: bytes | None) -> str:
    """An openssh-key-v1 file; encrypted with aes256-ctr and bcrypt-pbkdf
    (16 rounds, as ssh-keygen) when ``password`` is given."""
    check = os.urandom(4)
    body = bytearray(check + check + record)
    body += Message().add_string(comment).asbytes()
    if password:
        spec = _OPENSSH_CIPHERS["aes256-ctr"]
        salt = os.urandom(16)
        kdf_options = Message().add_string(salt).add_int(DEFAULT_BCRYPT_ROUNDS).asbytes()
        cipher_name, kdf_name, block = "aes256-ctr", "bcrypt", spec.block
    else:
        kdf_options, cipher_name, kdf_name, block = b"", "none", "none", 8
    body += bytes(range(1, (-len(body)) % block + 1))
    if password:
        keyiv = _bcrypt_key(kdf_options, password, spec.key_len + spec.iv_len)
        enc = Cipher(algorithms.AES(keyiv[: spec.key_len]), modes.CTR(keyiv[spec.key_len :])).encryptor()
        section = enc.update(bytes(body)) + enc.finalize()
    else:
        section = bytes(body)
    out = Message().add_bytes(OPENSSH_MAGIC).add_string(cipher_name).add_string(kdf_name)
    out.add_string(kdf_options).add_int(1).add_string(public_blob).add_string(section)
    return _pem_wrap("OPENSSH PRIVATE KEY", out.asbytes(), [], width=70)


# -- writing PEM and PKCS#8 ---------------------------------------------------


def _pem_wrap(label: str, der: bytes, headers: list[str], width: int = 64) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [f"-----BEGIN {label}-----", *headers]
    if headers:
        lines.append("")
    lines += [b64[i : i + width] for i in range(0, len(b64), width)]
    lines.append(f"-----END {label}-----")
    return "\n".join(lines) + "\n"


def _traditional_label(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA PRIVATE KEY"
    if isinstance(key, dsa.DSAPrivateKey):
        return "DSA PRIVATE KEY"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "EC PRIVATE KEY"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raise SSHException("Ed25519 keys have no traditional PEM form; write them as openssh or pkcs8")
    raise SSHException(f"cannot write a {type(key).__name__} key as PEM")


def encode_traditional(key: Any, password: bytes | None, cipher: str = "AES-128-CBC") -> str:
    """A traditional PEM file (PKCS#1 / DSA / SEC1), with the legacy
    Proc-Type/DEK-Info encryption using ``cipher`` when ``password`` is given."""
    label = _traditional_label(key)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    if not password:
        return _pem_wrap(label, der, [])
    if cipher not in _LEGACY_CIPHERS:
        raise ValueError(f"unknown PEM cipher {cipher!r}; use one of {', '.join(_LEGACY_CIPHERS)}")
    _, _, iv_len = _LEGACY_CIPHERS[cipher]
    iv = os.urandom(iv_len)
    factory, secret = _legacy_key(cipher, iv, password)
    pad = iv_len - len(der) % iv_len
    enc = Cipher(factory(secret), modes.CBC(iv)).encryptor()
    data = enc.update(der + bytes([pad]) * pad) + enc.finalize()
    headers = ["Proc-Type: 4,ENCRYPTED", f"DEK-Info: {cipher},{iv.hex().upper()}"]
    return _pem_wrap(label, data, headers)


def encode_pem(key: Any, password: bytes | None, fmt: str) -> str:
    """A ``"pem"`` (traditional, AES-128-CBC when encrypted) or ``"pkcs8"``
    (PBES2 when encrypted) private key file for a ``cryptography`` key."""
    if fmt == "pem":
        return encode_traditional(key, password)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    try:
        out: bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    except ValueError as exc:
        raise SSHException(f"cannot write this key as PKCS#8: {exc}") from exc
    return out.decode("ascii")
