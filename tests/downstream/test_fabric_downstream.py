"""Fabric 3 as its users drive it, on our paramiko, against sshd and our server:
``Connection.run`` (exit codes, warn, pty, stdin), ``put``/``get``,
``ThreadingGroup``, local and remote port forwards, gateways (a Connection,
ssh_config ProxyJump and ProxyCommand, host aliases), agent auth and agent
forwarding."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from downstream_env import FORWARDING, Target, echo_roundtrip, echo_server, make_tree, require, ssh_agent

from support.peers import need_program
from support.sshd import free_port

fabric = require("fabric")
invoke = require("invoke")

# invoke's runner catches the exception pytest-timeout raises in the main
# thread and then waits for its I/O threads, so a hang must end the process
# ("thread" method) for the run to report it.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(60, method="thread")]


def fabric_config(tmp_path: Path, ssh_config: str = "", **connect_kwargs: Any) -> Any:
    """A Fabric ``Config`` that reads only ``ssh_config`` (written to a file
    under ``tmp_path``), never the user's keys or agent unless asked, and
    does not forward the test's own stdin (pytest captures it)."""
    path = tmp_path / "ssh_config"
    path.write_text(ssh_config)
    kwargs = {"look_for_keys": False, "allow_agent": False, **connect_kwargs}
    return fabric.Config(runtime_ssh_path=str(path), overrides={"connect_kwargs": kwargs, "run": {"in_stream": False}})


def connect(target: Target, tmp_path: Path, **kwargs: Any) -> Any:
    """A Fabric Connection to ``target`` logging in with its key file."""
    config = fabric_config(tmp_path, key_filename=str(target.key))
    return fabric.Connection(target.host, user=target.user, port=target.port, config=config, **kwargs)


def test_run_stdout_stderr_and_exit_code(target: Target, tmp_path: Path) -> None:
    with connect(target, tmp_path) as c:
        result = c.run("printf 'out\\n'; printf 'err\\n' >&2; exit 0", hide=True)
        assert result.ok and result.exited == 0 and result.return_code == 0
        assert result.stdout == "out\n"
        assert result.stderr == "err\n"
        assert result.connection is c


def test_run_nonzero_with_warn_and_unexpected_exit(target: Target, tmp_path: Path) -> None:
    with connect(target, tmp_path) as c:
        result = c.run("echo before; exit 3", hide=True, warn=True)
        assert result.failed and result.exited == 3
        assert result.stdout == "before\n"
        with pytest.raises(invoke.exceptions.UnexpectedExit) as info:
            c.run("exit 7", hide=True)
        assert info.value.result.exited == 7


def test_run_many_commands_on_one_connection(target: Target, tmp_path: Path) -> None:
    with connect(target, tmp_path) as c:
        outs = [c.run(f"echo {i}", hide=True).stdout for i in range(10)]
        assert outs == [f"{i}\n" for i in range(10)]
        assert c.is_connected


def test_run_with_pty(target: Target, tmp_path: Path) -> None:
    with connect(target, tmp_path) as c:
        result = c.run("echo hello; exit 4", pty=True, hide=True, warn=True)
        assert result.exited == 4
        assert result.stdout.strip() == "hello"
        assert result.stderr == ""  # a pty merges stderr into stdout
        if target.real_pty:
            assert result.stdout == "hello\r\n"
            tty = c.run("tty", pty=True, hide=True)
            assert tty.stdout.startswith("/dev/")


def test_run_stdin_from_in_stream(target: Target, tmp_path: Path) -> None:
    # invoke feeds in_stream a byte at a time with a 10 ms nap: keep it short
    data = "line one\nline two\n" + "x" * 300 + "\n"
    with connect(target, tmp_path) as c:
        result = c.run("cat; echo done", in_stream=io.StringIO(data), hide=True)
        assert result.stdout == data + "done\n"
        wc = c.run("wc -c", in_stream=io.StringIO(data), hide=True)
        assert int(wc.stdout.split()[0]) == len(data.encode())


def test_put_and_get_bytes_equal(target: Target, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "local")
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    with connect(target, tmp_path) as c:
        for rel, data in files.items():
            if "/" in rel:
                continue  # put/get copy single files; the tree's top level is enough
            remote = str(remote_dir / rel)
            put = c.put(str(tmp_path / "local" / rel), remote=remote)
            assert put.remote == remote
            assert (remote_dir / rel).read_bytes() == data
            back = tmp_path / f"back-{rel}"
            got = c.get(remote, local=str(back))
            assert got.local == str(back)
            assert back.read_bytes() == data
        big = files["bin/big"]
        c.put(io.BytesIO(big), remote=str(remote_dir / "big"))
        assert (remote_dir / "big").read_bytes() == big
        sink = io.BytesIO()
        c.get(str(remote_dir / "big"), local=sink)
        assert sink.getvalue() == big


def test_put_keeps_mode(target: Target, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o750)
    remote = tmp_path / "remote-script.sh"
    with connect(target, tmp_path) as c:
        c.put(str(script), remote=str(remote))
        assert remote.stat().st_mode & 0o777 == 0o750
        assert c.run(str(remote), hide=True).stdout == "ran\n"


def test_threading_group_run(sshd_target: Target, ours_target: Target, tmp_path: Path) -> None:
    # three distinct connections (a Group keys its results by user/host/port)
    hosts = [sshd_target.host_string, ours_target.host_string, f"someone-else@127.0.0.1:{ours_target.port}"]
    config = fabric_config(tmp_path, key_filename=str(sshd_target.key))
    group = fabric.ThreadingGroup(*hosts, config=config)
    try:
        results = group.run("echo $((6 * 7))", hide=True)
        assert len(results) == 3
        assert sorted(c.port for c in results) == sorted([sshd_target.port, ours_target.port, ours_target.port])
        assert all(r.stdout == "42\n" and r.exited == 0 for r in results.values())
        with pytest.raises(fabric.exceptions.GroupException) as info:
            group.run("exit 9", hide=True)
        failures = info.value.result.values()
        assert all(isinstance(f, invoke.exceptions.UnexpectedExit) and f.result.exited == 9 for f in failures)
    finally:
        group.close()


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_forward_local(target: Target, tmp_path: Path) -> None:
    with echo_server() as echo_port, connect(target, tmp_path) as c:
        local_port = free_port()
        with c.forward_local(local_port, remote_port=echo_port, remote_host="127.0.0.1", local_host="127.0.0.1"):
            for i in range(3):
                payload = os.urandom(50000) + bytes([i])
                assert echo_roundtrip(local_port, payload) == payload


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_forward_remote(target: Target, tmp_path: Path) -> None:
    with echo_server() as echo_port, connect(target, tmp_path) as c:
        remote_port = free_port()
        with c.forward_remote(remote_port, local_port=echo_port, remote_host="127.0.0.1", local_host="127.0.0.1"):
            for i in range(3):
                payload = os.urandom(50000) + bytes([i])
                assert echo_roundtrip(remote_port, payload) == payload
        # the forward is cancelled on exit: nothing listens there any more
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", remote_port), timeout=5) as s:
            s.settimeout(5)
            if not s.recv(1):
                raise ConnectionResetError("closed")


@pytest.mark.parametrize("gateway_name", ["sshd", "ours"])
def test_gateway_connection(
    gateway_name: str, target: Target, sshd_target: Target, ours_target: Target, tmp_path: Path
) -> None:
    gw_target = sshd_target if gateway_name == "sshd" else ours_target
    gateway = connect(gw_target, tmp_path)
    with gateway, connect(target, tmp_path, gateway=gateway) as c:
        assert c.run("echo via gateway", hide=True).stdout == "via gateway\n"
        assert gateway.is_connected


def test_ssh_config_alias_and_proxyjump(sshd_target: Target, ours_target: Target, tmp_path: Path) -> None:
    ssh_config = f"""
Host target-alias
    HostName {ours_target.host}
    Port {ours_target.port}
    User {ours_target.user}
    ProxyJump {sshd_target.user}@jump-alias:{sshd_target.port}

Host jump-alias
    HostName {sshd_target.host}

Host direct-alias
    HostName {sshd_target.host}
    Port {sshd_target.port}
    User {sshd_target.user}

Host *
    IdentityFile {sshd_target.key}
"""
    config = fabric_config(tmp_path, ssh_config)
    with fabric.Connection("direct-alias", config=config) as c:
        assert (c.host, c.port, c.user) == (sshd_target.host, sshd_target.port, sshd_target.user)
        assert c.run("echo direct", hide=True).stdout == "direct\n"
    c = fabric.Connection("target-alias", config=config)
    assert isinstance(c.gateway, fabric.Connection)
    assert (c.gateway.host, c.gateway.port) == (sshd_target.host, sshd_target.port)
    try:
        assert c.run("echo jumped", hide=True).stdout == "jumped\n"
        assert c.gateway.is_connected
    finally:
        c.close()
        c.gateway.close()


def test_ssh_config_proxycommand(target: Target, sshd_target: Target, tmp_path: Path) -> None:
    need_program("ssh")
    proxy = (
        f"ssh -F /dev/null -i {sshd_target.key} -o IdentitiesOnly=yes -o BatchMode=yes"
        f" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        f" -p {sshd_target.port} -W %h:%p {sshd_target.user}@{sshd_target.host}"
    )
    ssh_config = f"""
Host proxied
    HostName {target.host}
    Port {target.port}
    User {target.user}
    IdentityFile {target.key}
    ProxyCommand {proxy}
"""
    config = fabric_config(tmp_path, ssh_config)
    with fabric.Connection("proxied", config=config) as c:
        assert isinstance(c.gateway, str) and c.gateway.startswith("ssh ")
        assert c.run("echo through proxycommand", hide=True).stdout == "through proxycommand\n"


def test_agent_auth(target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_program("ssh-agent")
    with ssh_agent(tmp_path) as agent:
        agent.add(target.key)
        monkeypatch.setenv("SSH_AUTH_SOCK", agent.sock)
        config = fabric_config(tmp_path, allow_agent=True)
        with fabric.Connection(target.host, user=target.user, port=target.port, config=config) as c:
            assert c.run("echo agent", hide=True).stdout == "agent\n"


def test_agent_forwarding(sshd_target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_program("ssh-agent")
    with ssh_agent(tmp_path) as agent:
        agent.add(sshd_target.key)
        listing = agent.listing()
        assert "downstream-test" in listing
        monkeypatch.setenv("SSH_AUTH_SOCK", agent.sock)
        config = fabric_config(tmp_path, allow_agent=True)
        with fabric.Connection(
            sshd_target.host, user=sshd_target.user, port=sshd_target.port, config=config, forward_agent=True
        ) as c:
            remote = c.run("ssh-add -l", hide=True, warn=True)
            assert remote.exited == 0, remote.stderr
            assert remote.stdout == listing
            # twice on one connection: each session gets its own forwarding
            assert c.run("ssh-add -l", hide=True).stdout == listing
        with fabric.Connection(sshd_target.host, user=sshd_target.user, port=sshd_target.port, config=config) as c:
            unforwarded = c.run("ssh-add -l", hide=True, warn=True)
            assert unforwarded.exited == 2  # "Could not open a connection to your authentication agent"
