"""The hardened algorithm preset (``ssh_transport.hardened``): what it keeps
and removes, that it fails loudly instead of leaving a category empty, that
its ``disabled_algorithms`` form matches, and that two hardened transports
still talk to each other (ssh-audit's verdict is in tests/interop)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ssh_transport import AUTH_SUCCESSFUL, ServerInterface, Transport
from ssh_transport.hardened import (
    HARDENED_ALGORITHMS,
    HardenedUnavailable,
    harden,
    hardened_disabled_algorithms,
    hardened_preferences,
)
from ssh_transport.protocol.kex import MLKEM_AVAILABLE
from ssh_transport.protocol.negotiation import AlgorithmPreferences
from ssh_wire import SSHException
from support.corepair import host_key

pytestmark = pytest.mark.timeout(30)
needs_mlkem = pytest.mark.skipif(not MLKEM_AVAILABLE, reason="this cryptography has no ML-KEM")
CATEGORIES = ("kex", "key_types", "ciphers", "digests", "compression")


def prefs_of(transport: Transport) -> dict[str, tuple[str, ...]]:
    options = transport.get_security_options()
    return {category: getattr(options, category) for category in CATEGORIES}


@pytest.fixture
def transport() -> Iterator[Transport]:
    a, b = socket.socketpair()
    t = Transport(a)
    yield t
    t.close()
    a.close()
    b.close()


@needs_mlkem
def test_harden_keeps_only_allowed_names_in_order(transport: Transport) -> None:
    before = prefs_of(transport)
    harden(transport.get_security_options())
    after = prefs_of(transport)
    assert after["kex"] == ("mlkem768x25519-sha256",)
    assert after["key_types"] == ("ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256")
    assert after["digests"] == ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com")
    assert after["ciphers"] == before["ciphers"]  # the defaults already pass
    assert after["compression"] == before["compression"]
    for category, allowed in HARDENED_ALGORITHMS.items():
        assert set(after[category]) <= allowed
        assert list(after[category]) == [n for n in before[category] if n in after[category]]


@needs_mlkem
def test_harden_removes_what_was_added_by_name(transport: Transport) -> None:
    options = transport.get_security_options()
    options.ciphers = ("3des-cbc", "aes128-cbc", "aes256-ctr")
    options.digests = ("hmac-md5", "hmac-sha1", "hmac-sha2-512-etm@openssh.com")
    options.key_types = ("ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519")
    harden(options)
    assert options.ciphers == ("aes256-ctr",)
    assert options.digests == ("hmac-sha2-512-etm@openssh.com",)
    assert options.key_types == ("ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519")


def test_harden_refuses_to_leave_a_category_empty(transport: Transport) -> None:
    options = transport.get_security_options()
    options.kex = ("curve25519-sha256", "ecdh-sha2-nistp256")
    before = prefs_of(transport)
    with pytest.raises(HardenedUnavailable, match="no kex algorithm"):
        harden(options)
    assert prefs_of(transport) == before  # nothing half-applied
    assert issubclass(HardenedUnavailable, ValueError)


def test_hardened_preferences_without_mlkem_is_refused() -> None:
    with pytest.raises(HardenedUnavailable, match="mlkem768x25519-sha256"):
        hardened_preferences(AlgorithmPreferences(kex=("curve25519-sha256",)))


@needs_mlkem
def test_disabled_algorithms_form_matches_harden() -> None:
    disabled = hardened_disabled_algorithms()
    assert set(disabled) == {"kex", "keys", "ciphers", "macs"}
    assert "ecdh-sha2-nistp256" in disabled["kex"] and "hmac-sha1" in disabled["macs"]
    a, b = socket.socketpair()
    by_name, by_preset = Transport(a, disabled_algorithms=disabled), Transport(b)
    try:
        harden(by_preset.get_security_options())
        assert prefs_of(by_name) == prefs_of(by_preset)
        expected = hardened_preferences()
        assert prefs_of(by_name) == {c: getattr(expected, c) for c in CATEGORIES}
    finally:
        by_name.close()
        by_preset.close()
        a.close()
        b.close()


class _Server(ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL


def _pair(server_key_kind: str) -> tuple[Transport, Transport, threading.Thread, list[BaseException]]:
    a, b = socket.socketpair()
    client, server = Transport(a), Transport(b)
    harden(client.get_security_options())
    harden(server.get_security_options())
    server.add_server_key(host_key(server_key_kind))
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.start_server(server=_Server())
        except (SSHException, OSError, EOFError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return client, server, thread, errors


@needs_mlkem
def test_two_hardened_transports_talk() -> None:
    client, server, thread, errors = _pair("ed25519")
    try:
        client.start_client(timeout=10)
        client.auth_password("u", "p")
        assert client.is_authenticated()
        assert client.local_cipher in HARDENED_ALGORITHMS["ciphers"]
        assert client.host_key_type == "ssh-ed25519"
    finally:
        client.close()
        server.close()
        thread.join(10)
    assert not errors


@needs_mlkem
def test_hardened_server_has_no_ecdsa_host_key_to_offer() -> None:
    client, server, thread, _ = _pair("ecdsa")
    try:
        with pytest.raises(SSHException):
            client.start_client(timeout=10)
    finally:
        client.close()
        server.close()
        thread.join(10)
