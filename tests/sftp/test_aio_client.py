"""The asyncio SFTP client (``ssh_sftp.aio``) against OpenSSH's own
``sftp-server``, spawned with asyncio pipes: every operation, errors,
concurrency from many tasks, cancellation, and a dropped server."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ssh_sftp import SFTPError
from ssh_sftp.aio import SFTPClient
from support.aio_servers import sha256_of
from support.peers import missing_peer
from support.sshd import sftp_server_path

pytestmark = pytest.mark.timeout(120)


@asynccontextmanager
async def openssh_sftp(*args: str) -> AsyncIterator[tuple[SFTPClient, asyncio.subprocess.Process]]:
    """Our asyncio client on a fresh OpenSSH sftp-server subprocess."""
    path = sftp_server_path()
    if path is None:
        missing_peer("OpenSSH sftp-server is not installed")
    assert path is not None
    proc = await asyncio.create_subprocess_exec(
        path, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    client = await SFTPClient.from_streams(proc.stdout, proc.stdin)
    try:
        yield client, proc
    finally:
        await client.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def run(test: Callable[[SFTPClient, asyncio.subprocess.Process], Awaitable[None]]) -> None:
    """Run ``test`` with a client on OpenSSH's sftp-server."""

    async def main() -> None:
        async with openssh_sftp() as (client, proc):
            await test(client, proc)

    asyncio.run(main())


def test_version_and_limits() -> None:
    async def body(c: SFTPClient, _p: Any) -> None:
        assert c.server_version == 3
        assert "posix-rename@openssh.com" in c.server_extensions
        lim = await c.limits()
        assert c.limits_announced
        assert c.max_read_size == min(lim.max_read_length, 1 << 20)

    run(body)


def test_stat_lstat_listdir(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to("a")

    async def body(c: SFTPClient, _p: Any) -> None:
        base = str(tmp_path)
        assert sorted(await c.listdir(base)) == ["a", "d", "l"]
        attrs = {a.filename: a for a in await c.listdir_attr(base)}
        assert attrs["a"].st_size == 10
        assert attrs["l"].longname is not None
        assert stat.S_ISDIR((await c.stat(base + "/d")).st_mode or 0)
        assert stat.S_ISLNK((await c.lstat(base + "/l")).st_mode or 0)
        assert stat.S_ISREG((await c.stat(base + "/l")).st_mode or 0)
        with pytest.raises(FileNotFoundError):
            await c.stat(base + "/missing")
        with pytest.raises(FileNotFoundError):
            await c.listdir(base + "/missing")

    run(body)


def test_many_entries_listed(tmp_path: Path) -> None:
    for i in range(700):
        (tmp_path / f"f{i:04d}").touch()

    async def body(c: SFTPClient, _p: Any) -> None:
        names = await c.listdir(str(tmp_path))
        assert sorted(names) == [f"f{i:04d}" for i in range(700)]

    run(body)


def test_file_read_write_seek_tell(tmp_path: Path) -> None:
    async def body(c: SFTPClient, _p: Any) -> None:
        path = str(tmp_path / "f")
        async with await c.open(path, "w") as f:
            await f.write(b"hello ")
            await f.write(memoryview(b"world"))
            assert f.tell() == 11
        assert (tmp_path / "f").read_bytes() == b"hello world"
        async with await c.open(path, "r+") as f:
            assert await f.read(5) == b"hello"
            assert f.tell() == 5
            assert await f.seek(-5, os.SEEK_END) == 6
            assert await f.read() == b"world"
            assert await f.read(10) == b""
            await f.seek(0)
            await f.write(b"J")
            assert (await f.stat()).st_size == 11
        assert (tmp_path / "f").read_bytes() == b"Jello world"
        async with await c.open(path, "a") as f:
            await f.write(b"!")
        assert (tmp_path / "f").read_bytes() == b"Jello world!"
        with pytest.raises(OSError):
            await c.open(path, "x")
        f = await c.open(path)
        await f.close()
        await f.close()
        with pytest.raises(ValueError):
            await f.read(1)

    run(body)


def test_read_sizes_with_prefetch(tmp_path: Path) -> None:
    data = os.urandom(3 * 261120 + 12345)
    (tmp_path / "f").write_bytes(data)

    async def body(c: SFTPClient, _p: Any) -> None:
        async with await c.open(str(tmp_path / "f")) as f:
            await f.prefetch()
            got = []
            while True:
                piece = await f.read(7777)
                if not piece:
                    break
                got.append(piece)
            assert b"".join(got) == data
        async with await c.open(str(tmp_path / "f")) as f:
            await f.seek(1000)
            assert await f.read(len(data)) == data[1000:]
        async with await c.open(str(tmp_path / "f")) as f:
            await f.prefetch()
            assert await f.read(10) == data[:10]
            await f.seek(500000)  # leaves the prefetch
            assert await f.read(100) == data[500000:500100]

    run(body)


def test_get_put_with_callbacks(tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)
    src = tmp_path / "src"
    src.write_bytes(data)

    async def body(c: SFTPClient, _p: Any) -> None:
        seen: list[tuple[int, int]] = []
        attrs = await c.put(src, str(tmp_path / "up"), callback=lambda a, b: seen.append((a, b)))
        assert attrs.st_size == len(data)
        assert seen[-1] == (len(data), len(data))
        assert (tmp_path / "up").read_bytes() == data
        seen.clear()
        await c.get(str(tmp_path / "up"), tmp_path / "down", callback=lambda a, b: seen.append((a, b)))
        assert (tmp_path / "down").read_bytes() == data
        assert seen[-1] == (len(data), len(data))
        (tmp_path / "empty").touch()
        await c.get(str(tmp_path / "empty"), tmp_path / "empty2")
        assert (tmp_path / "empty2").read_bytes() == b""
        with pytest.raises(FileNotFoundError):
            await c.get(str(tmp_path / "nope"), tmp_path / "nope2")

    run(body)


def test_path_operations(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")

    async def body(c: SFTPClient, _p: Any) -> None:
        base = str(tmp_path)
        await c.rename(base + "/a", base + "/a2")
        with pytest.raises(OSError):
            await c.rename(base + "/a2", base + "/b")  # v3 rename refuses a target
        await c.posix_rename(base + "/a2", base + "/b")
        assert (tmp_path / "b").read_bytes() == b"a"
        await c.mkdir(base + "/d", 0o700)
        assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
        await c.chmod(base + "/b", 0o640)
        assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o640
        await c.utime(base + "/b", (1000000, 2000000))
        assert (tmp_path / "b").stat().st_mtime == 2000000
        await c.truncate(base + "/b", 0)
        assert (tmp_path / "b").stat().st_size == 0
        await c.symlink("b", base + "/ln")
        assert await c.readlink(base + "/ln") == "b"
        await c.hardlink(base + "/b", base + "/hl")
        assert (tmp_path / "hl").stat().st_ino == (tmp_path / "b").stat().st_ino
        await c.remove(base + "/ln")
        await c.unlink(base + "/hl")
        await c.rmdir(base + "/d")
        assert sorted(os.listdir(tmp_path)) == ["b"]
        with pytest.raises(FileNotFoundError):
            await c.remove(base + "/nope")
        assert (await c.statvfs(base)).f_bsize > 0

    run(body)


def test_chdir_getcwd_normalize(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"1")

    async def body(c: SFTPClient, _p: Any) -> None:
        assert c.getcwd() is None
        await c.chdir(str(tmp_path))
        assert c.getcwd() == str(tmp_path)
        assert await c.listdir("d") == ["f"]
        assert await c.normalize("d/../d") == str(tmp_path / "d")
        with pytest.raises(SFTPError) as info:
            await c.chdir("d/f")
        assert getattr(info.value, "errno", None) == errno.ENOTDIR
        await c.chdir(None)
        assert c.getcwd() is None

    run(body)


def test_makedirs_walk_rmtree(tmp_path: Path) -> None:
    async def body(c: SFTPClient, _p: Any) -> None:
        base = str(tmp_path)
        await c.makedirs(base + "/x/y/z")
        await c.makedirs(base + "/x/y", exist_ok=True)
        with pytest.raises(FileExistsError):
            await c.makedirs(base + "/x/y")
        async with await c.open(base + "/x/y/f", "w") as f:
            await f.write(b"1")
        await c.symlink(base + "/x/y", base + "/x/ly")
        walked = [(d, sorted(ds), sorted(fs)) async for d, ds, fs in c.walk(base + "/x")]
        assert walked == [
            (base + "/x", ["ly", "y"], []),
            (base + "/x/y", ["z"], ["f"]),
            (base + "/x/y/z", [], []),
        ]
        bottom_up = [d async for d, _ds, _fs in c.walk(base + "/x", topdown=False)]
        assert bottom_up[-1] == base + "/x"
        with pytest.raises(OSError):
            await c.rmtree(base + "/x/ly")
        await c.rmtree(base + "/x")
        assert os.listdir(tmp_path) == []
        await c.rmtree(base + "/x", ignore_errors=True)
        with pytest.raises(FileNotFoundError):
            await c.rmtree(base + "/x")

    run(body)


def test_recursive_get_put(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    for i in range(20):
        (src / "a" / f"f{i}").write_bytes(os.urandom(1000 * i))
    (src / "a" / "b" / "deep").write_bytes(b"deep")
    os.chmod(src / "a" / "f3", 0o600)
    os.utime(src / "a" / "f3", (1000000, 1000000))
    (tmp_path / "remote").mkdir()
    (tmp_path / "back").mkdir()

    async def body(c: SFTPClient, _p: Any) -> None:
        await c.put(src, str(tmp_path / "remote"), recursive=True, preserve=True)
        up = tmp_path / "remote" / "src"
        assert (up / "a" / "b" / "deep").read_bytes() == b"deep"
        assert stat.S_IMODE((up / "a" / "f3").stat().st_mode) == 0o600
        assert (up / "a" / "f3").stat().st_mtime == 1000000
        await c.get(str(up), tmp_path / "back", recursive=True)
        for i in range(20):
            assert (tmp_path / "back" / "src" / "a" / f"f{i}").read_bytes() == (src / "a" / f"f{i}").read_bytes()
        with pytest.raises(IsADirectoryError):
            await c.get(str(up), tmp_path / "nope", preserve=True)  # a tree needs recursive

    run(body)


def test_fifty_tasks_at_once(tmp_path: Path) -> None:
    """50 tasks stat, list, write and read their own files at the same
    time: every reply reaches the task that asked for it."""
    for i in range(50):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / f"only{i}").write_bytes(b"")

    async def worker(c: SFTPClient, i: int) -> None:
        d = str(tmp_path / f"d{i}")
        payload = bytes([i]) * (1000 + 3000 * i)
        for _ in range(3):
            assert await c.listdir(d) in ([f"only{i}"], sorted([f"only{i}", "data"]), [f"only{i}", "data"])
            async with await c.open(d + "/data", "w") as f:
                await f.write(payload)
            assert (await c.stat(d + "/data")).st_size == len(payload)
            async with await c.open(d + "/data") as f:
                assert await f.read() == payload

    async def body(c: SFTPClient, _p: Any) -> None:
        await asyncio.gather(*(worker(c, i) for i in range(50)))

    run(body)


def test_cancelled_get_leaves_client_usable(tmp_path: Path) -> None:
    data = os.urandom(32 * 1024 * 1024)
    (tmp_path / "big").write_bytes(data)

    async def body(c: SFTPClient, _p: Any) -> None:
        got = asyncio.Event()

        def progress(done: int, total: int) -> None:
            if done > 1024 * 1024:
                got.set()

        task = asyncio.create_task(c.get(str(tmp_path / "big"), tmp_path / "copy", progress))
        await got.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the session goes on: other requests, and a full get
        assert (await c.stat(str(tmp_path / "big"))).st_size == len(data)
        await c.get(str(tmp_path / "big"), tmp_path / "copy2")
        assert (tmp_path / "copy2").read_bytes() == data
        assert not c.closed

    run(body)


def test_closed_session_raises_socket_closed(tmp_path: Path) -> None:
    async def body(c: SFTPClient, _p: Any) -> None:
        f = await c.open(str(tmp_path / "f"), "w")
        await c.close()
        with pytest.raises(OSError, match="Socket is closed"):
            await c.stat(str(tmp_path))
        with pytest.raises(SFTPError):
            await c.listdir(str(tmp_path))
        with pytest.raises(OSError, match="Socket is closed"):
            await f.write(b"x")
        await f.close()  # nothing to send any more; no error

    run(body)


def test_server_going_away_fails_waiters(tmp_path: Path) -> None:
    async def body(c: SFTPClient, proc: asyncio.subprocess.Process) -> None:
        f = await c.open(str(tmp_path / "f"), "w")
        proc.kill()
        await proc.wait()
        with pytest.raises(SFTPError):
            for _ in range(100):
                await f.write(b"x")
                await f.flush()
        with pytest.raises(OSError, match="Socket is closed"):
            await c.stat(str(tmp_path))
        assert c.closed

    run(body)


def test_not_an_sftp_server() -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_exec(
            "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdin is not None
        with pytest.raises(SFTPError, match="Incompatible"):
            await SFTPClient.from_streams(proc.stdout, proc.stdin)
        await proc.wait()

    asyncio.run(main())


def test_large_file_both_ways(tmp_path: Path) -> None:
    """A file over 64 MiB goes up and comes back intact."""
    src = tmp_path / "src"
    with open(src, "wb") as out:
        for _ in range(65):
            out.write(os.urandom(1024 * 1024))
        out.write(b"tail")

    async def body(c: SFTPClient, _p: Any) -> None:
        await c.put(src, str(tmp_path / "up"))
        await c.get(str(tmp_path / "up"), tmp_path / "down")

    run(body)
    assert sha256_of(tmp_path / "up") == sha256_of(src)
    assert sha256_of(tmp_path / "down") == sha256_of(src)


def test_openssh_extensions(tmp_path: Path) -> None:
    import grp
    import pwd

    (tmp_path / "src").write_bytes(b"0123456789" * 1000)
    os.chmod(tmp_path / "src", 0o640)
    (tmp_path / "link").symlink_to("src")

    async def body(c: SFTPClient, _p: Any) -> None:
        base = str(tmp_path)
        home = pwd.getpwuid(os.getuid()).pw_dir
        assert await c.home_directory(pwd.getpwuid(os.getuid()).pw_name) == home
        assert await c.expand_path("~") == await c.normalize(".")  # sftp-server: its start directory
        assert await c.expand_path(base + "/./src") == base + "/src"
        users, groups = await c.users_groups_by_id([os.getuid()], [os.getgid()])
        assert users == [pwd.getpwuid(os.getuid()).pw_name]
        assert groups == [grp.getgrgid(os.getgid()).gr_name]
        await c.remote_copy(base + "/src", base + "/copy")
        assert (tmp_path / "copy").read_bytes() == (tmp_path / "src").read_bytes()
        assert stat.S_IMODE((tmp_path / "copy").stat().st_mode) == 0o640
        async with await c.open(base + "/src") as src, await c.open(base + "/part", "w") as dst:
            await c.copy_data(src, dst, offset=10, length=20, dest_offset=5)
            await dst.fsync()
        assert (tmp_path / "part").read_bytes() == b"\0" * 5 + (b"0123456789" * 3)[10:30]
        from ssh_sftp import SFTPAttributes

        attr = SFTPAttributes()
        attr.st_atime, attr.st_mtime = 1000000, 1500000
        await c.lsetstat(base + "/link", attr)
        assert os.lstat(tmp_path / "link").st_mtime == 1500000
        assert (tmp_path / "src").stat().st_mtime != 1500000

    run(body)
