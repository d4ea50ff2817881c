"""What known_hosts says about a server's host key: ``verify_host_key``.

The one decision both clients (paramiko's ``SSHClient`` and the asyncio
``connect``) make after key exchange, kept here so they cannot drift apart:
is the key (or its certificate) revoked, vouched for by a trusted CA, listed,
listed with a different key, or unknown. What to do with each outcome (raise
which exception, ask which policy) stays with the client.

The rules are OpenSSH's: ``@revoked`` lines for the host refuse the key or
its CA outright; a certificate from a CA that an ``@cert-authority`` line
trusts for the host must be valid for it, and when it is not, the plain key
may still be listed (OpenSSH falls back to it); a certificate from a CA no
line trusts is treated as its plain key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .certificates import (
    Certificate,
    CertificateError,
    CertificateNotValid,
    CertificateRevoked,
    CertificateUntrustedCA,
    Timestamp,
)
from .hostkeys import HostKeys
from .pkey import PKey

__all__ = ["HostKeyStatus", "HostKeyVerdict", "verify_host_key"]


class HostKeyStatus(enum.Enum):
    """The outcome of ``verify_host_key``."""

    #: the key is listed for the host
    KNOWN = "known"
    #: a certificate signed by a CA trusted for the host, valid for it now
    CERTIFIED = "certified"
    #: an ``@revoked`` line for the host lists the key (or its CA): refuse
    REVOKED = "revoked"
    #: another key of the same type is listed for the host: refuse
    MISMATCH = "mismatch"
    #: no key of this type is listed for the host (a missing-host-key policy decides)
    UNKNOWN = "unknown"
    #: a CA trusted for the host signed the certificate but it is not valid
    #: for it (expired, wrong principal, ...) and the plain key is not listed
    CERTIFICATE_INVALID = "certificate-invalid"


@dataclass(frozen=True)
class HostKeyVerdict:
    """``verify_host_key``'s answer, with what a client needs to act on it."""

    status: HostKeyStatus
    #: the known_hosts name checked (``host`` or ``[host]:port``)
    hostname: str
    #: the server's key, as given
    key: PKey
    #: MISMATCH: the listed key of the same type
    expected: PKey | None = None
    #: UNKNOWN: keys of other types listed for the host (paramiko refuses
    #: such a server as a mismatch; OpenSSH asks as for a new host)
    other_keys: tuple[PKey, ...] = ()
    #: CERTIFIED: the server's certificate, parsed
    certificate: Certificate | None = None
    #: why a certificate was refused: CERTIFICATE_INVALID, REVOKED for a
    #: certificate, and KNOWN when the plain key is listed all the same
    error: CertificateNotValid | None = None

    @property
    def accepted(self) -> bool:
        """Whether the key may be used without asking a policy."""
        return self.status in (HostKeyStatus.KNOWN, HostKeyStatus.CERTIFIED)


def _is_certificate(key: PKey) -> bool:
    blob = key.public_blob
    return blob is not None and bool(blob.is_certificate)


def _check_certificate(
    known: list[HostKeys], hostname: str, key: PKey, now: Timestamp | None
) -> Certificate | CertificateNotValid | None:
    """The certificate when a set trusting its CA finds it valid, else the
    first reason a set trusting its CA gave, else None (no set trusts it)."""
    first_error: CertificateNotValid | None = None
    for keys in known:
        try:
            return keys.check_certificate(hostname, key, now=now)
        except CertificateUntrustedCA:
            continue
        except CertificateNotValid as exc:
            first_error = first_error or exc
        except CertificateError as exc:  # e.g. a bad CA signature
            first_error = first_error or CertificateNotValid(str(exc))
    return first_error


def verify_host_key(
    known: HostKeys | Iterable[HostKeys],
    hostname: str,
    key: PKey,
    *,
    now: Timestamp | None = None,
) -> HostKeyVerdict:
    """Judge the server's host ``key`` (plain, or carrying a certificate in
    ``public_blob``) for ``hostname`` against ``known``: one ``HostKeys`` or
    several (a system file and the user's, as ``SSHClient`` holds them).

    ``hostname`` is the known_hosts name: ``host``, or ``[host]:port`` for a
    port other than 22 (certificate principals are matched against the
    ``host`` part). ``@revoked`` and ``@cert-authority`` lines count in every
    set; the listed keys are those of the first set that names the host, as
    paramiko looks them up. ``now`` (epoch seconds or a datetime) is for
    checking certificates at another time than the present.
    """
    sets = [known] if isinstance(known, HostKeys) else list(known)
    certified = _is_certificate(key)
    if any(keys.is_revoked(key, hostname) for keys in sets):
        error = None
        if certified:
            error = CertificateRevoked(f"the host key of {hostname} or the CA that certified it is marked @revoked")
        return HostKeyVerdict(HostKeyStatus.REVOKED, hostname, key, error=error)
    cert_error: CertificateNotValid | None = None
    if certified:
        checked = _check_certificate(sets, hostname, key, now)
        if isinstance(checked, Certificate):
            return HostKeyVerdict(HostKeyStatus.CERTIFIED, hostname, key, certificate=checked)
        cert_error = checked
    listed = next((found for found in (keys.lookup(hostname) for keys in sets) if found is not None), None)
    expected = listed.get(key.get_name()) if listed is not None else None
    if expected is not None and expected.asbytes() == key.asbytes():
        return HostKeyVerdict(HostKeyStatus.KNOWN, hostname, key, error=cert_error)
    if cert_error is not None:
        return HostKeyVerdict(HostKeyStatus.CERTIFICATE_INVALID, hostname, key, error=cert_error)
    if expected is not None:
        return HostKeyVerdict(HostKeyStatus.MISMATCH, hostname, key, expected=expected)
    others = tuple(listed.values()) if listed is not None else ()
    return HostKeyVerdict(HostKeyStatus.UNKNOWN, hostname, key, other_keys=others)
