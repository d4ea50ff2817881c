"""The asyncio driver against itself: ``ssh_transport.aio.listen`` served to
``ssh_transport.aio.connect`` over loopback TCP. Auth (sync and awaitable
hooks), exec/shell/subsystem handlers, env, flow control, many sessions,
cancellation, timeouts, forwarding both ways, and bad input that must close
one connection while the server keeps serving."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from typing import Any

import pytest

import ssh_keys
from ssh_transport import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
    AuthenticationException,
    InteractiveQuery,
    ServerInterface,
    aio,
)
from ssh_wire import BadHostKeyException, SSHException
from support.aio_run import arun
from support.aio_servers import connect_local, listen_local
from support.silent_peer import silent_listener

pytestmark = pytest.mark.timeout(120)

HOST_KEY = ssh_keys.Ed25519Key.generate()
USER_KEY = ssh_keys.Ed25519Key.generate()
OTHER_KEY = ssh_keys.Ed25519Key.generate()


class Policy(ServerInterface):
    """Password "pw" or USER_KEY for user "u"; exec, shell, env, pty and
    subsystems allowed; forwarding allowed."""

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if (username, password) == ("u", "pw") else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        return AUTH_SUCCESSFUL if username == "u" and key.asbytes() == USER_KEY.asbytes() else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        return not command.startswith(b"forbidden")

    def check_channel_shell_request(self, channel: Any) -> bool:
        return True

    def check_channel_env_request(self, channel: Any, name: bytes, value: bytes) -> bool:
        return name.startswith(b"TEST_")

    def check_channel_pty_request(self, channel: Any, *args: Any) -> bool:
        return True

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any) -> int:
        return OPEN_SUCCEEDED

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        return True


class AsyncPolicy(Policy):
    """The same policy with awaitable hooks."""

    async def check_auth_password(self, username: str, password: str) -> int:  # type: ignore[override]
        await asyncio.sleep(0.01)
        return super().check_auth_password(username, password)

    async def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().check_channel_exec_request(channel, command)


async def handler(proc: aio.SSHServerProcess) -> int:
    """A tiny shell: "echo X", "cat", "env NAME", "exit N", "err X",
    "sink" (read all, print the count), "source N" (write N bytes), "sleep"."""
    cmd = proc.command
    if cmd is None:
        # a shell: run each line as a command
        async for line in proc.stdin:
            proc.stdout.write(b"> " + line)
            await proc.stdout.drain()
        return 0
    word, _, arg = cmd.partition(" ")
    if word == "echo":
        proc.stdout.write(arg.encode() + b"\n")
    elif word == "err":
        proc.stderr.write(arg.encode() + b"\n")
        return 2
    elif word == "cat":
        while True:
            data = await proc.stdin.read(65536)
            if not data:
                break
            proc.stdout.write(data)
            await proc.stdout.drain()
    elif word == "env":
        proc.stdout.write(proc.env.get(arg, "-").encode())
    elif word == "term":
        proc.stdout.write(f"{proc.term_type} {proc.term_size[0]}x{proc.term_size[1]}".encode())
    elif word == "exit":
        proc.exit(int(arg))
    elif word == "sink":
        n = len(await proc.stdin.read())
        proc.stdout.write(str(n).encode())
    elif word == "source":
        left = int(arg)
        block = bytes(range(256)) * 256
        while left:
            chunk = block[: min(left, len(block))]
            proc.stdout.write(chunk)
            left -= len(chunk)
            await proc.stdout.drain()
    elif word == "sleep":
        await asyncio.sleep(3600)
    return 0


async def upper(proc: aio.SSHServerProcess) -> None:
    """Subsystem "upper": echo stdin upper-cased."""
    while True:
        data = await proc.stdin.read(4096)
        if not data:
            return
        proc.stdout.write(data.upper())
        await proc.stdout.drain()


async def serve(policy: type[ServerInterface] = Policy, **kw: Any) -> aio.SSHServer:
    return await listen_local(policy, handler, host_keys=[HOST_KEY], subsystems={"upper": upper}, **kw)


def client(server: aio.SSHServer, **kw: Any) -> Any:
    """User "u" with password "pw" (``kw`` overrides), checking HOST_KEY."""
    return connect_local(server.port, HOST_KEY, **{"username": "u", "password": "pw", **kw})


def test_password_exec_stdout_stderr_status() -> None:
    async def main() -> None:
        async with await serve() as server, client(server) as conn:
            r = await conn.run("echo hello")
            assert (r.stdout, r.stderr, r.exit_status) == ("hello\n", "", 0)
            r = await conn.run("err oops")
            assert (r.stdout, r.stderr, r.exit_status) == ("", "oops\n", 2)
            r = await conn.run("exit 7")
            assert r.exit_status == 7
            with pytest.raises(aio.ProcessError) as info:
                await conn.run("exit 5", check=True)
            assert info.value.result.exit_status == 5
            r = await conn.run("cat", input=b"\x00\xffbinary", encoding=None)
            assert r.stdout == b"\x00\xffbinary"
            with pytest.raises(SSHException, match="refused"):
                await conn.run("forbidden thing")
            assert conn.get_extra_info("username") == "u"

    arun(main())


def test_publickey_and_async_hooks() -> None:
    async def main() -> None:
        async with await serve(AsyncPolicy) as server:
            async with client(server, password=None, pkey=USER_KEY) as conn:
                assert (await conn.run("echo k")).stdout == "k\n"
            async with client(server) as conn:  # awaitable password + exec hooks
                assert (await conn.run("echo a")).stdout == "a\n"
                with pytest.raises(SSHException):
                    await conn.run("forbidden")
            with pytest.raises(AuthenticationException):
                await client(server, password="wrong")
            with pytest.raises(AuthenticationException):
                await client(server, password=None, pkey=OTHER_KEY)

    arun(main())


def test_host_key_checking() -> None:
    async def main() -> None:
        async with await serve() as server:
            with pytest.raises(aio.HostKeyNotVerifiable):
                await client(server, known_hosts=ssh_keys.HostKeys())
            wrong = ssh_keys.HostKeys()
            wrong.add(f"[127.0.0.1]:{server.port}", OTHER_KEY.get_name(), OTHER_KEY)
            with pytest.raises(BadHostKeyException):
                await client(server, known_hosts=wrong)
            async with client(server, known_hosts=None) as conn:  # None: not checked
                assert (await conn.run("echo x")).stdout == "x\n"

    arun(main())


def test_process_streaming_env_pty_shell_subsystem() -> None:
    async def main() -> None:
        async with await serve() as server, client(server) as conn:
            proc = await conn.create_process("cat")
            for i in range(50):
                line = f"line {i}\n".encode()
                proc.stdin.write(line)
                await proc.stdin.drain()
                assert await proc.stdout.readline() == line
            proc.stdin.write(b"tail")
            proc.stdin.write_eof()
            assert await proc.stdout.readexactly(4) == b"tail"
            assert await proc.stdout.read() == b""
            assert proc.stdout.at_eof()
            assert await proc.wait(timeout=10) == 0

            proc = await conn.create_process("env TEST_X", env={"TEST_X": "val", "OTHER": "no"})
            assert await proc.stdout.read() == b"val"
            proc = await conn.create_process("env OTHER", env={"OTHER": "no"})
            assert await proc.stdout.read() == b"-"
            proc = await conn.create_process("term", term_type="xterm", term_size=(100, 40))
            assert await proc.stdout.read() == b"xterm 100x40"

            proc = await conn.create_process()  # shell
            proc.stdin.write(b"one\ntwo\n")
            proc.stdin.write_eof()
            assert await proc.stdout.read() == b"> one\n> two\n"
            await proc.wait()

            sub = await conn.start_subsystem("upper")
            sub.stdin.write(b"abc")
            await sub.stdin.drain()
            assert await sub.stdout.read(10) == b"ABC"
            sub.close()
            await sub.wait_closed()
            with pytest.raises(SSHException):
                await conn.start_subsystem("nope")

    arun(main())


def test_bulk_both_ways_with_rekeys_and_bounded_buffering() -> None:
    size = 16 * 1024 * 1024
    data = os.urandom(1024 * 1024)

    async def main() -> None:
        async with await serve(rekey_bytes=1 << 20) as server, client(server, rekey_bytes=1 << 20) as conn:
            proc = await conn.create_process("sink")
            for _ in range(size // len(data)):
                proc.stdin.write(data)
                await proc.stdin.drain()
            proc.stdin.write_eof()
            assert await proc.stdout.read() == str(size).encode()
            proc = await conn.create_process(f"source {size}")
            got = 0
            expected = bytes(range(256)) * (size // 256)
            while True:
                chunk = await proc.stdout.read(1 << 20)
                if not chunk:
                    break
                assert chunk == expected[got : got + len(chunk)]
                got += len(chunk)
            assert got == size
            # a reader that does not read: the server's writes stall at the window
            proc = await conn.create_process(f"source {size}")
            await asyncio.sleep(0.3)
            buffered = proc.stdout._size
            assert buffered <= conn.window_size
            server_conn = next(iter(server.connections))
            (sch,) = server_conn.open_channels()  # the first process's channel is gone
            assert sch._out_size > 0  # the rest waits on the server side, bounded by drain
            proc.close()
            await proc.wait_closed()

    arun(main(), 120)


def test_many_sessions_and_connections() -> None:
    async def one(conn: aio.SSHClientConnection, i: int) -> None:
        payload = os.urandom(1000 + i) + str(i).encode()
        r = await conn.run("cat", input=payload, encoding=None)
        assert r.stdout == payload and r.exit_status == 0

    async def main() -> None:
        async with await serve() as server:
            async with client(server) as conn:
                await asyncio.gather(*(one(conn, i) for i in range(200)))
            conns = await asyncio.gather(*(client(server) for _ in range(20)))
            try:
                await asyncio.gather(*(one(c, i) for i, c in enumerate(conns)))
            finally:
                for c in conns:
                    c.close()
                await asyncio.gather(*(c.wait_closed() for c in conns))

    arun(main(), 120)


def test_timeouts_and_cancellation() -> None:
    async def main() -> None:
        async with await serve() as server, client(server) as conn:
            with pytest.raises(aio.ProcessTimeout):
                await conn.run("sleep", timeout=0.2)
            with pytest.raises(TimeoutError):
                await conn.run("sleep", timeout=0.2)
            task = asyncio.ensure_future(conn.run("sleep"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # cancelled mid-transfer: the channel is closed, the connection still works
            proc = await conn.create_process("source 100000000")
            reader = asyncio.ensure_future(proc.stdout.read())
            await asyncio.sleep(0.1)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            proc.close()
            await proc.wait_closed()
            proc = await conn.create_process("sleep")
            with pytest.raises(aio.ProcessTimeout):
                await proc.wait(timeout=0.1)
            proc.close()
            assert (await conn.run("echo still")).stdout == "still\n"
            for _ in range(10):
                await asyncio.sleep(0)
            assert not any(t for c in server.connections for t in c._tasks if not t.done())

    arun(main())


def test_silent_peer_timeouts() -> None:
    async def main() -> None:
        with silent_listener() as (host, port):
            with pytest.raises(aio.SSHTimeout):
                await aio.connect(host, port, username="u", known_hosts=None, banner_timeout=0.3, allow_agent=False)
        with silent_listener(b"SSH-2.0-silent\r\n") as (host, port):
            with pytest.raises(aio.SSHTimeout):
                await aio.connect(host, port, username="u", known_hosts=None, handshake_timeout=0.3, allow_agent=False)

    arun(main())


def test_closing_wakes_every_waiter() -> None:
    async def main() -> None:
        async with await serve() as server:
            conn = await client(server)
            proc = await conn.create_process("sleep")
            reader = asyncio.ensure_future(proc.stdout.read())
            waiter = asyncio.ensure_future(proc.wait())
            await asyncio.sleep(0.05)
            # the server side goes away
            for c in list(server.connections):
                c.close()
            with pytest.raises(aio.ConnectionLost):
                await reader
            await waiter  # returns (no exit status) once the connection is gone
            assert proc.exit_status is None
            with pytest.raises(aio.ConnectionLost):
                await conn.run("echo x")
            await conn.wait_closed()
            assert conn.is_closed

    arun(main())


def test_forwarding_both_ways() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def roundtrip(port: int, payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        writer.write_eof()
        got = await reader.read()
        writer.close()
        await writer.wait_closed()
        return got

    async def main() -> None:
        target = await asyncio.start_server(echo, "127.0.0.1", 0)
        tport = target.sockets[0].getsockname()[1]
        try:
            async with await serve() as server, client(server) as conn:
                r, w = await conn.open_connection("127.0.0.1", tport)
                w.write(b"direct")
                w.write_eof()
                assert await r.read() == b"direct"
                async with await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", tport) as fwd:
                    payloads = [os.urandom(300000) for _ in range(5)]
                    got = await asyncio.gather(*(roundtrip(fwd.port, p) for p in payloads))
                    assert got == payloads
                remote = await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", tport)
                assert remote.port > 0
                assert await roundtrip(remote.port, b"remote" * 10000) == b"remote" * 10000
                remote.close()
                # a refused destination
                with pytest.raises(aio.ChannelOpenError):
                    await conn.open_connection("127.0.0.1", _closed_port())
        finally:
            target.close()
            await target.wait_closed()

    arun(main())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` as a client would and return what the server said
    until it hung up (a reset after our unread data counts as hanging up)."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        # the server speaks first: take its identification line before the
        # junk, since a reset after it can discard what was not read yet
        while b"\n" not in out and (chunk := s.recv(256)):
            out += chunk
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                out += chunk
        except OSError:  # reset, or already shut down by the server
            pass
    return out


@pytest.mark.parametrize(
    "junk",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"SSH-2.0-x\r\n" + os.urandom(5000),
        b"SSH-2.0-x\r\n" + struct.pack(">I", 0x7FFFFFF0) + b"\x04" + b"\x00" * 60,
        b"SSH-2.0-x\r\n" + struct.pack(">I", 100) + b"\x04\x14",
        b"SSH-2.0-x\r\n" + b"\x00" * 16,
        b"SSH-1.5-old\r\n",
    ],
)
def test_bad_input_closes_connection_server_keeps_serving(junk: bytes) -> None:
    async def main() -> None:
        async with await serve() as server:
            out = await asyncio.get_running_loop().run_in_executor(None, _raw, server.port, junk)
            assert out.startswith(b"SSH-2.0-")
            for _ in range(100):
                if not server.connections:
                    break
                await asyncio.sleep(0.01)
            assert not server.connections
            async with client(server) as conn:
                assert (await conn.run("echo ok")).stdout == "ok\n"

    arun(main())


def test_login_timeout_drops_idle_client() -> None:
    async def main() -> None:
        async with await serve(login_timeout=0.2) as server:
            out = await asyncio.get_running_loop().run_in_executor(None, _raw_idle, server.port)
            assert out.startswith(b"SSH-2.0-")

    arun(main())


def _raw_idle(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


class InteractivePolicy(Policy):
    """Only keyboard-interactive: one password prompt (the client's password fallback)."""

    def get_allowed_auths(self, username: str) -> str:
        return "keyboard-interactive"

    def check_auth_interactive(self, username: str, submethods: str) -> Any:
        return InteractiveQuery("login", "", ("Password: ", False))

    async def check_auth_interactive_response(self, responses: list[str]) -> int:  # type: ignore[override]
        return AUTH_SUCCESSFUL if responses == ["pw"] else AUTH_FAILED


def test_password_falls_back_to_keyboard_interactive() -> None:
    async def main() -> None:
        async with await serve(InteractivePolicy) as server:
            async with client(server) as conn:
                assert (await conn.run("echo kbd")).stdout == "kbd\n"
            with pytest.raises(AuthenticationException):
                await client(server, password="nope")

    arun(main())


def test_cancel_while_opening_and_while_server_decides() -> None:
    gate: asyncio.Event | None = None

    class SlowPolicy(Policy):
        async def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:  # type: ignore[override]
            assert gate is not None
            await gate.wait()
            return True

    async def main() -> None:
        nonlocal gate
        gate = asyncio.Event()
        async with await serve(SlowPolicy) as server, client(server) as conn:
            task = asyncio.ensure_future(conn.run("echo never"))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            gate.set()
            assert (await conn.run("echo after")).stdout == "after\n"
            opening = asyncio.ensure_future(conn.create_process("echo x"))
            await asyncio.sleep(0)
            opening.cancel()
            with pytest.raises(asyncio.CancelledError):
                await opening
            assert (await conn.run("echo again")).stdout == "again\n"
        # the server was closed while a connection's hooks might still be pending
        async with await serve(SlowPolicy) as server:
            gate = asyncio.Event()
            conn = await client(server)
            pending = asyncio.ensure_future(conn.run("echo stuck"))
            await asyncio.sleep(0.05)
            server.close()
            with pytest.raises(aio.ConnectionLost):
                await pending
            await conn.wait_closed()

    arun(main())


def test_auth_timeout_when_the_server_never_answers() -> None:
    class Stuck(Policy):
        async def check_auth_password(self, username: str, password: str) -> int:  # type: ignore[override]
            await asyncio.Event().wait()
            return AUTH_FAILED

    async def main() -> None:
        async with await serve(Stuck) as server:
            with pytest.raises(AuthenticationException, match="timeout"):
                await client(server, auth_timeout=0.2)

    arun(main())


def test_server_hanging_up_during_auth_ends_the_wait() -> None:
    """A server that closes while the client waits for its answer to a login
    attempt: ``connect`` fails with ``ConnectionLost`` at once, not after the
    auth timeout (none here: without the fix this waits forever). Found by
    the ``aio_client`` fuzz target."""
    asked = asyncio.Event()

    class HangsUp(Policy):
        async def check_auth_password(self, username: str, password: str) -> int:  # type: ignore[override]
            asked.set()
            await asyncio.Event().wait()
            return AUTH_FAILED

    async def main() -> None:
        async with await serve(HangsUp) as server:
            attempt = asyncio.ensure_future(client(server, auth_timeout=None))
            await asked.wait()
            server.close()
            with pytest.raises(aio.ConnectionLost):
                await attempt

    arun(main())
