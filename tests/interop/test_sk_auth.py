"""FIDO (sk-) keys in user authentication on our server: the signature is
verified as sshd verifies it (application, flags, counter, inner
signature), the token's flags are judged by the server policy
(``ServerInterface.check_auth_security_key``, touch required unless
``security_key_touch_required`` is off, ``security_key_verify_required``),
and the algorithms are listed in server-sig-algs. The client side signs
through an agent (support.sktoken: a software token behind a fake agent)."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ssh_agent import Agent, AgentKey
from ssh_keys import SK_USER_PRESENCE_REQD, SK_USER_VERIFICATION_REQD, Ed25519Key, SKSignature, sign_certificate
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, AuthenticationException, ServerInterface, Transport
from ssh_transport.cert_policy import UserCertificatePolicy
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.negotiation import AlgorithmPreferences, with_security_key_algorithms
from support.corepair import CorePair, Policy
from support.sktoken import SoftToken, sk_agent
from support.sshserver import ExecServer, serve

pytestmark = pytest.mark.timeout(60)

ECDSA_SK = "sk-ecdsa-sha2-nistp256@openssh.com"
ED25519_SK = "sk-ssh-ed25519@openssh.com"


class TokenKey:
    """A client key object that signs on a software token directly (the
    shape of an agent key, without the agent): for in-memory core tests."""

    public_blob = None

    def __init__(self, token: SoftToken) -> None:
        self.token = token

    def get_name(self) -> str:
        return self.token.public_key.get_name()

    def asbytes(self) -> bytes:
        return self.token.public_key.asbytes()

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        return (self.get_name(),)

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> bytes:
        return self.token.sign(data)


# -- the algorithm list ---------------------------------------------------------------


def test_sk_algorithms_follow_their_curves() -> None:
    assert with_security_key_algorithms(("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512")) == (
        "ssh-ed25519",
        ED25519_SK,
        "ecdsa-sha2-nistp256",
        ECDSA_SK,
        "rsa-sha2-512",
    )
    # a transport that refuses a curve refuses its FIDO keys too
    assert with_security_key_algorithms(("rsa-sha2-256",)) == ("rsa-sha2-256",)
    assert with_security_key_algorithms(("ecdsa-sha2-nistp256", ECDSA_SK)) == ("ecdsa-sha2-nistp256", ECDSA_SK)


def test_server_sig_algs_lists_sk_algorithms() -> None:
    pair = CorePair()
    pair.kex()
    assert pair.client.client_auth is not None
    sigs = pair.client.client_auth.server_sig_algs
    assert sigs is not None and ED25519_SK in sigs and ECDSA_SK in sigs
    assert sigs.index(ED25519_SK) == sigs.index("ssh-ed25519") + 1


# -- the core verifies, the policy judges the flags -----------------------------------


def sk_request(token: SoftToken, server_prefs: AlgorithmPreferences | None = None) -> tuple[CorePair, ev.AuthRequested]:
    pair = CorePair(server_prefs=server_prefs, policy=Policy(keys=[token.public_key]))
    pair.kex()
    pair.client.auth_publickey("alice", TokenKey(token))
    pair.pump()
    return pair, [e for e in pair.server_events if isinstance(e, ev.AuthRequested)][-1]


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_core_verifies_sk_signature_and_keeps_flags(kind: str) -> None:
    token = SoftToken(kind, flags=SK_USER_PRESENCE_REQD | SK_USER_VERIFICATION_REQD)
    held: list[SKSignature | None] = []

    def on_event(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested):
            assert pair.server.server_auth is not None
            held.append(pair.server.server_auth.sk_signature)
        return False

    pair = CorePair(policy=Policy(keys=[token.public_key]))
    pair.on_server_event = on_event
    pair.kex()
    pair.client.auth_publickey("alice", TokenKey(token))
    pair.pump()
    req = [e for e in pair.server_events if isinstance(e, ev.AuthRequested)][-1]
    assert req.signed and req.algorithm == token.public_key.get_name() and req.key == token.public_key
    assert pair.client.authenticated
    (sig,) = held
    assert sig is not None and sig.user_present and sig.user_verified and sig.counter == token.counter
    assert pair.server.server_auth is not None and pair.server.server_auth.sk_signature is None  # answered


def test_core_refuses_sk_signature_for_another_application() -> None:
    class Forger(SoftToken):
        def sign(self, data: bytes, signing_application: str | None = None) -> bytes:
            return super().sign(data, "ssh:evil")

    _, req = sk_request(Forger("ecdsa"))
    assert req.key is None  # refused by the core before any policy sees it


def test_core_refuses_sk_signature_over_other_data() -> None:
    class Replayer(SoftToken):
        def sign(self, data: bytes, signing_application: str | None = None) -> bytes:
            return super().sign(data + b"x")

    _, req = sk_request(Replayer("ed25519"))
    assert req.key is None


def test_core_refuses_sk_key_when_its_curve_is_off() -> None:
    prefs = AlgorithmPreferences(key_types=("ssh-ed25519", "rsa-sha2-512"))
    _, req = sk_request(SoftToken("ecdsa"), server_prefs=prefs)
    assert req.key is None


# -- the Transport server: ServerInterface.check_auth_security_key -------------------------


@dataclass
class SKServer(ExecServer):
    """Records what the security-key hook saw."""

    seen: list[tuple[str, int, int]] = field(default_factory=list)
    touch: bool = True
    verify: bool = False

    def __post_init__(self) -> None:
        self.security_key_touch_required = self.touch
        self.security_key_verify_required = self.verify

    def check_auth_security_key(self, username: str, key: Any, signature: SKSignature) -> int:
        self.seen.append((key.get_name(), signature.flags, signature.counter))
        return super().check_auth_security_key(username, key, signature)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sk") as d:
        yield Path(d)


def login_via_agent(token: SoftToken, workdir: Path, **server_kw: Any) -> tuple[bool, SKServer, Transport | None]:
    """Log in to our server with ``token`` through the fake agent; whether
    it worked, the server object, and the server transport."""

    def make() -> SKServer:
        return SKServer(authorized=[token.public_key], allowed="publickey", **server_kw)

    with serve([Ed25519Key.generate()], make_server=make) as running, sk_agent(workdir, [token]) as agent:
        (key,) = Agent(path=agent.path, timeout=10).get_keys()
        assert isinstance(key, AgentKey)
        t = Transport(socket.create_connection((running.host, running.port), timeout=10))
        try:
            t.start_client(timeout=10)
            try:
                t.auth_publickey("alice", key)
                ok = True
            except AuthenticationException:
                ok = False
            # EXT_INFO came before any auth reply
            assert token.public_key.get_name() in t.server_extensions["server-sig-algs"].decode().split(",")
        finally:
            t.close()
        server = running.servers[-1]
        assert isinstance(server, SKServer)
        return ok, server, running.transports[-1]


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_transport_server_accepts_touched_sk_key(kind: str, workdir: Path) -> None:
    token = SoftToken(kind)
    ok, server, st = login_via_agent(token, workdir)
    assert ok
    assert server.seen == [(token.public_key.get_name(), SK_USER_PRESENCE_REQD, 1)]
    assert f"publickey:{token.public_key.get_name()}" in server.events
    assert st is not None
    sig = st.get_security_key_signature()
    assert sig is not None and sig.counter == 1 and sig.user_present


def test_transport_server_refuses_untouched_sk_key_by_default(workdir: Path) -> None:
    token = SoftToken("ecdsa", flags=0)
    ok, server, st = login_via_agent(token, workdir)
    assert not ok
    assert server.seen == [(ECDSA_SK, 0, 1)]
    assert not any(e.startswith("publickey:") for e in server.events)  # refused before the key check
    assert st is not None and st.get_security_key_signature() is None


def test_transport_server_no_touch_required(workdir: Path) -> None:
    ok, _, _ = login_via_agent(SoftToken("ed25519", flags=0), workdir, touch=False)
    assert ok


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(SK_USER_PRESENCE_REQD, False), (SK_USER_PRESENCE_REQD | SK_USER_VERIFICATION_REQD, True)],
)
def test_transport_server_verify_required(flags: int, expected: bool, workdir: Path) -> None:
    ok, _, _ = login_via_agent(SoftToken("ecdsa", flags=flags), workdir, verify=True)
    assert ok is expected


def test_transport_server_unknown_sk_key_refused(workdir: Path) -> None:
    token = SoftToken("ed25519")
    other = SoftToken("ed25519")

    def make() -> SKServer:
        return SKServer(authorized=[other.public_key], allowed="publickey")

    with serve([Ed25519Key.generate()], make_server=make) as running, sk_agent(workdir, [token]) as agent:
        (key,) = Agent(path=agent.path, timeout=10).get_keys()
        t = Transport(socket.create_connection((running.host, running.port), timeout=10))
        try:
            t.start_client(timeout=10)
            with pytest.raises(AuthenticationException):
                t.auth_publickey("alice", key)
        finally:
            t.close()


class DuckServer:
    """A server object that is not a ServerInterface (paramiko allows
    that): sk keys get sshd's default, a touch is required."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        return AUTH_SUCCESSFUL if key == self.key else AUTH_FAILED


@pytest.mark.parametrize(("flags", "expected"), [(SK_USER_PRESENCE_REQD, True), (0, False)])
def test_duck_typed_server_requires_touch(flags: int, expected: bool, workdir: Path) -> None:
    token = SoftToken("ecdsa", flags=flags)
    with serve([Ed25519Key.generate()], make_server=lambda: DuckServer(token.public_key)) as running:
        with sk_agent(workdir, [token]) as agent:
            (key,) = Agent(path=agent.path, timeout=10).get_keys()
            t = Transport(socket.create_connection((running.host, running.port), timeout=10))
            try:
                t.start_client(timeout=10)
                if expected:
                    t.auth_publickey("alice", key)
                    assert t.is_authenticated()
                else:
                    with pytest.raises(AuthenticationException):
                        t.auth_publickey("alice", key)
            finally:
                t.close()


def test_server_interface_default_policy_attributes() -> None:
    assert ServerInterface.security_key_touch_required is True
    assert ServerInterface.security_key_verify_required is False


# -- sk keys with a certificate (sk-*-cert-v01@openssh.com) -----------------------------------


class CertSKServer(SKServer):
    """Trusts ``ca`` for user certificates."""

    ca: Any = None

    def get_user_certificate_policy(self) -> UserCertificatePolicy | None:
        return UserCertificatePolicy([self.ca])


def cert_login(token: SoftToken, cert_blob: bytes, ca: Any, workdir: Path) -> tuple[bool, Transport | None]:
    """Log in with an agent that holds ``token`` under its certificate."""

    def make() -> CertSKServer:
        server = CertSKServer(allowed="publickey")
        server.ca = ca
        return server

    with (
        serve([Ed25519Key.generate()], make_server=make) as running,
        sk_agent(workdir, [token.certify(cert_blob)]) as agent,
    ):
        (key,) = Agent(path=agent.path, timeout=10).get_keys()
        assert key.get_name().endswith("-cert-v01@openssh.com")
        t = Transport(socket.create_connection((running.host, running.port), timeout=10))
        try:
            t.start_client(timeout=10)
            try:
                t.auth_publickey("alice", key)
                ok = True
            except AuthenticationException:
                ok = False
        finally:
            t.close()
        return ok, running.transports[-1]


@pytest.mark.parametrize(
    ("flags", "extensions", "critical", "expected"),
    [
        (SK_USER_PRESENCE_REQD, None, None, True),
        (0, None, None, False),  # no touch, and the certificate does not waive it
        (0, {"no-touch-required": b""}, None, True),
        (SK_USER_PRESENCE_REQD, None, {"verify-required": b""}, False),
        (SK_USER_PRESENCE_REQD | SK_USER_VERIFICATION_REQD, None, {"verify-required": b""}, True),
    ],
)
def test_sk_certificate_flags_enforced(
    flags: int, extensions: dict[str, bytes] | None, critical: dict[str, bytes] | None, expected: bool, workdir: Path
) -> None:
    ca = Ed25519Key.generate()
    token = SoftToken("ecdsa", flags=flags)
    kwargs: dict[str, Any] = {"principals": ["alice"]}
    if extensions is not None:
        kwargs["extensions"] = {"permit-pty": b"", **extensions}
    if critical is not None:
        kwargs["critical_options"] = critical
    cert = sign_certificate(token.public_key, ca, **kwargs)
    ok, st = cert_login(token, cert.asbytes(), ca, workdir)
    assert ok is expected
    assert st is not None
    if expected:
        assert st.get_user_certificate() is not None
        sig = st.get_security_key_signature()
        assert sig is not None and sig.flags == flags
    else:
        assert st.get_user_certificate() is None
