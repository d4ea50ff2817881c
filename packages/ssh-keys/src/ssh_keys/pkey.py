"""``PKey``: the base of every SSH key type, and the functions that turn
blobs, public-key lines and private-key files into the right subclass."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import IO, Any, ClassVar, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ssh_wire import Message, ProtocolError, SSHException

from . import keyfiles
from ._util import BytesLike, as_message, open_private, password_bytes, to_bytes
from .certs import CERT_SUFFIX, PublicBlob, cert_key_type

PathLike = str | os.PathLike[str]
Password = str | bytes | None


#: the magic string an ``openssh-key-v1`` private key file starts with
OPENSSH_AUTH_MAGIC = keyfiles.OPENSSH_MAGIC

#: the ``cryptography`` private key types paramiko writes key files from
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class UnknownKeyType(Exception):
    """A key of a type no key class handles (from ``PKey.from_type_string``
    or ``PKey.from_path``); ``key_type`` and ``key_bytes`` say what it was."""

    def __init__(self, key_type: Any = None, key_bytes: Any = None) -> None:
        super().__init__(key_type, key_bytes)
        self.key_type = key_type
        self.key_bytes = key_bytes

    def __str__(self) -> str:
        size = len(self.key_bytes) if self.key_bytes is not None else 0
        return f"UnknownKeyType(type={self.key_type!r}, bytes=<{size}>)"


class UnsupportedKeyType(SSHException, UnknownKeyType):
    """A blob, record or key file of a type ssh_keys does not know. It is an
    ``SSHException`` (as every key-parsing failure) and an ``UnknownKeyType``
    (what paramiko's ``from_path`` raises for it)."""

    def __init__(self, message: str, key_type: Any = None, key_bytes: Any = None) -> None:
        Exception.__init__(self, message, key_type, key_bytes)
        self.message = message
        self.key_type = key_type
        self.key_bytes = key_bytes

    def __str__(self) -> str:
        return self.message


class FileFormat(NamedTuple):
    """A private key file format: the ``cryptography`` format and encoding
    (``PEM`` and ``OPENSSH`` below are the ones paramiko names)."""

    format: serialization.PrivateFormat
    encoding: serialization.Encoding


#: traditional PEM (``BEGIN RSA PRIVATE KEY``), the default for RSA and ECDSA
PEM = FileFormat(format=serialization.PrivateFormat.TraditionalOpenSSL, encoding=serialization.Encoding.PEM)
#: OpenSSH's own format (``BEGIN OPENSSH PRIVATE KEY``)
OPENSSH = FileFormat(format=serialization.PrivateFormat.OpenSSH, encoding=serialization.Encoding.PEM)

_FORMAT_NAMES = {
    serialization.PrivateFormat.TraditionalOpenSSL: "pem",
    serialization.PrivateFormat.OpenSSH: "openssh",
    serialization.PrivateFormat.PKCS8: "pkcs8",
}


def _format_name(file_format: FileFormat | str | None) -> str | None:
    """``"pem"``, ``"openssh"``, ``"pkcs8"`` (or None: the key's default) from a
    ``FileFormat`` or one of those names."""
    if file_format is None or isinstance(file_format, str):
        return file_format
    fmt, encoding = file_format
    name = _FORMAT_NAMES.get(fmt)
    if name is None or encoding != serialization.Encoding.PEM:
        raise ValueError(f"unsupported private key file format {file_format!r}")
    return name


def _sign_args(data: Any, algorithm: Any) -> tuple[bytes, str | None]:
    """Accept both ``(data, algorithm=None)`` and the 1.5 ``(rpool, data)`` forms
    (data may also be a ``Message``, signed as its bytes)."""
    if isinstance(data, Message) and (algorithm is None or isinstance(algorithm, str)):
        return data.asbytes(), algorithm
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        if algorithm is None:
            raise TypeError("sign_ssh_data needs the data to sign")
        return to_bytes(algorithm), None
    if algorithm is not None and not isinstance(algorithm, str):
        raise TypeError(f"algorithm must be a str, not {type(algorithm).__name__}")
    return to_bytes(data), algorithm


class PKey:
    """Base class for SSH public/private keys.

    A key always knows its public half (``asbytes()`` is the SSH public-key
    blob); it can sign (``can_sign()``) when it also holds the private half.
    Keys compare equal when their type and public blob are the same.
    """

    #: key type names a subclass reads from a blob (e.g. ``("ssh-rsa",)``)
    _KEY_NAMES: ClassVar[tuple[str, ...]] = ()
    #: signature algorithm used when ``sign_ssh_data`` is given none
    _DEFAULT_SIG: ClassVar[str] = ""
    #: ssh-keygen's name for the type, shown in ``ssh-keygen -l`` output
    _ALGORITHM_NAME: ClassVar[str] = ""
    #: cryptography private/public key classes a subclass wraps
    _CRYPTO_TYPES: ClassVar[tuple[type[Any], ...]] = ()
    _registry: ClassVar[dict[str, type[PKey]]] = {}

    # names paramiko's PKey publishes on the class (its PEM parser's cipher
    # table, format ids and header patterns); kept for code that reads them
    _CIPHER_TABLE: ClassVar[dict[str, dict[str, Any]]] = keyfiles.legacy_cipher_table()
    _PRIVATE_KEY_FORMAT_ORIGINAL: ClassVar[int] = 1
    _PRIVATE_KEY_FORMAT_OPENSSH: ClassVar[int] = 2
    BEGIN_TAG: ClassVar[re.Pattern[str]] = re.compile(r"^-{5}BEGIN (RSA|EC|OPENSSH) PRIVATE KEY-{5}\s*$")
    END_TAG: ClassVar[re.Pattern[str]] = re.compile(r"^-{5}END (RSA|EC|OPENSSH) PRIVATE KEY-{5}\s*$")

    comment: str | None
    #: the certificate (or public key) loaded by ``load_certificate``, if any
    public_blob: PublicBlob | None = None
    # the cryptography key objects (set by _set_crypto_key; typed by subclasses)
    _private: Any
    _public: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register each key type a subclass declares in ``_KEY_NAMES``."""
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("_KEY_NAMES", ()):
            PKey._registry.setdefault(name, cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> PKey:
        """``PKey(data=blob)`` or ``PKey(msg=...)`` on the base class builds the
        subclass that the blob's type name selects."""
        if cls is PKey:
            blob = kwargs.get("msg", args[0] if args else None)
            if blob is None:
                blob = kwargs.get("data", args[1] if len(args) > 1 else None)
            if blob is not None:
                return object.__new__(_class_for_blob(blob))
        return object.__new__(cls)

    def __init__(self, msg: Message | None = None, data: BytesLike | None = None) -> None:
        """A key from a public blob, as a ``Message`` (``msg``) or bytes (``data``).

        On the base class this returns the right subclass; with neither the
        result is an empty placeholder key (as paramiko's base class).
        """
        self.comment = None

    # -- construction helpers for subclasses ---------------------------------

    def _setup(
        self,
        msg: Message | BytesLike | None,
        data: BytesLike | None,
        filename: PathLike | None,
        password: Password,
        file_obj: IO[Any] | None,
        key: Any,
    ) -> None:
        """Fill the key from whichever source was given (the shared part of
        every subclass constructor)."""
        self.comment = None
        if key is not None:
            self._set_crypto_key(key)
        elif filename is not None:
            self._load_private(_read_file(filename), password)
        elif file_obj is not None:
            self._load_private(_read_obj(file_obj), password)
        elif msg is not None or data is not None:
            source = msg if msg is not None else data
            assert source is not None
            m = as_message(source)
            self._read_public(m)
            if data is not None and msg is None and self.public_blob is None:
                m.expect_end()
        else:
            raise SSHException("Key object may not be empty")

    def _read_public(self, m: Message) -> None:
        """Parse the blob in ``m`` (type name first) into this key. An OpenSSH
        certificate of this key type is accepted too: its key fields are read
        and the whole certificate is kept as ``public_blob``."""
        name = m.get_text()
        if name.endswith(CERT_SUFFIX) and cert_key_type(name) in self._KEY_NAMES:
            self.public_blob = PublicBlob(name, m.asbytes())
            m.get_string()  # the certificate's nonce; the key fields follow
            name = cert_key_type(name)
        elif name not in self._KEY_NAMES:
            raise SSHException(f"Invalid key: expected {' or '.join(self._KEY_NAMES)}, got {name[:64]!r}")
        self._read_fields(m, name)

    def _read_fields(self, m: Message, name: str) -> None:
        """Parse the public fields that follow the type name ``name``, with
        the errors of the crypto library turned into ``SSHException``."""
        try:
            self._parse_public(m, name)
        except SSHException:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            raise SSHException(f"Invalid {name} key: {exc}") from exc

    def _load_private(self, data: bytes, password: Password) -> None:
        key = load_private_key(data, password)
        if not isinstance(key, type(self)):
            raise SSHException(f"key file holds a {key.get_name()} key, not {self._KEY_NAMES[0]}")
        self.__dict__.update(key.__dict__)

    # -- hooks each key type implements --------------------------------------

    def _parse_public(self, m: Message, name: str) -> None:
        """Read the public fields after the type name."""
        raise SSHException("PKey is abstract; use a key type")

    def _set_crypto_key(self, key: Any) -> None:
        """Adopt a ``cryptography`` private or public key object of this key
        type (``_CRYPTO_TYPES``: private class, public class), then let the
        subclass derive its blob from the public half (``_set_public``)."""
        if not self._CRYPTO_TYPES:
            raise SSHException("PKey is abstract; use a key type")
        private_type, public_type = self._CRYPTO_TYPES
        if isinstance(key, private_type):
            self._private, self._public = key, key.public_key()
        elif isinstance(key, public_type):
            self._private, self._public = None, key
        else:
            raise SSHException(f"not a {self._ALGORITHM_NAME} key: {type(key).__name__}")
        self._set_public()

    def _set_public(self) -> None:
        """Derive the public blob (and any cached fields) from ``self._public``."""
        raise SSHException("PKey is abstract; use a key type")

    def _read_private_fields(self, m: Message, name: str) -> None:
        """Read the private-key record fields (OpenSSH / agent order) after the name."""
        raise SSHException("PKey is abstract; use a key type")

    def _write_private_fields(self, m: Message) -> None:
        """Write the private-key record fields (OpenSSH / agent order) after the name."""
        raise SSHException("PKey is abstract; use a key type")

    def _sign_raw(self, data: bytes, algorithm: str) -> bytes:
        """The signature string (without its algorithm name) over ``data``."""
        raise SSHException("this key cannot sign")

    def _verify_raw(self, data: bytes, sig: bytes, algorithm: str) -> bool:
        """Whether ``sig`` is a valid ``algorithm`` signature of ``data``."""
        return False

    def _crypto_private(self) -> Any:
        """The ``cryptography`` private key, or None for a public key."""
        return self.__dict__.get("_private")

    # -- the public API ------------------------------------------------------

    def asbytes(self) -> bytes:
        """The SSH public-key blob (what ``key_from_blob`` reads back)."""
        blob: bytes = self.__dict__.get("_blob", b"")
        return blob

    def __bytes__(self) -> bytes:
        """The public blob, as ``asbytes()``."""
        return self.asbytes()

    def get_name(self) -> str:
        """The key type name, e.g. ``"ssh-ed25519"``."""
        return self._KEY_NAMES[0] if self._KEY_NAMES else ""

    @classmethod
    def identifiers(cls) -> list[str]:
        """The key type names this class reads (``from_type_string`` picks the
        class whose list holds the name it is given)."""
        return list(cls._KEY_NAMES)

    def get_bits(self) -> int:
        """The key's size in bits, as ``ssh-keygen -l`` shows it."""
        return 0

    def can_sign(self) -> bool:
        """True when this key holds its private half and so can sign."""
        return self._crypto_private() is not None

    @property
    def algorithm_name(self) -> str:
        """The short algorithm name paramiko shows: RSA, DSS, ECDSA or ED25519."""
        return self._ALGORITHM_NAME or self.get_name().upper()

    @property
    def private_key(self) -> Any:
        """The ``cryptography`` private key object, or None for a public key."""
        return self._crypto_private()

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        """The signature algorithm names this key produces, best first."""
        return (self.get_name(),)

    def get_fingerprint(self) -> bytes:
        """The MD5 digest (16 bytes) of the public blob, as paramiko gives it."""
        return hashlib.md5(self.asbytes(), usedforsecurity=False).digest()

    @property
    def fingerprint(self) -> str:
        """The SHA256 fingerprint exactly as ``ssh-keygen -l`` prints it
        (``"SHA256:"`` and unpadded base64)."""
        digest = hashlib.sha256(self.asbytes()).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    @property
    def fingerprint_md5(self) -> str:
        """The MD5 fingerprint as ``ssh-keygen -l -E md5`` prints it."""
        return "MD5:" + ":".join(f"{b:02x}" for b in self.get_fingerprint())

    def get_base64(self) -> str:
        """The public blob in base64, as in authorized_keys and known_hosts."""
        return base64.b64encode(self.asbytes()).decode("ascii")

    def get_openssh_line(self, comment: str | None = None) -> str:
        """The ``type base64 [comment]`` line of a .pub file (no newline)."""
        text = f"{self.get_name()} {self.get_base64()}"
        comment = self.comment if comment is None else comment
        return f"{text} {comment}" if comment else text

    @property
    def _fields(self) -> Any:
        """What identifies the key for ``==`` and ``hash``: its type name and
        public blob. paramiko compares keys by this property, and code built
        on paramiko (Fabric's test doubles, for one) overrides it."""
        return (self.get_name(), self.asbytes())

    def __eq__(self, other: object) -> bool:
        """Keys are equal when their ``_fields`` (type name and public blob) are."""
        if not isinstance(other, PKey):
            return NotImplemented
        return bool(self._fields == other._fields)

    def __hash__(self) -> int:
        """A hash of the public blob, consistent with ``==`` (which compares it)."""
        return hash(self.asbytes())

    def __repr__(self) -> str:
        """Algorithm, size, SHA256 fingerprint and comment, as paramiko shows a key."""
        comment = f", comment={self.comment!r}" if getattr(self, "comment", None) else ""
        return f"PKey(alg={self.algorithm_name}, bits={self.get_bits()}, fp={self.fingerprint}{comment})"

    def sign_ssh_data(self, data: Any, algorithm: Any = None) -> Message:
        """Sign ``data`` and return the SSH signature blob as a ``Message``
        (string algorithm name, string signature).

        ``algorithm`` picks the signature algorithm (for RSA ``"ssh-rsa"``,
        the default, ``"rsa-sha2-256"`` or ``"rsa-sha2-512"``). The 1.5 form
        ``sign_ssh_data(rpool, data)`` still works; the pool is ignored.
        """
        payload, alg = _sign_args(data, algorithm)
        if alg is None:
            alg = self._DEFAULT_SIG or self.get_name()
        else:
            alg = cert_key_type(alg)
        if alg not in self.signature_algorithms:
            raise SSHException(f"{self.get_name()} key cannot make {alg!r} signatures")
        if not self.can_sign():
            raise SSHException("this is a public key; it cannot sign")
        sig = self._sign_raw(payload, alg)
        return Message().add_string(alg).add_string(sig)

    def verify_ssh_sig(self, data: BytesLike | str, msg: Message | BytesLike) -> bool:
        """True when ``msg`` (a signature blob) is this key's valid signature
        of ``data``; False for a bad, truncated or foreign signature."""
        try:
            m = as_message(msg)
            alg = m.get_name()
            sig = m.get_string()
        except SSHException:
            return False
        if alg not in self.signature_algorithms:
            return False
        try:
            return self._verify_raw(to_bytes(data), sig, alg)
        except (InvalidSignature, ValueError, TypeError, OverflowError, SSHException):
            return False

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle support (``multiprocessing``, exceptions carrying keys such as
        ``BadHostKeyException``): a public key travels as its blob, a private
        one as its private record, so treat pickles of private keys as secrets.
        Other subclasses (agent keys, ...) keep the default behaviour."""
        if type(self) not in PKey._registry.values():
            return super().__reduce_ex__(protocol)
        if self._crypto_private() is not None:
            return (_unpickle_key, (bytes(self.private_message().asbytes()), True, self.comment))
        return (_unpickle_key, (self.asbytes(), False, self.comment))

    # -- private key records (OpenSSH key files, the agent protocol) ---------

    def private_message(self) -> Message:
        """The private-key record: type name then the private fields in the
        order OpenSSH key files and the agent protocol (ADD_IDENTITY) use."""
        if not self.can_sign():
            raise SSHException("this is a public key; it has no private fields")
        m = Message().add_string(self.get_name())
        self._write_private_fields(m)
        return m

    @classmethod
    def from_private_message(cls, msg: Message | BytesLike) -> PKey:
        """Read a private-key record (see ``private_message``); the Message,
        when one is given, is left just after the record."""
        m = msg if isinstance(msg, Message) else Message(bytes(msg), strict=True)
        strict = m.strict
        m.strict = True
        try:
            name = m.get_text()
            klass = _class_for_name(name)
            if cls is not PKey and not issubclass(klass, cls):
                raise SSHException(f"private key record is {name!r}, not {cls._KEY_NAMES[0]}")
            key = object.__new__(klass)
            key.comment = None
            try:
                key._read_private_fields(m, name)
            except (ValueError, TypeError, OverflowError) as exc:
                raise SSHException(f"Invalid {name} private key: {exc}") from exc
            return key
        finally:
            m.strict = strict

    # -- private key files -----------------------------------------------------

    @classmethod
    def from_private_key_file(cls, filename: PathLike, password: Password = None) -> PKey:
        """Load a private key file (OpenSSH, PEM or PKCS#8, encrypted or not).

        On ``PKey`` the type is detected and the right subclass returned; on a
        subclass a file of another type raises ``SSHException``. An encrypted
        file without a password raises ``PasswordRequiredException``.
        """
        return cls._from_data(_read_file(filename), password)

    @classmethod
    def from_private_key(cls, file_obj: IO[Any], password: Password = None) -> PKey:
        """Like ``from_private_key_file``, reading from an open file object."""
        return cls._from_data(_read_obj(file_obj), password)

    @staticmethod
    def from_path(path: PathLike, password: Password = None, *, passphrase: Password = None) -> PKey:
        """Load a private key file of any supported type (``str`` or ``Path``;
        ``~`` is expanded), as paramiko 3.2+ does.

        A ``<path>-cert.pub`` beside it is loaded as the key's certificate
        (``public_blob``); ``path`` may also name the ``-cert.pub`` file itself.
        ``FileNotFoundError`` when the key file is absent, ``UnknownKeyType``
        for a key type no class handles. ``passphrase`` is paramiko 3.x's name
        for ``password``.
        """
        if password is None:
            password = passphrase
        text = os.fspath(path)
        if text.endswith("-cert.pub"):
            key_path, cert_path = text[: -len("-cert.pub")], text
        else:
            key_path, cert_path = text, text + "-cert.pub"
        key_file = Path(key_path).expanduser()
        cert_file = Path(cert_path).expanduser()
        key = load_private_key(_read_file(key_file), password)
        if cert_file.is_file():
            key.load_certificate(str(cert_file))
        return key

    @classmethod
    def _from_data(cls, data: bytes, password: Password) -> PKey:
        key = load_private_key(data, password)
        if cls is not PKey and not isinstance(key, cls):
            raise SSHException(f"key file holds a {key.get_name()} key, not {cls._KEY_NAMES[0]}")
        return key

    @classmethod
    def from_type_string(cls, key_type: str, key_bytes: BytesLike, password: Password = None) -> PKey:
        """The public key from its blob ``key_bytes``, by the class whose
        ``identifiers()`` hold ``key_type`` (a key type, a signature algorithm
        such as ``rsa-sha2-256``, or a certificate type).

        ``UnknownKeyType`` when no class knows ``key_type``; ``SSHException``
        when the blob is not a key of that type. ``password`` is accepted for
        paramiko's signature; a public blob is never encrypted.
        """
        klass = next((k for k in key_classes if key_type in k.identifiers()), None)
        base = cert_key_type(key_type)
        if klass is None:
            klass = PKey._registry.get(base)
        if klass is None:
            raise UnknownKeyType(key_type=key_type, key_bytes=key_bytes)
        return klass(data=key_bytes)

    def load_certificate(self, value: Message | PathLike) -> None:
        """Attach an OpenSSH certificate (or public key) to this key, so
        authentication can offer the certificate: ``value`` is a
        ``-cert.pub`` / ``.pub`` file name, that file's contents, or a
        ``Message`` holding the blob. Sets ``public_blob``.

        ``ValueError`` when the blob is of another key type, or when the key
        it certifies is not this key (paramiko checks only the type).
        """
        if isinstance(value, Message):
            blob = PublicBlob.from_message(Message(value.asbytes()))
        elif isinstance(value, os.PathLike) or os.path.isfile(value):
            blob = PublicBlob.from_file(value)
        else:
            blob = PublicBlob.from_string(value)
        if not blob.key_type.startswith(self.get_name()) and cert_key_type(blob.key_type) != self.get_name():
            raise ValueError(f"PublicBlob type {blob.key_type} incompatible with key type {self.get_name()}")
        if self.asbytes() and _certified_blob(blob) != self.asbytes():
            raise ValueError(f"PublicBlob of type {blob.key_type} holds another key, not this {self.get_name()} key")
        self.public_blob = blob

    def private_key_text(self, password: Password = None, format: FileFormat | str | None = None) -> str:
        """The private key file contents (what ``write_private_key`` writes).

        ``format`` is ``"openssh"``, ``"pem"`` (traditional, the default for
        RSA, DSA and ECDSA as paramiko writes) or ``"pkcs8"``, or one of the
        ``FileFormat`` values (``PEM``, ``OPENSSH``); Ed25519 defaults to
        ``"openssh"``. With a password the file is encrypted: bcrypt-pbkdf
        and aes256-ctr (openssh), legacy AES-128-CBC (pem), PBES2 (pkcs8).
        """
        if not self.can_sign():
            raise SSHException("this is a public key; there is no private key to write")
        fmt = (_format_name(format) or self._default_format()).lower()
        pw = password_bytes(password)
        if fmt == "openssh":
            record = self.private_message()
            return keyfiles.encode_openssh(self.asbytes(), record.asbytes(), self.comment or "", pw)
        if fmt in ("pem", "pkcs8"):
            return keyfiles.encode_pem(self._crypto_private(), pw, fmt)
        raise ValueError(f"unknown private key format {format!r}; use openssh, pem or pkcs8")

    def _default_format(self) -> str:
        return "pem"

    def write_private_key_file(
        self,
        filename: PathLike,
        password: Password = None,
        file_format: FileFormat | str | None = None,
        *,
        format: FileFormat | str | None = None,
    ) -> None:
        """Write the private key to ``filename``, created with mode 0600 from
        its first byte; see ``private_key_text`` for the format (``file_format``
        as paramiko names it, or ``format``) and ``password``."""
        text = self.private_key_text(password, file_format if format is None else format)
        with open_private(filename) as f:
            f.write(text)

    def write_private_key(
        self,
        file_obj: IO[Any],
        password: Password = None,
        file_format: FileFormat | str | None = None,
        *,
        format: FileFormat | str | None = None,
    ) -> None:
        """Write the private key to an open file object (text or binary)."""
        text = self.private_key_text(password, file_format if format is None else format)
        try:
            file_obj.write(text)
        except TypeError:
            file_obj.write(text.encode("ascii"))


# -- loading and dispatch ----------------------------------------------------


def _read_file(filename: PathLike) -> bytes:
    try:
        with open(filename, "rb") as f:
            return f.read()
    except IsADirectoryError as exc:
        raise SSHException(f"{os.fspath(filename)!r} is a directory, not a key file") from exc


def _read_obj(file_obj: IO[Any]) -> bytes:
    data = file_obj.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _class_for_name(name: str) -> type[PKey]:
    klass = PKey._registry.get(name)
    if klass is None:
        raise UnsupportedKeyType(f"unknown or unsupported key type {name[:64]!r}", key_type=name)
    return klass


def _class_for_blob(blob: Message | BytesLike) -> type[PKey]:
    return _class_for_name(as_message(blob).get_text())


def _class_for_crypto_key(key: Any) -> type[PKey]:
    for klass in dict.fromkeys(PKey._registry.values()):
        if isinstance(key, klass._CRYPTO_TYPES):
            return klass
    raise UnsupportedKeyType(f"unsupported key type {type(key).__name__}", key_type=type(key))


def _certified_blob(blob: PublicBlob) -> bytes:
    """The plain public key blob a certificate (or public key) blob carries,
    read by the certificate parser (its CA signature is not checked here:
    that is the server's business, as in paramiko). ``ValueError`` when the
    blob cannot be read."""
    if not blob.is_certificate:
        return blob.key_blob
    from .certificates import Certificate  # certificates builds on this module

    try:
        return Certificate.from_public_blob(blob, verify=False).key.asbytes()
    except SSHException as exc:
        raise ValueError(f"unreadable {blob.key_type} certificate: {exc}") from exc


def key_from_fields(key_type: str, m: Message) -> PKey:
    """The public key of type ``key_type`` whose fields (what follows the
    type name in its blob) ``m`` reads next; ``m`` is left just after them.

    For structures that embed a key's fields in a larger record, such as
    OpenSSH certificates. ``SSHException`` for an unknown type or bad fields.
    """
    key = object.__new__(_class_for_name(key_type))
    key.comment = None
    strict = m.strict
    m.strict = True
    try:
        key._read_fields(m, key_type)
    finally:
        m.strict = strict
    return key


#: the key classes ``PKey.from_type_string`` consults, in paramiko's order
#: (filled in by ``ssh_keys`` once every key module is imported)
key_classes: list[type[PKey]] = []


def key_from_crypto(key: Any) -> PKey:
    """Wrap a ``cryptography`` private or public key in the matching PKey class."""
    klass = _class_for_crypto_key(key)
    obj = object.__new__(klass)
    obj.comment = None
    obj._set_crypto_key(key)
    return obj


def _unpickle_key(data: bytes, private: bool, comment: str | None) -> PKey:
    """Rebuild a pickled key (see ``PKey.__reduce__``)."""
    key = PKey.from_private_message(data) if private else key_from_blob(data)
    key.comment = comment
    return key


def key_from_blob(blob: Message | BytesLike) -> PKey:
    """The public key whose SSH wire blob is ``blob``; ``SSHException`` for an
    unknown type or malformed data."""
    data = blob.get_remainder() if isinstance(blob, Message) else bytes(blob)
    return _class_for_blob(data)(data=data)


def load_private_key(data: BytesLike | str, password: Password = None) -> PKey:
    """Load a private key from the contents of a key file, detecting its
    format (OpenSSH, PEM, PKCS#8) and type; sets ``comment`` when the file
    carries one. Raises ``PasswordRequiredException`` for an encrypted file
    without a password and ``SSHException`` for anything else that fails."""
    decoded = keyfiles.decode_private(to_bytes(data), password_bytes(password))
    if decoded.record is None:
        return key_from_crypto(decoded.crypto_key)
    m = Message(decoded.record, strict=True)
    try:
        key = PKey.from_private_message(m)
        comment = keyfiles.read_comment_and_padding(m)
    except ProtocolError as exc:
        raise SSHException(f"corrupt or truncated OpenSSH key file: {exc}") from exc
    if key.asbytes() != decoded.public_blob:
        raise SSHException("corrupt key file: the private key does not match its public key")
    key.comment = comment or None
    return key


def load_private_key_file(filename: PathLike, password: Password = None) -> PKey:
    """``load_private_key`` on the contents of ``filename``."""
    return load_private_key(_read_file(filename), password)
