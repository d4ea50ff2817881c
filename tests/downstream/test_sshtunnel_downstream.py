"""sshtunnel's ``SSHTunnelForwarder`` as its users drive it, on our paramiko,
against sshd and our server: a tunnel to a local echo server, several
connections at once, several tunnels, start/stop/restart, ``open_tunnel``,
and an ``ssh_proxy`` (ProxyCommand through OpenSSH's ``ssh -W``)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from downstream_env import FORWARDING, Target, echo_roundtrip, echo_server, require

from support.peers import need_program
from support.sshd import keygen

sshtunnel = require("sshtunnel")
paramiko = require("paramiko")

# sshtunnel's serving threads swallow exceptions; a hang must end the process.
pytestmark = [pytest.mark.interop, pytest.mark.timeout(60, method="thread")]


def forwarder(target: Target, **kwargs: Any) -> Any:
    """An ``SSHTunnelForwarder`` to ``target`` with its key file, ignoring
    ~/.ssh (its config, keys and the agent)."""
    return sshtunnel.SSHTunnelForwarder(
        (target.host, target.port),
        ssh_username=target.user,
        ssh_pkey=str(target.key),
        ssh_config_file=None,
        allow_agent=False,
        host_pkey_directories=[],
        logger=logging.getLogger("downstream.sshtunnel"),
        **kwargs,
    )


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_tunnel_to_echo_server(target: Target) -> None:
    with echo_server() as echo_port:
        tunnel = forwarder(target, remote_bind_address=("127.0.0.1", echo_port), local_bind_address=("127.0.0.1", 0))
        tunnel.start()
        try:
            assert tunnel.is_active
            assert tunnel.is_alive
            port = tunnel.local_bind_port
            assert isinstance(port, int) and port > 0
            payload = os.urandom(200000)
            assert echo_roundtrip(port, payload) == payload
            tunnel.check_tunnels()
            assert tunnel.tunnel_is_up == {("127.0.0.1", port): True}
        finally:
            tunnel.stop()
        assert not tunnel.is_active


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_many_connections_at_once(target: Target) -> None:
    with echo_server() as echo_port:
        tunnel = forwarder(target, remote_bind_address=("127.0.0.1", echo_port), local_bind_address=("127.0.0.1", 0))
        tunnel.start()
        try:
            port = tunnel.local_bind_port
            payloads = [os.urandom(30000) + bytes([i]) for i in range(8)]
            results: dict[int, bytes] = {}
            errors: list[BaseException] = []

            def one(i: int) -> None:
                try:
                    results[i] = echo_roundtrip(port, payloads[i])
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors
            assert results == dict(enumerate(payloads))
        finally:
            tunnel.stop()


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_several_tunnels_and_restart(target: Target) -> None:
    with echo_server() as echo_a, echo_server() as echo_b:
        tunnel = forwarder(
            target,
            remote_bind_addresses=[("127.0.0.1", echo_a), ("127.0.0.1", echo_b)],
            local_bind_addresses=[("127.0.0.1", 0), ("127.0.0.1", 0)],
        )
        tunnel.start()
        try:
            ports = tunnel.local_bind_ports
            assert len(ports) == 2
            for p in ports:
                assert echo_roundtrip(p, b"hello " + str(p).encode()) == b"hello " + str(p).encode()
            tunnel.restart()
            assert tunnel.is_active
            for p in tunnel.local_bind_ports:
                assert echo_roundtrip(p, b"again") == b"again"
        finally:
            tunnel.stop()


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_open_tunnel_context_manager(target: Target) -> None:
    with (
        echo_server() as echo_port,
        sshtunnel.open_tunnel(
            (target.host, target.port),
            ssh_username=target.user,
            ssh_pkey=str(target.key),
            ssh_config_file=None,
            allow_agent=False,
            host_pkey_directories=[],
            remote_bind_address=("127.0.0.1", echo_port),
            local_bind_address=("127.0.0.1", 0),
        ) as tunnel,
    ):
        assert echo_roundtrip(tunnel.local_bind_port, b"ctx") == b"ctx"


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_private_key_object_and_wrong_key(target: Target, tmp_path: Path) -> None:
    with echo_server() as echo_port:
        pkey = paramiko.Ed25519Key.from_private_key_file(str(target.key))
        tunnel = sshtunnel.SSHTunnelForwarder(
            (target.host, target.port),
            ssh_username=target.user,
            ssh_pkey=pkey,
            ssh_config_file=None,
            allow_agent=False,
            host_pkey_directories=[],
            remote_bind_address=("127.0.0.1", echo_port),
            local_bind_address=("127.0.0.1", 0),
        )
        with tunnel:
            assert echo_roundtrip(tunnel.local_bind_port, b"pkey") == b"pkey"
        wrong = sshtunnel.SSHTunnelForwarder(
            (target.host, target.port),
            ssh_username=target.user,
            ssh_pkey=str(keygen(tmp_path / "not-authorized", "ed25519")),
            ssh_config_file=None,
            allow_agent=False,
            host_pkey_directories=[],
            remote_bind_address=("127.0.0.1", echo_port),
            local_bind_address=("127.0.0.1", 0),
        )
        with pytest.raises(sshtunnel.BaseSSHTunnelForwarderError):
            wrong.start()
        # (no stop(): sshtunnel 0.5.1's stop() after a failed start waits forever)


@pytest.mark.parametrize("target", FORWARDING, indirect=True)
def test_ssh_proxy_command(target: Target, sshd_target: Target) -> None:
    need_program("ssh")
    proxy = paramiko.ProxyCommand(
        f"ssh -F /dev/null -i {sshd_target.key} -o IdentitiesOnly=yes -o BatchMode=yes"
        f" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        f" -p {sshd_target.port} -W {target.host}:{target.port} {sshd_target.user}@{sshd_target.host}"
    )
    with echo_server() as echo_port:
        tunnel = forwarder(
            target, ssh_proxy=proxy, remote_bind_address=("127.0.0.1", echo_port), local_bind_address=("127.0.0.1", 0)
        )
        with tunnel:
            assert echo_roundtrip(tunnel.local_bind_port, b"proxied") == b"proxied"


def test_unresolvable_host_is_reported_as_such(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """sshtunnel tells "could not resolve" from other failures by catching the
    ``socket.gaierror`` that ``paramiko.Transport((host, port))`` lets through.
    (The lookup is made to fail locally, so no resolver is asked.)"""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "unresolvable.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    tunnel = sshtunnel.SSHTunnelForwarder(
        ("unresolvable.test", 22),
        ssh_username="nobody",
        ssh_password="x",
        ssh_config_file=None,
        allow_agent=False,
        host_pkey_directories=[],
        remote_bind_address=("127.0.0.1", 1),
        local_bind_address=("127.0.0.1", 0),
        logger=logging.getLogger("downstream.sshtunnel"),
    )
    with (
        caplog.at_level(logging.ERROR, logger="downstream.sshtunnel"),
        pytest.raises(sshtunnel.BaseSSHTunnelForwarderError),
    ):
        tunnel.start()
    assert "Could not resolve IP address for unresolvable.test" in caplog.text
