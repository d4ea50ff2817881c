"""FIDO (sk-) keys held in an agent: the agent client lists them, asks the
agent (which drives the token) to sign, and checks the token's signature
shape; our client logs in with them to OpenSSH's sshd, which verifies sk
signatures without a token, proving the wire format. The token is
software (support.sktoken): no security key is attached here."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssh_agent import Agent, AgentKey
from ssh_keys import (
    SK_USER_PRESENCE_REQD,
    SK_USER_VERIFICATION_REQD,
    ECDSASKKey,
    Ed25519Key,
    Ed25519SKKey,
    SKSignature,
    sign_certificate,
)
from ssh_transport import AuthenticationException, Transport
from ssh_wire import Message, SSHException
from support.peers import missing_peer
from support.sktoken import SKAgent, SoftToken, sk_agent
from support.sshd import SSHD, sshd_available, start_sshd

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def workdir() -> Iterator[Path]:
    # a short path: Unix socket names are limited to about 100 bytes
    with tempfile.TemporaryDirectory(prefix="sk") as d:
        yield Path(d)


def agent_keys(agent: SKAgent) -> tuple[AgentKey, ...]:
    client = Agent(path=agent.path, timeout=10)
    keys = client.get_keys()
    assert keys, "the agent offered no keys"
    return keys


@pytest.mark.parametrize(("kind", "cls"), [("ecdsa", ECDSASKKey), ("ed25519", Ed25519SKKey)])
def test_agent_lists_and_signs_with_sk_key(workdir: Path, kind: str, cls: type) -> None:
    token = SoftToken(kind)
    with sk_agent(workdir, [token]) as agent:
        (key,) = agent_keys(agent)
        assert key.get_name() == token.public_key.get_name()
        assert isinstance(key.inner_key, cls)
        assert key.signature_algorithms == (token.public_key.get_name(),)
        assert key.can_sign()
        sig = key.sign_ssh_data(b"session data", key.signature_algorithms[0])
        parsed = SKSignature.from_blob(bytes(sig))
        assert parsed.algorithm == token.public_key.get_name()
        assert parsed.user_present and parsed.counter == 1
        # plain SSH sign request: no RSA hash flags for an sk key
        assert agent.sign_requests == [(token.public_key.asbytes(), 0)]
        checked = token.public_key.verify_sk_signature(b"session data", bytes(sig))
        assert checked.counter == 1
        assert key.verify_ssh_sig(b"session data", bytes(sig))
        assert not key.verify_ssh_sig(b"other data", bytes(sig))


def test_agent_sk_signature_without_flags_and_counter_is_refused(workdir: Path) -> None:
    """An agent that answers for an sk key with a plain (name, signature)
    blob is not speaking PROTOCOL.u2f: refused, not passed on."""

    class PlainToken(SoftToken):
        def sign(self, data: bytes, signing_application: str | None = None) -> bytes:
            inner = SKSignature.from_blob(super().sign(data)).signature
            return Message().add_string(self.public_key.get_name()).add_string(inner).asbytes()

    with sk_agent(workdir, [PlainToken("ed25519")]) as agent:
        (key,) = agent_keys(agent)
        with pytest.raises(SSHException):
            key.sign_ssh_data(b"data")


def test_agent_sk_signature_of_another_type_is_refused(workdir: Path) -> None:
    ecdsa, ed = SoftToken("ecdsa"), SoftToken("ed25519")

    class WrongToken(SoftToken):
        def sign(self, data: bytes, signing_application: str | None = None) -> bytes:
            return ed.sign(data)

    wrong = WrongToken("ecdsa")
    with sk_agent(workdir, [wrong, ecdsa]) as agent:
        keys = agent_keys(agent)
        with pytest.raises(SSHException):
            keys[0].sign_ssh_data(b"data")
        assert SKSignature.from_blob(bytes(keys[1].sign_ssh_data(b"data"))).algorithm == ecdsa.public_key.get_name()


# -- our client, the key in an agent, into OpenSSH's sshd -------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed")
    with start_sshd(tmp_path_factory.mktemp("sk-sshd"), host_key_types=("ed25519",)) as server:
        yield server


def login(sshd: SSHD, key: AgentKey) -> Transport:
    t = Transport(socket.create_connection((sshd.host, sshd.port), timeout=10))
    t.start_client(timeout=15)
    try:
        t.auth_publickey(sshd.user, key)
    except BaseException:
        t.close()
        raise
    return t


def authorize(sshd: SSHD, token: SoftToken, options: str = "") -> None:
    with sshd.authorized_keys.open("a") as f:
        f.write(f"{options + ' ' if options else ''}{token.public_line()}\n")


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_client_logs_in_to_sshd_with_agent_sk_key(sshd: SSHD, workdir: Path, kind: str) -> None:
    token = SoftToken(kind)
    authorize(sshd, token)
    with sk_agent(workdir, [token]) as agent:
        (key,) = agent_keys(agent)
        t = login(sshd, key)
        try:
            assert t.is_authenticated()
            assert token.public_key.get_name() in t.server_extensions["server-sig-algs"].decode().split(",")
        finally:
            t.close()
    assert token.counter == 1  # one signature: the request itself (no PK_OK probe)
    assert f"Accepted publickey for {sshd.user}" in sshd.log()


def test_sshd_refuses_sk_signature_without_touch(sshd: SSHD, workdir: Path) -> None:
    token = SoftToken("ecdsa", flags=0)
    authorize(sshd, token)
    with sk_agent(workdir, [token]) as agent:
        (key,) = agent_keys(agent)
        with pytest.raises(AuthenticationException):
            login(sshd, key)
    assert token.counter == 1


def test_sshd_no_touch_required_accepts_untouched_signature(sshd: SSHD, workdir: Path) -> None:
    token = SoftToken("ed25519", flags=0)
    authorize(sshd, token, "no-touch-required")
    with sk_agent(workdir, [token]) as agent:
        (key,) = agent_keys(agent)
        login(sshd, key).close()


@pytest.mark.parametrize(
    ("flags", "ok"),
    [(SK_USER_PRESENCE_REQD, False), (SK_USER_PRESENCE_REQD | SK_USER_VERIFICATION_REQD, True)],
)
def test_sshd_verify_required(sshd: SSHD, workdir: Path, flags: int, ok: bool) -> None:
    token = SoftToken("ecdsa", flags=flags)
    authorize(sshd, token, "verify-required")
    with sk_agent(workdir, [token]) as agent:
        (key,) = agent_keys(agent)
        if ok:
            login(sshd, key).close()
        else:
            with pytest.raises(AuthenticationException):
                login(sshd, key)


def test_sshd_refuses_signature_for_another_application(sshd: SSHD, workdir: Path) -> None:
    class Forger(SoftToken):
        def sign(self, data: bytes, signing_application: str | None = None) -> bytes:
            return super().sign(data, "ssh:other")

    token = Forger("ecdsa")
    authorize(sshd, token)
    with sk_agent(workdir, [token]) as agent:
        (key,) = agent_keys(agent)
        with pytest.raises((AuthenticationException, SSHException)):
            login(sshd, key)


@pytest.mark.parametrize(("flags", "ok"), [(SK_USER_PRESENCE_REQD, True), (0, False)])
def test_client_logs_in_to_sshd_with_agent_sk_certificate(
    tmp_path_factory: pytest.TempPathFactory, workdir: Path, flags: int, ok: bool
) -> None:
    """An sk key's certificate held in the agent (as ``ssh-add`` loads
    ``id_ecdsa_sk-cert.pub``), into sshd with ``TrustedUserCAKeys``: sent
    as ``sk-ecdsa-sha2-nistp256-cert-v01@openssh.com``; sshd still wants
    the touch."""
    if not sshd_available():
        missing_peer("OpenSSH sshd is not installed")
    work = tmp_path_factory.mktemp("sk-cert-sshd")
    ca = Ed25519Key.generate()
    (work / "ca.pub").write_text(f"{ca.get_name()} {ca.get_base64()}\n")
    with start_sshd(work, [f"TrustedUserCAKeys {work / 'ca.pub'}"], host_key_types=("ed25519",)) as server:
        token = SoftToken("ecdsa", flags=flags)
        token.certify(sign_certificate(token.public_key, ca, principals=[server.user]).asbytes())
        with sk_agent(workdir, [token]) as agent:
            (key,) = agent_keys(agent)
            assert key.get_name() == "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com"
            if ok:
                login(server, key).close()
                assert "Accepted publickey" in server.log() and "cert" in server.log().lower()
            else:
                with pytest.raises(AuthenticationException):
                    login(server, key)
