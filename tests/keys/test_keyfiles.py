"""Key file details: generate_key_bytes, the legacy PEM encryption (checked
against OpenSSL), the OpenSSH container's ciphers and every way a file can be
wrong (each with an SSHException that says which)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from keys_testdata import run

import ssh_keys
from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, PasswordRequiredException, PKey, RSAKey, SSHException, keyfiles
from ssh_keys.keyfiles import OPENSSH_MAGIC
from ssh_wire import Message
from support.peers import need_program

# (hash, salt hex, passphrase, nbytes, expected hex) from `openssl enc -P -md H -S SALT -pass pass:P`
# (EVP_BytesToKey, one iteration: key bytes then IV bytes).
KDF_TABLE = [
    (
        "md5",
        "0102030405060708",
        "happy birthday",
        48,
        "F192FC9CCDD14328B33D6530ED9CD472E63A9D3F25FC9DC40BC5833BC0DB5B03EE4DFE0A156271B390C566CF51AE735C",
    ),
    ("sha1", "a1b2c3d4e5f60718", "x", 32, "E9D06B1CAF4ABCEC33FD7C2AA913E0D94F749BB6EF124DAA039F21F3A822C6F6"),
    (
        "sha256",
        "0011223344556677",
        "pässwörd",
        32,
        "02F03926C347B9F672D5F01FE5830E3735EA0C175CA6A413611450CF9D337132",
    ),
]


class _CryptoHashStyle:
    """A PyCrypto-style hash module: an object with ``new()``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def new(self) -> hashlib._Hash:
        return hashlib.new(self.name)


@pytest.mark.parametrize(("name", "salt", "password", "nbytes", "expected"), KDF_TABLE)
def test_generate_key_bytes_matches_openssl(name: str, salt: str, password: str, nbytes: int, expected: str) -> None:
    want = bytes.fromhex(expected)
    for alg in (name, getattr(hashlib, name), _CryptoHashStyle(name)):
        assert ssh_keys.generate_key_bytes(alg, bytes.fromhex(salt), password, nbytes) == want
        assert ssh_keys.generate_key_bytes(alg, bytes.fromhex(salt), password.encode(), nbytes) == want
    # Only the first 8 bytes of the salt count; shorter outputs are prefixes.
    assert ssh_keys.generate_key_bytes(name, bytes.fromhex(salt) + b"more", password, 5) == want[:5]


@pytest.fixture(scope="module")
def pem_keys() -> list[PKey]:
    return [RSAKey.generate(1024), DSSKey.generate(1024), ECDSAKey.generate(bits=384)]


def _public_pem(key: PKey) -> str:
    return key.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()  # type: ignore[attr-defined]


@pytest.mark.interop
@pytest.mark.timeout(60)
@pytest.mark.parametrize("cipher", keyfiles.LEGACY_CIPHER_NAMES)
def test_legacy_pem_we_write_openssl_reads(pem_keys: list[PKey], tmp_path: Path, cipher: str) -> None:
    openssl = need_program("openssl")
    for key in pem_keys:
        path = tmp_path / "k.pem"
        path.write_text(keyfiles.encode_traditional(key.key, b"s3cret pass", cipher))  # type: ignore[attr-defined]
        assert f"DEK-Info: {cipher}," in path.read_text()
        out = run([openssl, "pkey", "-in", str(path), "-passin", "pass:s3cret pass", "-pubout"]).stdout
        assert out == _public_pem(key)
        assert PKey.from_private_key_file(path, "s3cret pass") == key
        if cipher != "AES-192-CBC":  # cryptography's own loader lacks AES-192
            assert load_pem_private_key(path.read_bytes(), b"s3cret pass") is not None


@pytest.mark.interop
@pytest.mark.timeout(60)
@pytest.mark.parametrize("flag", ["-aes128", "-aes192", "-aes256", "-des3"])
def test_legacy_pem_openssl_writes_we_read(pem_keys: list[PKey], tmp_path: Path, flag: str) -> None:
    openssl = need_program("openssl")
    for key in pem_keys:
        plain = tmp_path / "plain.pem"
        key.write_private_key_file(plain, format="pem")
        enc = tmp_path / "enc.pem"
        run([openssl, "pkey", "-in", str(plain), "-traditional", flag, "-passout", "pass:pw12345", "-out", str(enc)])
        assert "Proc-Type: 4,ENCRYPTED" in enc.read_text()
        assert PKey.from_private_key_file(enc, "pw12345") == key
        klass: Any = type(key)
        assert klass(filename=str(enc), password=b"pw12345") == key
        with pytest.raises(PasswordRequiredException):
            PKey.from_private_key_file(enc)
        with pytest.raises(SSHException, match="wrong password"):
            PKey.from_private_key_file(enc, "pw54321")


@pytest.mark.interop
@pytest.mark.timeout(60)
def test_pkcs8_from_openssl(pem_keys: list[PKey], tmp_path: Path) -> None:
    openssl = need_program("openssl")
    for key in [*pem_keys, Ed25519Key.generate()]:
        plain = tmp_path / "plain.pem"
        key.write_private_key_file(plain, format="pkcs8")
        assert plain.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        enc = tmp_path / "enc.pem"
        run(
            [
                openssl,
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                str(plain),
                "-passout",
                "pass:pw",
                "-out",
                str(enc),
            ]
        )
        assert enc.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert PKey.from_private_key_file(enc, "pw") == key
        with pytest.raises(PasswordRequiredException):
            PKey.from_private_key_file(enc)
        with pytest.raises(SSHException, match="wrong password"):
            PKey.from_private_key_file(enc, "nope")


@pytest.mark.interop
@pytest.mark.timeout(60)
@pytest.mark.parametrize("cipher", ["aes256-gcm@openssh.com", "aes128-cbc", "aes192-ctr", "aes128-gcm@openssh.com"])
def test_openssh_container_ciphers_from_ssh_keygen(tmp_path: Path, cipher: str) -> None:
    keygen = need_program("ssh-keygen")
    path = tmp_path / "id"
    run([keygen, "-q", "-t", "ed25519", "-N", "pw pw pw", "-Z", cipher, "-a", "4", "-C", "z", "-f", str(path)])
    key = PKey.from_private_key_file(path, "pw pw pw")
    assert key.get_openssh_line() == (tmp_path / "id.pub").read_text().strip()
    with pytest.raises(SSHException, match="wrong password"):
        PKey.from_private_key_file(path, "wrong")


# -- malformed files --------------------------------------------------------


def _armor(label: str, der: bytes, headers: str = "") -> bytes:
    b64 = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{headers}{b64}-----END {label}-----\n".encode()


def _container(
    record: bytes,
    public: bytes,
    cipher: str = "none",
    kdf: str = "none",
    kdf_options: bytes = b"",
    count: int = 1,
) -> bytes:
    m = Message().add_bytes(OPENSSH_MAGIC).add_string(cipher).add_string(kdf).add_string(kdf_options)
    return _armor("OPENSSH PRIVATE KEY", m.add_int(count).add_string(public).add_string(record).asbytes())


@pytest.fixture(scope="module")
def ed() -> Ed25519Key:
    return Ed25519Key.generate()


def _section(key: PKey, check2: bytes = b"abcd", comment: str = "c", padding: bytes | None = None) -> bytes:
    body = b"abcd" + check2 + key.private_message().asbytes() + Message().add_string(comment).asbytes()
    pad = bytes(range(1, (-len(body)) % 8 + 1)) if padding is None else padding
    return body + pad


def _badly_padded(key: PKey) -> bytes:
    body = _section(key, padding=b"")
    return body + b"\x02" * ((-len(body)) % 8 or 8)


def test_hand_built_container_loads(ed: Ed25519Key) -> None:
    key = ssh_keys.load_private_key(_container(_section(ed), ed.asbytes()))
    assert key == ed and key.comment == "c"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda k: _container(_section(k, check2=b"abce"), k.asbytes()), "check bytes differ"),
        (lambda k: _container(_badly_padded(k), k.asbytes()), "padding"),
        (lambda k: _container(_section(k)[:-1], k.asbytes()), "whole number of blocks"),
        (lambda k: _container(_section(k), Ed25519Key.generate().asbytes()), "does not match its public"),
        (lambda k: _container(_section(k), k.asbytes(), count=2), "exactly one"),
        (lambda k: _container(_section(k), k.asbytes(), kdf="bcrypt"), "without a cipher"),
        (lambda k: _container(_section(k), k.asbytes(), cipher="twofish-cbc", kdf="bcrypt"), "unsupported"),
        (lambda k: _container(_section(k), k.asbytes(), cipher="aes256-ctr", kdf="scrypt"), "unsupported"),
        (
            lambda k: _container(
                _section(k) * 2,
                k.asbytes(),
                "aes256-ctr",
                "bcrypt",
                Message().add_string(b"salt").add_int(10**6).asbytes(),
            ),
            "bcrypt parameters",
        ),
        (lambda k: _armor("OPENSSH PRIVATE KEY", b"openssh-key-v2\x00"), "bad magic"),
        (lambda k: _armor("OPENSSH PRIVATE KEY", OPENSSH_MAGIC + b"\x00\x00"), "truncated"),
        (lambda k: _armor("CERTIFICATE", b"x"), "unsupported key file type: BEGIN CERTIFICATE"),
        (lambda k: _armor("PRIVATE KEY", b"\x30\x03\x02\x01\x00"), "corrupt key file"),
        (lambda k: _armor("RSA PRIVATE KEY", b"\x30\x00"), "corrupt key file"),
        (lambda k: b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n", "END"),
        (lambda k: b"-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n", "base64"),
        (lambda k: k.get_openssh_line().encode(), "public key line"),
        (lambda k: b"PuTTY-User-Key-File-3: ssh-ed25519\n", "PuTTY"),
        (lambda k: b"\x00\x01\x02 random", "not a private key file"),
        (lambda k: b"", "not a private key file"),
    ],
)
def test_bad_files_say_what_is_wrong(ed: Ed25519Key, build: object, message: str) -> None:
    data = build(ed)  # type: ignore[operator]
    with pytest.raises(SSHException, match=message) as info:
        ssh_keys.load_private_key(data, "pw")
    assert not isinstance(info.value, PasswordRequiredException)


LEGACY_HEADERS = [
    ("Proc-Type: 4,ENCRYPTED\n\n", "DEK-Info"),
    ("Proc-Type: 4,ENCRYPTED\nDEK-Info: RC2-CBC,00\n\n", "unsupported key file encryption"),
    ("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,XYZ\n\n", "not hex"),
    ("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011\n\n", "wrong length"),
    ("Proc-Type: 4,MIC-ONLY\n\n", "Proc-Type"),
]


@pytest.mark.parametrize(("headers", "message"), LEGACY_HEADERS)
def test_bad_legacy_pem_headers(headers: str, message: str) -> None:
    with pytest.raises(SSHException, match=message):
        ssh_keys.load_private_key(_armor("RSA PRIVATE KEY", bytes(32), headers), "pw")


def test_legacy_ciphertext_must_be_whole_blocks() -> None:
    headers = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n"
    with pytest.raises(SSHException, match="whole number of blocks"):
        ssh_keys.load_private_key(_armor("RSA PRIVATE KEY", bytes(31), headers), "pw")
    with pytest.raises(PasswordRequiredException):
        ssh_keys.load_private_key(_armor("RSA PRIVATE KEY", bytes(32), headers))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PKey.from_private_key_file(tmp_path / "absent")
    with pytest.raises(SSHException, match="directory"):
        PKey.from_private_key_file(tmp_path)


def test_unsupported_crypto_key_type() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed448
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    pem = ed448.Ed448PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(SSHException, match="unsupported key type"):
        ssh_keys.load_private_key(pem)


@pytest.mark.interop
@pytest.mark.timeout(30)
def test_rfc4716_public_keys_from_ssh_keygen(tmp_path: Path) -> None:
    """ssh-keygen -e writes an RFC 4716 public key; we read the same key from it."""
    keygen = need_program("ssh-keygen")
    key = ECDSAKey.generate(bits=256)
    pub = tmp_path / "k.pub"
    pub.write_text(key.get_openssh_line("hello there") + "\n")
    rfc = subprocess.run([keygen, "-e", "-f", str(pub)], capture_output=True, text=True, timeout=30, check=True).stdout
    assert rfc.startswith("---- BEGIN SSH2 PUBLIC KEY ----")
    assert ssh_keys.load_public_key(rfc) == key
    (tmp_path / "k.rfc").write_text(rfc)
    assert ssh_keys.load_public_key_file(tmp_path / "k.rfc") == key


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def _pbes2_file(iterations: int) -> bytes:
    """An EncryptedPrivateKeyInfo (PBES2, PBKDF2, AES-256-CBC) with the given
    iteration count and random contents."""
    oid_pbes2 = bytes.fromhex("06092a864886f70d01050d")
    oid_pbkdf2 = bytes.fromhex("06092a864886f70d01050c")
    oid_aes256cbc = bytes.fromhex("060960864801650304012a")
    count = iterations.to_bytes((iterations.bit_length() + 8) // 8, "big")
    kdf = _tlv(0x30, oid_pbkdf2 + _tlv(0x30, _tlv(0x04, bytes(8)) + _tlv(0x02, count)))
    scheme = _tlv(0x30, oid_aes256cbc + _tlv(0x04, bytes(16)))
    algorithm = _tlv(0x30, oid_pbes2 + _tlv(0x30, kdf + scheme))
    return _armor("ENCRYPTED PRIVATE KEY", _tlv(0x30, algorithm + _tlv(0x04, bytes(64))))


def test_pkcs8_iteration_count_is_limited() -> None:
    assert keyfiles._pkcs8_work_factor(base64.b64decode(b"".join(_pbes2_file(2048).splitlines()[1:-1]))) == 2048
    with pytest.raises(SSHException, match="work factor 2147483647 is above the limit"):
        ssh_keys.load_private_key(_pbes2_file(2**31 - 1), "pw")
    with pytest.raises(SSHException, match=r"wrong password|corrupt|unsupported"):
        ssh_keys.load_private_key(_pbes2_file(2048), "pw")
