"""``SSHClient.connect`` as in paramiko 5.x: its signature, ``auth_strategy``
(the strategy alone decides the login and its ``AuthResult`` is returned),
``transport_factory`` (called as paramiko calls it), ``channel_timeout``,
host key policies given as classes or instances, and Fabric's
``OpenSSHAuthStrategy`` running unchanged on ours."""

from __future__ import annotations

import hmac
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import paramiko
from ssh_agent.agent import AgentKey, AgentSSH
from ssh_transport.auth_strategy import (
    AuthFailure,
    AuthResult,
    AuthStrategy,
    InMemoryPrivateKey,
    NoneAuth,
    Password,
)
from support.sshserver import serve

pytestmark = pytest.mark.timeout(60)

USER_KEY = paramiko.Ed25519Key.generate()
HOST_KEY = paramiko.Ed25519Key.generate()


class Server(paramiko.ServerInterface):
    """User "me": password "pw" or USER_KEY; exec answers "ran <command>"."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        self.seen.append(("password", username))
        ok = username == "me" and hmac.compare_digest(password, "pw")
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        self.seen.append(("publickey", username))
        return paramiko.AUTH_SUCCESSFUL if username == "me" and key == USER_KEY else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        def answer() -> None:
            channel.sendall(b"ran " + command)
            channel.send_exit_status(0)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


@pytest.fixture
def server() -> Iterator[tuple[int, Server]]:
    iface = Server()
    with serve([HOST_KEY], make_server=lambda: iface) as running:
        yield running.port, iface


@pytest.fixture
def client() -> Iterator[paramiko.SSHClient]:
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy)
    try:
        yield c
    finally:
        c.close()


class Fixed(AuthStrategy):
    def __init__(self, *sources: Any) -> None:
        super().__init__(ssh_config={})
        self.sources = sources

    def get_sources(self) -> Iterator[Any]:
        yield from self.sources


def test_connect_signature_is_paramiko_5s() -> None:
    params = inspect.signature(paramiko.SSHClient.connect).parameters
    positional = [n for n, p in params.items() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional == [
        "self",
        "hostname",
        "port",
        "username",
        "password",
        "pkey",
        "key_filename",
        "timeout",
        "allow_agent",
        "look_for_keys",
        "compress",
        "sock",
        "banner_timeout",
        "auth_timeout",
        "channel_timeout",
        "passphrase",
        "disabled_algorithms",
        "transport_factory",
        "auth_strategy",
    ]
    defaults = {n: p.default for n, p in params.items() if n != "self" and n != "hostname"}
    assert defaults["port"] == 22
    assert defaults["allow_agent"] is True and defaults["look_for_keys"] is True
    assert defaults["compress"] is False
    # paramiko < 4's GSS-API keywords still accepted, but only by keyword, and
    # our keepalive and UpdateHostKeys options keyword-only too
    keyword_only = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only[:5] == ["gss_auth", "gss_kex", "gss_deleg_creds", "gss_host", "gss_trust_dns"]
    assert set(keyword_only[5:]) == {"keepalive_interval", "keepalive_count_max", "update_host_keys"}


def test_auth_strategy_decides_alone_and_its_result_is_returned(
    server: tuple[int, Server], client: paramiko.SSHClient
) -> None:
    port, iface = server
    strategy = Fixed(NoneAuth("me"), Password("me", lambda: "pw"))
    result = client.connect(
        "127.0.0.1",
        port,
        username="someone-else",
        password="ignored",
        pkey=USER_KEY,
        allow_agent=False,
        look_for_keys=False,
        auth_strategy=strategy,
    )
    assert isinstance(result, AuthResult)
    assert result.strategy is strategy
    assert [type(r.source).__name__ for r in result] == ["NoneAuth", "Password"]
    assert result[-1].result == []
    # username/password/pkey were not used: only the strategy's password login
    assert iface.seen == [("password", "me")]
    _, stdout, _ = client.exec_command("hello")
    assert stdout.read() == b"ran hello"


def test_connect_without_strategy_returns_none(server: tuple[int, Server], client: paramiko.SSHClient) -> None:
    port, _ = server
    assert client.connect("127.0.0.1", port, "me", "pw", allow_agent=False, look_for_keys=False) is None


def test_failed_strategy_raises_auth_failure_and_closes(server: tuple[int, Server], client: paramiko.SSHClient) -> None:
    port, _ = server
    stranger = paramiko.Ed25519Key.generate()
    strategy = Fixed(InMemoryPrivateKey("me", stranger), Password("me", lambda: "wrong"))
    with pytest.raises(paramiko.AuthenticationException) as info:
        client.connect("127.0.0.1", port, password="pw", auth_strategy=strategy)
    assert isinstance(info.value, AuthFailure)
    assert [r.source for r in info.value.result] == list(strategy.sources)
    assert client.get_transport() is None


def test_transport_factory_is_called_as_paramiko_calls_it(
    server: tuple[int, Server], client: paramiko.SSHClient
) -> None:
    port, _ = server
    calls: list[tuple[Any, Any]] = []

    def factory(sock: Any, disabled_algorithms: Any) -> paramiko.Transport:  # no **kwargs, as users write it
        calls.append((sock, disabled_algorithms))
        return paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)

    client.connect("127.0.0.1", port, "me", "pw", allow_agent=False, look_for_keys=False, transport_factory=factory)
    assert len(calls) == 1 and calls[0][1] is None
    assert client.get_transport() is not None and client.get_transport().is_authenticated()

    client.close()
    client.connect(
        "127.0.0.1",
        port,
        "me",
        "pw",
        allow_agent=False,
        look_for_keys=False,
        transport_factory=factory,
        disabled_algorithms={"ciphers": ["aes128-ctr"]},
    )
    assert calls[1][1] == {"ciphers": ["aes128-ctr"]}


def test_channel_and_auth_timeouts_reach_the_transport(server: tuple[int, Server], client: paramiko.SSHClient) -> None:
    port, _ = server
    client.connect(
        "127.0.0.1",
        port,
        "me",
        "pw",
        allow_agent=False,
        look_for_keys=False,
        channel_timeout=7.5,
        auth_timeout=9.0,
        banner_timeout=11.0,
    )
    t = client.get_transport()
    assert t is not None
    assert (t.channel_timeout, t.auth_timeout, t.banner_timeout) == (7.5, 9.0, 11.0)


def test_gss_keywords_are_accepted_when_off(server: tuple[int, Server], client: paramiko.SSHClient) -> None:
    port, _ = server
    client.connect(
        "127.0.0.1",
        port,
        "me",
        "pw",
        allow_agent=False,
        look_for_keys=False,
        gss_auth=False,
        gss_kex=False,
        gss_deleg_creds=True,
        gss_host=None,
        gss_trust_dns=True,
    )
    assert client.get_transport() is not None


def test_policy_class_or_instance(client: paramiko.SSHClient) -> None:
    for policy in (paramiko.RejectPolicy, paramiko.WarningPolicy, paramiko.AutoAddPolicy):
        client.set_missing_host_key_policy(policy)
        client.set_missing_host_key_policy(policy())
        params = list(inspect.signature(policy.missing_host_key).parameters)
        assert params == ["self", "client", "hostname", "key"]


def test_agent_key_source_repr_is_marked() -> None:
    agent_key = AgentKey(AgentSSH(), USER_KEY.asbytes(), "laptop key")
    source = InMemoryPrivateKey("me", agent_key)
    assert repr(source) == f"InMemoryPrivateKey(pkey={agent_key!r}) [agent]"
    assert repr(agent_key) == (f"PKey(alg=ED25519, bits=256, fp={USER_KEY.fingerprint}, comment='laptop key')")
    assert repr(InMemoryPrivateKey("me", USER_KEY)) == f"InMemoryPrivateKey(pkey={USER_KEY!r})"


def test_fabric_openssh_auth_strategy_runs_unchanged(
    server: tuple[int, Server], client: paramiko.SSHClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fabric = pytest.importorskip("fabric")
    from fabric.auth import OpenSSHAuthStrategy

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    port, iface = server
    key_path = tmp_path / "id_test"
    USER_KEY.write_private_key_file(str(key_path))
    config = fabric.Config()
    strategy = OpenSSHAuthStrategy(
        ssh_config={"identityfile": [str(tmp_path / "missing"), str(key_path)]}, fabric_config=config, username="me"
    )
    result = client.connect("127.0.0.1", port, auth_strategy=strategy)
    loaded = paramiko.PKey.from_path(key_path)
    assert str(result) == f"OnDiskPrivateKey(key={loaded!r}, source='ssh-config', path={str(key_path)!r}) -> success"
    assert iface.seen == [("publickey", "me")]
    _, stdout, _ = client.exec_command("via fabric")
    assert stdout.read() == b"ran via fabric"
