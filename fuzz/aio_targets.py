"""Fuzz targets through the asyncio driver (``ssh_transport.aio``).

Hostile byte streams reach a real ``asyncio.BufferedProtocol`` pump:

- ``aio_server``: one ``listen`` server, kept for the whole process, on
  loopback. Each input is one client connection: raw bytes after a banner,
  or (after a real key exchange, optionally a real login) fuzzed payloads
  sealed by a client core. The server policy accepts sessions and runs an
  echo handler, so channel data, requests, EOF and close reach the aio
  channel code.
- ``aio_client``: ``connect(sock=...)`` on one end of a socketpair, with
  ``run`` once logged in; a server core on the other end sends raw bytes,
  or fuzzed payloads after a real key exchange (before the login answer or
  after the exec request was accepted).

After the input the harness closes its end. A finding is: an exception
other than ``SSHException`` escaping ``connect``/``run``; anything the aio
logger or the event loop reports with a traceback (a handler or task that
crashed); the connection not closing within ``DEADLINE`` seconds; a task
left pending once it closed; the server not answering a new connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from fuzz_provider import Bytes

import ssh_keys
from ssh_transport import aio
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.constants import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED
from ssh_transport.protocol.core import SSHProtocol
from ssh_transport.server import ServerInterface
from ssh_wire import SSHException

# a hang is a finding: nothing a peer sends may keep a closed connection alive this long
DEADLINE = 10.0
_HOST_KEY = ssh_keys.Ed25519Key.generate()


class Finding(AssertionError):
    """The asyncio driver did something no input may make it do."""


def _payloads(src: Bytes, limit: int = 16) -> list[bytes]:
    out: list[bytes] = []
    while src.remaining() and len(out) < limit:
        out.append(src.chunk())
    return out


def _plain_packet(payload: bytes, block: int = 8) -> bytes:
    pad = block - (len(payload) + 5) % block
    pad += block if pad < 4 else 0
    return (len(payload) + pad + 1).to_bytes(4, "big") + bytes([pad]) + payload + bytes(pad)


def _raw_stream(src: Bytes) -> bytes:
    """A banner, then plain packets around fuzzed payloads or raw bytes."""
    head = b"SSH-2.0-fuzz\r\n" if src.pick(8) else src.chunk()
    if src.boolean():
        return head + b"".join(_plain_packet(p) for p in _payloads(src))
    return head + src.rest()


class _Crashes(logging.Handler):
    """Records what the aio logger logs with a traceback (a handler or a task
    that crashed), and what the event loop reports (never-retrieved task
    exceptions, callbacks that raised)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(f"{record.getMessage()}: {record.exc_info[1]!r}")

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.seen.append(f"event loop: {context.get('message')}: {context.get('exception')!r}")

    def check(self, where: str) -> None:
        if self.seen:
            found, self.seen = self.seen, []
            raise Finding(f"{where}: " + "; ".join(found))


_CRASHES = _Crashes()
logging.getLogger("ssh_transport.aio").addHandler(_CRASHES)
logging.getLogger("ssh_transport.aio").propagate = False  # the findings are raised, not printed
_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    """One event loop for the process, so the server outlives each input."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        _LOOP.set_exception_handler(_CRASHES.loop_error)
    return _LOOP


def _run(coro: Any, what: str) -> None:
    loop = _loop()
    try:
        loop.run_until_complete(asyncio.wait_for(coro, 3 * DEADLINE))
    except asyncio.TimeoutError:
        raise Finding(f"{what}: one input took over {3 * DEADLINE} s (a hang)") from None
    _CRASHES.check(what)


async def _settled(what: str, before: set[asyncio.Task[Any]]) -> None:
    """No task but those running ``before`` the input may be left once the
    connection closed (a few loop turns for done callbacks)."""
    for _ in range(5):
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t not in before and not t.done()]
        if not left:
            return
    raise Finding(f"{what}: tasks left pending after close: {left!r}")


async def _sink(reader: asyncio.StreamReader, feed: Callable[[bytes], None] | None = None) -> None:
    """Read until EOF (so the peer never blocks on a full socket)."""
    try:
        while data := await reader.read(65536):
            if feed is not None:
                feed(data)
    except (ConnectionError, OSError):
        pass


# -- server -----------------------------------------------------------------------------


class _Policy(ServerInterface):
    """Lets ``u``/``pw`` in, accepts sessions, exec, shell, pty and env."""

    def get_allowed_auths(self, username: str) -> str:
        return "password,keyboard-interactive"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if (username, password) == ("u", "pw") else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else super().check_channel_request(kind, chanid)

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        return True

    def check_channel_shell_request(self, channel: Any) -> bool:
        return True

    def check_channel_pty_request(self, *args: Any) -> bool:
        return True

    def check_channel_env_request(self, channel: Any, name: bytes, value: bytes) -> bool:
        return True


async def _echo(process: aio.SSHServerProcess) -> int:
    """Echo stdin to stdout until EOF."""
    while data := await process.stdin.read(65536):
        process.stdout.write(data)
        await process.stdout.drain()
    return 0


_SERVER: aio.SSHServer | None = None


async def _server() -> aio.SSHServer:
    global _SERVER
    if _SERVER is None:
        _SERVER = await aio.listen("127.0.0.1", 0, host_keys=[_HOST_KEY], server_factory=_Policy, process_factory=_echo)
    return _SERVER


def _drain_events(core: SSHProtocol) -> bool:
    """Take the core's events; whether the first key exchange completed."""
    kexed = False
    for _ in range(10_000):
        e = core.next_event()
        if e is None:
            break
        kexed = kexed or isinstance(e, ev.KexCompleted)
    return kexed


async def _client_core_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, login: bool) -> SSHProtocol:
    """A client core that runs a real key exchange (and login) with the server."""
    core = SSHProtocol("client")
    core.start()
    writer.write(core.data_to_send())
    done = False
    logged_in = not login
    while not (done and logged_in):
        data = await asyncio.wait_for(reader.read(65536), DEADLINE)
        if not data:
            raise Finding("the aio server closed during a well-formed handshake")
        core.receive_data(data)
        for _ in range(10_000):
            e = core.next_event()
            if e is None:
                break
            if isinstance(e, ev.KexCompleted) and not done:
                done = True
                if login:
                    core.auth_password("u", "pw")
            elif isinstance(e, ev.AuthSucceeded):
                logged_in = True
            elif isinstance(e, ev.AuthFailed):
                raise Finding("the aio server refused a good password")
        writer.write(core.data_to_send())
    return core


async def _server_case(data: bytes) -> None:
    server = await _server()
    before = asyncio.all_tasks()
    src = Bytes(data)
    mode = src.pick(3)  # 0: raw bytes, 1: payloads after kex, 2: after kex and login
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    sink: asyncio.Task[None] | None = None
    try:
        if mode == 0:
            sink = asyncio.ensure_future(_sink(reader))
            stream = _raw_stream(src)
            for i in range(0, len(stream), 512):
                writer.write(stream[i : i + 512])
                await writer.drain()
        else:
            core = await _client_core_session(reader, writer, login=mode == 2)

            def feed(chunk: bytes) -> None:
                try:
                    core.receive_data(chunk)
                    _drain_events(core)
                except SSHException:
                    pass

            sink = asyncio.ensure_future(_sink(reader, feed))
            for payload in _payloads(src):
                if payload:
                    if core.closed:
                        break  # the server disconnected us (a protocol error): allowed
                    core.send(payload)
                    writer.write(core.data_to_send())
                    await writer.drain()
                    await asyncio.sleep(0)
    except (ConnectionError, OSError):
        pass  # the server hung up on us: allowed
    finally:
        writer.close()
    try:
        await asyncio.wait_for(_gone(server, sink), DEADLINE)
    except asyncio.TimeoutError:
        raise Finding(f"aio server connection still open {DEADLINE} s after the client left") from None
    await _settled("aio server", before)
    await _still_serving(server, before)


async def _gone(server: aio.SSHServer, sink: asyncio.Task[None] | None) -> None:
    if sink is not None:
        await sink
    while server.connections:
        await asyncio.gather(*(c.wait_closed() for c in list(server.connections)))


async def _still_serving(server: aio.SSHServer, before: set[asyncio.Task[Any]]) -> None:
    """A new client still gets the server's identification line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"SSH-2.0-probe\r\n")
        line = await asyncio.wait_for(reader.readline(), DEADLINE)
        if not line.startswith(b"SSH-2.0-"):
            raise Finding(f"the aio server stopped serving: {line!r}")
    finally:
        writer.close()
    await asyncio.wait_for(_gone(server, None), DEADLINE)
    await _settled("aio server probe", before)


def aio_server(data: bytes) -> None:
    """A hostile client against the asyncio server (see the module docstring)."""
    _run(_server_case(data), "aio server")


# -- client -----------------------------------------------------------------------------


class _FakeServer:
    """A server core on the harness's end of the socketpair."""

    def __init__(self, src: Bytes, mode: int, writer: asyncio.StreamWriter) -> None:
        self.core = SSHProtocol("server", host_keys={_HOST_KEY.get_name(): _HOST_KEY})
        self.core.start()
        self.src = src
        self.mode = mode  # 1: fuzz after kex (as the login answer), 2: fuzz after exec
        self.writer = writer
        self.fuzzed = False

    def _fuzz(self) -> None:
        self.fuzzed = True
        for payload in _payloads(self.src):
            if payload:
                self.core.send(payload)
        self.writer.write(self.core.data_to_send())
        self.writer.close()

    def feed(self, data: bytes) -> None:
        core = self.core
        if self.fuzzed or self.writer.is_closing():
            return
        try:
            core.receive_data(data)
            for _ in range(10_000):
                e = core.next_event()
                if e is None:
                    break
                if isinstance(e, ev.AuthRequested):
                    if self.mode == 1:
                        self._fuzz()
                        return
                    core.auth_result(AUTH_SUCCESSFUL, ["password"])
                elif isinstance(e, ev.ChannelOpenRequested):
                    core.accept_channel(e.chanid)
                elif isinstance(e, ev.ChannelRequestReceived):
                    if e.want_reply:
                        core.channel_request_reply(e.chanid, True)
                    if e.kind == "exec":
                        self.writer.write(core.data_to_send())
                        self._fuzz()
                        return
        except SSHException:
            self.writer.close()
            return
        self.writer.write(core.data_to_send())


async def _client_case(data: bytes) -> None:
    before = asyncio.all_tasks()
    src = Bytes(data)
    mode = src.pick(3)  # 0: raw bytes, 1: fuzz after kex, 2: fuzz after exec
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=theirs)
    fake = _FakeServer(src, mode, writer)
    if mode == 0:
        writer.write(_raw_stream(src))
        writer.close()
        sink = asyncio.ensure_future(_sink(reader))
    else:
        writer.write(fake.core.data_to_send())
        sink = asyncio.ensure_future(_sink(reader, fake.feed))

    async def use() -> None:
        ours.setblocking(False)
        async with aio.connect(
            "fuzz",
            sock=ours,
            username="u",
            password="pw",
            known_hosts=None,
            look_for_keys=False,
            allow_agent=False,
        ) as conn:
            await conn.run("x", input=b"in")

    try:
        await asyncio.wait_for(use(), DEADLINE)
    except SSHException:
        pass  # documented
    except asyncio.TimeoutError:
        raise Finding(f"the aio client still waiting {DEADLINE} s after the server hung up") from None
    finally:
        writer.close()
        ours.close()
    await asyncio.wait_for(sink, DEADLINE)
    await _settled("aio client", before)


def aio_client(data: bytes) -> None:
    """A hostile server against the asyncio client (see the module docstring)."""
    _run(_client_case(data), "aio client")
