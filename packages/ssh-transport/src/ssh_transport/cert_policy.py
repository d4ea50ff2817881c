"""A ready server policy for user certificates, as sshd's ``TrustedUserCAKeys``
and ``AuthorizedPrincipalsFile`` give it.

A server that hands ``ServerInterface.get_user_certificate_policy`` one of
these accepts a user who signs with a key certified by one of its CAs, for a
principal that user may log in as, inside the certificate's validity window
and ``source-address``; a certificate with a critical option sshd does not
know is refused. The transport then enforces what the certificate says once
the user is in (``force-command``, the ``permit-*`` extensions).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ssh_keys import (
    Certificate,
    CertificatePrincipalError,
    CertificateType,
    PKey,
    PublicBlob,
    key_from_blob,
)
from ssh_keys.certificates import DEFAULT_CA_SIGNATURE_ALGORITHMS, Timestamp
from ssh_wire import SSHException, wildcard_match

PathLike = str | os.PathLike[str]

#: the certificate extensions an ``AuthorizedPrincipalsFile`` line can take
#: away (``no-*``, ``restrict``) or give back after ``restrict`` (``permit-*``)
_PERMITS = {
    "pty": "permit-pty",
    "port-forwarding": "permit-port-forwarding",
    "agent-forwarding": "permit-agent-forwarding",
    "x11-forwarding": "permit-X11-forwarding",
    "user-rc": "permit-user-rc",
}


@dataclass(frozen=True)
class PrincipalLine:
    """One ``AuthorizedPrincipalsFile`` line: a principal name and the
    authorized_keys options it carries (sshd(8), AUTHORIZED_KEYS FILE
    FORMAT): ``command`` forces a command (as a certificate's
    ``force-command``), ``sources`` are the ``from=`` patterns the client
    address must match, ``denied`` the ``permit-*`` certificate extensions
    the line takes away (``no-pty`` ..., ``restrict``)."""

    name: str
    command: str | None = None
    sources: tuple[str, ...] = ()
    denied: frozenset[str] = frozenset()

    def allows_address(self, address: str | None) -> bool:
        """Whether ``from=`` (if any) lets a client at ``address`` in, as
        sshd matches it: ``*``/``?`` patterns or CIDR blocks against the IP
        address, a ``!`` pattern that matches refuses."""
        if not self.sources:
            return True
        if address is None:
            return False
        found = False
        for pattern in self.sources:
            negated = pattern.startswith("!")
            if _address_pattern_matches(address, pattern[1:] if negated else pattern):
                if negated:
                    return False
                found = True
        return found


#: who may log in as whom: a mapping of user name -> principals, or a
#: function of the user name giving them (None: the user name itself);
#: a principal may be a ``PrincipalLine`` carrying options
PrincipalSource = Mapping[str, Iterable[str | PrincipalLine]] | Callable[[str], Iterable[str | PrincipalLine] | None]

logger = logging.getLogger("paramiko.transport")


def read_public_keys(filename: PathLike) -> list[PKey]:
    """The public keys of a ``TrustedUserCAKeys`` file: one ``type base64
    [comment]`` line each; blank lines and ``#`` comments are skipped.
    ``SSHException`` names the first line that is not a usable key."""
    keys: list[PKey] = []
    path = Path(os.path.expanduser(os.fspath(filename)))
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            blob = PublicBlob.from_string(text)
            if blob.is_certificate:
                raise SSHException("a CA key may not be a certificate")
            keys.append(key_from_blob(blob.key_blob))
        except (ValueError, SSHException) as exc:
            raise SSHException(f"{path}:{lineno}: not a CA public key: {exc}") from exc
    return keys


def read_principals(filename: PathLike) -> list[str] | None:
    """The principal names of an ``AuthorizedPrincipalsFile`` (one a line,
    ``#`` comments skipped), or None when the file does not exist; their
    options are left out (``read_principal_lines`` keeps them)."""
    lines = read_principal_lines(filename)
    return None if lines is None else [line.name for line in lines]


def read_principal_lines(filename: PathLike) -> list[PrincipalLine] | None:
    """The lines of an ``AuthorizedPrincipalsFile`` with their options
    (``[options] principal``, ``#`` comments skipped), or None when the file
    does not exist. A line with an option we do not enforce, or a malformed
    one, is skipped with a warning, so that no restriction is silently
    dropped: that principal then does not let anyone in."""
    path = Path(os.path.expanduser(os.fspath(filename)))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    lines: list[PrincipalLine] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        try:
            lines.append(parse_principal_line(entry))
        except ValueError as exc:
            logger.warning("%s:%d: %s; line skipped", path, lineno, exc)
    return lines


def parse_principal_line(text: str) -> PrincipalLine:
    """One ``AuthorizedPrincipalsFile`` line: an optional comma-separated
    option list (quoted values may hold commas and spaces), then the
    principal. ``command=``, ``from=``, ``restrict``, ``no-pty``,
    ``no-port-forwarding``, ``no-agent-forwarding``, ``no-X11-forwarding``,
    ``no-user-rc`` and (after ``restrict``) their ``permit-*`` forms are
    understood; any other option raises ``ValueError``."""
    entry = text.strip()
    options, rest = _split_options(entry) if len(entry.split(None, 1)) > 1 else ("", entry)
    name = rest.strip()
    if not name or len(name.split()) != 1:
        raise ValueError("a principal line holds one principal name after its options")
    command: str | None = None
    sources: tuple[str, ...] = ()
    denied: set[str] = set()
    for option in _option_items(options):
        key, _, value = option.partition("=")
        key = key.lower()
        if key == "command" and value:
            command = _unquote(value)
        elif key == "from" and value:
            sources = tuple(p for p in _unquote(value).split(",") if p)
        elif key == "restrict" and not value:
            denied.update(_PERMITS.values())
        elif key.startswith("no-") and key[3:] in _PERMITS and not value:
            denied.add(_PERMITS[key[3:]])
        elif key.startswith("permit-") and key[7:] in _PERMITS and not value:
            denied.discard(_PERMITS[key[7:]])
        else:
            raise ValueError(f"option {option!r} is not supported")
    return PrincipalLine(name, command, sources, frozenset(denied))


def _split_options(entry: str) -> tuple[str, str]:
    """Split ``options principal`` where the options may quote spaces."""
    quoted = False
    i = 0
    while i < len(entry):
        ch = entry[i]
        if ch == "\\" and quoted and i + 1 < len(entry):
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return entry[:i], entry[i:]
        i += 1
    raise ValueError("unterminated quote in the options")


def _option_items(options: str) -> list[str]:
    """The comma-separated items of an option list (commas in quotes kept)."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(options):
        ch = options[i]
        if ch == "\\" and quoted and i + 1 < len(options):
            current.append(options[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if quoted:
        raise ValueError("unterminated quote in the options")
    if current or items:
        items.append("".join(current))
    if any(not item for item in items):
        raise ValueError("empty option")
    return items


def _unquote(value: str) -> str:
    """An option value without its quotes (``\\"`` is a quote inside)."""
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
        raise ValueError(f"option value {value!r} is not quoted")
    return value[1:-1].replace('\\"', '"')


def _address_pattern_matches(address: str, pattern: str) -> bool:
    """One ``from=`` pattern (CIDR block or wildcard) against an IP address."""
    if "/" in pattern:
        try:
            net = ipaddress.ip_network(pattern, strict=False)
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.version == net.version and ip in net
    return wildcard_match(pattern, address, ignore_case=True)


class UserCertificatePolicy:
    """Which user certificates a server accepts, as sshd decides it.

    ``ca_keys`` are the trusted CAs (``TrustedUserCAKeys``).
    ``authorized_principals`` says which certificate principals may log in
    as a user (``AuthorizedPrincipalsFile``): when it is None, or gives None
    for a user, the user name itself must be a principal of the
    certificate, as sshd requires. ``ca_signature_algorithms`` are the CA
    signatures accepted (sshd's ``CASignatureAlgorithms``: no SHA-1 by default).
    Subclass and override ``principals_for`` for another source of names.
    """

    def __init__(
        self,
        ca_keys: Iterable[PKey],
        *,
        authorized_principals: PrincipalSource | None = None,
        ca_signature_algorithms: Iterable[str] = DEFAULT_CA_SIGNATURE_ALGORITHMS,
    ) -> None:
        """Trust ``ca_keys`` for the principals ``authorized_principals`` gives."""
        self.ca_keys = list(ca_keys)
        self.authorized_principals = authorized_principals
        self.ca_signature_algorithms = tuple(ca_signature_algorithms)

    @classmethod
    def from_files(
        cls, trusted_user_ca_keys: PathLike, authorized_principals_file: str | None = None
    ) -> UserCertificatePolicy:
        """The policy of sshd's ``TrustedUserCAKeys FILE`` and, when given,
        ``AuthorizedPrincipalsFile PATTERN`` (``%u`` is the user name, ``%h``
        their home directory, ``%%`` a percent sign). A user whose
        principals file is missing may not log in with a certificate."""
        keys = read_public_keys(trusted_user_ca_keys)
        source: PrincipalSource | None = None
        if authorized_principals_file is not None:
            pattern = authorized_principals_file

            def from_file(username: str) -> list[PrincipalLine]:
                return read_principal_lines(_expand_tokens(pattern, username)) or []

            source = from_file
        return cls(keys, authorized_principals=source)

    def principals_for(self, username: str) -> list[str] | None:
        """The principals that may log in as ``username``, or None when the
        user name itself is the only one."""
        lines = self.principal_lines_for(username)
        return None if lines is None else [line.name for line in lines]

    def principal_lines_for(self, username: str) -> list[PrincipalLine] | None:
        """As ``principals_for``, each with the options of its line."""
        source = self.authorized_principals
        if source is None:
            return None
        if callable(source):
            found = source(username)
        else:
            found = source.get(username, ())
        if found is None:
            return None
        return [p if isinstance(p, PrincipalLine) else PrincipalLine(str(p)) for p in found]

    def matching_line(self, username: str, certificate: Certificate) -> PrincipalLine | None:
        """The first principals line for ``username`` naming a principal of
        ``certificate`` (whose options then apply, as sshd takes the first),
        or None when no principals source applies or no line matches."""
        lines = self.principal_lines_for(username)
        if lines is None:
            return None
        principals = set(certificate.principals)
        return next((line for line in lines if line.name in principals), None)

    def check(
        self,
        username: str,
        certificate: Certificate,
        *,
        client_address: str | None = None,
        now: Timestamp | None = None,
    ) -> None:
        """Raise a ``CertificateNotValid`` subclass (``SSHException``s) unless
        ``certificate`` lets ``username`` in from ``client_address``: a user
        certificate by a trusted CA with an accepted signature algorithm,
        valid at ``now``, naming an authorized principal, whose critical
        options are all known and whose ``source-address`` (if any)
        contains the client. The first principals line naming one of its
        principals must also let ``client_address`` in (``from=``)."""
        allowed = self.principals_for(username)
        certificate.check(
            principal=username if allowed is None else None,
            cert_type=CertificateType.USER,
            now=now,
            ca_keys=self.ca_keys,
            source_address=client_address,
            require_principal=True,
            ca_signature_algorithms=self.ca_signature_algorithms,
        )
        if allowed is not None and not set(certificate.principals) & set(allowed):
            raise CertificatePrincipalError(
                f"Certificate does not contain an authorized principal for user {username!r}"
            )
        line = self.matching_line(username, certificate)
        if line is not None and not line.allows_address(client_address):
            raise CertificatePrincipalError(
                f"principal {line.name!r} may not log in from {client_address} (from={','.join(line.sources)})"
            )


def _expand_tokens(pattern: str, username: str) -> str:
    """sshd's ``%u``/``%h``/``%%`` tokens of a principals file path."""
    home = os.path.expanduser(f"~{username}")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%" and i + 1 < len(pattern):
            token = pattern[i + 1]
            out.append({"u": username, "h": home, "%": "%"}.get(token, "%" + token))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


__all__ = [
    "PrincipalLine",
    "UserCertificatePolicy",
    "parse_principal_line",
    "read_principal_lines",
    "read_principals",
    "read_public_keys",
]
