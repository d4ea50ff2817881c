"""``Agent``/``AgentKey`` against a real OpenSSH ssh-agent holding ed25519,
ecdsa and rsa keys."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import pytest
from agent_peer import KeyPair, RunningAgent, start_agent

import ssh_agent
from ssh_agent import Agent, AgentKey
from ssh_keys import PKey, key_from_blob
from ssh_wire import Message, SSHException

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

DATA = b"the data to sign \x00\xff" * 7


def keys_by_kind(agent: Agent, keypairs: dict[str, KeyPair]) -> dict[str, AgentKey]:
    by_blob = {k.asbytes(): k for k in agent.get_keys()}
    return {kind: by_blob[pair.blob] for kind, pair in keypairs.items()}


def test_keys_listed_match_ssh_keygen(real_agent: RunningAgent) -> None:
    with Agent(path=real_agent.sock) as agent:
        keys = agent.get_keys()
        assert isinstance(keys, tuple)
        assert sorted(k.asbytes() for k in keys) == sorted(p.blob for p in real_agent.keys.values())
        for kind, key in keys_by_kind(agent, real_agent.keys).items():
            pair = real_agent.keys[kind]
            assert isinstance(key, AgentKey)
            assert isinstance(key, PKey)
            assert key.comment == pair.comment
            assert key.fingerprint == pair.sha256
            assert key.get_fingerprint() == hashlib.md5(pair.blob).digest()
            assert bytes(key) == pair.blob
            assert key.get_base64() == pair.path.with_suffix(".pub").read_text().split()[1]
            assert key.can_sign()
            assert key == key_from_blob(pair.blob)
            assert hash(key) == hash(key_from_blob(pair.blob))


def test_agent_uses_ssh_auth_sock(real_agent: RunningAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", real_agent.sock)
    agent = Agent()
    try:
        assert len(agent.get_keys()) == 3
    finally:
        agent.close()
    assert agent.get_keys() == ()


@pytest.mark.parametrize(
    ("kind", "name", "bits"),
    [("ed25519", "ssh-ed25519", 256), ("ecdsa", "ecdsa-sha2-nistp256", 256), ("rsa", "ssh-rsa", 2048)],
)
def test_key_facts(real_agent: RunningAgent, kind: str, name: str, bits: int) -> None:
    with Agent(path=real_agent.sock) as agent:
        key = keys_by_kind(agent, real_agent.keys)[kind]
        public = key_from_blob(real_agent.keys[kind].blob)
        assert key.get_name() == name
        assert key.get_bits() == bits
        assert key.signature_algorithms == public.signature_algorithms
        assert key.algorithm_name == public.algorithm_name
        # paramiko's key repr, with the agent's comment
        assert repr(key) == (
            f"PKey(alg={public.algorithm_name}, bits={bits}, fp={key.fingerprint}, "
            f"comment={real_agent.keys[kind].comment!r})"
        )


@pytest.mark.parametrize(
    ("kind", "algorithm", "sig_name"),
    [
        ("ed25519", None, "ssh-ed25519"),
        ("ed25519", "ssh-ed25519", "ssh-ed25519"),
        ("ecdsa", None, "ecdsa-sha2-nistp256"),
        ("rsa", None, "ssh-rsa"),
        ("rsa", "ssh-rsa", "ssh-rsa"),
        ("rsa", "rsa-sha2-256", "rsa-sha2-256"),
        ("rsa", "rsa-sha2-512", "rsa-sha2-512"),
    ],
)
def test_signatures_verify_with_the_public_key(
    real_agent: RunningAgent, kind: str, algorithm: str | None, sig_name: str
) -> None:
    with Agent(path=real_agent.sock) as agent:
        key = keys_by_kind(agent, real_agent.keys)[kind]
        sig = key.sign_ssh_data(DATA, algorithm)
        assert isinstance(sig, Message)
        check = Message(sig.asbytes(), strict=True)
        assert check.get_text() == sig_name
        public = key_from_blob(real_agent.keys[kind].blob)
        assert public.verify_ssh_sig(DATA, sig)
        assert key.verify_ssh_sig(DATA, sig)
        assert not public.verify_ssh_sig(DATA + b"x", sig)
        other = next(k for k in agent.get_keys() if k != key)
        assert not other.verify_ssh_sig(DATA, sig)


def test_old_call_form_and_text_data(real_agent: RunningAgent) -> None:
    with Agent(path=real_agent.sock) as agent:
        key = keys_by_kind(agent, real_agent.keys)["ed25519"]
        sig = key.sign_ssh_data(object(), DATA)  # 1.5: sign_ssh_data(rpool, data)
        assert key.verify_ssh_sig(DATA, sig)
        sig = key.sign_ssh_data("héllo")
        assert key.verify_ssh_sig("héllo".encode(), sig)


def test_rsa_algorithm_on_other_key_refused(real_agent: RunningAgent) -> None:
    with Agent(path=real_agent.sock) as agent:
        key = keys_by_kind(agent, real_agent.keys)["ed25519"]
        with pytest.raises(SSHException):
            key.sign_ssh_data(DATA, "rsa-sha2-256")


def test_agent_keys_never_give_their_private_half(real_agent: RunningAgent, tmp_path: Path) -> None:
    with Agent(path=real_agent.sock) as agent:
        key = keys_by_kind(agent, real_agent.keys)["ed25519"]
        with pytest.raises(SSHException):
            key.write_private_key_file(str(tmp_path / "k"))
        assert not (tmp_path / "k").exists()


def test_concurrent_signing(real_agent: RunningAgent) -> None:
    with Agent(path=real_agent.sock) as agent:
        keys = agent.get_keys()
        errors: list[BaseException] = []

        def work(key: AgentKey, n: int) -> None:
            try:
                for i in range(10):
                    data = b"%d-%d" % (n, i)
                    assert key.verify_ssh_sig(data, key.sign_ssh_data(data))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(keys[i % 3], i)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors


def test_closed_agent_cannot_sign(real_agent: RunningAgent) -> None:
    agent = Agent(path=real_agent.sock)
    key = agent.get_keys()[0]
    agent.close()
    agent.close()
    with pytest.raises(SSHException):
        key.sign_ssh_data(DATA)


def test_removed_key_cannot_sign(tmp_path: Path, keypairs: dict[str, KeyPair]) -> None:
    with start_agent(tmp_path / "a", {"ed25519": keypairs["ed25519"]}) as running, Agent(path=running.sock) as agent:
        (key,) = agent.get_keys()
        subprocess.run(["ssh-add", "-D"], env=running.env(), check=True, timeout=30, capture_output=True)
        with pytest.raises(SSHException, match="refused"):
            key.sign_ssh_data(DATA)


def test_empty_agent(tmp_path: Path) -> None:
    with start_agent(tmp_path / "a", {}) as running, Agent(path=running.sock) as agent:
        assert agent.get_keys() == ()


def test_no_agent_gives_no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    assert Agent().get_keys() == ()
    monkeypatch.setenv("SSH_AUTH_SOCK", "")
    assert Agent().get_keys() == ()
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "nothing-here"))
    with Agent() as agent:
        assert agent.get_keys() == ()
    assert ssh_agent.get_agent_connection() is None
    # a path that is not a socket at all
    (tmp_path / "file").write_text("x")
    assert Agent(path=str(tmp_path / "file")).get_keys() == ()


def test_key_types_unknown_to_ssh_keys_still_sign(real_agent: RunningAgent) -> None:
    """An agent key whose type ssh_keys cannot parse keeps working for signing."""
    with Agent(path=real_agent.sock) as agent:
        key = keys_by_kind(agent, real_agent.keys)["ed25519"]
        opaque = AgentKey(agent, key.asbytes(), "c")
        opaque.inner_key = None
        sig = opaque.sign_ssh_data(DATA)
        assert key.verify_ssh_sig(DATA, sig)
        assert opaque.verify_ssh_sig(DATA, sig) is False
        assert opaque.get_bits() == 0
        assert opaque.algorithm_name == "ED25519"
        assert opaque.signature_algorithms == ("ssh-ed25519",)
        with pytest.raises(AttributeError):
            opaque.no_such_attribute  # noqa: B018


def test_environment_untouched(real_agent: RunningAgent) -> None:
    before = dict(os.environ)
    with Agent(path=real_agent.sock):
        pass
    assert dict(os.environ) == before
