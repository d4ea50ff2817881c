"""ProxyCommand: a socket-like object over a subprocess.

The main test runs a tiny Python relay (stdin/stdout <-> TCP) as the proxy
command towards a local TCP echo server; others use small shell programs to
check timeouts, failures, stderr reporting and process clean-up.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from ssh_transport.proxy import ProxyCommand
from ssh_wire import ProxyCommandFailure, SSHException
from support.relay import RELAY_SCRIPT

RELAY = RELAY_SCRIPT


def relay_command(host: str, port: int) -> str:
    """A shell command line that relays stdin/stdout to host:port."""
    return shlex.join([sys.executable, "-c", RELAY, host, str(port)])


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.1 (one thread per connection)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(30)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def recv_exactly(proxy: ProxyCommand, n: int) -> bytes:
    chunks = []
    while n:
        data = proxy.recv(n)
        assert data, "unexpected end of stream"
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still run (zombies do not count:
    they are dead, waiting for whichever init adopted them to reap them)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(30)
def test_relay_round_trip(echo_server: tuple[str, int]) -> None:
    proxy = ProxyCommand(relay_command(*echo_server))
    try:
        proxy.settimeout(10)
        assert proxy.gettimeout() == 10
        assert proxy.send(b"hello") == 5
        assert recv_exactly(proxy, 5) == b"hello"
        proxy.sendall(memoryview(b"SSH-2.0-test\r\n"))
        buf = bytearray(64)
        got = 0
        while got < 14:
            got += proxy.recv_into(memoryview(buf)[got:], 14 - got)
        assert bytes(buf[:14]) == b"SSH-2.0-test\r\n"
    finally:
        proxy.close()
    assert proxy.closed


@pytest.mark.timeout(60)
def test_relay_moves_megabytes_both_ways(echo_server: tuple[str, int]) -> None:
    payload = os.urandom(4 * 1024 * 1024)
    proxy = ProxyCommand(relay_command(*echo_server))
    received = bytearray()
    try:
        proxy.settimeout(20)

        def reader() -> None:
            while len(received) < len(payload):
                data = proxy.recv(65536)
                if not data:
                    return
                received.extend(data)

        thread = threading.Thread(target=reader)
        thread.start()
        proxy.sendall(payload)
        thread.join(40)
        assert not thread.is_alive()
        assert bytes(received) == payload
    finally:
        proxy.close()


@pytest.mark.timeout(30)
def test_recv_times_out_and_stays_usable(echo_server: tuple[str, int]) -> None:
    proxy = ProxyCommand(relay_command(*echo_server))
    try:
        proxy.settimeout(0.2)
        with pytest.raises(socket.timeout):
            proxy.recv(10)
        with pytest.raises(TimeoutError):
            proxy.recv(10)
        proxy.settimeout(10)
        proxy.sendall(b"still here")
        assert recv_exactly(proxy, 10) == b"still here"
    finally:
        proxy.close()


@pytest.mark.timeout(30)
def test_normal_exit_is_end_of_stream() -> None:
    proxy = ProxyCommand("printf hello")
    try:
        proxy.settimeout(10)
        assert recv_exactly(proxy, 5) == b"hello"
        assert proxy.recv(10) == b""
    finally:
        proxy.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("sh -c 'echo proxy says no >&2; exit 3'", "exit status 3: proxy says no"),
        ("/nonexistent/proxy-program", "exit status 127"),
        (f"{shlex.quote(sys.executable)} -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'", "status -9"),
    ],
)
def test_failing_program_raises_proxy_command_failure(command: str, expected: str) -> None:
    proxy = ProxyCommand(command)
    try:
        proxy.settimeout(10)
        with pytest.raises(ProxyCommandFailure) as info:
            proxy.recv(10)
        assert expected in str(info.value)
        assert info.value.command == command
        assert isinstance(info.value, SSHException)
    finally:
        proxy.close()


@pytest.mark.timeout(30)
def test_send_to_dead_program_raises_proxy_command_failure() -> None:
    proxy = ProxyCommand("exit 0")
    try:
        proxy.process.wait(10)
        with pytest.raises(ProxyCommandFailure):
            for _ in range(100):
                proxy.send(b"x" * 65536)
    finally:
        proxy.close()


@pytest.mark.timeout(30)
def test_chatty_stderr_does_not_block() -> None:
    proxy = ProxyCommand("sh -c 'head -c 1000000 /dev/zero >&2; echo done'")
    try:
        proxy.settimeout(10)
        assert recv_exactly(proxy, 5) == b"done\n"
    finally:
        proxy.close()


@pytest.mark.timeout(30)
def test_close_stops_the_program_and_its_children() -> None:
    proxy = ProxyCommand("sh -c 'sleep 60 & sleep 60; wait'")
    pid = proxy.process.pid
    try:
        time.sleep(0.2)
        assert pid_alive(pid)
    finally:
        proxy.close()
    assert proxy.process.returncode is not None
    deadline = time.monotonic() + 10
    while live_group_members(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_group_members(pid) == []  # nobody is left in the program's group
    proxy.close()  # twice is fine
    with pytest.raises(OSError):
        proxy.recv(1)
    with pytest.raises(OSError):
        proxy.send(b"x")


@pytest.mark.timeout(30)
def test_close_kills_a_program_that_ignores_sigterm() -> None:
    proxy = ProxyCommand("sh -c 'trap \"\" TERM; sleep 60'")
    proxy.CLOSE_TIMEOUT = 0.5
    try:
        time.sleep(0.2)
    finally:
        proxy.close()
    assert proxy.process.returncode == -9


@pytest.mark.timeout(30)
def test_close_from_another_thread_unblocks_recv() -> None:
    proxy = ProxyCommand("sleep 60")
    outcome: list[object] = []

    def reader() -> None:
        try:
            outcome.append(proxy.recv(10))
        except OSError as e:
            outcome.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(0.2)
    finally:
        proxy.close()
    thread.join(10)
    assert not thread.is_alive()
    assert outcome and (outcome[0] == b"" or isinstance(outcome[0], OSError))


@pytest.mark.timeout(30)
def test_context_manager_and_shutdown_write(echo_server: tuple[str, int]) -> None:
    with ProxyCommand("cat") as proxy:
        proxy.settimeout(10)
        proxy.sendall(b"abc")
        proxy.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = proxy.recv(100)
            if not chunk:
                break
            data += chunk
        assert data == b"abc"
    assert proxy.closed
    assert "closed" in repr(proxy)


@pytest.mark.timeout(30)
def test_descriptors_above_fd_setsize_work() -> None:
    """A process with more than 1024 open files still gets working pipes
    (``select`` cannot watch descriptors that high)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open more than 1024 files here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    fds: list[int] = []
    proxy = None
    try:
        base = os.open(os.devnull, os.O_RDONLY)
        fds.append(base)
        while len(fds) < 1050:
            fds.append(os.dup(base))
        proxy = ProxyCommand("cat")
        proxy.settimeout(10)
        proxy.sendall(b"hello above FD_SETSIZE")
        assert recv_exactly(proxy, 22) == b"hello above FD_SETSIZE"
    finally:
        if proxy is not None:
            proxy.close()
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
