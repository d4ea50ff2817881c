"""The asyncio SFTP server (``ssh_sftp.aio.serve_sftp``): OpenSSH's
``sftp`` driving it through ``sftp -D`` (tests/support/aio_sftp_stdio.py),
and our asyncio client against it over a socketpair: operations, 50 tasks
at once, a file over 64 MiB, garbage input, ``async def`` interfaces."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ssh_sftp import (
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    LocalSFTPServerInterface,
    SFTPAttributes,
    SFTPHandle,
    SFTPServerInterface,
)
from ssh_sftp.aio import SFTPClient, serve_sftp
from ssh_sftp.extensions import offered_extensions
from ssh_sftp.requests import RequestPolicy
from ssh_sftp.sftp import CMD_STATUS, CMD_VERSION, U32
from support.aio_servers import sha256_of
from support.peers import need_program

pytestmark = pytest.mark.timeout(120)

STDIO_SERVER = Path(__file__).resolve().parent.parent / "support" / "aio_sftp_stdio.py"


class Served:
    """What one session's server did, for the tests to look at."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None


@asynccontextmanager
async def session(
    iface: SFTPServerInterface, policy: RequestPolicy | None = None
) -> AsyncIterator[tuple[SFTPClient, Served]]:
    """Our asyncio client against ``serve_sftp(iface)`` over a socketpair."""
    a, b = socket.socketpair()
    sr, sw = await asyncio.open_connection(sock=b)
    served = Served()
    served.task = asyncio.create_task(serve_sftp(sr, sw, iface, policy=policy))
    cr, cw = await asyncio.open_connection(sock=a)
    client = await SFTPClient.from_streams(cr, cw)
    try:
        yield client, served
    finally:
        await client.close()
        await asyncio.wait_for(served.task, 30)


def run_local(root: Path, test: Callable[[SFTPClient], Awaitable[None]], **kw: Any) -> None:
    """Run ``test`` with a client on our asyncio server serving ``root``."""

    async def main() -> None:
        async with session(LocalSFTPServerInterface(None, root=str(root)), **kw) as (client, _served):
            await test(client)

    asyncio.run(main())


# -- OpenSSH's sftp against the asyncio server ------------------------------------------


def sftp_batch(root: Path, commands: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run OpenSSH ``sftp -b`` with ``commands`` against our asyncio server
    serving ``root`` (through ``sftp -D``)."""
    sftp = need_program("sftp")
    batch = cwd / "batch"
    batch.write_text(commands)
    return subprocess.run(
        [sftp, "-b", str(batch), "-D", f"{sys.executable} {STDIO_SERVER} {root}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_openssh_sftp_batch(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (root / "hello.txt").write_bytes(b"hello from the server\n")
    payload = os.urandom(3 * 1024 * 1024 + 17)
    (work / "upload.bin").write_bytes(payload)
    result = sftp_batch(
        root,
        "ls -l\n"
        "put upload.bin\n"
        "get hello.txt fetched.txt\n"
        "mkdir newdir\n"
        "rename upload.bin newdir/moved.bin\n"
        "symlink hello.txt link.txt\n"
        "ls -l newdir\n"
        "get newdir/moved.bin back.bin\n"
        "mkdir gone\n"
        "rmdir gone\n"
        "put upload.bin doomed\n"
        "rm doomed\n"
        "ls -l\n",
        work,
    )
    assert result.returncode == 0, result.stderr
    assert "hello.txt" in result.stdout
    assert "moved.bin" in result.stdout
    assert (work / "fetched.txt").read_bytes() == b"hello from the server\n"
    assert (work / "back.bin").read_bytes() == payload
    assert (root / "newdir" / "moved.bin").read_bytes() == payload
    assert os.readlink(root / "link.txt") == "hello.txt"
    assert sorted(os.listdir(root)) == ["hello.txt", "link.txt", "newdir"]


def test_openssh_sftp_error_is_reported(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    result = sftp_batch(tmp_path / "root", "get missing.txt\n", tmp_path)
    assert result.returncode != 0
    assert "missing.txt" in result.stderr
    # the root confines: nothing outside it is reachable
    result = sftp_batch(tmp_path / "root", "ls ../..\n", tmp_path)
    assert "root" not in result.stdout.split()


# -- our asyncio client against our asyncio server ---------------------------------------


def test_operations(tmp_path: Path) -> None:
    async def body(c: SFTPClient) -> None:
        names = [n for n, _v in offered_extensions(LocalSFTPServerInterface(None, root=str(tmp_path)))]
        assert list(c.server_extensions) == names
        assert c.limits_announced and c.max_read_size == 256 * 1024
        await c.mkdir("/d")
        async with await c.open("/d/f", "w") as f:
            await f.write(b"0123456789")
        assert await c.listdir("/d") == ["f"]
        assert (await c.stat("/d/f")).st_size == 10
        async with await c.open("/d/f", "r+") as f:
            await f.seek(4)
            assert await f.read(3) == b"456"
            await f.write(b"X")
        assert (tmp_path / "d" / "f").read_bytes() == b"0123456X89"
        await c.rename("/d/f", "/d/g")
        await c.symlink("g", "/d/l")
        assert await c.readlink("/d/l") == "g"
        assert stat.S_ISLNK((await c.lstat("/d/l")).st_mode or 0)
        await c.chmod("/d/g", 0o600)
        assert stat.S_IMODE((tmp_path / "d" / "g").stat().st_mode) == 0o600
        await c.posix_rename("/d/g", "/d/l")
        assert (tmp_path / "d" / "l").read_bytes() == b"0123456X89"
        with pytest.raises(FileNotFoundError):
            await c.stat("/nope")
        with pytest.raises(FileNotFoundError):
            await c.stat("/../../etc/passwd")  # ".." stops at the root
        await c.chdir("/d")
        assert await c.normalize(".") == "/d"
        await c.makedirs("/a/b/c")
        await c.rmtree("/a")
        await c.remove("/d/l")
        await c.rmdir("/d")
        assert os.listdir(tmp_path) == []

    run_local(tmp_path, body)


def test_fifty_tasks_at_once(tmp_path: Path) -> None:
    for i in range(50):
        (tmp_path / f"d{i}").mkdir()

    async def worker(c: SFTPClient, i: int) -> None:
        payload = os.urandom(500 + 2000 * i)
        for round_ in range(3):
            async with await c.open(f"/d{i}/f{round_}", "w") as f:
                await f.write(payload)
            attrs = await c.stat(f"/d{i}/f{round_}")
            assert attrs.st_size == len(payload)
            assert sorted(await c.listdir(f"/d{i}")) == [f"f{k}" for k in range(round_ + 1)]
            async with await c.open(f"/d{i}/f{round_}") as f:
                assert await f.read() == payload

    async def body(c: SFTPClient) -> None:
        await asyncio.gather(*(worker(c, i) for i in range(50)))

    run_local(tmp_path, body)


def test_large_file_both_ways(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    src = tmp_path / "src"
    with open(src, "wb") as out:
        for _ in range(65):
            out.write(os.urandom(1024 * 1024))
        out.write(b"tail")

    async def body(c: SFTPClient) -> None:
        await c.put(src, "/up")
        await c.get("/up", tmp_path / "down")

    run_local(tmp_path / "srv", body)
    assert sha256_of(tmp_path / "srv" / "up") == sha256_of(src)
    assert sha256_of(tmp_path / "down") == sha256_of(src)


def test_read_only_policy(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")

    async def body(c: SFTPClient) -> None:
        async with await c.open("/f") as f:
            assert await f.read() == b"data"
        with pytest.raises(PermissionError):
            await c.open("/f", "w")
        with pytest.raises(PermissionError):
            await c.mkdir("/d")

    run_local(tmp_path, body, policy=RequestPolicy(read_only=True))


class Counting(LocalSFTPServerInterface):
    """Records the session's start and end."""

    events: list[str]

    def session_started(self) -> None:
        self.events.append("started")
        super().session_started()

    def session_ended(self) -> None:
        self.events.append("ended")
        super().session_ended()


def test_garbage_closes_the_session(tmp_path: Path) -> None:
    """A malformed request is answered BAD_MESSAGE; a packet length that
    makes no sense ends the session: the server closes its end and returns."""

    async def main() -> None:
        iface = Counting(None, root=str(tmp_path))
        iface.events = []
        a, b = socket.socketpair()
        sr, sw = await asyncio.open_connection(sock=b)
        task = asyncio.create_task(serve_sftp(sr, sw, iface))
        cr, cw = await asyncio.open_connection(sock=a)
        cw.write(U32.pack(5) + bytes([1]) + U32.pack(3))
        head = await cr.readexactly(5)
        assert head[4] == CMD_VERSION
        await cr.readexactly(U32.unpack_from(head)[0] - 1)
        # OPEN (3) with id 7 and a path string that claims more than is there
        cw.write(U32.pack(13) + bytes([3]) + U32.pack(7) + U32.pack(100) + b"abcd")
        head = await cr.readexactly(9)
        assert head[4] == CMD_STATUS and U32.unpack_from(head, 5)[0] == 7
        rest = await cr.readexactly(U32.unpack_from(head)[0] - 5)
        assert U32.unpack_from(rest)[0] == 5  # SSH_FX_BAD_MESSAGE
        cw.write(b"\xff\xff\xff\xff garbage")
        await asyncio.wait_for(task, 10)
        assert await asyncio.wait_for(cr.read(), 10) == b""
        assert iface.events == ["started", "ended"]
        cw.close()

    asyncio.run(main())


def test_eof_before_init(tmp_path: Path) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        sr, sw = await asyncio.open_connection(sock=b)
        task = asyncio.create_task(serve_sftp(sr, sw, LocalSFTPServerInterface(None, root=str(tmp_path))))
        a.close()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())


class MemHandle(SFTPHandle):
    """A file in memory, with coroutine methods."""

    def __init__(self, store: dict[str, bytearray], path: str) -> None:
        super().__init__()
        self.store = store
        self.path = path

    async def read(self, offset: int, length: int) -> bytes | int:  # type: ignore[override]
        await asyncio.sleep(0)
        return bytes(self.store[self.path][offset : offset + length])

    async def write(self, offset: int, data: bytes | memoryview) -> int:  # type: ignore[override]
        buf = self.store[self.path]
        if len(buf) < offset:
            buf.extend(bytes(offset - len(buf)))
        buf[offset : offset + len(data)] = data
        return SFTP_OK

    async def stat(self) -> SFTPAttributes | int:  # type: ignore[override]
        attr = SFTPAttributes()
        attr.st_size = len(self.store[self.path])
        attr.st_mode = stat.S_IFREG | 0o644
        return attr


class MemoryInterface(SFTPServerInterface):
    """An in-memory file system whose methods are coroutines."""

    def __init__(self, server: Any = None) -> None:
        super().__init__(server)
        self.store: dict[str, bytearray] = {}
        self.loop_thread: list[bool] = []

    async def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:  # type: ignore[override]
        # coroutine methods run on the event loop's thread, not the worker's
        self.loop_thread.append(threading.current_thread() is threading.main_thread())
        if flags & os.O_CREAT:
            if flags & os.O_TRUNC or path not in self.store:
                self.store[path] = bytearray()
        elif path not in self.store:
            return SFTP_NO_SUCH_FILE
        return MemHandle(self.store, path)

    async def stat(self, path: str) -> SFTPAttributes | int:  # type: ignore[override]
        if path not in self.store:
            return SFTP_NO_SUCH_FILE
        attr = SFTPAttributes()
        attr.st_size = len(self.store[path])
        attr.st_mode = stat.S_IFREG | 0o644
        return attr

    lstat = stat  # type: ignore[assignment]

    async def list_folder(self, path: str) -> list[SFTPAttributes] | int:  # type: ignore[override]
        out = []
        for name in sorted(self.store):
            attr = SFTPAttributes()
            attr.filename = name.lstrip("/")
            attr.st_size = len(self.store[name])
            attr.st_mode = stat.S_IFREG | 0o644
            out.append(attr)
        return out

    async def remove(self, path: str) -> int:  # type: ignore[override]
        return SFTP_OK if self.store.pop(path, None) is not None else SFTP_NO_SUCH_FILE


def test_async_interface_methods() -> None:
    async def main() -> None:
        iface = MemoryInterface()
        async with session(iface) as (c, _served):
            assert "copy-data" in c.server_extensions  # offered because open is overridden
            assert "statvfs@openssh.com" not in c.server_extensions
            data = os.urandom(600 * 1024)
            async with await c.open("/a", "w") as f:
                await f.write(data)
            assert bytes(iface.store["/a"]) == data
            assert (await c.stat("/a")).st_size == len(data)
            async with await c.open("/a") as f:
                assert await f.read() == data
            assert await c.listdir("/") == ["a"]
            with pytest.raises(FileNotFoundError):
                await c.open("/b")
            await c.remove("/a")
            assert iface.store == {}
        assert all(iface.loop_thread)

    asyncio.run(main())


def test_one_interface_many_sessions() -> None:
    """An interface instance shared by sessions (at once, and on a later
    loop) keeps working: its coroutine methods are adapted per loop."""
    iface = MemoryInterface()

    async def one(name: str) -> None:
        async with session(iface) as (c, _served):
            async with await c.open(name, "w") as f:
                await f.write(name.encode())
            assert (await c.stat(name)).st_size == len(name)

    async def several() -> None:
        await asyncio.gather(*(one(f"/s{i}") for i in range(5)))

    asyncio.run(several())
    asyncio.run(one("/later"))
    assert sorted(iface.store) == ["/later", "/s0", "/s1", "/s2", "/s3", "/s4"]


def test_cancelling_the_server_ends_the_session(tmp_path: Path) -> None:
    """Cancelling ``serve_sftp`` (a server shutting down) closes handles,
    calls ``session_ended`` and drops the stream, even while the client
    reads nothing."""

    async def main() -> None:
        iface = Counting(None, root=str(tmp_path))
        iface.events = []
        (tmp_path / "big").write_bytes(os.urandom(8 * 1024 * 1024))
        a, b = socket.socketpair()
        sr, sw = await asyncio.open_connection(sock=b)
        task = asyncio.create_task(serve_sftp(sr, sw, iface))
        cr, cw = await asyncio.open_connection(sock=a)
        cw.write(U32.pack(5) + bytes([1]) + U32.pack(3))
        head = await cr.readexactly(5)
        await cr.readexactly(U32.unpack_from(head)[0] - 1)
        path = b"/big"
        body = U32.pack(1) + U32.pack(len(path)) + path + U32.pack(1) + U32.pack(0)  # OPEN for reading
        cw.write(U32.pack(len(body) + 1) + bytes([3]) + body)
        head = await cr.readexactly(9)
        handle = (await cr.readexactly(U32.unpack_from(head)[0] - 5))[4:]
        # 32 READs of 256 KiB, and the replies are never read: the server
        # ends up waiting for the client
        for i in range(32):
            body = U32.pack(2 + i) + U32.pack(len(handle)) + handle + (i * 262144).to_bytes(8, "big") + U32.pack(262144)
            cw.write(U32.pack(len(body) + 1) + bytes([5]) + body)
        await cw.drain()
        await asyncio.sleep(0.2)  # let it get stuck (the test passes either way)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert iface.events == ["started", "ended"]
        cw.close()

    asyncio.run(main())
