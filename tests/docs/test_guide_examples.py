"""Run the guides' code (docs/examples/*.py, literalinclude'd by docs/guides/)
against a local server, so a guide cannot show code that does not work.

The server is the server guide's own (docs/examples/server.py); the client
recipes also run against OpenSSH's sshd, and OpenSSH's ssh logs in to the
guide's server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import paramiko
from support.peers import need_program
from support.sshd import SSHD

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
USER = "me"
PASSWORD = "s3cret"


def load_example(name: str) -> ModuleType:
    """Import docs/examples/<name>.py under a name that cannot clash."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


client_ex = load_example("client")
server_ex = load_example("server")
keys_ex = load_example("keys")


@dataclass
class GuideServer:
    """The server guide's server on a loopback port, and what a client needs."""

    port: int
    host_key: paramiko.PKey
    client_key_path: str
    known_hosts: str
    root: Path


@pytest.fixture()
def guide_server(tmp_path: Path) -> Iterator[GuideServer]:
    host_key = paramiko.Ed25519Key.generate()
    client_key = paramiko.Ed25519Key.generate()
    client_key_path = str(tmp_path / "id_ed25519")
    client_key.write_private_key_file(client_key_path)
    root = tmp_path / "root"
    root.mkdir()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    args = (listener, host_key, {USER: PASSWORD}, [client_key], str(root))
    thread = threading.Thread(target=server_ex.serve, args=args, daemon=True)
    thread.start()
    try:
        yield GuideServer(port, host_key, client_key_path, str(known_hosts), root)
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes accept(): serve() returns
        listener.close()
        thread.join(5)
        assert not thread.is_alive()


@contextlib.contextmanager
def logged_in(srv: GuideServer) -> Iterator[paramiko.SSHClient]:
    with paramiko.SSHClient() as client:
        client.load_host_keys(srv.known_hosts)
        client.connect("127.0.0.1", port=srv.port, username=USER, key_filename=srv.client_key_path)
        yield client


# ---- client guide ------------------------------------------------------------


def test_run_command_against_the_guide_server(guide_server: GuideServer) -> None:
    g = guide_server
    assert client_ex.run_command("127.0.0.1", g.port, USER, g.client_key_path, g.known_hosts) == ("Linux\n", 0)


def test_run_command_against_openssh(sshd: SSHD) -> None:
    key = str(sshd.client_keys["ed25519"])
    assert client_ex.run_command(sshd.host, sshd.port, sshd.user, key, str(sshd.known_hosts)) == ("Linux\n", 0)


def test_run_command_rejects_an_unknown_host(guide_server: GuideServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client_ex.run_command("127.0.0.1", guide_server.port, USER, guide_server.client_key_path, str(empty))


def test_sftp_round_trip(guide_server: GuideServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = tmp_path / "report.txt"
    local.write_bytes(b"quarterly numbers\n")
    with logged_in(guide_server) as client:
        names = client_ex.sftp_round_trip(client, str(local), "/")
    assert names == ["report.txt"]
    assert (guide_server.root / "report.txt").read_bytes() == b"quarterly numbers\nappended remotely\n"
    assert Path(str(local) + ".back").read_bytes() == b"quarterly numbers\nappended remotely\n"
    assert "No such file" in capsys.readouterr().out


def test_sftp_round_trip_against_openssh(sshd: SSHD, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(os.urandom(100_000))
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    with paramiko.SSHClient() as client:
        client.load_host_keys(str(sshd.known_hosts))
        client.connect(sshd.host, port=sshd.port, username=sshd.user, key_filename=str(sshd.client_keys["ed25519"]))
        assert client_ex.sftp_round_trip(client, str(local), str(remote_dir)) == ["data.bin"]
    assert (remote_dir / "data.bin").read_bytes() == local.read_bytes() + b"appended remotely\n"


def test_trust_on_first_use_saves_then_checks(guide_server: GuideServer, tmp_path: Path) -> None:
    known = str(tmp_path / "tofu_known_hosts")
    fingerprint = client_ex.trust_on_first_use("127.0.0.1", guide_server.port, USER, PASSWORD, known)
    assert fingerprint == guide_server.host_key.fingerprint
    saved = paramiko.HostKeys(known)
    assert saved.check(f"[127.0.0.1]:{guide_server.port}", guide_server.host_key)
    # a second login checks against the saved key, and still gets in
    assert client_ex.trust_on_first_use("127.0.0.1", guide_server.port, USER, PASSWORD, known) == fingerprint
    # a wrong password is refused
    with pytest.raises(paramiko.AuthenticationException):
        client_ex.trust_on_first_use("127.0.0.1", guide_server.port, USER, "wrong", known)


def test_pinned_fingerprint_policy(guide_server: GuideServer) -> None:
    for fingerprint, ok in [(guide_server.host_key.fingerprint, True), ("SHA256:not-this-one", False)]:
        with paramiko.SSHClient() as client:
            client.set_missing_host_key_policy(client_ex.PinnedFingerprint(fingerprint))
            connect = lambda c=client: c.connect(  # noqa: E731
                "127.0.0.1", port=guide_server.port, username=USER, password=PASSWORD
            )
            if ok:
                connect()
                assert client.get_host_keys().lookup(f"[127.0.0.1]:{guide_server.port}") is not None
            else:
                with pytest.raises(paramiko.SSHException, match="unexpected host key"):
                    connect()


def test_ssh_config_with_proxyjump(guide_server: GuideServer, tmp_path: Path) -> None:
    g = guide_server
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host jump target\n"
        f"    HostName 127.0.0.1\n    Port {g.port}\n    User {USER}\n"
        f"    IdentityFile {g.client_key_path}\n    UserKnownHostsFile {g.known_hosts}\n"
        f"Host target\n    ProxyJump jump\n"
    )
    with contextlib.ExitStack() as stack:
        client = client_ex.connect_with_ssh_config("target", str(config), stack)
        transport = client.get_transport()
        assert transport is not None and isinstance(transport.sock, paramiko.Channel)  # through the jump host
        _, stdout, _ = client.exec_command("echo via jump")
        assert stdout.read() == b"via jump\n"


def test_agent_login(guide_server: GuideServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent_prog, add_prog = need_program("ssh-agent"), need_program("ssh-add")
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen([agent_prog, "-D", "-a", sock], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = threading.Event()
        for _ in range(100):  # bounded wait for the socket to appear
            if os.path.exists(sock):
                break
            deadline.wait(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run([add_prog, guide_server.client_key_path], env=env, check=True, capture_output=True, timeout=30)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        names = client_ex.connect_with_agent("127.0.0.1", guide_server.port, USER, guide_server.known_hosts)
        key = paramiko.PKey.from_path(guide_server.client_key_path)
        assert names == [f"ssh-ed25519 {key.fingerprint}"]
    finally:
        proc.terminate()
        proc.wait(10)


# ---- server guide --------------------------------------------------------------


def test_server_exec_reports_stderr_and_exit_status(guide_server: GuideServer) -> None:
    with logged_in(guide_server) as client:
        _, stdout, stderr = client.exec_command("echo out; echo err >&2; exit 3")
        assert stdout.read() == b"out\n"
        assert stderr.read() == b"err\n"
        assert stdout.channel.recv_exit_status() == 3


def test_server_shell(guide_server: GuideServer) -> None:
    with logged_in(guide_server) as client:
        channel = client.invoke_shell()
        channel.settimeout(10)
        channel.sendall(b"hello\nexit\n")
        received = b""
        while not channel.exit_status_ready() or channel.recv_ready():
            data = channel.recv(1024)
            if not data:
                break
            received += data
        assert b"you typed: hello" in received
        assert channel.recv_exit_status() == 0


def test_server_port_forwarding(guide_server: GuideServer) -> None:
    echo = socket.create_server(("127.0.0.1", 0))

    def answer_once() -> None:
        conn, _ = echo.accept()
        with conn:
            conn.sendall(b"echo: " + conn.recv(100))

    threading.Thread(target=answer_once, daemon=True).start()
    try:
        with logged_in(guide_server) as client:
            tunnel = client_ex.open_tunnel(client, "127.0.0.1", echo.getsockname()[1])
            tunnel.settimeout(10)
            tunnel.sendall(b"ping")
            assert tunnel.recv(100) == b"echo: ping"
            tunnel.close()
            # a port nobody listens on is refused when the channel opens
            closed = socket.create_server(("127.0.0.1", 0))
            port = closed.getsockname()[1]
            closed.close()
            with pytest.raises(paramiko.ChannelException):
                client_ex.open_tunnel(client, "127.0.0.1", port)
    finally:
        echo.close()


def test_openssh_client_logs_in_to_the_guide_server(guide_server: GuideServer) -> None:
    ssh = need_program("ssh")
    g = guide_server
    args = ["-F", "/dev/null", "-p", str(g.port), "-i", g.client_key_path, "-o", f"UserKnownHostsFile={g.known_hosts}"]
    args += ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    result = subprocess.run([ssh, *args, f"{USER}@127.0.0.1", "echo hi from ssh"], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"hi from ssh\n"


# ---- keys guide ----------------------------------------------------------------


def test_keys_generate_describe_convert(tmp_path: Path) -> None:
    lines = keys_ex.generate(str(tmp_path), "pw")
    assert [line.split()[0] for line in lines] == ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    assert (tmp_path / "id_rsa").stat().st_mode & 0o777 == 0o600
    assert keys_ex.describe(str(tmp_path / "id_rsa")) == f"{tmp_path / 'id_rsa'}: encrypted, a password is needed"
    assert keys_ex.describe(str(tmp_path / "id_rsa"), "pw").startswith("ssh-rsa 3072 SHA256:")
    keys_ex.convert_to_pem(str(tmp_path / "id_ecdsa"), "pw", str(tmp_path / "id_ecdsa.pem"), "new")
    pem = (tmp_path / "id_ecdsa.pem").read_text()
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----") and "ENCRYPTED" in pem
    original = paramiko.PKey.from_path(tmp_path / "id_ecdsa", password="pw")
    assert paramiko.PKey.from_path(tmp_path / "id_ecdsa.pem", password="new") == original


def test_keys_fingerprints_match_ssh_keygen(tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    keys_ex.generate(str(tmp_path), "pw")
    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        pub = str(tmp_path / f"{name}.pub")
        ours = keys_ex.fingerprints(pub)
        sha = subprocess.run([keygen, "-l", "-f", pub], capture_output=True, text=True, timeout=30, check=True)
        md5 = subprocess.run([keygen, "-l", "-E", "md5", "-f", pub], capture_output=True, text=True, timeout=30)
        assert sha.stdout.split()[1] == ours["sha256"]
        assert md5.stdout.split()[1] == ours["md5"]
        assert ours["md5"] == "MD5:" + ":".join(ours["paramiko"][i : i + 2] for i in range(0, 32, 2))
        # and ssh-keygen reads the encrypted private key we wrote
        derived = subprocess.run(
            [keygen, "-y", "-P", "pw", "-f", str(tmp_path / name)], capture_output=True, text=True, timeout=30
        )
        assert derived.stdout.split()[:2] == Path(pub).read_text().split()[:2]


def test_keys_sign_verify_and_known_hosts(tmp_path: Path) -> None:
    keys_ex.generate(str(tmp_path), "pw")
    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        assert keys_ex.sign_and_verify(str(tmp_path / name), "pw", b"release-1.0.tar.gz")
    known = str(tmp_path / "known_hosts")
    assert keys_ex.remember_host(known, "example.com", 22, str(tmp_path / "id_ed25519.pub"))
    assert keys_ex.remember_host(known, "example.com", 2222, str(tmp_path / "id_ecdsa.pub"))
    entries = Path(known).read_text().splitlines()
    assert [e.split()[0] for e in entries] == ["example.com", "[example.com]:2222"]


def test_keys_certificates_with_ssh_keygen(tmp_path: Path) -> None:
    keygen = need_program("ssh-keygen")
    keys_ex.generate(str(tmp_path), "pw")
    cert = keys_ex.run_a_ca(str(tmp_path), str(tmp_path / "id_ed25519.pub"), "alice")
    assert cert == str(tmp_path / "id_ed25519-cert.pub")
    shown = subprocess.run([keygen, "-L", "-f", cert], capture_output=True, text=True, timeout=30, check=True).stdout
    assert "user certificate" in shown and "alice" in shown and 'Key ID: "alice@example"' in shown
    ca_line = paramiko.PKey.from_path(tmp_path / "ca").get_openssh_line()
    assert keys_ex.check_certificate(cert, ca_line, "alice") == "ok"
    assert keys_ex.check_certificate(cert, ca_line, "bob") != "ok"
    other_ca = paramiko.Ed25519Key.generate().get_openssh_line()
    assert keys_ex.check_certificate(cert, other_ca, "alice") != "ok"
