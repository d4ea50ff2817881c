"""The agent with the transport and real OpenSSH peers:

* our client authenticates to OpenSSH sshd with keys held by ssh-agent;
* our client forwards its agent to sshd (``ssh-add -L`` run there sees it);
* OpenSSH ``ssh -A`` to our server reaches its agent through AgentServerProxy.
"""

from __future__ import annotations

import importlib.util
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support.peers import need_program
from support.sshd import SSHD

pytest.importorskip("ssh_transport.transport", reason="ssh_transport.transport is not available")

from ssh_agent import Agent, AgentKey, AgentRequestHandler, AgentServerProxy
from ssh_keys import Ed25519Key
from ssh_transport import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    Channel,
    ServerInterface,
    Transport,
)
from ssh_wire import SSHException

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def _agent_peer() -> ModuleType:
    """tests/agent/agent_peer.py (ssh-agent helpers), loaded by path."""
    if "agent_peer" in sys.modules:
        return sys.modules["agent_peer"]
    path = Path(__file__).resolve().parents[1] / "agent" / "agent_peer.py"
    spec = importlib.util.spec_from_file_location("agent_peer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent_peer"] = module
    spec.loader.exec_module(module)
    return module


agent_peer = _agent_peer()


@pytest.fixture(scope="module")
def sshd_agent(sshd: SSHD, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ssh-agent holding sshd's authorized client keys."""
    keys = {kind: agent_peer.keypair_from_file(path, kind) for kind, path in sshd.client_keys.items()}
    with agent_peer.start_agent(tmp_path_factory.mktemp("sshd-agent"), keys) as running:
        yield running


def connect_checked(sshd: SSHD) -> Transport:
    """A started client transport to sshd whose host key is one sshd really has."""
    t = Transport((sshd.host, sshd.port))
    try:
        t.start_client(timeout=20)
        got = t.get_remote_server_key()
        known = {sshd.host_key_line(kind).split()[1] for kind in sshd.host_keys}
        assert got.get_base64() in known
    except BaseException:
        t.close()
        raise
    return t


def run(chan: Channel, command: str) -> tuple[int, bytes, bytes]:
    chan.settimeout(30)
    chan.exec_command(command)
    out = bytearray()
    err = bytearray()
    while True:
        data = chan.recv(65536)
        if not data:
            break
        out += data
    while chan.recv_stderr_ready():
        err += chan.recv_stderr(65536)
    return chan.recv_exit_status(), bytes(out), bytes(err)


class SpyKey(AgentKey):
    """An AgentKey that remembers which signature algorithms it was asked for."""

    def sign_ssh_data(self, data: Any, algorithm: Any = None) -> Any:
        self.__dict__.setdefault("asked", []).append(algorithm)
        return super().sign_ssh_data(data, algorithm)


@pytest.mark.parametrize(
    ("kind", "algorithms"),
    [("ed25519", {None, "ssh-ed25519"}), ("ecdsa", {None, "ecdsa-sha2-nistp256"}), ("rsa", {"rsa-sha2-512"})],
)
def test_publickey_auth_to_sshd_through_the_agent(sshd: SSHD, sshd_agent: Any, kind: str, algorithms: set[Any]) -> None:
    with Agent(path=sshd_agent.sock) as agent:
        listed = next(k for k in agent.get_keys() if k.asbytes() == sshd_agent.keys[kind].blob)
        key = SpyKey(agent, listed.asbytes(), listed.comment)
        t = connect_checked(sshd)
        try:
            # OpenSSH 9.2 refuses SHA-1 "ssh-rsa" signatures: with rsa, success
            # means the agent made the rsa-sha2-512 signature it was asked for.
            t.auth_publickey(sshd.user, key)
            assert t.is_authenticated()
            assert key.__dict__["asked"] and set(key.__dict__["asked"]) <= algorithms
            status, out, _ = run(t.open_session(), "echo agent-auth-ok")
            assert (status, out) == (0, b"agent-auth-ok\n")
        finally:
            t.close()


def test_client_forwards_its_agent_to_sshd(sshd: SSHD, sshd_agent: Any) -> None:
    with Agent(path=sshd_agent.sock) as agent:
        key = agent.get_keys()[0]
        t = connect_checked(sshd)
        try:
            t.auth_publickey(sshd.user, key)
            chan = t.open_session()
            handler = AgentRequestHandler(chan, path=sshd_agent.sock)
            try:
                status, out, err = run(chan, "ssh-add -L")
            finally:
                handler.close()
            assert status == 0, err
            listed = sorted(line.split()[1] for line in out.decode().splitlines())
            assert listed == sorted(k.get_base64() for k in agent.get_keys())
        finally:
            t.close()


class ForwardingServer(ServerInterface):
    """Accepts the given public keys, sessions, agent forwarding and exec."""

    def __init__(self, allowed: set[bytes]) -> None:
        self.allowed = allowed
        self.forward_requested = threading.Event()
        self.commands: queue.Queue[tuple[Channel, bytes]] = queue.Queue()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        return AUTH_SUCCESSFUL if key.asbytes() in self.allowed else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_forward_agent_request(self, channel: Channel) -> bool:
        self.forward_requested.set()
        return True

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        self.commands.put((channel, command))
        return True


def test_openssh_ssh_dash_a_reaches_the_agent_through_our_server(sshd_agent: Any, tmp_path: Path) -> None:
    ssh = need_program("ssh")
    host_key = Ed25519Key.generate()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    port = listener.getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    server = ForwardingServer({k.blob for k in sshd_agent.keys.values()})
    client = subprocess.Popen(
        [
            ssh,
            "-F",
            "/dev/null",
            "-A",
            "-p",
            str(port),
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "tester@127.0.0.1",
            "ssh-add -L",
        ],
        env=sshd_agent.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    t: Transport | None = None
    proxy: AgentServerProxy | None = None
    try:
        conn, _ = listener.accept()
        t = Transport(conn)
        t.add_server_key(host_key)
        t.start_server(server=server)
        chan, command = server.commands.get(timeout=30)
        assert command == b"ssh-add -L"
        assert server.forward_requested.is_set()
        proxy = AgentServerProxy(t)
        result = subprocess.run(
            ["ssh-add", "-L"], env={"PATH": "/usr/bin:/bin", **proxy.get_env()}, capture_output=True, timeout=30
        )
        chan.sendall(result.stdout)
        chan.sendall_stderr(result.stderr)
        chan.send_exit_status(result.returncode)
        chan.close()
        out, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
        listed = sorted(line.split()[1] for line in out.decode().splitlines())
        with Agent(path=sshd_agent.sock) as agent:
            assert listed == sorted(k.get_base64() for k in agent.get_keys())
            assert all(isinstance(k, AgentKey) for k in agent.get_keys())
    finally:
        if proxy is not None:
            proxy.close()
        if t is not None:
            t.close()
        listener.close()
        if client.poll() is None:
            client.kill()
        client.wait(timeout=10)
        for pipe in (client.stdout, client.stderr):
            if pipe is not None:
                pipe.close()


def our_pair(server: ServerInterface, host_key: Any) -> tuple[Transport, Transport]:
    """Our client and our server joined by a socketpair, handshake done."""
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key)
    started = threading.Event()
    st.start_server(event=started, server=server)
    ct = Transport(a)
    ct.start_client(timeout=20)
    return ct, st


def test_our_client_forwards_its_agent_to_our_server(sshd_agent: Any) -> None:
    host_key = Ed25519Key.generate()
    server = ForwardingServer({k.blob for k in sshd_agent.keys.values()})
    ct, st = our_pair(server, host_key)
    proxy: AgentServerProxy | None = None
    handler: AgentRequestHandler | None = None
    try:
        with Agent(path=sshd_agent.sock) as agent:
            ct.auth_publickey("me", agent.get_keys()[0])
            chan = ct.open_session()
            handler = AgentRequestHandler(chan, path=sshd_agent.sock)
            chan.exec_command("list")
            schan, command = server.commands.get(timeout=30)
            assert command == b"list" and server.forward_requested.is_set()
            proxy = AgentServerProxy(st)
            proxy.connect()  # the server itself uses the forwarded agent
            blobs = sorted(k.asbytes() for k in proxy.get_keys())
            assert blobs == sorted(k.asbytes() for k in agent.get_keys())
            for key in proxy.get_keys():
                for alg in key.signature_algorithms[:2]:
                    assert key.verify_ssh_sig(b"fwd", key.sign_ssh_data(b"fwd", alg))
            listing = subprocess.run(["ssh-add", "-L"], env=proxy.get_env(), capture_output=True, timeout=30)
            assert listing.returncode == 0, listing.stderr
            assert len(listing.stdout.splitlines()) == 3
            schan.send_exit_status(0)
            schan.close()
            assert chan.recv_exit_status() == 0
    finally:
        if proxy is not None:
            proxy.close()
        if handler is not None:
            handler.close()
        ct.close()
        st.close()


def test_agent_channel_refused_when_the_client_did_not_ask(sshd_agent: Any) -> None:
    host_key = Ed25519Key.generate()
    server = ForwardingServer({k.blob for k in sshd_agent.keys.values()})
    ct, st = our_pair(server, host_key)
    try:
        with Agent(path=sshd_agent.sock) as agent:
            ct.auth_publickey("me", agent.get_keys()[0])
        ct.open_session().exec_command("x")
        server.commands.get(timeout=30)
        assert not server.forward_requested.is_set()
        proxy = AgentServerProxy(st)
        try:
            with pytest.raises(SSHException):
                proxy.connect()
            listing = subprocess.run(["ssh-add", "-l"], env=proxy.get_env(), capture_output=True, timeout=30)
            assert listing.returncode != 0
        finally:
            proxy.close()
    finally:
        ct.close()
        st.close()
