"""The PKey API: blobs both directions, names, sizes, equality, fingerprints,
private records, writing and reading back, generation."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from keys_testdata import ED_PUBLIC, P256_GX, P256_GY

import ssh_keys
from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, PKey, RSAKey, SSHException
from ssh_wire import Message


def _s(hex_or_text: str, text: bool = False) -> str:
    raw = hex_or_text.encode() if text else bytes.fromhex(hex_or_text)
    return f"{len(raw):08x}" + raw.hex()


# (description, key factory, expected public blob in hex)
BLOB_TABLE = [
    (
        "rsa small",
        lambda: RSAKey(key=rsa.RSAPublicNumbers(17, 3233).public_key()),
        _s("ssh-rsa", True) + "00000001" + "11" + "00000002" + "0ca1",
    ),
    (
        "rsa sign padding",
        lambda: RSAKey(key=rsa.RSAPublicNumbers(65537, 0x80000001).public_key()),
        _s("ssh-rsa", True) + "00000003010001" + "000000050080000001",
    ),
    (
        "ed25519 rfc8032",
        lambda: Ed25519Key(key=ed25519.Ed25519PublicKey.from_public_bytes(ED_PUBLIC)),
        _s("ssh-ed25519", True) + _s(ED_PUBLIC.hex()),
    ),
    (
        "ecdsa p256 generator",
        lambda: ECDSAKey(key=ec.derive_private_key(1, ec.SECP256R1()).public_key()),
        _s("ecdsa-sha2-nistp256", True) + _s("nistp256", True) + _s("04" + P256_GX + P256_GY),
    ),
]


@pytest.mark.parametrize(("desc", "factory", "blob_hex"), BLOB_TABLE, ids=[r[0] for r in BLOB_TABLE])
def test_public_blob_table(desc: str, factory: object, blob_hex: str) -> None:
    key = factory()  # type: ignore[operator]
    blob = bytes.fromhex(blob_hex)
    # encode
    assert key.asbytes() == blob
    assert bytes(key) == blob
    assert key.get_base64() == base64.b64encode(blob).decode()
    # decode, through every entry point
    klass = type(key)
    assert klass(data=blob) == key
    assert klass(msg=Message(blob)) == key
    assert PKey(data=blob) == key and type(PKey(data=blob)) is klass
    assert PKey(msg=Message(blob)) == key
    assert ssh_keys.key_from_blob(blob) == key
    assert PKey.from_type_string(key.get_name(), blob) == key
    assert not klass(data=blob).can_sign()


def test_msg_may_continue_after_the_blob_but_data_may_not() -> None:
    blob = bytes.fromhex(BLOB_TABLE[2][2])
    key = Ed25519Key(msg=Message(blob + b"\x00\x00\x00\x01x"))
    assert key.asbytes() == blob
    with pytest.raises(SSHException):
        Ed25519Key(data=blob + b"junk")


@pytest.mark.parametrize(
    ("klass", "blob"),
    [
        (RSAKey, bytes.fromhex(BLOB_TABLE[2][2])),
        (Ed25519Key, bytes.fromhex(BLOB_TABLE[0][2])),
        (ECDSAKey, bytes.fromhex(BLOB_TABLE[0][2])),
    ],
)
def test_blob_of_another_type_is_refused(klass: type[PKey], blob: bytes) -> None:
    with pytest.raises(SSHException, match="Invalid key"):
        klass(data=blob)


def test_empty_key_object_is_refused() -> None:
    with pytest.raises(SSHException):
        RSAKey()
    assert PKey().asbytes() == b""  # the base class alone is an empty placeholder


def test_unknown_type_blob() -> None:
    blob = Message().add_string("ssh-foo").add_string("x").asbytes()
    with pytest.raises(SSHException, match="unknown or unsupported key type"):
        ssh_keys.key_from_blob(blob)
    with pytest.raises(SSHException):
        PKey.from_type_string("ssh-ed25519", bytes.fromhex(BLOB_TABLE[0][2]))


def test_ecdsa_curve_name_must_match_type() -> None:
    bad = Message().add_string("ecdsa-sha2-nistp384").add_string("nistp256")
    bad.add_string(bytes.fromhex("04" + P256_GX + P256_GY))
    with pytest.raises(SSHException, match="does not match"):
        ECDSAKey(data=bad.asbytes())
    compressed = Message().add_string("ecdsa-sha2-nistp256").add_string("nistp256")
    compressed.add_string(bytes.fromhex("03" + P256_GX))
    with pytest.raises(SSHException, match="uncompressed"):
        ECDSAKey(data=compressed.asbytes())
    off_curve = Message().add_string("ecdsa-sha2-nistp256").add_string("nistp256")
    off_curve.add_string(bytes.fromhex("04" + P256_GX + P256_GX))
    with pytest.raises(SSHException):
        ECDSAKey(data=off_curve.asbytes())


@pytest.fixture(scope="module")
def keys() -> dict[str, PKey]:
    return {
        "rsa": RSAKey.generate(1024),
        "dss": DSSKey.generate(1024),
        "ecdsa256": ECDSAKey.generate(),
        "ecdsa384": ECDSAKey.generate(ec.SECP384R1()),
        "ecdsa521": ECDSAKey.generate(bits=521),
        "ed25519": Ed25519Key.generate(),
    }


NAMES = {
    "rsa": ("ssh-rsa", 1024, "RSA"),
    "dss": ("ssh-dss", 1024, "DSS"),  # paramiko's name (ssh-keygen says DSA)
    "ecdsa256": ("ecdsa-sha2-nistp256", 256, "ECDSA"),
    "ecdsa384": ("ecdsa-sha2-nistp384", 384, "ECDSA"),
    "ecdsa521": ("ecdsa-sha2-nistp521", 521, "ECDSA"),
    "ed25519": ("ssh-ed25519", 256, "ED25519"),
}


@pytest.mark.parametrize("which", list(NAMES))
def test_names_sizes_and_fingerprints(keys: dict[str, PKey], which: str) -> None:
    key = keys[which]
    name, bits, algo = NAMES[which]
    assert key.get_name() == name
    assert key.get_bits() == bits
    assert key.algorithm_name == algo
    assert key.can_sign()
    blob = key.asbytes()
    assert key.get_fingerprint() == hashlib.md5(blob).digest()
    assert len(key.get_fingerprint()) == 16
    expected = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert key.fingerprint == expected
    assert "=" not in key.fingerprint
    public = ssh_keys.key_from_blob(blob)
    assert public == key and hash(public) == hash(key) and hash(key) == hash(blob)
    assert {public: 1}[key] == 1
    assert public != keys["rsa" if which != "rsa" else "ed25519"]
    assert key != blob  # a key never equals plain bytes
    assert repr(key) == repr(public) == f"PKey(alg={algo}, bits={bits}, fp={expected})"  # paramiko's form


def test_equality_uses_the_blob_not_its_hash(keys: dict[str, PKey]) -> None:
    class Colliding(Ed25519Key):
        def __hash__(self) -> int:
            return 1

    a = Colliding(key=ed25519.Ed25519PrivateKey.generate())
    b = Colliding(key=ed25519.Ed25519PrivateKey.generate())
    assert hash(a) == hash(b) and a != b


@pytest.mark.parametrize("which", list(NAMES))
def test_private_message_round_trip(keys: dict[str, PKey], which: str) -> None:
    key = keys[which]
    msg = key.private_message()
    assert msg.asbytes().startswith(Message().add_string(key.get_name()).asbytes())
    again = PKey.from_private_message(msg.asbytes())
    assert again == key and again.can_sign()
    assert type(key).from_private_message(Message(msg.asbytes() + b"tail")) == key
    with pytest.raises(SSHException):
        PKey.from_private_message(msg.asbytes()[:-3])
    public = ssh_keys.key_from_blob(key.asbytes())
    with pytest.raises(SSHException):
        public.private_message()


def test_private_message_refuses_a_mismatched_public_half(keys: dict[str, PKey]) -> None:
    m = Message(keys["ed25519"].private_message().asbytes(), strict=True)
    m.get_string()
    public, secret = m.get_string(), m.get_string()
    other = bytes(32 - len(b"x")) + b"x"
    bad = Message().add_string("ssh-ed25519").add_string(other).add_string(secret[:32] + other)
    with pytest.raises(SSHException, match="does not match"):
        PKey.from_private_message(bad.asbytes())
    assert public != other
    rsa_fields = Message(keys["rsa"].private_message().asbytes(), strict=True)
    rsa_fields.get_string()
    n, e, d, iqmp, p, q = (rsa_fields.get_mpint() for _ in range(6))
    broken = Message().add_string("ssh-rsa")
    for v in (n, e, d, iqmp, p, q + 2):
        broken.add_mpint(v)
    with pytest.raises(SSHException, match="inconsistent"):
        PKey.from_private_message(broken.asbytes())


# Ed25519 has no traditional PEM form (see test_interop_keygen for the error).
WRITE_CASES = [(w, f) for w in NAMES for f in ("openssh", "pem", "pkcs8") if (w, f) != ("ed25519", "pem")]


@pytest.mark.parametrize(("which", "fmt"), WRITE_CASES)
def test_write_and_read_file_objects(keys: dict[str, PKey], which: str, fmt: str) -> None:
    key = keys[which]
    text_io = io.StringIO()
    key.write_private_key(text_io, format=fmt)
    bin_io = io.BytesIO()
    key.write_private_key(bin_io, format=fmt)
    assert bin_io.getvalue().decode().startswith("-----BEGIN ")
    assert PKey.from_private_key(io.StringIO(text_io.getvalue())) == key
    assert type(key).from_private_key(io.BytesIO(bin_io.getvalue())) == key
    assert ssh_keys.load_private_key(text_io.getvalue()) == key


def test_openssh_comment_round_trips(tmp_path: Path) -> None:
    key = Ed25519Key.generate()
    key.comment = "me@here ünïcode"
    key.write_private_key_file(tmp_path / "k")
    again = PKey.from_path(tmp_path / "k")
    assert again.comment == "me@here ünïcode"
    assert again.get_openssh_line().endswith(" me@here ünïcode")


def test_public_key_cannot_be_written(keys: dict[str, PKey]) -> None:
    public = ssh_keys.key_from_blob(keys["rsa"].asbytes())
    with pytest.raises(SSHException, match="public key"):
        public.write_private_key(io.StringIO())
    with pytest.raises(ValueError, match="unknown private key format"):
        keys["rsa"].write_private_key(io.StringIO(), format="ppk")


def test_generate_variants() -> None:
    assert ECDSAKey.generate(ec.SECP384R1).get_bits() == 384
    assert ECDSAKey.generate(curve=ec.SECP521R1(), progress_func=print).get_name() == "ecdsa-sha2-nistp521"
    assert ECDSAKey.generate().get_bits() == 256
    with pytest.raises(ValueError):
        ECDSAKey.generate(bits=512)
    with pytest.raises(SSHException):
        ECDSAKey.generate(ec.SECP256K1())
    assert isinstance(RSAKey.generate(1024, progress_func=lambda *a: None), RSAKey)
    assert DSSKey.generate().get_bits() == 1024


def test_constructor_forms() -> None:
    ec_private = ec.generate_private_key(ec.SECP256R1())
    assert ECDSAKey(vals=(ec_private, ec_private.public_key())).can_sign()
    assert not ECDSAKey(vals=(None, ec_private.public_key())).can_sign()
    dss = DSSKey.generate()
    nums = dss.key.public_key().public_numbers() if dss.can_sign() else None  # type: ignore[union-attr]
    assert nums is not None
    par = nums.parameter_numbers
    assert DSSKey(vals=(par.p, par.q, par.g, nums.y)) == dss
    assert ssh_keys.key_from_crypto(ec_private) == ECDSAKey(key=ec_private)
    with pytest.raises(SSHException):
        RSAKey(key=ec_private)  # type: ignore[arg-type]
    r = RSAKey.generate(1024)
    assert r.size == 1024 and r.public_numbers.e == 65537
    assert ECDSAKey(key=ec_private).curve_name == "nistp256"
    assert "ecdsa-sha2-nistp384" in ECDSAKey.supported_key_format_identifiers()


@pytest.mark.parametrize("kind", ["rsa", "dss", "ecdsa", "ed25519"])
def test_keys_pickle_public_and_private(kind: str) -> None:
    """Keys survive pickling (multiprocessing, exceptions such as
    BadHostKeyException that carry them), keeping type, comment and the
    ability to sign."""
    import pickle

    from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, RSAKey, key_from_blob
    from ssh_wire import BadHostKeyException

    cls = {"rsa": RSAKey, "dss": DSSKey, "ecdsa": ECDSAKey, "ed25519": Ed25519Key}[kind]
    private = cls.generate(1024) if kind in ("rsa", "dss") else cls.generate()
    private.comment = "me@host"
    public = key_from_blob(private.asbytes())
    again = pickle.loads(pickle.dumps(private))
    assert type(again) is cls and again.can_sign() and again.comment == "me@host"
    sig = again.sign_ssh_data(b"data")
    sig.rewind()
    assert private.verify_ssh_sig(b"data", sig)
    pub_again = pickle.loads(pickle.dumps(public))
    assert pub_again == public and not pub_again.can_sign()
    exc = pickle.loads(pickle.dumps(BadHostKeyException("h", public, public)))
    assert exc.key == public
