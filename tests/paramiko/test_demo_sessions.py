"""The demo server's session loop (paramiko/demo/loop.py, session.py,
streams.py) in this process, driven by our own client: stdin flow control
against a command that does not read, output and exit status in order,
stdin EOF, many sessions on one connection, and two threads per connection
while commands run. Nothing here is timed: waits are bounds, not measures."""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import paramiko
from paramiko.demo import server as demo
from paramiko.demo.loop import SessionLoop
from paramiko.demo.session import PIPE_SIZE, Session
from paramiko.demo.streams import CHUNK, HOLD

pytestmark = pytest.mark.timeout(120)

PASSWORD = "s3cret-demo"
MIB = 1024 * 1024
# what the server's receive window lets a client send before it is acknowledged
WINDOW = 2 * MIB


class RecordingLoop(SessionLoop):
    """A session loop that remembers the sessions it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[Session] = []
        self.retries = 0

    def start(self, session: Session) -> None:
        self.started.append(session)
        super().start(session)

    def retry_soon(self, session: Session) -> None:
        self.retries += 1
        super().retry_soon(session)


class DemoHarness:
    """The demo server's connection handling on a loopback port, one thread
    per connection (as ``Listener`` runs it), and clients logged in to it."""

    def __init__(self, root: Path) -> None:
        self.host_key = paramiko.Ed25519Key.generate()
        self.root = root
        self.loops: list[RecordingLoop] = []
        self.handlers: list[threading.Thread] = []
        self.clients: list[paramiko.SSHClient] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            server = demo.DemoServer(getpass.getuser(), PASSWORD, [])
            loop = RecordingLoop()
            server.sessions = loop
            self.loops.append(loop)
            t = threading.Thread(target=demo.serve_connection, args=(sock, self.host_key, server, self.root))
            t.daemon = True
            self.handlers.append(t)
            t.start()

    def connect(self) -> paramiko.Transport:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(
            "127.0.0.1",
            port=self.port,
            username=getpass.getuser(),
            password=PASSWORD,
            look_for_keys=False,
            allow_agent=False,
            timeout=30,
        )
        self.clients.append(client)
        transport = client.get_transport()
        assert transport is not None
        return transport

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.listener.close()
        for t in self.handlers:
            t.join(timeout=10)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[DemoHarness]:
    h = DemoHarness(tmp_path)
    try:
        yield h
    finally:
        h.close()


def run(transport: paramiko.Transport, command: str) -> paramiko.Channel:
    chan = transport.open_session()
    chan.settimeout(60)
    chan.exec_command(command)
    return chan


def read_all(chan: paramiko.Channel) -> tuple[bytes, bytes]:
    """Everything on stdout, then everything on stderr (each until EOF)."""
    out = bytearray()
    while data := chan.recv(CHUNK):
        out += data
    err = bytearray()
    while data := chan.recv_stderr(CHUNK):
        err += data
    return bytes(out), bytes(err)


def test_a_command_that_does_not_read_closes_the_window(harness: DemoHarness) -> None:
    transport = harness.connect()
    chan = run(transport, "exec sleep 60")
    chan.settimeout(3)
    block = bytes(64 * 1024)
    sent = 0
    limit = 16 * MIB  # far more than the server may hold for a command that reads nothing
    with pytest.raises(TimeoutError):
        while sent < limit:
            sent += chan.send(block)
    # what went in is bounded by the pipe, what the feed holds (a write's
    # worth plus one socket read) and the channel's window, which stays shut
    held = HOLD + CHUNK + len(block)
    assert sent <= PIPE_SIZE + held + WINDOW
    assert chan.out_window_size == 0
    assert not chan.send_ready()
    session = harness.loops[0].started[0]
    assert session.stdin_backlog <= held
    proc = session.process
    assert proc is not None
    proc.kill()
    out, err = read_all(chan)
    assert (out, err) == (b"", b"")
    assert chan.recv_exit_status() == 128 + 9


def test_output_then_status_in_order(harness: DemoHarness) -> None:
    transport = harness.connect()
    chan = run(transport, "head -c 3000000 /dev/zero; echo to-err >&2; printf end; exit 5")
    # data handed to a receiver is seen in the order it arrived: had the exit
    # status overtaken any of it, it would show here
    status_seen_before_data: list[bool] = []
    chunks: list[bytes] = []
    done = threading.Event()

    def receive(data: bytes) -> None:
        if data:
            status_seen_before_data.append(chan.exit_status_ready())
            chunks.append(data)
        else:
            done.set()

    for data in chan.set_receiver(receive):
        chunks.append(data)
    assert chan.recv_exit_status() == 5
    assert done.wait(30)
    out = b"".join(chunks)
    assert out == bytes(3000000) + b"end"
    assert not any(status_seen_before_data)
    err = bytearray()
    while data := chan.recv_stderr(CHUNK):
        err += data
    assert bytes(err) == b"to-err\n"


def test_stdin_eof_reaches_the_command(harness: DemoHarness) -> None:
    transport = harness.connect()
    data = os.urandom(5 * MIB + 123)
    chan = run(transport, "exec wc -c")
    chan.sendall(data)
    chan.shutdown_write()  # wc prints only once its stdin ends
    out, err = read_all(chan)
    assert out.strip() == str(len(data)).encode(), err
    assert chan.recv_exit_status() == 0


def test_stdin_through_a_slow_reader_arrives_intact(harness: DemoHarness) -> None:
    # the pipe fills again and again (the command reads in small pieces,
    # slowly): the bytes held back and those left in the channel must go in order
    transport = harness.connect()
    data = os.urandom(6 * MIB)
    chan = run(transport, "exec dd bs=4096 status=none | sha256sum")
    sender = threading.Thread(target=lambda: (chan.sendall(data), chan.shutdown_write()), daemon=True)
    sender.start()
    out, err = read_all(chan)
    sender.join(60)
    import hashlib

    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest(), err
    assert chan.recv_exit_status() == 0


def test_many_sessions_on_one_connection_share_two_threads(harness: DemoHarness) -> None:
    before = set(threading.enumerate())
    transport = harness.connect()
    n = 8
    chans = [run(transport, "exec cat") for _ in range(n)]
    payloads = [os.urandom(200_000 + i) for i in range(n)]
    for chan, payload in zip(chans, payloads, strict=True):
        chan.sendall(payload[:1000])
    # every cat has echoed its first bytes: all eight processes run now
    for chan, payload in zip(chans, payloads, strict=True):
        got = bytearray()
        while len(got) < 1000:
            got += chan.recv(1000 - len(got))
        assert bytes(got) == payload[:1000]
    loop = harness.loops[0]
    assert loop.session_count == n
    # this process's new threads: the connection's handler and the server
    # transport's reader; the client's transport thread is not the server's
    new = set(threading.enumerate()) - before - {transport}
    assert len(new) <= 2, sorted(t.name for t in new)
    for chan, payload in zip(chans, payloads, strict=True):
        chan.sendall(payload[1000:])
        chan.shutdown_write()
    for chan, payload in zip(chans, payloads, strict=True):
        out, err = read_all(chan)
        assert out == payload[1000:], err
        assert chan.recv_exit_status() == 0


def test_two_threads_per_connection_with_commands_running(harness: DemoHarness) -> None:
    before = set(threading.enumerate())
    conns = 4
    transports = [harness.connect() for _ in range(conns)]
    chans = [run(t, "exec cat") for t in transports]
    for chan in chans:
        chan.sendall(b"ping\n")
    for chan in chans:
        assert chan.recv(5) == b"ping\n"  # the command runs
    new = set(threading.enumerate()) - before - set(transports)
    assert len(new) <= 2 * conns, sorted(t.name for t in new)
    for chan in chans:
        chan.shutdown_write()
        assert read_all(chan) == (b"", b"")
        assert chan.recv_exit_status() == 0


def test_a_command_that_cannot_start_reports_127(harness: DemoHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "/nonexistent/shell")
    transport = harness.connect()
    chan = run(transport, "true")
    out, err = read_all(chan)
    assert out == b""
    assert b"cannot run" in err
    assert chan.recv_exit_status() == 127


def test_closing_the_channel_ends_a_streaming_command(harness: DemoHarness) -> None:
    transport = harness.connect()
    chan = run(transport, "exec cat /dev/zero")
    assert len(chan.recv(CHUNK)) > 0
    chan.close()
    session = harness.loops[0].started[0]
    proc = session.process
    assert proc is not None
    # its output pipe is closed: cat dies of SIGPIPE rather than streaming on
    assert proc.wait(timeout=30) != 0


def test_a_session_the_client_does_not_read_holds_up_no_other(harness: DemoHarness) -> None:
    # one thread runs both sessions: the first one's output waits for a
    # window its client never reopens, and the second one must still run
    transport = harness.connect()
    stuck = run(transport, "exec cat /dev/zero")
    other = run(transport, "head -c 3000000 /dev/urandom | wc -c; exit 4")
    out, err = read_all(other)
    assert out.strip() == b"3000000", err
    assert other.recv_exit_status() == 4
    # the stuck one filled its window and waits, still running
    assert stuck.recv_ready()
    assert not stuck.exit_status_ready()
    stuck.close()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="without a pidfd the loop polls for the exit")
def test_output_held_by_a_shut_window_goes_on_when_the_client_reads_without_polling(
    harness: DemoHarness,
) -> None:
    transport = harness.connect()
    size = 4 * WINDOW
    chan = run(transport, f"head -c {size} /dev/zero")
    # the client reads nothing for a while: the window shuts, the output waits
    time.sleep(0.5)
    out, _ = read_all(chan)
    assert len(out) == size and not out.strip(b"\0")
    assert chan.recv_exit_status() == 0
    # the channel's send-ready callback brought the output back, not a timer
    (loop,) = harness.loops
    assert loop.retries == 0
