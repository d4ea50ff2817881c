"""known_hosts files: ``HostKeys``, ``HostKeyEntry`` and ``load_host_keys``.

Understood: plain and hashed (``|1|salt|hash``) host names, ``[host]:port``,
comma-separated names, ``*``/``?`` patterns and ``!`` negation, and
``@cert-authority`` / ``@revoked`` markers. Lines we do not understand
(comments, other key types) are kept verbatim when the file is saved.

Host certificates are checked as OpenSSH's client does: the CA must be
listed on an ``@cert-authority`` line whose names match the host, neither
the host key nor the CA may be ``@revoked`` for it, and the certificate
must be a valid host certificate for the host name (``check_certificate``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

from ssh_wire import SSHException, wildcard_match

from ._util import b64decode_strict
from .certificates import (
    DEFAULT_CA_SIGNATURE_ALGORITHMS,
    Certificate,
    CertificateRevoked,
    CertificateType,
    CertificateUntrustedCA,
    Timestamp,
)
from .certs import PublicBlob
from .pkey import PathLike, PKey, key_from_blob

_log = logging.getLogger("paramiko.hostkeys")
CERT_AUTHORITY = "@cert-authority"
REVOKED = "@revoked"
_MARKERS = (CERT_AUTHORITY, REVOKED)
_HASH_MAGIC = "|1|"

#: what names a host certificate: a parsed ``Certificate``, a key whose
#: ``public_blob`` is one (``key_from_blob`` of a certificate blob), the
#: ``PublicBlob`` itself, or the raw certificate blob
CertificateLike = Certificate | PKey | PublicBlob | bytes


class InvalidHostKey(SSHException):
    """A known_hosts line names a supported key type but its key data is bad."""

    def __init__(self, line: str, exc: BaseException) -> None:
        """Record the offending ``line`` and the error ``exc`` it raised."""
        super().__init__(line, exc)
        self.line = line
        self.exc = exc

    def __str__(self) -> str:
        """What went wrong, with the start of the line."""
        return f"invalid host key line {self.line.strip()[:80]!r}: {self.exc}"


class HostKeyEntry:
    """One known_hosts line: its host names, key, optional marker
    (``@cert-authority`` or ``@revoked``) and trailing comment."""

    def __init__(
        self,
        hostnames: list[str] | None = None,
        key: PKey | None = None,
        marker: str | None = None,
        comment: str | None = None,
    ) -> None:
        """An entry for ``hostnames`` (plain, hashed or patterns) and ``key``."""
        self.valid = hostnames is not None and key is not None
        self.hostnames: list[str] = list(hostnames) if hostnames is not None else []
        self.key = key
        self.marker = marker
        self.comment = comment
        self._raw: str | None = None

    @classmethod
    def _verbatim(cls, line: str) -> HostKeyEntry:
        entry = cls()
        entry._raw = line.rstrip("\r\n")
        return entry

    @classmethod
    def from_line(cls, line: str, lineno: int | None = None) -> HostKeyEntry | None:
        """Parse a known_hosts line; None for blank lines, comments, malformed
        lines and unsupported key types. ``InvalidHostKey`` when the key data
        of a supported type is bad."""
        fields = line.strip().split(None, 1)
        if not fields or fields[0].startswith("#"):
            return None
        marker = None
        if fields[0].startswith("@"):
            if fields[0] not in _MARKERS or len(fields) < 2:
                _log.info("line %s: unknown marker %r", lineno, fields[0])
                return None
            marker = fields[0]
            fields = fields[1].split(None, 1)
        rest = " ".join(fields).split(None, 3)
        if len(rest) < 3:
            _log.info("line %s: not enough fields", lineno)
            return None
        names, keytype, b64 = rest[0], rest[1], rest[2]
        if keytype not in PKey._registry:
            _log.info("line %s: unsupported key type %r", lineno, keytype)
            return None
        try:
            key = key_from_blob(b64decode_strict(b64, "known_hosts key"))
        except SSHException as exc:
            raise InvalidHostKey(line, exc) from exc
        if key.get_name() != keytype:
            raise InvalidHostKey(line, SSHException(f"key type {keytype} holds a {key.get_name()} key"))
        comment = rest[3].strip() if len(rest) > 3 else None
        return cls([n for n in names.split(",") if n], key, marker=marker, comment=comment or None)

    def to_line(self) -> str | None:
        """The entry as a known_hosts line (with newline), or None when it is
        not a valid entry."""
        if self._raw is not None:
            return self._raw + "\n"
        if not self.valid or self.key is None or not self.hostnames:
            return None
        parts = [self.marker] if self.marker else []
        parts += [",".join(self.hostnames), self.key.get_name(), self.key.get_base64()]
        if self.comment:
            parts.append(self.comment)
        return " ".join(parts) + "\n"

    def matches(self, hostname: str) -> bool:
        """Whether ``hostname`` (``host`` or ``[host]:port``) matches this
        entry's names: plain, hashed, or a pattern not negated by ``!``."""
        lower = hostname.lower()
        found = False
        for name in self.hostnames:
            if name.startswith(_HASH_MAGIC):
                if name == hostname or (
                    not hostname.startswith(_HASH_MAGIC) and _same(_try_hash(hostname, name), name)
                ):
                    found = True
            elif name.startswith("!"):
                if _name_match(lower, name[1:]):
                    return False
            elif _name_match(lower, name):
                found = True
        return found

    def __repr__(self) -> str:
        """A short description for debugging."""
        if self._raw is not None:
            return f"<HostKeyEntry verbatim {self._raw[:40]!r}>"
        return f"<HostKeyEntry {self.hostnames!r}: {self.key!r}>"


def _name_match(lower: str, name: str) -> bool:
    if "*" in name or "?" in name:
        return wildcard_match(name, lower, ignore_case=True)
    return name.lower() == lower


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two names (as bytes: ``compare_digest``
    refuses non-ASCII ``str``, which a corrupt file can hold)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def _try_hash(hostname: str, salted: str) -> str:
    try:
        return HostKeys.hash_host(hostname, salted)
    except SSHException:
        return ""


class _SubDict(MutableMapping[str, PKey]):
    """The keys of one host, by key type; changes go back to the HostKeys."""

    def __init__(self, hostname: str, entries: list[HostKeyEntry], hostkeys: HostKeys) -> None:
        self._hostname = hostname
        self._entries = entries
        self._hostkeys = hostkeys

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(e.key.get_name() for e in self._entries if e.key is not None))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __getitem__(self, key: str) -> PKey:
        for e in self._entries:
            if e.key is not None and e.key.get_name() == key:
                return e.key
        raise KeyError(key)

    def __setitem__(self, key: str, val: PKey) -> None:
        for e in self._entries:
            if e.key is not None and e.key.get_name() == key:
                e.key = val
                return
        entry = HostKeyEntry([self._hostname], val)
        self._entries.append(entry)
        self._hostkeys._entries.append(entry)

    def __delitem__(self, key: str) -> None:
        for e in list(self._entries):
            if e.key is not None and e.key.get_name() == key:
                self._entries.remove(e)
                self._hostkeys._entries.remove(e)
                return
        raise KeyError(key)

    def __repr__(self) -> str:
        return repr(dict(self))


class HostKeys(MutableMapping[str, MutableMapping[str, PKey]]):
    """A known_hosts file in memory: a mapping of hostname -> {keytype: key}.

    ``load`` reads OpenSSH's format (hashed names, ``[host]:port``, markers),
    ``save`` writes it back keeping what it did not understand, ``lookup``
    and ``check`` answer "which keys" and "is this the key" for a host.
    """

    def __init__(self, filename: PathLike | None = None) -> None:
        """Empty, or loaded from ``filename``."""
        self._entries: list[HostKeyEntry] = []
        if filename is not None:
            self.load(filename)

    def add(self, hostname: str, keytype: str, key: PKey) -> None:
        """Add (or replace) the ``keytype`` key of ``hostname``. ``hostname`` may
        be a name, ``[name]:port`` or a value from ``hash_host``."""
        for e in self._entries:
            if e.marker is None and hostname in e.hostnames and e.key is not None and e.key.get_name() == keytype:
                e.key = key
                return
        self._entries.append(HostKeyEntry([hostname], key))

    def load(self, filename: PathLike) -> None:
        """Add the entries of a known_hosts file. Bad lines are skipped for
        lookups (and kept for ``save``); names already known with the same key
        are not added twice."""
        # Verbatim and marker lines already held are not added again, so that
        # loading the same file twice (as SSHClient.save_host_keys does) is harmless.
        seen = {e.to_line() for e in self._entries if e._raw is not None or e.marker is not None}
        with open(os.fspath(filename), encoding="utf-8", errors="surrogateescape") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    entry = HostKeyEntry.from_line(line, lineno)
                except InvalidHostKey as exc:
                    _log.info("line %d of %s: %s", lineno, filename, exc)
                    entry = None
                if entry is None:
                    if line.strip():
                        entry = HostKeyEntry._verbatim(line)
                elif entry.marker is None and entry.key is not None:
                    for h in list(entry.hostnames):
                        if self.check(h, entry.key):
                            entry.hostnames.remove(h)
                    if not entry.hostnames:
                        continue
                    self._entries.append(entry)
                    continue
                if entry is None or entry.to_line() in seen:
                    continue
                seen.add(entry.to_line())
                self._entries.append(entry)

    def save(self, filename: PathLike) -> None:
        """Write every entry to ``filename`` in known_hosts format."""
        with open(os.fspath(filename), "w", encoding="utf-8", errors="surrogateescape") as f:
            for e in self._entries:
                line = e.to_line()
                if line:
                    f.write(line)

    def _host_entries(self, hostname: str) -> list[HostKeyEntry]:
        return [e for e in self._entries if e.valid and e.marker is None and e.matches(hostname)]

    def lookup(self, hostname: str) -> MutableMapping[str, PKey] | None:
        """The keys known for ``hostname`` as a dict-like keytype -> PKey, or
        None when there are none."""
        entries = self._host_entries(hostname)
        return _SubDict(hostname, entries, self) if entries else None

    def _marked(self, marker: str, hostname: str | None) -> list[PKey]:
        """The keys of the ``marker`` lines that apply to ``hostname`` (every
        such line when it is None), in file order."""
        return [
            e.key
            for e in self._entries
            if e.marker == marker and e.valid and e.key is not None and (hostname is None or e.matches(hostname))
        ]

    def is_revoked(self, key: CertificateLike, hostname: str | None = None) -> bool:
        """Whether an ``@revoked`` line lists ``key``: only the lines whose
        names match ``hostname`` (as OpenSSH reads them), or any line when
        no hostname is given.

        For a certificate (see ``CertificateLike``) both the certified key
        and the CA that signed it are looked for, as OpenSSH does.
        """
        revoked = self._marked(REVOKED, hostname)
        if not revoked:
            return False
        return any(k in revoked for k in _keys_to_check(key))

    def cert_authorities(self, hostname: str) -> list[PKey]:
        """The CA keys that ``@cert-authority`` lines trust for ``hostname``
        (a name, ``[name]:port`` or an address; patterns, ``!`` negations
        and hashed names match as in OpenSSH), without those an ``@revoked``
        line revokes for it."""
        revoked = self._marked(REVOKED, hostname)
        found = [k for k in self._marked(CERT_AUTHORITY, hostname) if k not in revoked]
        return list(dict.fromkeys(found))

    def check_certificate(
        self,
        hostname: str,
        certificate: CertificateLike,
        *,
        port: int | None = None,
        now: Timestamp | None = None,
        ca_signature_algorithms: Iterable[str] | None = DEFAULT_CA_SIGNATURE_ALGORITHMS,
    ) -> Certificate:
        """Check a server's host certificate for ``hostname`` as OpenSSH's
        client does, and return it parsed.

        ``hostname`` is the name connected to (``port``, when not 22, makes
        the known_hosts name ``[hostname]:port``; ``"[name]:port"`` is also
        accepted). Raises ``CertificateRevoked`` when the host key or its CA
        is ``@revoked`` for that name, ``CertificateUntrustedCA`` when no
        ``@cert-authority`` line for it lists the CA, and the other
        ``CertificateNotValid`` subclasses when the certificate is not a
        valid host certificate for ``hostname`` at ``now`` (principals may be
        wildcards; critical options are refused; the CA signature algorithm
        must be in ``ca_signature_algorithms``, OpenSSH's defaults).
        """
        cert = _as_certificate(certificate, verify=True)
        name, lookup = _host_names(hostname, port)
        if self.is_revoked(cert, lookup):
            what = "certificate authority" if self.is_revoked(cert.signature_key, lookup) else "host key"
            raise CertificateRevoked(
                f"the {what} of the {cert.key_type} certificate for {lookup} is marked @revoked in known_hosts"
            )
        trusted = self.cert_authorities(lookup)
        if cert.signature_key not in trusted:
            raise CertificateUntrustedCA(
                f"no @cert-authority line for {lookup} lists the CA "
                f"{cert.signature_key.algorithm_name} {cert.signature_key.fingerprint}"
            )
        cert.check(
            principal=name,
            cert_type=CertificateType.HOST,
            now=now,
            ca_keys=trusted,
            wildcard_principals=True,
            ca_signature_algorithms=ca_signature_algorithms,
        )
        return cert

    def add_cert_authority(self, hostnames: str | Iterable[str], key: PKey, comment: str | None = None) -> None:
        """Add an ``@cert-authority`` line trusting the CA ``key`` for
        ``hostnames`` (names or patterns, e.g. ``"*.example.com"``)."""
        self._add_marked(CERT_AUTHORITY, hostnames, key, comment)

    def add_revoked(self, hostnames: str | Iterable[str], key: PKey, comment: str | None = None) -> None:
        """Add an ``@revoked`` line for ``key`` (a host or CA key) on
        ``hostnames`` (``"*"`` for every host)."""
        self._add_marked(REVOKED, hostnames, key, comment)

    def _add_marked(self, marker: str, hostnames: str | Iterable[str], key: PKey, comment: str | None) -> None:
        names = [hostnames] if isinstance(hostnames, str) else list(hostnames)
        if not names or any(not n or "," in n or n.split() != [n] for n in names):
            raise ValueError(f"bad host names for a {marker} line: {names!r}")
        entry = HostKeyEntry(names, key, marker=marker, comment=comment)
        if entry.to_line() not in {e.to_line() for e in self._entries}:
            self._entries.append(entry)

    def check(self, hostname: str, key: PKey) -> bool:
        """True when ``key`` is a known key of ``hostname`` that no
        ``@revoked`` line for ``hostname`` revokes."""
        known = self.lookup(hostname)
        if known is None or self.is_revoked(key, hostname):
            return False
        host_key = known.get(key.get_name())
        return host_key is not None and host_key.asbytes() == key.asbytes()

    def _learnt_for(self, entry: HostKeyEntry, hostname: str) -> bool:
        """Whether ``entry`` names ``hostname`` alone (plain or hashed): a
        line written for that host, not a pattern or a shared line."""
        if len(entry.hostnames) != 1:
            return False
        name = entry.hostnames[0]
        if name.startswith(_HASH_MAGIC):
            return entry.matches(hostname)
        return name.lower() == hostname.lower()

    def has_shared_entries(self, hostname: str) -> bool:
        """Whether a line with patterns or several names gives keys for
        ``hostname``: then ``update_host_keys`` should not be used for it,
        as OpenSSH skips its UpdateHostKeys for such hosts."""
        return any(not self._learnt_for(e, hostname) for e in self._host_entries(hostname))

    def update_host_keys(self, hostname: str, keys: Iterable[PKey]) -> tuple[list[PKey], list[PKey]]:
        """Make ``keys`` the known keys of ``hostname``, as OpenSSH's
        ``UpdateHostKeys`` does once the server proved it holds them: the
        keys not known yet are added (with a hashed name when the host's
        lines are hashed), and the keys of lines written for this host alone
        that are not among ``keys`` are dropped. Lines with patterns,
        several names or markers are never changed. Returns ``(added,
        removed)``."""
        wanted = {k.asbytes(): k for k in keys}
        entries = self._host_entries(hostname)
        known = {e.key.asbytes() for e in entries if e.key is not None}
        hashed = any(e.hostnames[0].startswith(_HASH_MAGIC) for e in entries if self._learnt_for(e, hostname))
        removed: list[PKey] = []
        for e in entries:
            if e.key is not None and e.key.asbytes() not in wanted and self._learnt_for(e, hostname):
                self._entries.remove(e)
                removed.append(e.key)
        added: list[PKey] = []
        for blob, key in wanted.items():
            if blob not in known:
                name = self.hash_host(hostname) if hashed else hostname
                self._entries.append(HostKeyEntry([name], key))
                added.append(key)
        return added, removed

    def clear(self) -> None:
        """Forget every entry."""
        self._entries = []

    @property
    def entries(self) -> list[HostKeyEntry]:
        """The entries in file order (verbatim lines included)."""
        return self._entries

    def __iter__(self) -> Iterator[str]:
        """The host names (as written), each once, in file order."""
        names: dict[str, None] = {}
        for e in self._entries:
            if e.valid and e.marker is None:
                names.update(dict.fromkeys(e.hostnames))
        return iter(names)

    def __len__(self) -> int:
        """How many distinct host names there are."""
        return len(list(iter(self)))

    def __getitem__(self, hostname: str) -> MutableMapping[str, PKey]:
        """The keys of ``hostname`` (as ``lookup``); KeyError when none."""
        found = self.lookup(hostname)
        if found is None:
            raise KeyError(hostname)
        return found

    def __setitem__(self, hostname: str, entry: Mapping[str, PKey]) -> None:
        """Add or replace each keytype -> key of ``entry`` for ``hostname``."""
        for keytype, key in entry.items():
            self.add(hostname, keytype, key)

    def __delitem__(self, hostname: str) -> None:
        """Forget ``hostname`` (plain or hashed entries); KeyError when unknown."""
        hit = False
        for e in list(self._host_entries(hostname)):
            if hostname in e.hostnames and len(e.hostnames) > 1:
                e.hostnames.remove(hostname)
                hit = True
            elif hostname in e.hostnames or any(n.startswith(_HASH_MAGIC) for n in e.hostnames):
                self._entries.remove(e)
                hit = True
        if not hit:
            raise KeyError(hostname)

    def keys(self) -> list[str]:  # type: ignore[override]
        """The host names (as written: hashed names stay hashed), in order."""
        return list(iter(self))

    def values(self) -> list[MutableMapping[str, PKey]]:  # type: ignore[override]
        """The keytype -> key mapping of each host name, in ``keys()`` order."""
        return [self[h] for h in self.keys()]

    @staticmethod
    def hash_host(hostname: str, salt: str | bytes | None = None) -> str:
        """The hashed form ``|1|salt|hash`` of ``hostname`` (HMAC-SHA1 keyed
        by the salt); ``salt`` may be raw bytes, base64 text or a whole hashed
        name whose salt is reused. A random 20-byte salt when None."""
        if salt is None:
            raw = os.urandom(hashlib.sha1().digest_size)
        elif isinstance(salt, str):
            if salt.startswith(_HASH_MAGIC):
                salt = salt.split("|")[2]
            raw = b64decode_strict(salt, "hashed host salt")
        else:
            raw = bytes(salt)
        digest = hmac.new(raw, hostname.encode("utf-8", "surrogateescape"), hashlib.sha1).digest()
        return f"{_HASH_MAGIC}{base64.b64encode(raw).decode()}|{base64.b64encode(digest).decode()}"


def _as_certificate(value: CertificateLike, verify: bool) -> Certificate:
    """A ``Certificate`` from any ``CertificateLike``."""
    if isinstance(value, Certificate):
        return value
    if isinstance(value, PublicBlob):
        return Certificate.from_public_blob(value, verify=verify)
    if isinstance(value, PKey):
        return Certificate.from_key(value, verify=verify)
    return Certificate.from_blob(bytes(value), verify=verify)


def _keys_to_check(value: CertificateLike) -> list[PKey]:
    """The keys a revocation check looks for: a plain key itself; for a
    certificate, the certified key and its CA."""
    if isinstance(value, PKey) and (value.public_blob is None or not value.public_blob.is_certificate):
        return [value]
    cert = _as_certificate(value, verify=False)
    return [cert.key, cert.signature_key]


def _host_names(hostname: str, port: int | None) -> tuple[str, str]:
    """(the host name certificates name, the known_hosts name) for a
    connection to ``hostname`` on ``port``."""
    if hostname.startswith("[") and "]:" in hostname:
        name, _, port_text = hostname[1:].partition("]:")
        if port is None and port_text.isdigit():
            port = int(port_text)
    else:
        name = hostname
    lookup = name if port in (None, 22) else f"[{name}]:{port}"
    return name, lookup


def load_host_keys(filename: PathLike) -> HostKeys:
    """Read a known_hosts file: a mapping of hostname -> keytype -> PKey."""
    return HostKeys(filename)
