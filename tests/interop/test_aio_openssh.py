"""The asyncio driver against OpenSSH: ``aio.connect`` to the private sshd
fixture (commands, streaming, key types, host key checking, algorithm rows,
hundreds of sessions, bulk with forced rekeys, timeouts, cancellation,
forwarding both ways, the sftp subsystem) and ``aio.listen`` driven by
OpenSSH's ``ssh`` (exec, stdin/stdout, exit status, pty-less shell, env,
subsystem, ``-W`` stdio forwarding)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from paramiko import aio as paramiko_aio
from ssh_transport import OPEN_SUCCEEDED, AuthenticationException, aio
from ssh_transport.protocol.negotiation import AlgorithmPreferences
from ssh_wire import BadHostKeyException
from support.aio_run import arun
from support.aio_servers import KeyServer, connect_sshd, listen_local
from support.peers import missing_peer
from support.sshd import SSHD, keygen

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

# OpenSSH 9.2 has no ML-KEM: that kex is tested ours-vs-ours.
PREFS = AlgorithmPreferences()
KEX_ROWS = [k for k in PREFS.kex if not k.startswith("mlkem")]
CIPHER_ROWS = list(PREFS.ciphers)
HOST_KEY_ROWS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]


def only(category: str, keep: str) -> dict[str, list[str]]:
    """``disabled_algorithms`` that leaves just ``keep`` in ``category``."""
    attr = {"kex": "kex", "ciphers": "ciphers", "keys": "key_types"}[category]
    return {category: [a for a in AlgorithmPreferences.known(attr) if a != keep]}


# -- the client against sshd ----------------------------------------------------


def test_run_status_stderr_input(sshd: SSHD) -> None:
    async def main() -> None:
        async with connect_sshd(sshd) as conn:
            r = await conn.run("echo out; echo err >&2; exit 3")
            assert (r.stdout, r.stderr, r.exit_status) == ("out\n", "err\n", 3)
            payload = os.urandom(300_000)
            r = await conn.run("cat", input=payload, encoding=None)
            assert r.stdout == payload and r.exit_status == 0
            with pytest.raises(aio.ProcessError):
                await conn.run("false", check=True)
            r = await conn.run("kill -TERM $$")
            assert r.exit_status is None and r.exit_signal is not None and r.exit_signal[0] == "TERM"

    arun(main())


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_client_key_types(sshd: SSHD, kind: str) -> None:
    async def main() -> None:
        async with connect_sshd(sshd, kind) as conn:
            assert (await conn.run("echo $USER")).stdout.strip() == sshd.user

    arun(main())


def test_unknown_and_wrong_host_key_refused(sshd: SSHD, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    wrong = tmp_path / "wrong_known_hosts"
    other = ssh_keys.Ed25519Key.generate()
    wrong.write_text(f"[{sshd.host}]:{sshd.port} {other.get_name()} {other.get_base64()}\n")

    async def main() -> None:
        with pytest.raises(aio.HostKeyNotVerifiable):
            await connect_sshd(sshd, known_hosts=str(empty))
        with pytest.raises(BadHostKeyException):
            await connect_sshd(sshd, known_hosts=str(wrong))
        async with connect_sshd(sshd, known_hosts=None) as conn:
            assert (await conn.run("true")).exit_status == 0

    arun(main())
    assert "Accepted publickey" in sshd.log()


@pytest.mark.parametrize(
    ("category", "name"),
    [("kex", k) for k in KEX_ROWS] + [("ciphers", c) for c in CIPHER_ROWS] + [("keys", h) for h in HOST_KEY_ROWS],
)
def test_algorithm_rows(sshd: SSHD, category: str, name: str) -> None:
    async def main() -> None:
        async with connect_sshd(sshd, disabled_algorithms=only(category, name)) as conn:
            if category == "ciphers":
                assert conn.get_extra_info("cipher") == name
            if category == "keys":
                assert conn.host_key_algorithm == name
            payload = os.urandom(100_000)
            r = await conn.run("cat", input=payload, encoding=None)
            assert r.stdout == payload

    arun(main())


def test_process_streaming_and_sftp_subsystem(sshd: SSHD) -> None:
    async def main() -> None:
        async with connect_sshd(sshd) as conn:
            proc = await conn.create_process("cat; echo done >&2")
            for i in range(100):
                line = f"{i} {'x' * i}\n".encode()
                proc.stdin.write(line)
                await proc.stdin.drain()
                assert await proc.stdout.readline() == line
            proc.stdin.write_eof()
            assert await proc.stdout.read() == b""
            assert await proc.stderr.read() == b"done\n"
            assert await proc.wait(timeout=20) == 0

            sftp = await conn.start_subsystem("sftp")
            sftp.stdin.write(struct.pack(">IBI", 5, 1, 3))  # SSH_FXP_INIT, version 3
            await sftp.stdin.drain()
            length = struct.unpack(">I", await sftp.stdout.readexactly(4))[0]
            reply = await sftp.stdout.readexactly(length)
            assert reply[0] == 2 and struct.unpack(">I", reply[1:5])[0] == 3  # SSH_FXP_VERSION 3
            sftp.close()
            await sftp.wait_closed()

    arun(main())


def test_200_sessions_and_20_connections(sshd: SSHD) -> None:
    async def one(conn: Any, i: int) -> None:
        payload = f"session {i} ".encode() + os.urandom(2000)
        r = await conn.run("cat", input=payload, encoding=None)
        assert r.stdout == payload and r.exit_status == 0

    async def main() -> None:
        async with connect_sshd(sshd) as conn:
            await asyncio.gather(*(one(conn, i) for i in range(200)))
        conns = await asyncio.gather(*(connect_sshd(sshd) for _ in range(20)))
        try:
            await asyncio.gather(*(one(c, i) for i, c in enumerate(conns)))
        finally:
            for c in conns:
                c.close()
            await asyncio.gather(*(c.wait_closed() for c in conns))

    arun(main(), 170)


@pytest.mark.slow
@pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"])
def test_256mib_each_way_with_rekeys(sshd: SSHD, tmp_path: Path, cipher: str) -> None:
    size = 256 * 1024 * 1024
    every = 32 << 20  # rekey every 32 MiB: 16 rekeys each way
    src = tmp_path / "src.bin"
    with open(src, "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    dst = tmp_path / "dst.bin"

    async def main() -> None:
        async with connect_sshd(sshd, disabled_algorithms=only("ciphers", cipher), rekey_bytes=every) as conn:
            proc = await conn.create_process(f"cat > {dst}")
            with open(src, "rb") as f:
                while block := f.read(1 << 20):
                    proc.stdin.write(block)
                    await proc.stdin.drain()
            proc.stdin.write_eof()
            assert await proc.wait(timeout=120) == 0
            h = hashlib.sha256()
            proc = await conn.create_process(f"cat {src}")
            got = 0
            while chunk := await proc.stdout.read(1 << 20):
                h.update(chunk)
                got += len(chunk)
            assert await proc.wait(timeout=60) == 0
            assert got == size and h.hexdigest() == want
            assert conn.kex_count >= 1 + 2 * size // every - 2  # rekeyed all along

    arun(main(), 170)
    assert hashlib.sha256(dst.read_bytes()).hexdigest() == want


def test_timeout_and_cancellation_mid_transfer(sshd: SSHD) -> None:
    async def main() -> None:
        async with connect_sshd(sshd) as conn:
            with pytest.raises(aio.ProcessTimeout):
                await conn.run("sleep 30", timeout=0.5)
            proc = await conn.create_process("cat /dev/zero")

            async def drink() -> None:
                while await proc.stdout.read(1 << 16):
                    pass

            task = asyncio.ensure_future(drink())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            proc.close()
            await proc.wait_closed()
            run = asyncio.ensure_future(conn.run("cat /dev/zero", encoding=None))
            await asyncio.sleep(0.3)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            assert (await conn.run("echo alive")).stdout == "alive\n"
            assert all(ch.closing for ch in conn.open_channels())

    arun(main())


async def _echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def _roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    writer.write_eof()
    got = await reader.read()
    writer.close()
    await writer.wait_closed()
    return got


def test_forwarding_local_and_remote(sshd: SSHD) -> None:
    async def main() -> None:
        target = await _echo_server()
        tport = target.sockets[0].getsockname()[1]
        try:
            async with connect_sshd(sshd) as conn:
                r, w = await conn.open_connection("127.0.0.1", tport)
                w.write(b"via direct-tcpip")
                w.write_eof()
                assert await r.read() == b"via direct-tcpip"
                async with await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", tport) as fwd:
                    payloads = [os.urandom(500_000) for _ in range(4)]
                    assert await asyncio.gather(*(_roundtrip(fwd.port, p) for p in payloads)) == payloads
                remote = await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", tport)
                payloads = [os.urandom(200_000) for _ in range(3)]
                assert await asyncio.gather(*(_roundtrip(remote.port, p) for p in payloads)) == payloads
                remote.close()
                with pytest.raises(aio.ChannelOpenError):
                    await conn.open_connection("127.0.0.1", 1)
        finally:
            target.close()
            await target.wait_closed()

    arun(main())


# -- the server driven by OpenSSH's ssh -------------------------------------------


class KeyPolicy(KeyServer):
    """One key logs in; exec, shell, env and direct-tcpip are allowed."""

    def check_channel_shell_request(self, channel: Any) -> bool:
        return True

    def check_channel_env_request(self, channel: Any, name: bytes, value: bytes) -> bool:
        return True

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any) -> int:
        return OPEN_SUCCEEDED


async def shell(proc: aio.SSHServerProcess) -> int:
    if proc.command is None:
        proc.stdout.write(f"shell pty={proc.term_type}\n".encode())
        async for line in proc.stdin:
            proc.stdout.write(line.upper())
        return 0
    word, _, arg = proc.command.partition(" ")
    if word == "cat":
        while data := await proc.stdin.read(1 << 16):
            proc.stdout.write(data)
            await proc.stdout.drain()
        return 0
    if word == "env":
        proc.stdout.write(f"{proc.env.get(arg)}\n".encode())
        return 0
    if word == "fail":
        proc.stderr.write(b"failing\n")
        return int(arg)
    return 127


async def rot13(proc: aio.SSHServerProcess) -> None:
    table = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"nopqrstuvwxyzabcdefghijklm")
    while data := await proc.stdin.read(4096):
        proc.stdout.write(data.translate(table))


@pytest.fixture(scope="module")
def ssh_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Path]:
    """(client key path, host key, known_hosts path) for OpenSSH's ssh."""
    if shutil.which("ssh") is None:
        missing_peer("OpenSSH ssh is not installed")
    d = tmp_path_factory.mktemp("aio-server")
    client_key = keygen(d / "client", "ed25519")
    return client_key, ssh_keys.Ed25519Key.generate(), d / "known_hosts"


async def _ssh(setup: tuple[Path, Any, Path], port: int, *args: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    client_key, host_key, known = setup
    known.write_text(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
    proc = await asyncio.create_subprocess_exec(
        "ssh",
        "-F",
        "/dev/null",
        "-p",
        str(port),
        "-i",
        str(client_key),
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out, err


def test_server_driven_by_openssh(ssh_client: tuple[Path, Any, Path]) -> None:
    client_key, host_key, _known = ssh_client
    allowed = ssh_keys.PKey.from_private_key_file(str(client_key))

    async def main() -> None:
        target = await _echo_server()
        tport = target.sockets[0].getsockname()[1]
        server = await listen_local(
            lambda: KeyPolicy(allowed), shell, host_keys=[host_key], subsystems={"rot13": rot13}
        )
        try:
            port = server.port
            payload = os.urandom(2_000_000)
            code, out, err = await _ssh(ssh_client, port, "u@127.0.0.1", "cat", stdin=payload)
            assert (code, out == payload) == (0, True), err
            code, out, err = await _ssh(ssh_client, port, "u@127.0.0.1", "fail 42")
            assert (code, out, err) == (42, b"", b"failing\n")
            code, out, err = await _ssh(ssh_client, port, "-o", "SetEnv=TEST_A=hello", "u@127.0.0.1", "env TEST_A")
            assert (code, out) == (0, b"hello\n"), err
            code, out, err = await _ssh(ssh_client, port, "-T", "u@127.0.0.1", stdin=b"one\ntwo\n")
            assert (code, out) == (0, b"shell pty=None\nONE\nTWO\n"), err
            code, out, err = await _ssh(ssh_client, port, "-s", "u@127.0.0.1", "rot13", stdin=b"hello")
            assert (code, out) == (0, b"uryyb"), err
            code, out, err = await _ssh(ssh_client, port, "-W", f"127.0.0.1:{tport}", "u@127.0.0.1", stdin=b"stdio fwd")
            assert (code, out) == (0, b"stdio fwd"), err
            # a key the policy does not know is refused
            other = ssh_client[0].parent / "other"
            keygen(other, "ed25519")
            code, out, err = await _ssh((other, host_key, ssh_client[2]), port, "u@127.0.0.1", "cat")
            assert code == 255 and b"Permission denied" in err
        finally:
            server.close()
            await server.wait_closed()
            target.close()
            await target.wait_closed()

    arun(main())


def test_server_many_openssh_clients(ssh_client: tuple[Path, Any, Path]) -> None:
    client_key, host_key, _known = ssh_client
    allowed = ssh_keys.PKey.from_private_key_file(str(client_key))

    async def main() -> None:
        async with await listen_local(lambda: KeyPolicy(allowed), shell, host_keys=[host_key]) as server:
            results = await asyncio.gather(
                *(_ssh(ssh_client, server.port, "u@127.0.0.1", "cat", stdin=str(i).encode() * 1000) for i in range(10))
            )
            assert [(r[0], r[1]) for r in results] == [(0, str(i).encode() * 1000) for i in range(10)]

    arun(main())


def _agent_peer() -> Any:
    """tests/agent/agent_peer.py (ssh-agent helpers), loaded by path."""
    import importlib.util
    import sys

    if "agent_peer" in sys.modules:
        return sys.modules["agent_peer"]
    path = Path(__file__).resolve().parents[1] / "agent" / "agent_peer.py"
    spec = importlib.util.spec_from_file_location("agent_peer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent_peer"] = module
    spec.loader.exec_module(module)
    return module


def test_agent_keys_sign_in_the_executor(sshd: SSHD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("ssh-agent") is None:
        missing_peer("OpenSSH ssh-agent is not installed")
    peer = _agent_peer()
    keys = {"rsa": peer.keypair_from_file(sshd.client_keys["rsa"], "rsa")}
    with peer.start_agent(tmp_path / "agent", keys) as running:
        monkeypatch.setenv("SSH_AUTH_SOCK", running.sock)

        async def main() -> None:
            # paramiko.aio.connect brings ssh_agent.Agent; the transport layer's needs a factory
            async with paramiko_aio.connect(
                sshd.host,
                sshd.port,
                username=sshd.user,
                known_hosts=str(sshd.known_hosts),
                look_for_keys=False,
            ) as conn:
                assert (await conn.run("echo via agent")).stdout == "via agent\n"
            with pytest.raises(AuthenticationException):
                await connect_sshd(sshd, key_filename=None, allow_agent=True)

        arun(main())
    assert "Accepted publickey" in sshd.log()
