"""OpenSSH certificates (PROTOCOL.certkeys): parse, verify, check and sign.

A certificate is a public key plus the CA's signed statement about it: who
may use it (principals), when (validity window), as what (user or host), and
under which restrictions (critical options) and permissions (extensions).
``Certificate`` reads one (from a ``-cert.pub`` line, a blob or a
``PublicBlob``) and checks it as OpenSSH does; ``sign_certificate`` makes
one with any of our keys as the CA, so a test or a small site can run a CA
without ``ssh-keygen``.

Parsing verifies the CA signature by default, as OpenSSH does: a
``Certificate`` in hand has a good signature unless ``verify=False`` was
asked for (to inspect a broken one). ``check`` then decides whether the
certificate may be used for a given principal, time, role and client.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from ssh_wire import Message, SSHException

from .certs import CERT_SUFFIX, PublicBlob, cert_key_type, cert_type_for
from .pkey import PathLike, PKey, key_from_blob, key_from_fields
from .skkeys import SKKey

#: ``valid_before`` of a certificate that never expires
FOREVER = 2**64 - 1
#: the most principals OpenSSH accepts in one certificate
MAX_PRINCIPALS = 256

#: the critical options OpenSSH's sshd knows (for user certificates; a host
#: certificate may carry none)
KNOWN_CRITICAL_OPTIONS = ("force-command", "source-address", "verify-required")
#: the extensions ``ssh-keygen -s`` grants a user certificate by default
DEFAULT_USER_EXTENSIONS = (
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
)
#: the CA signature algorithms OpenSSH accepts by default
#: (``CASignatureAlgorithms``): every one but SHA-1 ``ssh-rsa``
DEFAULT_CA_SIGNATURE_ALGORITHMS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)

#: how option values may be given to ``sign_certificate``: a mapping of name
#: to value (``None`` or ``b""`` for a flag, ``str`` for a text value such as
#: force-command's, ``bytes`` for raw option data) or just the flag names
Options = Mapping[str, "str | bytes | None"] | Iterable[str]
Timestamp = int | float | datetime


class CertificateType(IntEnum):
    """What a certificate vouches for: a user (client) key or a host key."""

    USER = 1
    HOST = 2


# -- exceptions ----------------------------------------------------------------


class CertificateError(SSHException):
    """A certificate that cannot be used: malformed, truncated, of an
    unsupported type, or (in the subclasses) badly signed or not valid."""


class CertificateSignatureError(CertificateError):
    """The CA's signature over the certificate does not verify."""


class CertificateNotValid(CertificateError):
    """The certificate is well formed and signed but may not be used here:
    the subclass says why, the message says it as OpenSSH does."""


class CertificateExpired(CertificateNotValid):
    """The certificate's ``valid_before`` has passed."""


class CertificateNotYetValid(CertificateNotValid):
    """The certificate's ``valid_after`` has not come yet."""


class CertificatePrincipalError(CertificateNotValid):
    """The name asked for is not one of the certificate's principals (or
    the certificate lists none where one is required)."""


class CertificateTypeError(CertificateNotValid):
    """A user certificate where a host certificate is wanted, or the reverse."""


class CertificateOptionError(CertificateNotValid):
    """A critical option that is unknown, malformed or not met (such as a
    ``source-address`` that excludes the client)."""


class CertificateUntrustedCA(CertificateNotValid):
    """The certificate is signed by a CA that is not trusted here, or with a
    signature algorithm that is not accepted."""


class CertificateRevoked(CertificateNotValid):
    """The certified key, or the CA that signed it, is revoked (an
    ``@revoked`` line of known_hosts)."""


# -- the certificate -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Certificate:
    """An OpenSSH certificate, every field exposed.

    Build one with ``from_line``, ``from_file``, ``from_blob``,
    ``from_public_blob`` or ``from_key``, or make one with
    ``sign_certificate``. Option and extension values are kept as their raw
    data (``b""`` for a flag), in read-only mappings; ``force_command`` and
    ``source_addresses`` decode the two text-valued options. Two certificates are equal when
    their blobs are.
    """

    #: the certificate type name, e.g. ``"ssh-ed25519-cert-v01@openssh.com"``
    key_type: str
    #: the CA-chosen random nonce
    nonce: bytes
    #: the certified public key (a plain key, not a certificate)
    key: PKey
    serial: int
    cert_type: CertificateType
    key_id: str
    #: the names the certificate is valid for; empty means any (for a host)
    principals: tuple[str, ...]
    #: seconds since the epoch; 0 means since always
    valid_after: int
    #: seconds since the epoch; ``FOREVER`` means no expiry
    valid_before: int
    critical_options: Mapping[str, bytes]
    extensions: Mapping[str, bytes]
    reserved: bytes
    #: the CA's public key
    signature_key: PKey
    #: the signature blob (string algorithm, string signature)
    signature: bytes
    #: the algorithm the CA signed with, e.g. ``"rsa-sha2-512"``
    signature_algorithm: str
    #: the whole certificate blob
    blob: bytes = field(repr=False)
    comment: str | None = None

    # -- construction ------------------------------------------------------------

    @classmethod
    def from_blob(cls, data: bytes | Message, *, verify: bool = True, comment: str | None = None) -> Certificate:
        """Parse a certificate blob (bytes, or a ``Message`` at its start).

        ``CertificateError`` when it is malformed or of an unsupported type;
        ``CertificateSignatureError`` when ``verify`` and the CA signature
        is bad.
        """
        raw = data.get_remainder() if isinstance(data, Message) else bytes(data)
        cert = _parse(raw, comment)
        if verify:
            cert.verify_signature()
        return cert

    @classmethod
    def from_public_blob(cls, blob: PublicBlob, *, verify: bool = True) -> Certificate:
        """The certificate a ``PublicBlob`` holds (its comment kept)."""
        if not blob.is_certificate:
            raise CertificateError(f"{blob.key_type} is a plain public key, not a certificate")
        return cls.from_blob(blob.key_blob, verify=verify, comment=blob.comment)

    @classmethod
    def from_line(cls, line: str | bytes, *, verify: bool = True) -> Certificate:
        """Parse a ``-cert.pub`` line: ``type base64 [comment]``."""
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        try:
            blob = PublicBlob.from_string(text.strip())
        except ValueError as exc:
            raise CertificateError(f"not a certificate line: {exc}") from exc
        return cls.from_public_blob(blob, verify=verify)

    @classmethod
    def from_file(cls, filename: PathLike, *, verify: bool = True) -> Certificate:
        """Read a ``-cert.pub`` file (its first non-comment line)."""
        with open(os.path.expanduser(os.fspath(filename)), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    return cls.from_line(line, verify=verify)
        raise CertificateError(f"no certificate in {os.fspath(filename)!r}")

    @classmethod
    def from_key(cls, key: PKey, *, verify: bool = True) -> Certificate:
        """The certificate attached to ``key`` (by ``load_certificate`` or
        ``PKey.from_path``); ``CertificateError`` when it has none."""
        if key.public_blob is None or not key.public_blob.is_certificate:
            raise CertificateError(f"this {key.get_name()} key has no certificate attached")
        return cls.from_public_blob(key.public_blob, verify=verify)

    # -- derived fields ----------------------------------------------------------

    @property
    def is_user(self) -> bool:
        """True for a user certificate."""
        return self.cert_type is CertificateType.USER

    @property
    def is_host(self) -> bool:
        """True for a host certificate."""
        return self.cert_type is CertificateType.HOST

    @property
    def valid_forever(self) -> bool:
        """True when the certificate never expires."""
        return self.valid_before == FOREVER

    @property
    def signed_data(self) -> bytes:
        """The bytes the CA signed: the whole blob up to the signature."""
        return self.blob[: len(self.blob) - 4 - len(self.signature)]

    @property
    def force_command(self) -> str | None:
        """The ``force-command`` critical option's command, or None."""
        raw = self.critical_options.get("force-command")
        return None if raw is None else _option_text("force-command", raw)

    @property
    def source_addresses(self) -> tuple[str, ...] | None:
        """The ``source-address`` critical option's CIDR list, or None."""
        raw = self.critical_options.get("source-address")
        if raw is None:
            return None
        return tuple(a.strip() for a in _option_text("source-address", raw).split(","))

    @property
    def verify_required(self) -> bool:
        """True when the ``verify-required`` critical option is present (a
        security key must verify the user, not only their presence)."""
        return "verify-required" in self.critical_options

    @property
    def touch_required(self) -> bool:
        """False when the ``no-touch-required`` extension lets a security
        key (``sk-*``) sign without a touch; True otherwise, as sshd reads it."""
        return "no-touch-required" not in self.extensions

    @property
    def unknown_critical_options(self) -> tuple[str, ...]:
        """Critical options OpenSSH does not know; a server must refuse the
        certificate when there is any (``check`` does)."""
        return tuple(n for n in self.critical_options if n not in KNOWN_CRITICAL_OPTIONS)

    def valid_after_datetime(self) -> datetime:
        """``valid_after`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.valid_after, timezone.utc)

    def valid_before_datetime(self) -> datetime | None:
        """``valid_before`` as an aware UTC datetime, or None for forever."""
        if self.valid_forever:
            return None
        return datetime.fromtimestamp(min(self.valid_before, 253402300799), timezone.utc)

    # -- verification --------------------------------------------------------------

    def verify_signature(self) -> None:
        """Check the CA's signature; ``CertificateSignatureError`` when bad."""
        ca = self.signature_key
        if isinstance(ca, SKKey):
            # OpenSSH checks no touch flag on a CA's signature, only on user auth
            good = ca.verify_ssh_sig(self.signed_data, self.signature, touch_required=False)
        else:
            good = ca.verify_ssh_sig(self.signed_data, self.signature)
        if not good:
            raise CertificateSignatureError(
                f"{self.key_type} certificate {self.key_id!r}: the CA signature "
                f"({self.signature_algorithm} by {self.signature_key.fingerprint}) does not verify"
            )

    def check(
        self,
        *,
        principal: str | None = None,
        cert_type: CertificateType | int | str | None = None,
        now: Timestamp | None = None,
        ca_keys: Iterable[PKey] | None = None,
        source_address: str | None = None,
        require_principal: bool | None = None,
        wildcard_principals: bool = False,
        ca_signature_algorithms: Iterable[str] | None = DEFAULT_CA_SIGNATURE_ALGORITHMS,
        supported_options: Iterable[str] | None = None,
    ) -> None:
        """Raise a ``CertificateNotValid`` subclass unless the certificate may
        be used, checking as OpenSSH does (in this order):

        - the CA signature (``CertificateSignatureError``), that the CA is
          one of ``ca_keys`` when given and signed with one of
          ``ca_signature_algorithms`` (OpenSSH's defaults: no SHA-1);
        - the type, when ``cert_type`` (``"user"``/``"host"``) is given;
        - the validity window at ``now`` (default: the current time);
        - ``principal`` among the principals (``wildcard_principals`` lets
          principals be ``*``/``?`` patterns); a certificate without
          principals is refused when ``require_principal`` (default: for
          user certificates, as sshd does), otherwise valid for any name;
        - critical options: any not in ``supported_options`` (default: the
          ones sshd knows for a user certificate, none for a host
          certificate) is refused; ``source-address`` must match
          ``source_address``, which must then be given. ``force-command``
          and ``verify-required`` are for the caller to enforce.
        """
        self.verify_signature()
        ca_list = None if ca_keys is None else list(ca_keys)
        if ca_list is not None and self.signature_key not in ca_list:
            raise CertificateUntrustedCA(
                f"Certificate signed by an untrusted CA: {self.signature_key.algorithm_name} "
                f"{self.signature_key.fingerprint}"
            )
        if ca_signature_algorithms is not None and self.signature_algorithm not in set(ca_signature_algorithms):
            raise CertificateUntrustedCA(
                f"Certificate signature algorithm {self.signature_algorithm} is not an accepted CA signature algorithm"
            )
        want = self.cert_type if cert_type is None else _cert_type(cert_type)
        if want is not self.cert_type:
            raise CertificateTypeError(f"Certificate invalid: not a {want.name.lower()} certificate")
        self._check_time(now)
        self._check_principal(principal, want, require_principal, wildcard_principals)
        self._check_options(want, supported_options, source_address)

    def is_valid(self, **kwargs: Any) -> bool:
        """``check(**kwargs)`` as a boolean."""
        try:
            self.check(**kwargs)
        except CertificateError:
            return False
        return True

    def _check_time(self, now: Timestamp | None) -> None:
        at = int(time.time()) if now is None else _timestamp(now, "now")
        if at < self.valid_after:
            raise CertificateNotYetValid(
                f"Certificate invalid: not yet valid (valid from {_format_time(self.valid_after)})"
            )
        if at >= self.valid_before:
            raise CertificateExpired(f"Certificate invalid: expired (valid before {_format_time(self.valid_before)})")

    def _check_principal(
        self, principal: str | None, want: CertificateType, require: bool | None, wildcard: bool
    ) -> None:
        if not self.principals:
            if require if require is not None else want is CertificateType.USER:
                raise CertificatePrincipalError("Certificate lacks principal list")
            return
        if principal is None:
            return
        for listed in self.principals:
            if listed == principal or (wildcard and _pattern(listed).fullmatch(principal)):
                return
        raise CertificatePrincipalError(f"Certificate invalid: name {principal!r} is not a listed principal")

    def _check_options(
        self, want: CertificateType, supported: Iterable[str] | None, source_address: str | None
    ) -> None:
        allowed = set(supported) if supported is not None else set()
        if supported is None and want is CertificateType.USER:
            allowed = set(KNOWN_CRITICAL_OPTIONS)
        for name in self.critical_options:
            if name not in allowed:
                raise CertificateOptionError(f'Certificate critical option "{name}" is not supported')
        networks = self.source_addresses
        if networks is None:
            return
        if source_address is None:
            raise CertificateOptionError(
                "Certificate has a source-address restriction, and no client address was given to check it"
            )
        if not _address_matches(source_address, networks):
            raise CertificateOptionError(
                f"Certificate invalid: source address {source_address} is not in source-address {','.join(networks)}"
            )

    # -- output --------------------------------------------------------------------

    def asbytes(self) -> bytes:
        """The certificate blob."""
        return self.blob

    def __bytes__(self) -> bytes:
        """The certificate blob, as ``asbytes()``."""
        return self.blob

    def get_base64(self) -> str:
        """The blob in base64, as in a ``-cert.pub`` file."""
        return base64.b64encode(self.blob).decode("ascii")

    def get_openssh_line(self, comment: str | None = None) -> str:
        """The ``type base64 [comment]`` line of a ``-cert.pub`` file."""
        comment = self.comment if comment is None else comment
        text = f"{self.key_type} {self.get_base64()}"
        return f"{text} {comment}" if comment else text

    def write_file(self, filename: PathLike, comment: str | None = None) -> None:
        """Write the ``-cert.pub`` line (and a newline) to ``filename``."""
        with open(os.path.expanduser(os.fspath(filename)), "w", encoding="utf-8") as f:
            f.write(self.get_openssh_line(comment) + "\n")

    def to_public_blob(self) -> PublicBlob:
        """The certificate as a ``PublicBlob`` (what ``PKey.public_blob`` holds)."""
        return PublicBlob(self.key_type, self.blob, self.comment)

    def __eq__(self, other: object) -> bool:
        """Equal when both are certificates with the same blob."""
        if not isinstance(other, Certificate):
            return NotImplemented
        return self.blob == other.blob

    def __hash__(self) -> int:
        """Hash of the blob, consistent with ``==``."""
        return hash(self.blob)

    def __repr__(self) -> str:
        until = "forever" if self.valid_forever else _format_time(self.valid_before)
        return (
            f"Certificate({self.cert_type.name.lower()}, {self.key_type}, key={self.key.fingerprint}, "
            f"id={self.key_id!r}, serial={self.serial}, principals={list(self.principals)!r}, "
            f"valid={_format_time(self.valid_after)}..{until}, ca={self.signature_key.fingerprint})"
        )


# -- signing -------------------------------------------------------------------------


def sign_certificate(
    key: PKey,
    ca_key: PKey,
    *,
    cert_type: CertificateType | int | str = CertificateType.USER,
    key_id: str = "",
    principals: str | Iterable[str] = (),
    valid_after: Timestamp | None = None,
    valid_before: Timestamp | None = None,
    critical_options: Options | None = None,
    extensions: Options | None = None,
    serial: int = 0,
    nonce: bytes | None = None,
    algorithm: str | None = None,
    comment: str | None = None,
) -> Certificate:
    """Certify ``key`` (its public half) with the private ``ca_key``, as
    ``ssh-keygen -s`` does, and return the signed ``Certificate``.

    ``valid_after``/``valid_before`` are epoch seconds or datetimes (naive
    ones are local time); None means since always / forever. ``extensions``
    default to ssh-keygen's for a user certificate (the ``permit-*`` set)
    and none for a host certificate. ``algorithm`` picks the CA signature
    (for an RSA CA: ``rsa-sha2-512``, the default, ``rsa-sha2-256`` or
    ``ssh-rsa``). ``ValueError`` for out-of-range arguments.
    """
    kind = _cert_type(cert_type)
    names = [principals] if isinstance(principals, str) else list(principals)
    if len(names) > MAX_PRINCIPALS:
        raise ValueError(f"too many principals ({len(names)}); OpenSSH accepts at most {MAX_PRINCIPALS}")
    if any(not p or "\0" in p for p in names):
        raise ValueError("a principal must be a non-empty string without NUL")
    after = 0 if valid_after is None else _timestamp(valid_after, "valid_after")
    before = FOREVER if valid_before is None else _timestamp(valid_before, "valid_before")
    if after >= before:
        raise ValueError("valid_after must be earlier than valid_before")
    if not 0 <= serial <= FOREVER:
        raise ValueError("serial must fit in 64 bits")
    if extensions is None:
        extensions = DEFAULT_USER_EXTENSIONS if kind is CertificateType.USER else ()
    fields = Message(key.asbytes(), strict=True)
    base = fields.get_text()
    m = Message().add_string(cert_type_for(base)).add_string(os.urandom(32) if nonce is None else nonce)
    m.add_bytes(fields.get_remainder())
    m.add_int64(serial).add_int(int(kind)).add_string(key_id)
    m.add_string(b"".join(Message().add_string(p).asbytes() for p in names))
    m.add_int64(after).add_int64(before)
    m.add_string(_encode_options(critical_options or (), "critical option"))
    m.add_string(_encode_options(extensions, "extension"))
    m.add_string(b"")  # reserved
    m.add_string(ca_key.asbytes())
    signature = ca_key.sign_ssh_data(m.asbytes(), algorithm)
    m.add_string(signature.asbytes())
    return Certificate.from_blob(m.asbytes(), comment=comment)


# -- helpers --------------------------------------------------------------------------


def _parse(blob: bytes, comment: str | None) -> Certificate:
    """Read every field of a certificate blob (the signature is not checked)."""
    name = ""
    try:
        m = Message(blob, strict=True)
        name = m.get_name()
        if not name.endswith(CERT_SUFFIX):
            raise CertificateError(f"not a certificate: key type {name[:64]!r}")
        nonce = m.get_string()
        try:
            key = key_from_fields(cert_key_type(name), m)
        except CertificateError:
            raise
        except SSHException as exc:
            raise CertificateError(f"unsupported or invalid {name[:64]} certificate key: {exc}") from exc
        serial = m.get_int64()
        raw_type = m.get_int()
        if raw_type not in (CertificateType.USER, CertificateType.HOST):
            raise CertificateError(f"unknown certificate type {raw_type}")
        key_id = m.get_text()
        principals = _principals(m.get_string())
        valid_after = m.get_int64()
        valid_before = m.get_int64()
        critical = _options(m.get_string(), "critical option")
        extensions = _options(m.get_string(), "extension")
        reserved = m.get_string()
        ca_blob = m.get_string()
        signature = m.get_string()
        m.expect_end()
        signature_algorithm = Message(signature, strict=True).get_name()
    except CertificateError:
        raise
    except SSHException as exc:
        raise CertificateError(f"malformed {name[:64] or 'OpenSSH'} certificate: {exc}") from exc
    return Certificate(
        key_type=name,
        nonce=nonce,
        key=key,
        serial=serial,
        cert_type=CertificateType(raw_type),
        key_id=key_id,
        principals=principals,
        valid_after=valid_after,
        valid_before=valid_before,
        critical_options=MappingProxyType(critical),
        extensions=MappingProxyType(extensions),
        reserved=reserved,
        signature_key=_ca_key(ca_blob),
        signature=signature,
        signature_algorithm=signature_algorithm,
        blob=blob,
        comment=comment,
    )


def _ca_key(blob: bytes) -> PKey:
    """The CA key of a certificate; refused when it is itself a certificate."""
    try:
        name = Message(blob, strict=True).get_name()
    except SSHException as exc:
        raise CertificateError(f"malformed certificate: bad signature key ({exc})") from exc
    if name.endswith(CERT_SUFFIX):
        raise CertificateError("invalid certificate: the signature key (CA) is itself a certificate")
    try:
        return key_from_blob(blob)
    except SSHException as exc:
        raise CertificateError(f"unsupported or invalid certificate signature key: {exc}") from exc


def _principals(data: bytes) -> tuple[str, ...]:
    m = Message(data, strict=True)
    out: list[str] = []
    while m.remaining():
        if len(out) >= MAX_PRINCIPALS:
            raise CertificateError(f"certificate lists more than {MAX_PRINCIPALS} principals")
        out.append(m.get_text())
    return tuple(out)


def _options(data: bytes, what: str) -> dict[str, bytes]:
    """Name -> raw data of a critical options or extensions field; each name
    may appear only once (PROTOCOL.certkeys)."""
    m = Message(data, strict=True)
    out: dict[str, bytes] = {}
    while m.remaining():
        name = m.get_text()
        value = m.get_string()
        if name in out:
            raise CertificateError(f"certificate repeats the {what} {name[:64]!r}")
        out[name] = value
    return out


def _option_text(name: str, raw: bytes) -> str:
    """The text value of an option whose data is one string."""
    try:
        m = Message(raw, strict=True)
        text = m.get_text()
        m.expect_end()
    except SSHException as exc:
        raise CertificateOptionError(f'Certificate option "{name}" is corrupt: {exc}') from exc
    return text


def _encode_options(options: Options, what: str) -> bytes:
    """The wire form of options or extensions: sorted by name, each value
    wrapped in a string (a ``str`` value is itself a string inside it)."""
    items: list[tuple[str, str | bytes | None]]
    if isinstance(options, Mapping):
        items = list(options.items())
    elif isinstance(options, str):
        raise TypeError(f"{what}s must be a mapping or a list of names, not a str")
    else:
        items = [(name, None) for name in options]
    out = Message()
    seen: set[str] = set()
    for name, value in sorted(items, key=lambda item: item[0]):
        if not name or name in seen:
            raise ValueError(f"{what} names must be non-empty and unique: {name!r}")
        seen.add(name)
        if value is None:
            data = b""
        elif isinstance(value, str):
            data = Message().add_string(value).asbytes()
        else:
            data = bytes(value)
        out.add_string(name).add_string(data)
    return out.asbytes()


def _cert_type(value: CertificateType | int | str) -> CertificateType:
    if isinstance(value, str):
        try:
            return CertificateType[value.upper()]
        except KeyError:
            raise ValueError(f"certificate type must be 'user' or 'host', not {value!r}") from None
    try:
        return CertificateType(value)
    except ValueError:
        raise ValueError(f"certificate type must be 1 (user) or 2 (host), not {value!r}") from None


def _timestamp(value: Timestamp, what: str) -> int:
    seconds = int(value.timestamp()) if isinstance(value, datetime) else int(value)
    if not 0 <= seconds <= FOREVER:
        raise ValueError(f"{what} is out of range: {value!r}")
    return seconds


def _format_time(seconds: int) -> str:
    if seconds == FOREVER:
        return "forever"
    if seconds == 0:
        return "always"
    if seconds > 253402300799:  # past year 9999
        return str(seconds)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pattern(text: str) -> re.Pattern[str]:
    """An OpenSSH ``*``/``?`` wildcard pattern as a regex."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text))


def _address_matches(address: str, networks: Iterable[str]) -> bool:
    """Whether ``address`` lies in one of the CIDR ``networks``; a malformed
    entry makes the option corrupt (``CertificateOptionError``), as in sshd."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError as exc:
        raise CertificateOptionError(f"not an IP address: {address!r}") from exc
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    found = False
    for entry in networks:
        try:
            net = ipaddress.ip_network(entry, strict=True)
        except ValueError as exc:
            raise CertificateOptionError(f'Certificate option "source-address" is corrupt: {entry!r}') from exc
        found = found or (ip.version == net.version and ip in net)
    return found
