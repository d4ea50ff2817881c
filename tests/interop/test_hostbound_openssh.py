"""publickey-hostbound-v00@openssh.com and agent session-bind@openssh.com
with real OpenSSH peers:

* our client to sshd 9.x: sshd's log shows the host-bound method, with a
  key file and with keys in ssh-agent (whose log shows the session binding,
  for the login and for a forwarded agent);
* OpenSSH's ``ssh`` to our server: it sends host-bound requests (its -vvv
  and our server's log say so);
* a chain: our client forwards ssh-agent to our server, which logs in to
  sshd with the forwarded keys (bound for forwarding, then for the login).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ssh_transport.transport", reason="ssh_transport.transport is not available")

import ssh_keys
from ssh_agent import Agent, AgentRequestHandler, AgentServerProxy
from ssh_transport import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    Channel,
    ServerInterface,
    Transport,
)
from support.peers import need_program
from support.polling import wait_until
from support.sshd import SSHD, keygen, sshd_available, start_sshd
from support.sshserver import ExecServer, serve

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

HOSTBOUND = "publickey-hostbound-v00@openssh.com"


@pytest.fixture(scope="module")
def debug_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHD]:
    """A private sshd logging at DEBUG1 (which names each userauth method)."""
    if not sshd_available():
        pytest.skip("OpenSSH sshd is not installed")
    with start_sshd(tmp_path_factory.mktemp("hostbound-sshd"), ["LogLevel DEBUG1"]) as server:
        yield server


class DebugAgent:
    """OpenSSH's ssh-agent in debug mode (``-d``), its log in a file."""

    def __init__(self, workdir: Path, keys: list[Path]) -> None:
        self.sock = str(workdir / "agent.sock")
        self.log_path = workdir / "agent.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [need_program("ssh-agent"), "-d", "-a", self.sock],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        assert wait_until(lambda: os.path.exists(self.sock), timeout=10)
        if keys:
            env = {**os.environ, "SSH_AUTH_SOCK": self.sock}
            add = [need_program("ssh-add"), *map(str, keys)]
            subprocess.run(add, env=env, check=True, capture_output=True, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def binds(self) -> int:
        return self.log().count("process_ext_session_bind: recorded")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def debug_agent(debug_sshd: SSHD, tmp_path: Path) -> Iterator[DebugAgent]:
    agent = DebugAgent(tmp_path, [debug_sshd.client_keys["ecdsa"]])
    try:
        yield agent
    finally:
        agent.close()


def _connect(sshd: SSHD) -> Transport:
    t = Transport((sshd.host, sshd.port))
    t.start_client(timeout=20)
    return t


def _port_log(sshd: SSHD, port: int) -> str:
    """The part of sshd's log about the connection from our local ``port``."""
    lines = sshd.log().splitlines()
    start = next((i for i, line in enumerate(lines) if f"port {port}" in line), len(lines))
    return "\n".join(lines[start:])


def _run(chan: Channel, command: str) -> tuple[int, bytes]:
    chan.settimeout(30)
    chan.exec_command(command)
    out = bytearray()
    while data := chan.recv(65536):
        out += data
    return chan.recv_exit_status(), bytes(out)


def test_our_client_uses_hostbound_auth_with_sshd(debug_sshd: SSHD) -> None:
    key = ssh_keys.PKey.from_private_key_file(str(debug_sshd.client_keys["ed25519"]))
    t = _connect(debug_sshd)
    try:
        assert t.server_extensions.get("publickey-hostbound@openssh.com") == b"0"
        t.auth_publickey(debug_sshd.user, key)
        assert t.is_authenticated()
        port = t.sock.getsockname()[1]
        assert wait_until(lambda: "Accepted publickey" in _port_log(debug_sshd, port), timeout=20)
        log = _port_log(debug_sshd, port)
        assert f"method {HOSTBOUND}" in log
        assert "method publickey " not in log
    finally:
        t.close()


def test_agent_is_bound_before_it_signs_for_sshd(debug_sshd: SSHD, debug_agent: DebugAgent) -> None:
    with Agent(path=debug_agent.sock) as agent:
        for round_ in (1, 2):  # the same Agent for two sessions: each gets its binding
            t = _connect(debug_sshd)
            try:
                t.auth_publickey(debug_sshd.user, agent.get_keys()[0])
                assert t.is_authenticated()
                binding = t.get_session_binding()
                assert binding is not None and (binding[1], False) in agent.bound_sessions
                assert len(agent.bound_sessions) == round_
                status, out = _run(t.open_session(), "echo bound")
                assert (status, out) == (0, b"bound\n")
            finally:
                t.close()
            assert wait_until(lambda r=round_: debug_agent.binds() >= r, timeout=20)
    log = debug_agent.log()
    assert "process_sign_request2: good signature" in log
    assert "refusing use of key" not in log


def test_destination_constrained_agent_key_logs_in_to_sshd(debug_sshd: SSHD, tmp_path: Path) -> None:
    """``ssh-add -h``: ssh-agent lets the key sign only logins to that host over
    a connection bound to the session (session-bind); without the binding
    it refuses."""
    known = tmp_path / "known_hosts"
    known.write_text("".join(f"sshd.test {debug_sshd.host_key_line(k)}\n" for k in debug_sshd.host_keys))
    agent_proc = DebugAgent(tmp_path, [])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": agent_proc.sock}
        add = [need_program("ssh-add"), "-H", str(known), "-h", "sshd.test", str(debug_sshd.client_keys["ed25519"])]
        subprocess.run(add, env=env, check=True, capture_output=True, timeout=30)
        with Agent(path=agent_proc.sock) as agent:
            [key] = agent.get_keys()
            for _ in range(2):  # a second session through the same Agent
                t = _connect(debug_sshd)
                try:
                    t.auth_publickey(debug_sshd.user, key)
                    assert t.is_authenticated()
                finally:
                    t.close()
        assert "refusing use of destination-constrained key" not in agent_proc.log()
    finally:
        agent_proc.close()


def test_forwarded_agent_is_bound_for_forwarding(debug_sshd: SSHD, debug_agent: DebugAgent) -> None:
    with Agent(path=debug_agent.sock) as agent:
        t = _connect(debug_sshd)
        try:
            t.auth_publickey(debug_sshd.user, agent.get_keys()[0])
            assert debug_agent.binds() == 1
            chan = t.open_session()
            handler = AgentRequestHandler(chan, path=debug_agent.sock)
            try:
                status, out = _run(chan, "ssh-add -L")
            finally:
                handler.close()
            assert status == 0 and out.split()[1] == agent.get_keys()[0].get_base64().encode()
            # the login's connection and the forwarded one: two bindings
            assert wait_until(lambda: debug_agent.binds() == 2, timeout=20)
        finally:
            t.close()


@pytest.fixture(scope="module")
def our_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Path]]:
    need_program("ssh")
    work = tmp_path_factory.mktemp("hostbound-ours")
    client_key = keygen(work / "client_ed25519", "ed25519")
    host_key = ssh_keys.Ed25519Key.generate()
    authorized = [ssh_keys.PKey.from_private_key_file(str(client_key))]
    with serve([host_key], lambda: ExecServer(authorized=authorized)) as running:
        known = work / "known_hosts"
        known.write_text(f"[127.0.0.1]:{running.port} {host_key.get_name()} {host_key.get_base64()}\n")
        yield running, client_key, known


def test_openssh_client_uses_hostbound_auth_with_our_server(
    our_server: tuple[Any, Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    running, client_key, known = our_server
    args = ["ssh", "-vvv", "-F", "/dev/null", "-p", str(running.port), "-i", str(client_key)]
    args += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]
    args += ["-o", "BatchMode=yes", "tester@127.0.0.1", "echo hostbound-ok"]
    with caplog.at_level(logging.DEBUG):
        r = subprocess.run(args, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout == b"hostbound-ok\n", r.stderr.decode(errors="replace")[-2000:]
    err = r.stderr.decode(errors="replace")
    assert "publickey-hostbound@openssh.com" in err  # ssh saw our EXT_INFO offer
    assert f"using {HOSTBOUND}" in err  # ... and signed the host-bound form
    # our server logged the request as host-bound before it answered it
    assert f"auth request for tester: {HOSTBOUND}" in caplog.text


class ForwardingServer(ServerInterface):
    """Our server: accepts one key, sessions, agent forwarding and exec."""

    def __init__(self, allowed: bytes) -> None:
        self.allowed = allowed
        self.commands: queue.Queue[Channel] = queue.Queue()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        return AUTH_SUCCESSFUL if key.asbytes() == self.allowed else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_forward_agent_request(self, channel: Channel) -> bool:
        return True

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        self.commands.put(channel)
        return True


def test_forwarded_agent_chain_through_our_server_to_sshd(debug_sshd: SSHD, debug_agent: DebugAgent) -> None:
    with Agent(path=debug_agent.sock) as agent:
        key = agent.get_keys()[0]
        server = ForwardingServer(key.asbytes())
        a, b = socket.socketpair()
        st = Transport(b)
        st.add_server_key(ssh_keys.Ed25519Key.generate())
        st.start_server(event=threading.Event(), server=server)
        ct = Transport(a)
        proxy: AgentServerProxy | None = None
        handler: AgentRequestHandler | None = None
        onward: Transport | None = None
        try:
            ct.start_client(timeout=20)
            ct.auth_publickey("me", key)  # binding 1: our client's login
            chan = ct.open_session()
            handler = AgentRequestHandler(chan, path=debug_agent.sock)
            chan.exec_command("hop")
            schan = server.commands.get(timeout=30)
            proxy = AgentServerProxy(st)
            proxy.connect()  # binding 2: the forwarded connection, is_forwarding set
            onward = _connect(debug_sshd)
            onward.auth_publickey(debug_sshd.user, proxy.get_keys()[0])  # binding 3, over the forwarding
            assert onward.is_authenticated()
            assert wait_until(lambda: debug_agent.binds() == 3, timeout=20)
            assert "process_sign_request2: good signature" in debug_agent.log()
            schan.send_exit_status(0)
            schan.close()
            assert chan.recv_exit_status() == 0
        finally:
            for closable in (onward, proxy, handler, ct, st):
                if closable is not None:
                    closable.close()
