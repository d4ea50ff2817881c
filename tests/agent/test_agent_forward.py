"""Agent forwarding building blocks over socketpairs (standing in for SSH
channels), against a real ssh-agent and OpenSSH's own agent clients."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from agent_peer import RunningAgent

from ssh_agent import (
    MAX_AGENT_MESSAGE,
    AgentClientProxy,
    AgentProxyThread,
    AgentRemoteProxy,
    AgentRequestHandler,
    AgentServerProxy,
    AgentSSH,
    relay_agent_messages,
)
from ssh_agent import agent as agent_module
from ssh_agent.protocol import frame, read_frame
from ssh_keys import key_from_blob
from ssh_wire import Message, SSHException
from support.polling import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def assert_closed(sock: socket.socket) -> None:
    """The other end closed: EOF, or a reset when it dropped unread input."""
    sock.settimeout(5)
    try:
        assert sock.recv(10) == b""
    except ConnectionResetError:
        pass


def agent_over(conn: socket.socket) -> AgentSSH:
    client = AgentSSH(timeout=10)
    client._connect(conn)
    return client


def test_forwarding_names_reachable_from_the_paramiko_module() -> None:
    assert agent_module.AgentRequestHandler is AgentRequestHandler
    assert agent_module.AgentServerProxy is AgentServerProxy
    with pytest.raises(AttributeError):
        agent_module.NoSuchThing  # noqa: B018


def test_client_proxy_relays_a_channel_to_the_real_agent(real_agent: RunningAgent) -> None:
    remote, chan = socket.socketpair()
    proxy = AgentClientProxy(chan, path=real_agent.sock)
    try:
        assert proxy.is_active()
        client = agent_over(remote)
        blobs = sorted(k.asbytes() for k in client.get_keys())
        assert blobs == sorted(p.blob for p in real_agent.keys.values())
        for key in client.get_keys():
            for alg in key.signature_algorithms:
                sig = key.sign_ssh_data(b"relayed", alg)
                assert key_from_blob(key.asbytes()).verify_ssh_sig(b"relayed", sig)
        client._close()
        assert wait_until(lambda: not proxy.is_active())
    finally:
        proxy.close()
        remote.close()


def test_client_proxy_close_stops_the_relay(real_agent: RunningAgent) -> None:
    remote, chan = socket.socketpair()
    proxy = AgentClientProxy(chan, path=real_agent.sock)
    try:
        client = agent_over(remote)
        assert client.get_keys()
        proxy.close()
        assert not proxy.is_active()
        assert_closed(remote)
    finally:
        remote.close()


def test_client_proxy_without_local_agent_closes_the_channel(tmp_path: Path) -> None:
    remote, chan = socket.socketpair()
    try:
        proxy = AgentClientProxy(chan, path=str(tmp_path / "no-agent"))
        assert_closed(remote)
        assert wait_until(lambda: not proxy.is_active())
        with pytest.raises(SSHException):
            agent_over(remote)
        proxy.close()
    finally:
        remote.close()


@pytest.mark.parametrize(
    "request_bytes",
    [struct.pack(">I", MAX_AGENT_MESSAGE + 1) + b"\x0b", struct.pack(">I", 0), struct.pack(">I", 9) + b"\x0b"],
    ids=["oversized", "empty", "truncated"],
)
def test_relay_drops_bad_requests(real_agent: RunningAgent, request_bytes: bytes) -> None:
    remote, chan = socket.socketpair()
    proxy = AgentClientProxy(chan, path=real_agent.sock)
    try:
        remote.sendall(request_bytes)
        remote.shutdown(socket.SHUT_WR)
        assert_closed(remote)
        assert wait_until(lambda: not proxy.is_active())
    finally:
        proxy.close()
        remote.close()


def test_relay_gives_up_on_a_silent_agent() -> None:
    requester, relay_req = socket.socketpair()
    relay_agent, agent_side = socket.socketpair()
    try:

        class Opener:
            def open_agent_connection(self) -> socket.socket:
                return relay_agent

        t = AgentRemoteProxy(Opener(), relay_req, timeout=0.3)
        assert isinstance(t, AgentProxyThread)
        t.start()
        requester.sendall(frame(b"\x0b"))
        assert_closed(requester)  # closed after the agent's timeout
        t.join(5)
        assert not t.is_alive()
        assert read_frame(agent_side, time.monotonic() + 5) == b"\x0b"
    finally:
        for s in (requester, relay_req, relay_agent, agent_side):
            s.close()


def test_relay_function_passes_messages_unchanged() -> None:
    requester, relay_req = socket.socketpair()
    relay_agent, agent_side = socket.socketpair()

    def fake_agent() -> None:
        with agent_side:
            while True:
                try:
                    msg = read_frame(agent_side, time.monotonic() + 5)
                except SSHException:
                    return
                agent_side.sendall(frame(b"\x06" + msg[::-1]))

    t1 = threading.Thread(target=fake_agent, daemon=True)
    t2 = threading.Thread(target=relay_agent_messages, args=(relay_req, relay_agent, 5), daemon=True)
    t1.start()
    t2.start()
    try:
        for payload in (b"\x1babc", b"\x0d" + bytes(range(256)) * 100):
            requester.sendall(frame(payload))
            assert read_frame(requester, time.monotonic() + 5) == b"\x06" + payload[::-1]
        requester.close()
        t2.join(5)
        assert not t2.is_alive()
        relay_agent.close()
        t1.join(5)
    finally:
        for s in (requester, relay_req, relay_agent):
            s.close()


class FakeSessionChannel:
    """A session channel: remembers the forwarding handler the way the
    transport will when the client asks for auth-agent-req@openssh.com."""

    def __init__(self) -> None:
        self.handler: Any = None

    def request_forward_agent(self, handler: Any) -> bool:
        self.handler = handler
        return True


def test_request_handler_serves_every_agent_channel(real_agent: RunningAgent) -> None:
    session = FakeSessionChannel()
    handler = AgentRequestHandler(session, path=real_agent.sock)
    remotes = []
    try:
        assert callable(session.handler)
        for _ in range(3):
            remote, chan = socket.socketpair()
            remotes.append(remote)
            session.handler(chan)  # the server opened an auth-agent@openssh.com channel
        clients = [agent_over(r) for r in remotes]
        for c in clients:
            assert len(c.get_keys()) == 3
            key = c.get_keys()[0]
            assert key.verify_ssh_sig(b"d", key.sign_ssh_data(b"d"))
        assert len(handler.proxies) == 3
    finally:
        handler.close()
    for r in remotes:
        assert_closed(r)
        r.close()
    late_remote, late_chan = socket.socketpair()
    session.handler(late_chan)  # after close: refused
    assert_closed(late_remote)
    late_remote.close()


class FakeTransport:
    """A server transport whose agent channels lead, through socketpairs and
    AgentClientProxy (the client's side), to the real agent."""

    def __init__(self, agent_sock: str | None) -> None:
        self.agent_sock = agent_sock
        self.proxies: list[AgentClientProxy] = []
        self.opened = 0

    def open_forward_agent_channel(self) -> socket.socket | None:
        self.opened += 1
        if self.agent_sock is None:
            return None
        server_end, client_end = socket.socketpair()
        self.proxies.append(AgentClientProxy(client_end, path=self.agent_sock))
        return server_end

    def close(self) -> None:
        for p in self.proxies:
            p.close()


def run_openssh(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, env={**os.environ, **env}, timeout=30, capture_output=True, **kw)


def test_server_proxy_exposes_the_forwarded_agent_to_openssh(real_agent: RunningAgent, tmp_path: Path) -> None:
    transport = FakeTransport(real_agent.sock)
    proxy = AgentServerProxy(transport)
    try:
        env = proxy.get_env()
        sock_path = env["SSH_AUTH_SOCK"]
        assert os.stat(os.path.dirname(sock_path)).st_mode & 0o777 == 0o700
        listing = run_openssh(["ssh-add", "-L"], env)
        assert listing.returncode == 0, listing.stderr
        assert sorted(listing.stdout.decode().splitlines()) == sorted(
            p.path.with_suffix(".pub").read_text().strip() for p in real_agent.keys.values()
        )
        # OpenSSH signs through our proxy: ssh-keygen -Y sign with only the public key
        for kind, pair in real_agent.keys.items():
            doc = tmp_path / f"doc-{kind}"
            doc.write_bytes(b"signed through a forwarded agent\n")
            pub = tmp_path / f"{kind}.pub"
            pub.write_text(pair.path.with_suffix(".pub").read_text())
            signed = run_openssh(["ssh-keygen", "-Y", "sign", "-f", str(pub), "-n", "file", str(doc)], env)
            assert signed.returncode == 0, signed.stderr
            allowed = tmp_path / "allowed"
            allowed.write_text(f"me {pub.read_text()}")
            with open(doc, "rb") as f:
                verified = run_openssh(
                    [
                        "ssh-keygen",
                        "-Y",
                        "verify",
                        "-f",
                        str(allowed),
                        "-I",
                        "me",
                        "-n",
                        "file",
                        "-s",
                        f"{doc}.sig",
                    ],
                    {},
                    stdin=f,
                )
            assert verified.returncode == 0, verified.stderr
        # and our own client can use it too, through the socket or connect()
        proxy.connect()
        assert sorted(k.asbytes() for k in proxy.get_keys()) == sorted(p.blob for p in real_agent.keys.values())
        key = proxy.get_keys()[0]
        assert key.verify_ssh_sig(b"x", key.sign_ssh_data(b"x"))
        assert transport.opened >= 5
    finally:
        proxy.close()
        transport.close()
    assert not os.path.exists(sock_path)
    assert not os.path.exists(os.path.dirname(sock_path))
    assert proxy.get_keys() == ()


def test_server_proxy_without_a_forwarded_agent(tmp_path: Path) -> None:
    transport = FakeTransport(None)
    with AgentServerProxy(transport) as proxy:
        listing = run_openssh(["ssh-add", "-l"], proxy.get_env())
        assert listing.returncode != 0
        with pytest.raises(SSHException):
            proxy.connect()
    assert transport.opened == 2


def test_server_proxy_when_the_channel_open_fails() -> None:
    class Refusing:
        def open_forward_agent_channel(self) -> Any:
            raise SSHException("administratively prohibited")

    with AgentServerProxy(Refusing()) as proxy:
        listing = run_openssh(["ssh-add", "-l"], proxy.get_env())
        assert listing.returncode != 0


def test_server_proxy_many_clients_at_once(real_agent: RunningAgent) -> None:
    transport = FakeTransport(real_agent.sock)
    proxy = AgentServerProxy(transport)
    try:
        path = proxy.get_env()["SSH_AUTH_SOCK"]
        results: list[int] = []
        errors: list[BaseException] = []

        def client() -> None:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(path)
                    c = agent_over(s)
                    key = c.get_keys()[0]
                    for i in range(5):
                        assert key.verify_ssh_sig(b"%d" % i, key.sign_ssh_data(b"%d" % i))
                    results.append(len(c.get_keys()))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert results == [3] * 8
    finally:
        proxy.close()
        transport.close()


def test_relay_with_a_channel_like_object_without_sendall(real_agent: RunningAgent) -> None:
    """Only recv/send/close are needed from a channel."""

    class MinimalChannel:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def recv(self, n: int) -> bytes:
            return self.sock.recv(n)

        def send(self, data: bytes) -> int:
            return self.sock.send(data[:7])  # short writes on purpose

        def close(self) -> None:
            self.sock.close()

    remote, chan = socket.socketpair()
    proxy = AgentClientProxy(MinimalChannel(chan), path=real_agent.sock)
    try:
        client = agent_over(remote)
        assert len(client.get_keys()) == 3
        key = client.get_keys()[2]
        sig = key.sign_ssh_data(b"m", key.signature_algorithms[0])
        assert Message(sig.asbytes()).get_text() == key.signature_algorithms[0]
        client._close()
    finally:
        proxy.close()
        remote.close()


def test_slow_channel_open_does_not_block_other_clients(real_agent: RunningAgent) -> None:
    """Each local client's channel is opened in its own relay thread."""
    release = threading.Event()
    inner = FakeTransport(real_agent.sock)

    class SlowFirst:
        calls = 0

        def open_forward_agent_channel(self) -> socket.socket | None:
            SlowFirst.calls += 1
            if SlowFirst.calls == 1:
                release.wait(20)
            return inner.open_forward_agent_channel()

    proxy = AgentServerProxy(SlowFirst())
    path = proxy.get_env()["SSH_AUTH_SOCK"]
    first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        first.connect(path)
        assert wait_until(lambda: SlowFirst.calls == 1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as second:
            second.connect(path)
            assert len(agent_over(second).get_keys()) == 3  # served while the first open hangs
        release.set()
        assert len(agent_over(first).get_keys()) == 3
    finally:
        release.set()
        first.close()
        proxy.close()
        inner.close()


def test_local_clients_are_capped(real_agent: RunningAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    from ssh_agent import forward

    monkeypatch.setattr(forward, "MAX_LOCAL_CLIENTS", 1)
    transport = FakeTransport(real_agent.sock)
    proxy = AgentServerProxy(transport)
    path = proxy.get_env()["SSH_AUTH_SOCK"]
    first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        first.connect(path)
        client = agent_over(first)  # holds the only relay slot
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as second:
            second.connect(path)
            assert_closed(second)
        assert len(client.get_keys()) == 3
    finally:
        first.close()
        proxy.close()
        transport.close()
