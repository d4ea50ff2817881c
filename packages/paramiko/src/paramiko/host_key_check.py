"""``SSHClient``'s host-key side: the missing-host-key policies, acting on
``ssh_keys.verify_host_key``'s verdict, and OpenSSH's ``UpdateHostKeys``.

The policies are re-exported by ``paramiko.client``, where paramiko users
import them from. The verdict itself (revoked, certified, known, mismatch,
unknown) is shared with the asyncio client; what this module adds is
paramiko's answer to it: ``BadHostKeyException`` for a listed key of another
type or value, the policy for an unknown host.
"""

from __future__ import annotations

import logging
import os
import warnings
from binascii import hexlify
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ssh_keys import HostKeys, HostKeyStatus, HostKeyVerdict, PKey, key_from_blob, verify_host_key
from ssh_keys.certs import cert_type_for
from ssh_transport.protocol.negotiation import CERT_HOST_KEY_ALGORITHMS, has_certificate
from ssh_transport.server_side import HOSTKEYS_PROVE, host_key_proof_data
from ssh_wire import BadHostKeyException, Message, SSHException

if TYPE_CHECKING:
    from .client import SSHClient

__all__ = ["AutoAddPolicy", "MissingHostKeyPolicy", "RejectPolicy", "WarningPolicy"]

SSH_PORT = 22


class MissingHostKeyPolicy:
    """What to do when a server's host key is not in known_hosts.

    Subclass and override ``missing_host_key``: raise to refuse the
    connection, return to accept it.
    """

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Accept or refuse ``key`` for ``hostname`` (``[host]:port`` for
        non-standard ports). The base class accepts silently."""


class AutoAddPolicy(MissingHostKeyPolicy):
    """Accept unknown host keys, remember them, and save them to the file
    given to ``load_host_keys`` (if any)."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Add the key to the client's host keys (and its known_hosts file)."""
        client.remember_host_key(hostname, key)
        logging.getLogger(client.get_log_channel()).debug(
            "Adding %s host key for %s: %s", key.get_name(), hostname, hex_fingerprint(key)
        )


class RejectPolicy(MissingHostKeyPolicy):
    """Refuse servers whose host key is unknown (the default)."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Raise ``SSHException``."""
        logging.getLogger(client.get_log_channel()).debug(
            "Rejecting %s host key for %s: %s", key.get_name(), hostname, hex_fingerprint(key)
        )
        raise SSHException(f"Server {hostname!r} not found in known_hosts")


class WarningPolicy(MissingHostKeyPolicy):
    """Accept unknown host keys but issue a Python warning (not saved)."""

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        """Warn with ``warnings.warn`` and carry on."""
        warnings.warn(f"Unknown {key.get_name()} host key for {hostname}: {hex_fingerprint(key)}", stacklevel=2)


def hex_fingerprint(key: PKey) -> str:
    """The key's MD5 fingerprint in hex, as paramiko logs it."""
    return hexlify(key.get_fingerprint()).decode()


def known_host_name(hostname: str, port: int) -> str:
    """The known_hosts name of a server: ``[host]:port`` unless on port 22."""
    return hostname if port == SSH_PORT else f"[{hostname}]:{port}"


def _key_type(algorithm: str) -> str:
    """The key type behind a host key algorithm (rsa-sha2-* are ssh-rsa keys)."""
    return "ssh-rsa" if algorithm in ("rsa-sha2-256", "rsa-sha2-512") else algorithm


def _listed(known: Sequence[HostKeys], name: str) -> Mapping[str, PKey] | None:
    """The keys listed for ``name`` by the first set naming it (system file first)."""
    return next((found for found in (keys.lookup(name) for keys in known) if found is not None), None)


def prefer_checkable_key_types(t: Any, known: Sequence[HostKeys], name: str) -> None:
    """Reorder the host key algorithms ``t`` offers so the server picks one we
    can check, as OpenSSH does: the types listed for ``name`` first, and
    certificate types before them when a ``@cert-authority`` line applies."""
    listed = _listed(known, name)
    if listed is not None:
        types = set(listed)
        options = t.get_security_options()
        current = list(options.key_types)
        preferred = [a for a in current if _key_type(a) in types]
        if preferred:
            options.key_types = preferred + [a for a in current if a not in preferred]
    if any(keys.cert_authorities(name) for keys in known):
        options = t.get_security_options()
        current = list(options.key_types)
        certs = [cert_type_for(a) for a in current if cert_type_for(a) in CERT_HOST_KEY_ALGORITHMS]
        options.key_types = [*dict.fromkeys(certs), *(a for a in current if a not in certs)]


def check_server_key(
    client: SSHClient,
    known: Sequence[HostKeys],
    policy: MissingHostKeyPolicy,
    hostname: str,
    port: int,
    key: PKey,
) -> HostKeyVerdict:
    """Accept the server's ``key`` or raise, as paramiko's ``SSHClient`` does,
    and return the verdict it acted on.

    Raises ``CertificateRevoked`` / the certificate's ``CertificateNotValid``
    for a refused certificate, ``BadHostKeyException`` for a revoked plain
    key or when the host is listed with other keys (even of another type,
    as paramiko); an unknown host goes to ``policy``, which may raise.
    """
    name = known_host_name(hostname, port)
    verdict = verify_host_key(known, name, key)
    log = logging.getLogger(client.get_log_channel())
    status = verdict.status
    if status is HostKeyStatus.CERTIFIED:
        key_id = verdict.certificate.key_id if verdict.certificate is not None else ""
        log.debug("Host certificate %r for %s signed by a trusted CA", key_id, hostname)
        return verdict
    if status in (HostKeyStatus.REVOKED, HostKeyStatus.CERTIFICATE_INVALID) and verdict.error is not None:
        raise verdict.error
    if status is HostKeyStatus.REVOKED:
        raise BadHostKeyException(hostname, key, key)
    if has_certificate(key):
        log.debug("No valid certificate from a CA trusted for %s; checking the plain key", hostname)
    if status is HostKeyStatus.MISMATCH and verdict.expected is not None:
        raise BadHostKeyException(hostname, key, verdict.expected)
    if status is HostKeyStatus.UNKNOWN and verdict.other_keys:
        raise BadHostKeyException(hostname, key, verdict.other_keys[0])
    if status is HostKeyStatus.UNKNOWN:
        policy.missing_host_key(client, name, key)
    return verdict


def write_known_hosts(path: str, keys: HostKeys) -> None:
    """Write ``keys`` to ``path`` in known_hosts format, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("".join(line if line.endswith("\n") else line + "\n" for line in _lines(keys)))


def _lines(keys: HostKeys) -> Iterable[str]:
    return (line for line in (e.to_line() for e in keys.entries) if line)


def _plain_keys_of(keys: HostKeys, name: str) -> list[PKey]:
    """Every plain key ``keys`` lists for host ``name``."""
    return [e.key for e in keys.entries if e.valid and e.marker is None and e.key is not None and e.matches(name)]


def learn_host_keys(
    t: Any,
    name: str,
    own: HostKeys,
    known: Sequence[HostKeys],
    filename: str | None,
    timeout: float | None,
    log: logging.Logger,
) -> None:
    """OpenSSH's ``UpdateHostKeys yes`` for the host ``name`` of session ``t``:
    learn into ``own`` (and the file ``filename``) the host keys the server
    announced after login, once it proved it holds them. Never fails the
    connection: a refusal or bad proof is logged."""
    wait = timeout if timeout is not None else 30.0
    # sshd announces its keys right after USERAUTH_SUCCESS: once the reply
    # to this request is in, so is the announcement (if any)
    t.global_request("keepalive@openssh.com", wait=True, timeout=wait)
    blobs = getattr(t, "announced_host_keys", None)
    if not blobs:
        return
    if own.has_shared_entries(name):
        log.info("Keys of %s are on shared known_hosts lines: not updating them", name)
        return
    offered: list[PKey] = []
    for blob in blobs:
        try:
            key = key_from_blob(blob)
        except SSHException:
            continue  # a key type we do not know: skipped, as OpenSSH skips it
        if not has_certificate(key):
            offered.append(key)
    listed = {k.asbytes() for keys in known for k in _plain_keys_of(keys, name)}
    new = [k for k in offered if k.asbytes() not in listed]
    if new and not _proven(t, new, name, wait, log):
        return
    added, removed = own.update_host_keys(name, offered)
    if not added and not removed:
        return
    log.info("Updated host keys of %s: %d added, %d removed", name, len(added), len(removed))
    if filename is not None:
        on_disk = HostKeys(filename) if os.path.exists(filename) else HostKeys()
        on_disk.update_host_keys(name, offered)
        write_known_hosts(filename, on_disk)


def _proven(t: Any, keys: list[PKey], name: str, wait: float, log: logging.Logger) -> bool:
    """Whether the server proves, for this session, that it holds ``keys``."""
    session_id = t.session_id
    reply = t.global_request(HOSTKEYS_PROVE, tuple(k.asbytes() for k in keys), wait=True, timeout=wait)
    if session_id is None or not isinstance(reply, Message):
        log.warning("%s refused to prove its host keys; not updating them", name)
        return False
    negotiated = t.host_key_type if isinstance(getattr(t, "host_key_type", None), str) else ""
    for key in keys:
        try:
            sig = reply.get_string()
            alg = Message(sig, strict=True).get_text()
        except SSHException:
            sig, alg = b"", ""
        if key.get_name() == "ssh-rsa" and alg not in ("rsa-sha2-256", "rsa-sha2-512", negotiated):
            ok = False
        else:
            ok = key.verify_ssh_sig(host_key_proof_data(session_id, key.asbytes()), sig)
        if not ok:
            log.warning("%s gave a bad proof for its %s key; not updating", name, key.get_name())
            return False
    return True
