"""``session-bind@openssh.com`` (PROTOCOL.agent): ``Agent.session_bind``
against OpenSSH's ssh-agent (which checks the host key's signature), an
agent that does not know the extension, and the forwarding relay binding its
local agent connection with is_forwarding set."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_peer import KeyPair, RunningAgent, start_agent

from ssh_agent import Agent, AgentRequestHandler
from ssh_agent.protocol import SESSION_BIND_EXTENSION, frame, read_frame
from ssh_keys import Ed25519Key
from ssh_wire import Message, SSHException
from support.peers import need_program

pytestmark = pytest.mark.timeout(60)

HOST_KEY = Ed25519Key.generate()


def binding(session_id: bytes, key: Any = HOST_KEY) -> tuple[bytes, bytes, bytes]:
    """What a transport reports after its first key exchange: host key blob,
    session id, the host key's signature over the session id."""
    return key.asbytes(), session_id, key.sign_ssh_data(session_id).asbytes()


def test_openssh_agent_accepts_a_binding_and_still_signs(real_agent: RunningAgent) -> None:
    sid = os.urandom(32)
    with Agent(path=real_agent.sock) as agent:
        assert agent.session_bind(*binding(sid), False) is True
        assert agent.bound_sessions == [(sid, False)]
        assert agent.session_bind(*binding(sid), False) is True  # already bound: nothing to do
        key = agent.get_keys()[0]
        assert key.verify_ssh_sig(b"data", key.sign_ssh_data(b"data"))


def test_openssh_agent_refuses_a_binding_with_a_bad_signature(real_agent: RunningAgent) -> None:
    sid = os.urandom(32)
    blob, _, _ = binding(sid)
    forged = Ed25519Key.generate().sign_ssh_data(sid).asbytes()  # signed by another key
    with Agent(path=real_agent.sock) as agent:
        assert agent.session_bind(blob, sid, forged, False) is False
        assert agent.bound_sessions == []
        key = agent.get_keys()[0]
        assert key.verify_ssh_sig(b"x", key.sign_ssh_data(b"x"))  # the connection goes on


@pytest.fixture
def constrained_agent(tmp_path: Path, keypairs: dict[str, KeyPair]) -> Iterator[RunningAgent]:
    """A real ssh-agent holding the ed25519 key only for logins to a host
    with ``HOST_KEY`` (``ssh-add -h``: a destination constraint, which the
    agent enforces through session-bind)."""
    known = tmp_path / "known_hosts"
    known.write_text(f"server.test {HOST_KEY.get_name()} {HOST_KEY.get_base64()}\n")
    with start_agent(tmp_path / "agent", {}) as running:
        add = [need_program("ssh-add"), "-H", str(known), "-h", "server.test", str(keypairs["ed25519"].path)]
        subprocess.run(add, env=running.env(), check=True, capture_output=True, timeout=30)
        yield running


def test_destination_constrained_key_signs_only_for_a_bound_session(constrained_agent: RunningAgent) -> None:
    first = os.urandom(32)
    with Agent(path=constrained_agent.sock) as agent:
        [key] = agent.get_keys()
        with pytest.raises(SSHException):
            key.sign_ssh_data(login_data(first, key))  # unbound: refused
        assert agent.session_bind(*binding(first), False)
        assert key.verify_ssh_sig(login_data(first, key), key.sign_ssh_data(login_data(first, key)))


def test_a_second_session_gets_an_agent_connection_of_its_own(constrained_agent: RunningAgent) -> None:
    first, second = os.urandom(32), os.urandom(32)
    with Agent(path=constrained_agent.sock) as agent:
        [key] = agent.get_keys()
        assert agent.session_bind(*binding(first), False)
        # ssh-agent refuses to re-bind a connection bound for a login, and
        # signs a constrained key's login only for the session its
        # connection is bound to: the Agent opens one more connection for
        # the second session and signs each login on the right one
        assert agent.session_bind(*binding(second), False)
        assert agent.bound_sessions == [(first, False), (second, False)]
        for sid in (first, second, first):
            data = login_data(sid, key)
            assert key.verify_ssh_sig(data, key.sign_ssh_data(data))
        with pytest.raises(SSHException):
            key.sign_ssh_data(login_data(os.urandom(32), key))  # a session never bound


def login_data(session_id: bytes, key: Any) -> bytes:
    """What a publickey login signs (RFC 4252 7), host-bound form."""
    m = Message().add_string(session_id).add_byte(50).add_string("me").add_string("ssh-connection")
    m.add_string("publickey-hostbound-v00@openssh.com").add_boolean(True).add_string(key.get_name())
    return m.add_string(key.asbytes()).add_string(HOST_KEY.asbytes()).asbytes()


class RecordingAgent:
    """A UNIX-socket agent with no keys that records session-bind requests
    (answering ``answer`` to them) and serves any number of connections."""

    def __init__(self, path: str, answer: int = 6) -> None:
        self.path = path
        self.answer = answer
        self.binds: list[tuple[bytes, bytes, bytes, bool]] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve_one, args=(conn,), daemon=True).start()

    def serve_one(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    request = read_frame(conn, time.monotonic() + 20)
                except Exception:
                    return
                if request[0] == 11:  # REQUEST_IDENTITIES: none
                    conn.sendall(frame(bytes([12]) + b"\0\0\0\0"))
                elif request[0] == 27:
                    m = Message(request[1:])
                    assert m.get_text() == SESSION_BIND_EXTENSION
                    self.binds.append((m.get_string(), m.get_string(), m.get_string(), m.get_boolean()))
                    conn.sendall(frame(bytes([self.answer])))
                else:
                    conn.sendall(frame(bytes([5])))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self.listener.close()
        self.thread.join(10)


def test_an_agent_without_the_extension_is_used_unbound(tmp_path: Path) -> None:
    old = RecordingAgent(str(tmp_path / "old.sock"), answer=28)  # SSH_AGENT_EXTENSION_FAILURE
    try:
        with Agent(path=old.path) as agent:
            assert agent.session_bind(*binding(b"s" * 32), False) is False
            assert agent.bound_sessions == []
            assert agent.get_keys() == ()
    finally:
        old.close()


class FakeTransport:
    def __init__(self, session: tuple[bytes, bytes, bytes]) -> None:
        self.session = session

    def get_session_binding(self) -> tuple[bytes, bytes, bytes]:
        return self.session


class FakeSessionChannel:
    """A session channel as AgentRequestHandler sees it."""

    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport
        self.handler: Any = None

    def request_forward_agent(self, handler: Any) -> None:
        self.handler = handler

    def get_transport(self) -> FakeTransport:
        return self.transport


def test_forwarded_agent_connection_is_bound_with_is_forwarding(tmp_path: Path) -> None:
    local = RecordingAgent(str(tmp_path / "local.sock"))
    session = binding(os.urandom(32))
    chan = FakeSessionChannel(FakeTransport(session))
    handler = AgentRequestHandler(chan, path=local.path)
    remote, ours = socket.socketpair()  # the agent channel the server opened
    try:
        chan.handler(ours)
        # the program on the server lists keys through the channel
        remote.sendall(frame(bytes([11])))
        reply = read_frame(remote, time.monotonic() + 20)
        assert reply[0] == 12
        assert local.binds == [(*session, True)]
    finally:
        handler.close()
        remote.close()
        local.close()
