"""OpenSSH certificates in the transport, ours against ours: host
certificates offered and checked in key exchange, user certificates in
publickey requests (the wire form), and the server's certificate policy
(``UserCertificatePolicy``) with the restrictions it enforces."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ssh_keys import (
    Certificate,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateOptionError,
    CertificatePrincipalError,
    CertificateUntrustedCA,
    ECDSAKey,
    Ed25519Key,
    PKey,
    RSAKey,
    sign_certificate,
)
from ssh_transport import AUTH_SUCCESSFUL, AuthenticationException, ServerInterface, Transport
from ssh_transport.cert_policy import UserCertificatePolicy, read_principals, read_public_keys
from ssh_transport.protocol.negotiation import key_type_of, signature_algorithm_of
from ssh_transport.protocol.userauth import ClientAuth, signed_data
from ssh_wire import Message, SSHException
from support.sshserver import ExecServer, serve

pytestmark = pytest.mark.timeout(60)

USER = "alice"


@pytest.fixture(scope="module")
def ca() -> PKey:
    return Ed25519Key.generate()


@pytest.fixture(scope="module")
def rsa_user() -> PKey:
    return RSAKey.generate(2048)


def certified(key: PKey, ca: PKey, **kwargs: Any) -> PKey:
    """``key`` with a certificate by ``ca`` attached (default: a user
    certificate for USER)."""
    kwargs.setdefault("principals", [USER])
    cert = sign_certificate(key, ca, **kwargs)
    key.load_certificate(cert.get_openssh_line())
    return key


# -- the wire form of a certificate publickey request --------------------------------


class _Host:
    session_id = b"session-id"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, payload: bytes) -> None:
        self.sent.append(payload)

    def emit(self, event: Any) -> None:
        pass


def _request(key: Any, server_sig_algs: list[str] | None) -> tuple[str, bytes, str, bytes]:
    host = _Host()
    auth = ClientAuth(host, ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"))
    auth.service_requested = auth.service_accepted = True
    auth.server_sig_algs = server_sig_algs
    auth.request_publickey(USER, key)
    m = Message(host.sent[-1])
    assert m.get_byte() == b"\x32"  # USERAUTH_REQUEST
    assert (m.get_text(), m.get_text(), m.get_text(), m.get_boolean()) == (USER, "ssh-connection", "publickey", True)
    alg, blob, sig = m.get_text(), m.get_string(), m.get_string()
    sig_alg = Message(sig).get_text()
    assert key.verify_ssh_sig(signed_data(host.session_id, USER, "ssh-connection", alg, blob), sig)
    return alg, blob, sig_alg, sig


@pytest.mark.parametrize(
    ("sig_algs", "alg", "sig_alg"),
    [
        (["rsa-sha2-512", "rsa-sha2-256"], "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-512"),
        (["ssh-ed25519", "rsa-sha2-256"], "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-256"),
    ],
)
def test_rsa_certificate_request_names_the_cert_algorithm(
    ca: PKey, rsa_user: PKey, sig_algs: list[str], alg: str, sig_alg: str
) -> None:
    key = certified(rsa_user, ca)
    got_alg, blob, got_sig_alg, _ = _request(key, sig_algs)
    assert (got_alg, got_sig_alg) == (alg, sig_alg)
    assert blob == Certificate.from_key(key).blob


@pytest.mark.parametrize("make", [Ed25519Key.generate, lambda: ECDSAKey.generate(bits=256)])
def test_certificate_request_for_ed25519_and_ecdsa(ca: PKey, make: Any) -> None:
    key = certified(make(), ca)
    alg, blob, sig_alg, _ = _request(key, None)
    assert alg == key.public_blob.key_type
    assert sig_alg == key.get_name()
    assert blob == key.public_blob.key_blob


def test_plain_key_request_is_unchanged() -> None:
    key = Ed25519Key.generate()
    alg, blob, sig_alg, _ = _request(key, None)
    assert (alg, blob, sig_alg) == ("ssh-ed25519", key.asbytes(), "ssh-ed25519")


class _AgentLikeKey:
    """What an agent identity holding a certificate looks like: its name and
    blob are the certificate's; the agent signs with the certified key."""

    def __init__(self, key: PKey, cert: Certificate) -> None:
        self._key, self._cert = key, cert

    def get_name(self) -> str:
        return self._cert.key_type

    def asbytes(self) -> bytes:
        return self._cert.blob

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Message:
        return self._key.sign_ssh_data(data, algorithm)

    def verify_ssh_sig(self, data: bytes, sig: Any) -> bool:
        return self._key.verify_ssh_sig(data, sig)


def test_agent_certificate_identity_is_sent_as_a_certificate(ca: PKey, rsa_user: PKey) -> None:
    cert = sign_certificate(rsa_user, ca, principals=[USER])
    alg, blob, sig_alg, _ = _request(_AgentLikeKey(rsa_user, cert), ["rsa-sha2-512"])
    assert (alg, blob, sig_alg) == ("rsa-sha2-512-cert-v01@openssh.com", cert.blob, "rsa-sha2-512")


def test_algorithm_name_helpers() -> None:
    assert key_type_of("rsa-sha2-512-cert-v01@openssh.com") == "ssh-rsa"
    assert key_type_of("ssh-ed25519-cert-v01@openssh.com") == "ssh-ed25519"
    assert signature_algorithm_of("rsa-sha2-256-cert-v01@openssh.com") == "rsa-sha2-256"
    assert signature_algorithm_of("ecdsa-sha2-nistp256") == "ecdsa-sha2-nistp256"


# -- host certificates in key exchange ------------------------------------------------


def _pair(server_key: PKey, client_key_types: tuple[str, ...] | None = None) -> tuple[Transport, Transport]:
    a, b = socket.socketpair()
    server = Transport(a)
    server.add_server_key(server_key)
    done = threading.Event()
    server.start_server(event=done, server=ServerInterface())
    client = Transport(b)
    if client_key_types is not None:
        client.get_security_options().key_types = client_key_types
    client.start_client(timeout=10)
    assert done.wait(10)
    return server, client


def test_server_presents_its_host_certificate(ca: PKey) -> None:
    host = certified(Ed25519Key.generate(), ca, cert_type="host", principals=["example.org"])
    server, client = _pair(host, ("ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"))
    try:
        assert client.host_key_type == "ssh-ed25519-cert-v01@openssh.com"
        got = client.get_remote_server_key()
        assert got == host and got.public_blob == host.public_blob
        assert Certificate.from_key(got).principals == ("example.org",)
    finally:
        client.close()
        server.close()


def test_rsa_host_certificate_signs_with_sha2(ca: PKey) -> None:
    host = certified(RSAKey.generate(2048), ca, cert_type="host", principals=["h"])
    server, client = _pair(host, ("rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512"))
    try:
        assert client.host_key_type == "rsa-sha2-256-cert-v01@openssh.com"
        assert client.get_remote_server_key().public_blob == host.public_blob
    finally:
        client.close()
        server.close()


def test_plain_algorithms_still_negotiate_with_a_certified_host_key(ca: PKey) -> None:
    host = certified(Ed25519Key.generate(), ca, cert_type="host", principals=["h"])
    server, client = _pair(host)  # the default client offer has no certificates
    try:
        assert client.host_key_type == "ssh-ed25519"
        assert client.get_remote_server_key().public_blob is None
    finally:
        client.close()
        server.close()


def test_no_certificate_algorithm_without_a_certificate() -> None:
    with pytest.raises(SSHException):
        _pair(Ed25519Key.generate(), ("ssh-ed25519-cert-v01@openssh.com",))


# -- the server's certificate policy -----------------------------------------------------


@dataclass
class CertServer(ExecServer):
    policy: UserCertificatePolicy | None = None
    seen_certificates: list[Certificate] | None = None

    def get_user_certificate_policy(self) -> UserCertificatePolicy | None:
        return self.policy


@contextlib.contextmanager
def cert_server(policy: UserCertificatePolicy | None, authorized: tuple[PKey, ...] = ()) -> Iterator[Any]:
    """A loopback server whose sessions use ``policy`` for certificates."""

    def make() -> CertServer:
        return CertServer(policy=policy, authorized=authorized, allowed="publickey")

    with serve([Ed25519Key.generate()], make_server=make) as running:
        yield running


def login(running: Any, key: PKey, username: str = USER) -> Transport:
    sock = socket.create_connection((running.host, running.port), timeout=10)
    t = Transport(sock)
    t.start_client(timeout=10)
    try:
        t.auth_publickey(username, key)
    except BaseException:
        t.close()
        raise
    return t


def run(t: Transport, command: str) -> bytes:
    chan = t.open_session(timeout=10)
    chan.settimeout(20)
    chan.exec_command(command)
    out = b""
    while True:
        data = chan.recv(65536)
        if not data:
            break
        out += data
    chan.close()
    return out


def test_policy_accepts_a_certificate_for_the_user(ca: PKey) -> None:
    key = certified(Ed25519Key.generate(), ca)
    with cert_server(UserCertificatePolicy([ca])) as running:
        t = login(running, key)
        try:
            assert t.is_authenticated()
            server_t = running.transports[0]
            assert server_t.get_user_certificate() == Certificate.from_key(key)
            assert run(t, "echo hello") == b"hello\n"
        finally:
            t.close()


@pytest.mark.parametrize(
    ("kwargs", "policy_ca_is_signer"),
    [
        ({"principals": ["bob"]}, True),  # wrong principal
        ({"valid_before": 1_000_000}, True),  # expired long ago
        ({"valid_after": 4_000_000_000}, True),  # not yet valid
        ({"critical_options": {"no-such-option@example.org": None}}, True),  # unknown critical option
        ({"critical_options": {"source-address": "10.9.8.0/24"}}, True),  # client not in source-address
        ({"cert_type": "host"}, True),  # a host certificate used as a user's
        ({}, False),  # untrusted CA
    ],
)
def test_policy_refuses(ca: PKey, kwargs: dict[str, Any], policy_ca_is_signer: bool) -> None:
    key = certified(Ed25519Key.generate(), ca, **kwargs)
    policy = UserCertificatePolicy([ca if policy_ca_is_signer else Ed25519Key.generate()])
    with cert_server(policy) as running, pytest.raises(AuthenticationException):
        login(running, key)


def test_source_address_that_contains_the_client_is_accepted(ca: PKey) -> None:
    key = certified(Ed25519Key.generate(), ca, critical_options={"source-address": "127.0.0.0/8,::1/128"})
    with cert_server(UserCertificatePolicy([ca])) as running:
        login(running, key).close()


def test_policy_check_reasons(ca: PKey) -> None:
    policy = UserCertificatePolicy([ca])
    now = int(time.time())
    cases = [
        ({"principals": ["bob"]}, CertificatePrincipalError),
        ({"valid_before": now - 10}, CertificateExpired),
        ({"valid_after": now + 3600}, CertificateNotYetValid),
        ({"critical_options": {"frobnicate": None}}, CertificateOptionError),
    ]
    for kwargs, error in cases:
        cert = sign_certificate(Ed25519Key.generate(), ca, **{"principals": [USER], **kwargs})
        with pytest.raises(error):
            policy.check(USER, cert, client_address="127.0.0.1")
    cert = sign_certificate(Ed25519Key.generate(), Ed25519Key.generate(), principals=[USER])
    with pytest.raises(CertificateUntrustedCA):
        policy.check(USER, cert)


def test_authorized_principals_map_other_names(ca: PKey) -> None:
    key = certified(Ed25519Key.generate(), ca, principals=["ops-team"])
    policy = UserCertificatePolicy([ca], authorized_principals={USER: ["ops-team"]})
    with cert_server(policy) as running:
        login(running, key).close()
    # without the mapping the user name itself must be a principal
    with cert_server(UserCertificatePolicy([ca])) as running, pytest.raises(AuthenticationException):
        login(running, key)


def test_policy_from_files(tmp_path: Path, ca: PKey) -> None:
    cas = tmp_path / "trusted_user_ca_keys"
    cas.write_text(f"# our CA\n\n{ca.get_name()} {ca.get_base64()} ca@example\n")
    principals = tmp_path / "principals"
    (principals / USER).parent.mkdir(exist_ok=True)
    (principals / USER).write_text("# who may be alice\nops-team\n")
    assert read_public_keys(cas) == [ca]
    assert read_principals(principals / USER) == ["ops-team"]
    assert read_principals(principals / "nobody") is None
    policy = UserCertificatePolicy.from_files(cas, str(principals / "%u"))
    good = sign_certificate(Ed25519Key.generate(), ca, principals=["ops-team"])
    policy.check(USER, good)
    with pytest.raises(CertificatePrincipalError):
        policy.check("mallory", good)  # no principals file for this user
    bad = tmp_path / "bad_ca_keys"
    bad.write_text("ssh-ed25519 not-base64!\n")
    with pytest.raises(SSHException, match="bad_ca_keys:1"):
        read_public_keys(bad)


def test_force_command_replaces_exec_and_shell(ca: PKey) -> None:
    key = certified(Ed25519Key.generate(), ca, critical_options={"force-command": "echo forced"})
    with cert_server(UserCertificatePolicy([ca])) as running:
        t = login(running, key)
        try:
            assert run(t, "echo mine") == b"forced\n"
            chan = t.open_session(timeout=10)
            chan.invoke_shell()
            chan.settimeout(20)
            assert chan.recv(100) == b"forced\n"
            chan.close()
            assert running.servers[0].events[-2:] == ["exec:echo forced", "exec:echo forced"]
        finally:
            t.close()


def test_missing_permit_pty_refuses_a_pty(ca: PKey) -> None:
    key = certified(Ed25519Key.generate(), ca, extensions=["permit-port-forwarding"])
    with cert_server(UserCertificatePolicy([ca])) as running:
        t = login(running, key)
        try:
            chan = t.open_session(timeout=10)
            assert not chan.get_pty()  # refused: the certificate grants no pty
            chan.close()
        finally:
            t.close()
    key = certified(Ed25519Key.generate(), ca)  # ssh-keygen's default extensions
    with cert_server(UserCertificatePolicy([ca])) as running:
        t = login(running, key)
        try:
            chan = t.open_session(timeout=10)
            assert chan.get_pty()
            chan.close()
        finally:
            t.close()


def test_without_policy_the_key_goes_to_check_auth_publickey(ca: PKey) -> None:
    """paramiko's behaviour: the certified key, certificate attached."""
    key = certified(Ed25519Key.generate(), ca, principals=["anyone"])
    with cert_server(None, authorized=(key,)) as running:
        t = login(running, key)
        try:
            assert running.servers[0].events == ["publickey:ssh-ed25519"]
        finally:
            t.close()
    with cert_server(None) as running, pytest.raises(AuthenticationException):
        login(running, key)


def test_badly_signed_certificate_is_refused(ca: PKey) -> None:
    key = Ed25519Key.generate()
    cert = sign_certificate(key, ca, principals=[USER])
    broken = bytearray(cert.blob)
    broken[-5] ^= 0x01  # inside the CA signature
    key.load_certificate(Message(bytes(broken)))
    with cert_server(UserCertificatePolicy([ca]), authorized=(key,)) as running:
        with pytest.raises(AuthenticationException):
            login(running, key)
        assert running.servers[0].events == []  # refused before any hook


def test_server_auth_accepts_hook_result_with_certificate_argument(ca: PKey) -> None:
    """A server may judge certificates itself in ``check_auth_certificate``."""
    seen: list[tuple[str, str | None]] = []

    @dataclass
    class Judge(ExecServer):
        def check_auth_certificate(
            self, username: str, key: Any, certificate: Certificate, client_address: Any = None
        ) -> int:
            seen.append((certificate.key_id, client_address))
            return AUTH_SUCCESSFUL

    key = certified(Ed25519Key.generate(), ca, key_id="judged", principals=["x"])
    with serve([Ed25519Key.generate()], make_server=lambda: Judge(allowed="publickey")) as running:
        login(running, key).close()
    assert seen == [("judged", "127.0.0.1")]


def test_missing_permit_port_forwarding_refuses_forwarding(ca: PKey) -> None:
    key = certified(Ed25519Key.generate(), ca, extensions=["permit-pty"])
    with cert_server(UserCertificatePolicy([ca])) as running:
        t = login(running, key)
        try:
            with pytest.raises(SSHException):
                t.open_channel("direct-tcpip", ("127.0.0.1", running.port), ("127.0.0.1", 0), timeout=10)
            with pytest.raises(SSHException):
                t.request_port_forward("127.0.0.1", 0)
            assert not any(e.startswith(("direct-tcpip", "tcpip-forward")) for e in running.servers[0].events)
        finally:
            t.close()
