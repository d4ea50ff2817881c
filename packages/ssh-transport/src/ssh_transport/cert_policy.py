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

import logging
import os
from collections.abc import Callable, Iterable, Mapping
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
from ssh_wire import SSHException

PathLike = str | os.PathLike[str]
#: who may log in as whom: a mapping of user name -> principals, or a
#: function of the user name giving them (None: the user name itself)
PrincipalSource = Mapping[str, Iterable[str]] | Callable[[str], Iterable[str] | None]

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
    ``#`` comments skipped), or None when the file does not exist. Lines
    carrying authorized_keys options are not supported and are skipped with
    a warning, so that no restriction is silently dropped."""
    path = Path(os.path.expanduser(os.fspath(filename)))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    names: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if len(entry.split()) != 1:
            logger.warning("%s:%d: principal lines with options are not supported; line skipped", path, lineno)
            continue
        names.append(entry)
    return names


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

            def from_file(username: str) -> list[str]:
                return read_principals(_expand_tokens(pattern, username)) or []

            source = from_file
        return cls(keys, authorized_principals=source)

    def principals_for(self, username: str) -> list[str] | None:
        """The principals that may log in as ``username``, or None when the
        user name itself is the only one."""
        source = self.authorized_principals
        if source is None:
            return None
        if callable(source):
            found = source(username)
        else:
            found = source.get(username, ())
        return None if found is None else list(found)

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
        contains the client."""
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


__all__ = ["UserCertificatePolicy", "read_principals", "read_public_keys"]
