"""``paramiko.agent``'s names and constructor shapes on ``ssh_agent.agent``,
and agent forwarding used the way paramiko programs (and Fabric's
``forward_agent=True``) use it: ``AgentRequestHandler(channel)`` with the
agent taken from ``SSH_AUTH_SOCK``, and ``AgentServerProxy(transport)`` on the
server, end to end through our transports to a real ssh-agent."""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from agent_peer import RunningAgent

from ssh_agent import agent as agent_module
from ssh_agent.agent import (
    ALGORITHM_FLAG_MAP,
    SSH2_AGENT_IDENTITIES_ANSWER,
    SSH2_AGENT_SIGN_RESPONSE,
    SSH_AGENT_RSA_SHA2_256,
    SSH_AGENT_RSA_SHA2_512,
    Agent,
    AgentKey,
    AgentSSH,
    cSSH2_AGENTC_REQUEST_IDENTITIES,
    cSSH2_AGENTC_SIGN_REQUEST,
    get_agent_connection,
)
from ssh_keys import key_from_blob
from support.peers import need_program

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def positional(cls: type) -> list[str]:
    """The constructor's positional parameter names (without self)."""
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


def test_constants_are_paramikos() -> None:
    assert cSSH2_AGENTC_REQUEST_IDENTITIES == b"\x0b"
    assert cSSH2_AGENTC_SIGN_REQUEST == b"\r"
    assert (SSH2_AGENT_IDENTITIES_ANSWER, SSH2_AGENT_SIGN_RESPONSE) == (12, 14)
    assert (SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512) == (2, 4)
    assert ALGORITHM_FLAG_MAP == {
        "rsa-sha2-256": 2,
        "rsa-sha2-512": 4,
        "rsa-sha2-256-cert-v01@openssh.com": 2,
        "rsa-sha2-512-cert-v01@openssh.com": 4,
    }
    assert callable(get_agent_connection)


def test_forwarding_classes_have_paramikos_shapes() -> None:
    m = agent_module
    assert positional(m.AgentRequestHandler) == ["chanClient"]
    assert positional(m.AgentClientProxy) == ["chanRemote"]
    assert positional(m.AgentServerProxy) == ["t"]
    assert positional(m.AgentLocalProxy)[:1] == ["agent"]
    assert positional(m.AgentRemoteProxy)[:2] == ["agent", "chan"]
    assert positional(m.AgentProxyThread)[:1] == ["agent"]
    assert positional(m.Agent) == []
    sig = inspect.signature(AgentKey).parameters
    assert list(sig)[:3] == ["agent", "blob", "comment"] and sig["comment"].default == ""
    for cls in (m.AgentLocalProxy, m.AgentRemoteProxy):
        assert issubclass(cls, m.AgentProxyThread)
    assert issubclass(m.AgentProxyThread, threading.Thread)
    assert issubclass(m.AgentServerProxy, AgentSSH) and issubclass(Agent, AgentSSH)
    for name in ("connect", "close"):
        assert callable(getattr(m.AgentClientProxy, name))
    for name in ("connect", "close", "get_env", "get_keys"):
        assert callable(getattr(m.AgentServerProxy, name))
    assert callable(m.AgentRequestHandler.close)
    assert callable(m.AgentLocalProxy.get_connection) and callable(m.AgentRemoteProxy.get_connection)


def test_agent_key_attributes(real_agent: RunningAgent) -> None:
    with Agent(path=real_agent.sock) as agent:
        for key in agent.get_keys():
            assert key.agent is agent
            assert key.name == key.get_name()
            assert key.blob == key.asbytes()
            assert key.inner_key is not None and key.inner_key.asbytes() == key.blob
            assert key.comment in {k.comment for k in real_agent.keys.values()}
    key = AgentKey(AgentSSH(), key_from_blob(real_agent.keys["ed25519"].blob).asbytes())
    assert key.comment == ""
    assert repr(key).startswith("PKey(alg=ED25519, bits=256, fp=SHA256:") and "comment" not in repr(key)


@pytest.fixture
def agent_env(real_agent: RunningAgent, monkeypatch: pytest.MonkeyPatch) -> RunningAgent:
    """The real agent as this process's ``SSH_AUTH_SOCK``, as Fabric relies on."""
    monkeypatch.setenv("SSH_AUTH_SOCK", real_agent.sock)
    return real_agent


@contextlib.contextmanager
def forwarding_pair() -> Iterator[tuple[Any, Any, Any]]:
    """Our client transport logged in to our server transport, which accepts
    sessions and agent forwarding: (client transport, server transport, server)."""
    transport_mod = pytest.importorskip("ssh_transport", reason="agent forwarding end to end needs ssh_transport")
    from ssh_keys import Ed25519Key

    class Server(transport_mod.ServerInterface):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.forwarding = threading.Event()

        def get_allowed_auths(self, username: str) -> str:
            return "password"

        def check_auth_password(self, username: str, password: str) -> int:
            return transport_mod.AUTH_SUCCESSFUL if password == "pw" else transport_mod.AUTH_FAILED

        def check_channel_request(self, kind: str, chanid: int) -> int:
            return transport_mod.OPEN_SUCCEEDED

        def check_channel_forward_agent_request(self, channel: Any) -> bool:
            self.forwarding.set()
            return True

    a, b = socket.socketpair()
    st = transport_mod.Transport(b)
    st.add_server_key(Ed25519Key.generate())
    ct = transport_mod.Transport(a)
    server = Server()

    def run() -> None:
        with contextlib.suppress(Exception):
            st.start_server(server=server)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        ct.start_client(timeout=20)
        th.join(20)
        ct.auth_password("me", "pw")
        yield ct, st, server
    finally:
        ct.close()
        st.close()


def test_request_handler_and_server_proxy_end_to_end(agent_env: RunningAgent) -> None:
    ssh_add = need_program("ssh-add")
    with forwarding_pair() as (ct, st, server):
        chan = ct.open_session()
        handler = agent_module.AgentRequestHandler(chan)  # paramiko's form: SSH_AUTH_SOCK
        try:
            assert server.forwarding.wait(10)
            schan = st.accept(10)
            assert schan is not None
            proxy = agent_module.AgentServerProxy(st)
            try:
                env = proxy.get_env()
                assert set(env) == {"SSH_AUTH_SOCK"}
                # an OpenSSH program on the server side lists the client's keys
                listing = subprocess.run(
                    [ssh_add, "-L"], env={**os.environ, **env}, capture_output=True, timeout=30, check=False
                )
                assert listing.returncode == 0, listing.stderr
                listed = sorted(line.split()[1] for line in listing.stdout.decode().splitlines())
                with Agent(path=agent_env.sock) as local:
                    assert listed == sorted(k.get_base64() for k in local.get_keys())
                # and the proxy itself can use them, as paramiko's connect() allows
                proxy.connect()
                keys = proxy.get_keys()
                assert sorted(k.asbytes() for k in keys) == sorted(k.blob for k in agent_env.keys.values())
                key = keys[0]
                assert key.verify_ssh_sig(b"forwarded", key.sign_ssh_data(b"forwarded"))
            finally:
                proxy.close()
            assert not os.path.exists(env["SSH_AUTH_SOCK"])
        finally:
            handler.close()
            chan.close()


def test_request_handler_without_a_local_agent_refuses_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "gone"))
    with forwarding_pair() as (ct, st, server):
        chan = ct.open_session()
        handler = agent_module.AgentRequestHandler(chan)
        try:
            assert server.forwarding.wait(10)
            proxy = agent_module.AgentServerProxy(st)
            try:
                with pytest.raises(agent_module.SSHException):
                    proxy.connect()  # the client closes the agent channel at once
                assert proxy.get_keys() == ()
            finally:
                proxy.close()
        finally:
            handler.close()
            chan.close()


def test_agent_key_from_placeholder_bytes_is_built_leniently() -> None:
    """paramiko builds an AgentKey from any bytes (Fabric's tests pass b"dummy");
    what is not a key gets no inner key, and equality still works by blob."""
    key = AgentKey(AgentSSH(), b"dummy")
    assert key.inner_key is None
    assert key.asbytes() == b"dummy"
    assert key == AgentKey(AgentSSH(), b"dummy")
    assert key != AgentKey(AgentSSH(), b"other")
