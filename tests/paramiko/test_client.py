"""SSHClient against a real OpenSSH sshd: host key policies, every way to
authenticate with keys, exec_command files and exit status, shells, timeouts,
and connecting through a ProxyCommand.

Tests that need the Transport skip until ``ssh_transport.transport`` exists.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ssh_keys import Ed25519Key, HostKeys, load_private_key_file
from ssh_transport.proxy import ProxyCommand
from ssh_wire import AuthenticationException, BadHostKeyException, NoValidConnectionsError, SSHException
from support.peers import need_program
from support.relay import RELAY_SCRIPT
from support.sshd import SSHD

pytest.importorskip("paramiko.client", reason="the paramiko meta-package is not installed")

from paramiko.client import (
    AutoAddPolicy,
    MissingHostKeyPolicy,
    RejectPolicy,
    SSHClient,
    WarningPolicy,
)

RELAY = RELAY_SCRIPT


@pytest.fixture
def server(sshd: SSHD) -> SSHD:
    """The session's sshd, once the Transport exists."""
    pytest.importorskip("ssh_transport.transport", reason="ssh_transport.transport is not written yet")
    return sshd


@pytest.fixture
def client() -> Iterator[SSHClient]:
    c = SSHClient()
    try:
        yield c
    finally:
        c.close()


def key_args(server: SSHD, kind: str = "ed25519") -> dict[str, Any]:
    """connect() arguments that log in with one client key file only."""
    return {
        "port": server.port,
        "username": server.user,
        "key_filename": str(server.client_keys[kind]),
        "allow_agent": False,
        "look_for_keys": False,
        "timeout": 20,
    }


def connected(client: SSHClient, server: SSHD, **extra: Any) -> SSHClient:
    client.load_host_keys(server.known_hosts)
    args = key_args(server)
    args.update(extra)
    client.connect(server.host, **args)
    return client


# -- policies without a network ----------------------------------------------------


def test_policies_without_network(tmp_path: Path) -> None:
    key = Ed25519Key.generate()
    c = SSHClient()
    with pytest.raises(SSHException, match="not found in known_hosts"):
        RejectPolicy().missing_host_key(c, "h", key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WarningPolicy().missing_host_key(c, "h", key)
    assert "Unknown ssh-ed25519 host key for h" in str(caught[0].message)
    MissingHostKeyPolicy().missing_host_key(c, "h", key)  # base class accepts
    known = tmp_path / "known_hosts"
    known.write_text("")
    c.load_host_keys(known)
    AutoAddPolicy().missing_host_key(c, "[h]:2222", key)
    assert c.get_host_keys().check("[h]:2222", key)
    assert HostKeys(known).check("[h]:2222", key)
    fresh = tmp_path / "fresh_known_hosts"
    c.save_host_keys(fresh)
    assert fresh.stat().st_mode & 0o777 == 0o600  # created private, never chmod-ed
    assert HostKeys(fresh).check("[h]:2222", key)
    c.set_missing_host_key_policy(AutoAddPolicy)
    assert isinstance(c._policy, AutoAddPolicy)


def test_save_host_keys_merges_entries_added_to_the_file(tmp_path: Path) -> None:
    k1, k2 = Ed25519Key.generate(), Ed25519Key.generate()
    known = tmp_path / "known_hosts"
    known.write_text(f"one {k1.get_name()} {k1.get_base64()}\n")
    c = SSHClient()
    c.load_host_keys(known)
    with open(known, "a") as f:
        f.write(f"two {k2.get_name()} {k2.get_base64()}\n")
    c.get_host_keys().add("three", k2.get_name(), k2)
    c.save_host_keys(known)
    saved = HostKeys(known)
    assert saved.check("one", k1) and saved.check("two", k2) and saved.check("three", k2)


def test_closed_port_raises_no_valid_connections() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NoValidConnectionsError) as info, SSHClient() as c:
        c.connect("127.0.0.1", port, timeout=5)
    assert isinstance(info.value, OSError)


def test_unconnected_client_refuses_commands() -> None:
    c = SSHClient()
    assert c.get_transport() is None
    with pytest.raises(SSHException):
        c.exec_command("true")
    c.close()
    c.close()


# -- against sshd ------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_key_file_login_and_exec(server: SSHD, client: SSHClient, kind: str) -> None:
    client.load_host_keys(server.known_hosts)
    client.connect(server.host, **key_args(server, kind))
    transport = client.get_transport()
    assert transport is not None and transport.is_authenticated()
    _stdin, stdout, stderr = client.exec_command("echo hello; echo oops >&2; exit 3")
    assert stdout.read() == b"hello\n"
    assert stderr.read() == b"oops\n"
    assert stdout.channel.recv_exit_status() == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_pkey_login(server: SSHD, client: SSHClient, kind: str) -> None:
    pkey = load_private_key_file(server.client_keys[kind])
    connected(client, server, key_filename=None, pkey=pkey)
    _, stdout, _ = client.exec_command("echo $((6 * 7))")
    assert stdout.read() == b"42\n"


@pytest.mark.timeout(60)
def test_stdin_lines_and_text_mode(server: SSHD, client: SSHClient) -> None:
    connected(client, server)
    stdin, stdout, _ = client.exec_command("cat; printf 'x\\ny\\n'")
    stdin.write("first line\n")
    stdin.write(b"second\n")
    stdin.close()
    assert list(stdout) == ["first line\n", "second\n", "x\n", "y\n"]
    assert stdout.channel.recv_exit_status() == 0


@pytest.mark.timeout(60)
def test_large_output_through_exec(server: SSHD, client: SSHClient) -> None:
    connected(client, server)
    _, stdout, _ = client.exec_command("head -c 5000000 /dev/zero")
    assert stdout.read() == bytes(5_000_000)


@pytest.mark.timeout(60)
def test_environment_and_pty(server: SSHD, client: SSHClient) -> None:
    connected(client, server)
    _, stdout, _ = client.exec_command("echo $TEST_VAR", environment={"TEST_VAR": "from-client"})
    assert stdout.read() == b"from-client\n"
    _, stdout, _ = client.exec_command("test -t 0 && echo tty", get_pty=True)
    assert stdout.read().strip() == b"tty"


@pytest.mark.timeout(60)
def test_invoke_shell(server: SSHD, client: SSHClient) -> None:
    connected(client, server)
    chan = client.invoke_shell(width=100, height=30)
    chan.settimeout(20)
    chan.sendall(b"echo marker-$((40 + 2))\nexit\n")
    seen = b""
    while b"marker-42" not in seen:
        data = chan.recv(4096)
        if not data:
            break
        seen += data
    assert b"marker-42" in seen
    chan.close()


@pytest.mark.timeout(60)
def test_exec_timeout_is_honoured(server: SSHD, client: SSHClient) -> None:
    connected(client, server)
    _, stdout, _ = client.exec_command("sleep 20", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        stdout.read()
    assert time.monotonic() - start < 15


@pytest.mark.timeout(60)
def test_unknown_host_is_rejected_by_default(server: SSHD, client: SSHClient) -> None:
    with pytest.raises(SSHException, match="not found in known_hosts"):
        client.connect(server.host, **key_args(server))
    assert client.get_transport() is None


@pytest.mark.timeout(60)
def test_auto_add_saves_the_key_and_it_is_then_trusted(server: SSHD, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    with SSHClient() as c:
        c.load_host_keys(known)
        c.set_missing_host_key_policy(AutoAddPolicy())
        c.connect(server.host, **key_args(server))
        transport = c.get_transport()
        assert transport is not None
        server_key = transport.get_remote_server_key()
    text = known.read_text()
    assert text.startswith(f"[{server.host}]:{server.port} {server_key.get_name()} ")
    assert server_key.get_base64() in text
    with SSHClient() as c:
        c.load_host_keys(known)
        c.connect(server.host, **key_args(server))  # RejectPolicy: must be known now
        assert c.exec_command("true")[1].channel.recv_exit_status() == 0


@pytest.mark.timeout(60)
def test_warning_policy_connects_with_a_warning(server: SSHD, client: SSHClient) -> None:
    client.set_missing_host_key_policy(WarningPolicy)
    with pytest.warns(UserWarning, match="Unknown .* host key"):
        client.connect(server.host, **key_args(server))
    assert client.get_host_keys().lookup(f"[{server.host}]:{server.port}") is None


@pytest.mark.timeout(60)
def test_changed_host_key_raises_bad_host_key(server: SSHD, client: SSHClient, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    impostors = [load_private_key_file(server.client_keys[k]) for k in ("ed25519", "ecdsa", "rsa")]
    known.write_text("".join(f"[{server.host}]:{server.port} {k.get_name()} {k.get_base64()}\n" for k in impostors))
    client.load_system_host_keys(known)
    client.set_missing_host_key_policy(AutoAddPolicy)  # must not matter
    with pytest.raises(BadHostKeyException) as info:
        client.connect(server.host, **key_args(server))
    assert info.value.hostname == server.host
    assert info.value.expected_key.get_base64() in {k.get_base64() for k in impostors}
    assert client.get_transport() is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_known_key_type_is_asked_for(server: SSHD, client: SSHClient, tmp_path: Path, kind: str) -> None:
    """Only the server's ecdsa (or rsa) key is known: we must negotiate that
    type (not the default ed25519) and accept the server."""
    known = tmp_path / "known_hosts"
    known.write_text(f"[{server.host}]:{server.port} {server.host_key_line(kind)}\n")
    client.load_host_keys(known)
    client.connect(server.host, **key_args(server))
    transport = client.get_transport()
    assert transport is not None
    assert transport.get_remote_server_key().get_name() == server.host_key_line(kind).split()[0]


@pytest.mark.timeout(60)
def test_wrong_key_fails_authentication(server: SSHD, client: SSHClient, tmp_path: Path) -> None:
    stranger = tmp_path / "id_stranger"
    Ed25519Key.generate().write_private_key_file(stranger)
    client.load_host_keys(server.known_hosts)
    with pytest.raises(AuthenticationException):
        client.connect(server.host, **{**key_args(server), "key_filename": str(stranger)})
    assert client.get_transport() is None


@pytest.mark.timeout(60)
def test_nothing_to_authenticate_with(server: SSHD, client: SSHClient) -> None:
    client.load_host_keys(server.known_hosts)
    with pytest.raises(SSHException, match="No authentication methods"):
        client.connect(server.host, **{**key_args(server), "key_filename": None})


@pytest.mark.timeout(60)
def test_second_key_is_tried_after_a_refused_one(server: SSHD, client: SSHClient, tmp_path: Path) -> None:
    stranger = tmp_path / "id_stranger"
    Ed25519Key.generate().write_private_key_file(stranger)
    connected(client, server, key_filename=[str(stranger), str(server.client_keys["ecdsa"])])
    assert client.exec_command("true")[1].channel.recv_exit_status() == 0


@pytest.mark.timeout(60)
def test_encrypted_key_file_with_passphrase(server: SSHD, client: SSHClient, tmp_path: Path) -> None:
    key = load_private_key_file(server.client_keys["ed25519"])
    locked = tmp_path / "id_locked"
    key.write_private_key_file(locked, password="s3cret")
    connected(client, server, key_filename=str(locked), passphrase="s3cret")
    assert client.exec_command("true")[1].channel.recv_exit_status() == 0


@pytest.mark.timeout(60)
def test_look_for_keys_finds_dot_ssh_identity(
    server: SSHD, client: SSHClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    target = home / ".ssh" / "id_ed25519"
    target.write_bytes(server.client_keys["ed25519"].read_bytes())
    target.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    connected(client, server, key_filename=None, look_for_keys=True)
    assert client.exec_command("true")[1].channel.recv_exit_status() == 0


@pytest.mark.timeout(60)
def test_agent_keys_are_used(server: SSHD, client: SSHClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = need_program("ssh-agent")
    ssh_add = need_program("ssh-add")
    sock_path = tmp_path / "agent.sock"
    proc = subprocess.Popen([agent, "-D", "-a", str(sock_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock_path)}
        subprocess.run([ssh_add, str(server.client_keys["rsa"])], env=env, check=True, timeout=20, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock_path))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
        connected(client, server, key_filename=None, allow_agent=True, look_for_keys=True)
        assert client.exec_command("true")[1].channel.recv_exit_status() == 0
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.timeout(60)
def test_connect_through_proxy_command(server: SSHD, client: SSHClient) -> None:
    proxy = ProxyCommand(shlex.join([sys.executable, "-c", RELAY, server.host, str(server.port)]))
    try:
        connected(client, server, sock=proxy)
        _, stdout, _ = client.exec_command("echo via-proxy")
        assert stdout.read() == b"via-proxy\n"
        client.close()
    finally:
        proxy.close()


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """A TCP server that accepts connections and never says anything."""
    listener = socket.create_server(("127.0.0.1", 0))
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        thread.join(5)
        for c in conns:
            c.close()
        listener.close()


@pytest.mark.timeout(60)
def test_silent_server_times_out(silent_server: tuple[str, int], client: SSHClient) -> None:
    pytest.importorskip("ssh_transport.transport", reason="ssh_transport.transport is not written yet")
    host, port = silent_server
    start = time.monotonic()
    with pytest.raises((SSHException, socket.timeout)):
        client.connect(host, port, timeout=1, banner_timeout=1, allow_agent=False, look_for_keys=False)
    assert time.monotonic() - start < 20
    assert client.get_transport() is None


@pytest.mark.timeout(60)
def test_open_sftp(server: SSHD, client: SSHClient) -> None:
    pytest.importorskip("ssh_sftp.client", reason="ssh_sftp is not written yet")
    connected(client, server)
    sftp = client.open_sftp()
    try:
        assert "." not in sftp.listdir("/")
        assert sftp.stat("/").st_mode is not None
    finally:
        sftp.close()


@pytest.mark.timeout(60)
def test_password_refused_by_server_reports_allowed_methods(server: SSHD, client: SSHClient) -> None:
    client.load_host_keys(server.known_hosts)
    with pytest.raises(AuthenticationException) as info:
        client.connect(server.host, **{**key_args(server), "key_filename": None, "password": "wrong"})
    assert "publickey" in getattr(info.value, "allowed_types", [])


@pytest.mark.timeout(60)
def test_disabled_algorithms_and_compression(server: SSHD, client: SSHClient) -> None:
    connected(client, server, disabled_algorithms={"keys": ["ssh-ed25519"]}, compress=True)
    transport = client.get_transport()
    assert transport is not None
    assert transport.get_remote_server_key().get_name() != "ssh-ed25519"
    _, stdout, _ = client.exec_command("head -c 100000 /dev/zero")
    assert stdout.read() == bytes(100_000)
