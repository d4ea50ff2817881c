"""The paramiko 5.x key API on ssh_keys: identifiers, from_path, from_type_string,
certificates (PublicBlob, load_certificate), UnknownKeyType, FileFormat, and the
names and values paramiko users observe. Expected values were checked against
paramiko 5.1."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import pickle
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

import ssh_keys
from ssh_keys import (
    OPENSSH,
    PEM,
    DSSKey,
    ECDSAKey,
    Ed25519Key,
    FileFormat,
    PKey,
    PublicBlob,
    RSAKey,
    SSHException,
    UnknownKeyType,
    key_classes,
)
from ssh_keys import pkey as pkey_module
from ssh_wire import Message
from support.peers import need_program

CERT = "-cert-v01@openssh.com"


@pytest.fixture(scope="module")
def keys() -> dict[str, PKey]:
    return {
        "rsa": RSAKey.generate(1024),
        "ecdsa": ECDSAKey.generate(bits=384),
        "ed25519": Ed25519Key.generate(),
        "dss": DSSKey.generate(1024),
    }


def make_cert(key: PKey, ca: PKey, comment: str = "") -> str:
    """A ``-cert.pub`` line for ``key`` signed by ``ca`` (PROTOCOL.certkeys layout)."""
    fields = Message(key.asbytes())
    fields.get_text()
    cert_type = key.get_name() + CERT
    m = Message().add_string(cert_type).add_string(os.urandom(32)).add_bytes(fields.get_remainder())
    m.add_int64(7).add_int(1).add_string("key-id")
    m.add_string(Message().add_string("alice").asbytes())
    m.add_int64(0).add_int64(2**64 - 1).add_string(b"").add_string(b"").add_string(b"")
    m.add_string(ca.asbytes())
    m.add_string(ca.sign_ssh_data(m.asbytes()).asbytes())
    line = f"{cert_type} {base64.b64encode(m.asbytes()).decode()}"
    return f"{line} {comment}" if comment else line


# -- names paramiko publishes ------------------------------------------------


def test_identifiers_and_names() -> None:
    assert RSAKey.identifiers() == [
        "rsa-sha2-256",
        "rsa-sha2-256-cert-v01@openssh.com",
        "rsa-sha2-512",
        "rsa-sha2-512-cert-v01@openssh.com",
        "ssh-rsa",
        "ssh-rsa-cert-v01@openssh.com",
    ]
    assert Ed25519Key.identifiers() == ["ssh-ed25519"]
    assert ECDSAKey.identifiers() == ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]
    assert ECDSAKey.supported_key_format_identifiers() == ECDSAKey.identifiers()
    assert DSSKey.identifiers() == ["ssh-dss"]
    assert (RSAKey.name, Ed25519Key.name, DSSKey.name) == ("ssh-rsa", "ssh-ed25519", "ssh-dss")
    assert key_classes[:3] == [RSAKey, Ed25519Key, ECDSAKey]
    assert ssh_keys.key_classes is pkey_module.key_classes
    assert RSAKey.HASHES["rsa-sha2-256"] is hashes.SHA256
    assert RSAKey.HASHES["rsa-sha2-512-cert-v01@openssh.com"] is hashes.SHA512


def test_pkey_module_constants() -> None:
    assert pkey_module.OPENSSH_AUTH_MAGIC == b"openssh-key-v1\x00"
    assert FileFormat(serialization.PrivateFormat.TraditionalOpenSSL, serialization.Encoding.PEM) == PEM
    assert OPENSSH.format is serialization.PrivateFormat.OpenSSH and OPENSSH.encoding is serialization.Encoding.PEM
    assert (PKey._PRIVATE_KEY_FORMAT_ORIGINAL, PKey._PRIVATE_KEY_FORMAT_OPENSSH) == (1, 2)
    assert PKey.BEGIN_TAG.match("-----BEGIN OPENSSH PRIVATE KEY-----\n").group(1) == "OPENSSH"
    assert PKey.END_TAG.match("-----END EC PRIVATE KEY-----").group(1) == "EC"
    assert not PKey.BEGIN_TAG.match("-----BEGIN PRIVATE KEY-----")
    assert PKey._CIPHER_TABLE["AES-128-CBC"]["keysize"] == 16
    assert PKey._CIPHER_TABLE["DES-EDE3-CBC"]["blocksize"] == 8


@pytest.mark.parametrize(
    ("which", "alg", "bits"),
    [("rsa", "RSA", 1024), ("ecdsa", "ECDSA", 384), ("ed25519", "ED25519", 256), ("dss", "DSS", 1024)],
)
def test_algorithm_name_fingerprint_repr(keys: dict[str, PKey], which: str, alg: str, bits: int) -> None:
    key = keys[which]
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    assert key.algorithm_name == alg
    assert key.fingerprint == fp
    assert key.get_bits() == bits
    assert repr(key) == f"PKey(alg={alg}, bits={bits}, fp={fp})"
    public = PKey.from_type_string(key.get_name(), key.asbytes())
    public.comment = "me@host"
    assert repr(public) == f"PKey(alg={alg}, bits={bits}, fp={fp}, comment='me@host')"
    assert bytes(key) == key.asbytes() == public.asbytes()
    assert key == public and hash(key) == hash(public)
    assert key.can_sign() and not public.can_sign()
    assert key.private_key is not None and public.private_key is None
    assert key.public_blob is None


def test_rsa_signs_sha512_by_default(keys: dict[str, PKey]) -> None:
    key = keys["rsa"]
    sig = Message(key.sign_ssh_data(b"data").asbytes())
    assert sig.get_text() == "rsa-sha2-512"
    assert key.verify_ssh_sig(b"data", Message(key.sign_ssh_data(b"data").asbytes()))
    assert Message(key.sign_ssh_data(b"d", algorithm="rsa-sha2-256").asbytes()).get_text() == "rsa-sha2-256"
    assert Message(key.sign_ssh_data(b"d", "rsa-sha2-512" + CERT).asbytes()).get_text() == "rsa-sha2-512"


def test_ecdsa_and_ed25519_extras(keys: dict[str, PKey]) -> None:
    ecdsa = keys["ecdsa"]
    assert isinstance(ecdsa, ECDSAKey)
    assert isinstance(ecdsa.signing_key, ec.EllipticCurvePrivateKey)
    assert isinstance(ecdsa.verifying_key, ec.EllipticCurvePublicKey)
    assert ecdsa.ecdsa_curve.hash_object is hashes.SHA384
    assert ECDSAKey.generate().get_bits() == 256
    assert ECDSAKey.generate(ec.SECP521R1()).get_name() == "ecdsa-sha2-nistp521"
    with pytest.raises(ValueError):
        ECDSAKey.generate(bits=123)
    ed = keys["ed25519"]
    assert isinstance(ed, Ed25519Key) and ed.can_verify()


# -- from_type_string and UnknownKeyType -------------------------------------


def test_from_type_string(keys: dict[str, PKey]) -> None:
    rsa_blob = keys["rsa"].asbytes()
    for name in ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"):
        key = PKey.from_type_string(name, rsa_blob)
        assert type(key) is RSAKey and key == keys["rsa"] and not key.can_sign()
    assert type(PKey.from_type_string("ecdsa-sha2-nistp384", keys["ecdsa"].asbytes())) is ECDSAKey
    assert PKey.from_type_string("ssh-ed25519", keys["ed25519"].asbytes(), password="unused") == keys["ed25519"]
    with pytest.raises(SSHException):
        PKey.from_type_string("ssh-ed25519", rsa_blob)  # a blob of another type


def test_unknown_key_type() -> None:
    with pytest.raises(UnknownKeyType) as info:
        PKey.from_type_string("ssh-foo", b"abc")
    exc = info.value
    assert (exc.key_type, exc.key_bytes) == ("ssh-foo", b"abc")
    assert str(exc) == "UnknownKeyType(type='ssh-foo', bytes=<3>)"
    assert not isinstance(exc, SSHException)  # as paramiko: a plain Exception
    back = pickle.loads(pickle.dumps(exc))
    assert (back.key_type, back.key_bytes, str(back)) == ("ssh-foo", b"abc", str(exc))
    assert str(UnknownKeyType()) == "UnknownKeyType(type=None, bytes=<0>)"


# -- certificates --------------------------------------------------------------


def test_public_blob() -> None:
    ca = Ed25519Key.generate()
    key = Ed25519Key.generate()
    line = make_cert(key, ca, "my cert")
    blob = PublicBlob.from_string(line)
    assert blob.key_type == "ssh-ed25519" + CERT
    assert blob.comment == "my cert"
    assert blob.key_blob == base64.b64decode(line.split()[1])
    assert str(blob) == "ssh-ed25519-cert-v01@openssh.com public key/certificate- my cert"
    assert (
        str(PublicBlob.from_string(line.rsplit(" ", 2)[0])) == "ssh-ed25519-cert-v01@openssh.com public key/certificate"
    )
    same = PublicBlob.from_message(Message(blob.key_blob))
    assert same == blob and same.comment is None
    assert not same.__ne__(blob)
    assert PublicBlob("ssh-ed25519", b"x") != blob
    with pytest.raises(ValueError, match=r"Not enough fields for public blob: \['ssh-rsa'\]"):
        PublicBlob.from_string("ssh-rsa")
    wrong = "ssh-rsa " + line.split()[1]
    with pytest.raises(
        ValueError, match=re.escape("key type='ssh-rsa', but blob type='ssh-ed25519-cert-v01@openssh.com'")
    ):
        PublicBlob.from_string(wrong)
    with pytest.raises(ValueError):
        PublicBlob.from_string("ssh-ed25519 !!!notbase64")


@pytest.mark.parametrize("which", ["rsa", "ecdsa", "ed25519", "dss"])
def test_load_certificate_from_file_string_and_message(keys: dict[str, PKey], which: str, tmp_path: Path) -> None:
    key = keys[which]
    line = make_cert(key, keys["ed25519"], "c")
    path = tmp_path / "id-cert.pub"
    path.write_text(line + "\n")
    expected = PublicBlob.from_string(line)
    for value in (str(path), path, line, Message(expected.key_blob)):
        fresh = PKey.from_private_message(key.private_message())
        assert fresh.public_blob is None
        fresh.load_certificate(value)
        assert fresh.public_blob == expected
        assert fresh.public_blob.key_type == key.get_name() + CERT
    # a plain .pub of the same key is accepted too
    fresh.load_certificate(f"{key.get_name()} {key.get_base64()}")
    assert fresh.public_blob is not None and fresh.public_blob.key_type == key.get_name()


def test_load_certificate_refuses_foreign_certificates(keys: dict[str, PKey]) -> None:
    key = RSAKey.generate(1024)
    ed_cert = make_cert(keys["ed25519"], keys["ed25519"])
    with pytest.raises(
        ValueError,
        match=re.escape("PublicBlob type ssh-ed25519-cert-v01@openssh.com incompatible with key type ssh-rsa"),
    ):
        key.load_certificate(ed_cert)
    with pytest.raises(ValueError, match="holds another key"):
        key.load_certificate(make_cert(keys["rsa"], keys["ed25519"]))  # same type, another RSA key
    with pytest.raises(ValueError, match="holds another key"):
        key.load_certificate(f"ssh-rsa {keys['rsa'].get_base64()}")
    assert key.public_blob is None


def test_certificate_blobs_build_keys(keys: dict[str, PKey]) -> None:
    for which in ("rsa", "ecdsa", "ed25519"):
        key = keys[which]
        blob = PublicBlob.from_string(make_cert(key, keys["ed25519"])).key_blob
        via_type = PKey.from_type_string(key.get_name() + CERT, blob)
        via_class = type(key)(data=blob)
        for public in (via_type, via_class):
            assert type(public) is type(key) and public == key and not public.can_sign()
            assert public.public_blob is not None and public.public_blob.key_blob == blob
            assert public.asbytes() == key.asbytes()
    truncated = PublicBlob.from_string(make_cert(keys["ed25519"], keys["ed25519"])).key_blob[:60]
    with pytest.raises(SSHException):
        Ed25519Key(data=truncated)


# -- from_path -------------------------------------------------------------------


def test_from_path_picks_the_class_and_loads_the_cert(keys: dict[str, PKey], tmp_path: Path) -> None:
    for which in ("rsa", "ecdsa", "ed25519"):
        path = tmp_path / f"id_{which}"
        keys[which].write_private_key_file(path, file_format=OPENSSH)
        for loader in (PKey.from_path, RSAKey.from_path):  # a staticmethod: the class called on does not matter
            key = loader(path)
            assert type(key) is type(keys[which]) and key == keys[which] and key.can_sign()
            assert key.public_blob is None
        assert PKey.from_path(str(path)) == keys[which]
        line = make_cert(keys[which], keys["ed25519"])
        Path(f"{path}-cert.pub").write_text(line)
        with_cert = PKey.from_path(path)
        assert with_cert.public_blob == PublicBlob.from_string(line)
        from_cert_name = PKey.from_path(f"{path}-cert.pub")
        assert from_cert_name == keys[which] and from_cert_name.public_blob == with_cert.public_blob


def test_from_path_passwords_home_and_missing_files(
    keys: dict[str, PKey], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "enc"
    keys["ed25519"].write_private_key_file(path, "secret")
    assert PKey.from_path(path, "secret") == keys["ed25519"]
    assert PKey.from_path(path, password=b"secret") == keys["ed25519"]
    assert PKey.from_path(path, passphrase="secret") == keys["ed25519"]  # paramiko 3.x keyword
    with pytest.raises(ssh_keys.PasswordRequiredException):
        PKey.from_path(path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert PKey.from_path("~/enc", "secret") == keys["ed25519"]
    with pytest.raises(FileNotFoundError):
        PKey.from_path(tmp_path / "absent")
    mismatched = tmp_path / "mismatch"
    keys["rsa"].write_private_key_file(mismatched)
    Path(f"{mismatched}-cert.pub").write_text(make_cert(keys["ed25519"], keys["ed25519"]))
    with pytest.raises(ValueError, match="incompatible"):
        PKey.from_path(mismatched)


def test_from_path_unknown_key_type(tmp_path: Path) -> None:
    path = tmp_path / "ed448"
    pem = ed448.Ed448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    with pytest.raises(UnknownKeyType) as info:
        PKey.from_path(path)
    assert isinstance(info.value, SSHException)  # and still an SSHException for older callers
    assert "Ed448" in str(info.value)


def test_from_path_with_ssh_keygen_certificate(tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    run = lambda *a: subprocess.run([keygen, "-q", *a], check=True, capture_output=True, timeout=60)  # noqa: E731
    run("-t", "ed25519", "-N", "", "-C", "", "-f", str(tmp_path / "ca"))
    run("-t", "ecdsa", "-N", "", "-C", "me", "-f", str(tmp_path / "id_ecdsa"))
    run("-s", str(tmp_path / "ca"), "-I", "ident", "-n", "alice", str(tmp_path / "id_ecdsa.pub"))
    key = PKey.from_path(tmp_path / "id_ecdsa")
    assert type(key) is ECDSAKey
    assert key.public_blob is not None
    assert key.public_blob.key_type == "ecdsa-sha2-nistp256" + CERT
    assert key.public_blob == PublicBlob.from_file(tmp_path / "id_ecdsa-cert.pub")
    assert key == PKey.from_type_string(key.public_blob.key_type, key.public_blob.key_blob)


# -- writing with FileFormat -------------------------------------------------------


@pytest.mark.parametrize("which", ["rsa", "ecdsa"])
@pytest.mark.parametrize(
    ("fmt", "header"), [(PEM, "-----BEGIN {} PRIVATE KEY-----"), (OPENSSH, "-----BEGIN OPENSSH PRIVATE KEY-----")]
)
@pytest.mark.parametrize("password", [None, "pw"])
def test_write_private_key_file_format(
    keys: dict[str, PKey], which: str, fmt: FileFormat, header: str, password: str | None
) -> None:
    key = keys[which]
    out = io.StringIO()
    key.write_private_key(out, password, fmt)  # third positional argument, as in paramiko
    text = out.getvalue()
    assert text.splitlines()[0] == header.format("RSA" if which == "rsa" else "EC")
    if password and fmt is PEM:
        assert "Proc-Type: 4,ENCRYPTED" in text
    assert type(key).from_private_key(io.StringIO(text), password=password) == key
    again = io.StringIO()
    key.write_private_key(again, password=password, file_format=fmt)
    assert again.getvalue().splitlines()[0] == text.splitlines()[0]


def test_write_private_key_refuses_unknown_formats(keys: dict[str, PKey], tmp_path: Path) -> None:
    der = FileFormat(serialization.PrivateFormat.TraditionalOpenSSL, serialization.Encoding.DER)
    with pytest.raises(ValueError):
        keys["rsa"].write_private_key(io.StringIO(), file_format=der)
    keys["rsa"].write_private_key_file(tmp_path / "k", file_format=PEM)
    assert (tmp_path / "k").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


def test_equality_follows_fields_as_paramiko() -> None:
    """paramiko compares keys by their ``_fields``; a subclass overriding it
    (as Fabric's test doubles do) decides equality."""

    class Named(PKey):
        def __init__(self, name: str) -> None:
            self._name = name

        @property
        def _fields(self) -> object:
            return [self._name]

    assert Named("a") == Named("a")
    assert Named("a") != Named("b")
    key = Ed25519Key.generate()
    assert key == Ed25519Key(data=key.asbytes())
    assert key != Ed25519Key.generate()
