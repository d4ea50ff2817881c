"""Every SFTPClient operation, against OpenSSH's sftp-server and against our
own server (the ``remote`` fixture runs each test on both)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import time
from pathlib import Path

import pytest
from sftp_helpers import Remote, openssh_server

from ssh_sftp import SFTPAttributes, SFTPClient, SFTPFile
from ssh_sftp.errors import SFTPError
from ssh_sftp.operations import check_status

pytestmark = pytest.mark.timeout(60)


def test_handshake_and_limits(remote: Remote) -> None:
    c = remote.client
    assert c.server_version == 3
    assert "limits@openssh.com" in c.server_extensions
    # both servers offer 256 KiB reads and writes (OpenSSH: 256 KiB - 1 KiB)
    assert 32768 < c.max_read_size <= 256 * 1024
    assert 32768 < c.max_write_size <= 256 * 1024


def test_listdir_and_attrs(remote: Remote) -> None:
    (remote.local / "a.txt").write_bytes(b"abc")
    (remote.local / "sub").mkdir()
    c = remote.client
    assert sorted(c.listdir(remote.base)) == ["a.txt", "sub"]
    attrs = {a.filename: a for a in c.listdir_attr(remote.base)}
    assert attrs["a.txt"].st_size == 3
    assert stat.S_ISDIR(attrs["sub"].st_mode or 0)
    assert attrs["a.txt"].longname and "a.txt" in attrs["a.txt"].longname
    assert sorted(a.filename for a in c.listdir_iter(remote.base)) == ["a.txt", "sub"]


def test_listdir_many_entries(remote: Remote) -> None:
    for i in range(250):
        (remote.local / f"f{i:03d}").write_bytes(b"")
    assert sorted(remote.client.listdir(remote.base)) == [f"f{i:03d}" for i in range(250)]


def test_mkdir_rmdir_stat(remote: Remote) -> None:
    c = remote.client
    c.mkdir(remote.r("d"), 0o750)
    st = c.stat(remote.r("d"))
    assert stat.S_ISDIR(st.st_mode or 0)
    assert (st.st_mode or 0) & 0o777 == 0o750 & ~_umask()
    with pytest.raises(OSError):
        c.mkdir(remote.r("d"))
    c.rmdir(remote.r("d"))
    assert not (remote.local / "d").exists()
    with pytest.raises(FileNotFoundError) as info:
        c.rmdir(remote.r("d"))
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == remote.r("d")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_missing_file_errors_name_the_path(remote: Remote) -> None:
    c = remote.client
    for op in (c.stat, c.lstat, c.remove, c.listdir, lambda p: c.open(p, "r")):
        with pytest.raises(FileNotFoundError) as info:
            op(remote.r("nope"))
        assert info.value.errno == errno.ENOENT
        assert "nope" in str(info.value)


def test_open_modes(remote: Remote) -> None:
    c = remote.client
    p = remote.r("m.txt")
    with c.open(p, "w") as f:
        f.write("line one\nline two\n")
    with c.open(p, "a") as f:
        f.write(b"three\n")
    assert (remote.local / "m.txt").read_bytes() == b"line one\nline two\nthree\n"
    with c.open(p, "r") as f:
        assert f.readline() == "line one\n"
        assert list(f) == ["line two\n", "three\n"]
    with c.open(p, "rb") as f:
        assert f.readlines() == [b"line one\n", b"line two\n", b"three\n"]
    with c.open(p, "r+") as f:
        f.seek(5)
        f.write(b"ONE")
        f.seek(0)
        assert f.read(8) == b"line ONE"
    with pytest.raises(OSError):
        c.open(p, "x")
    with c.open(remote.r("new.txt"), "x") as f:
        f.write(b"fresh")
    assert (remote.local / "new.txt").read_bytes() == b"fresh"
    with c.file(p, "w") as f:  # truncates
        f.write(b"")
    assert (remote.local / "m.txt").read_bytes() == b""
    with pytest.raises(ValueError):
        c.open(p, "q")


def test_universal_newlines_and_buffering(remote: Remote) -> None:
    (remote.local / "u.txt").write_bytes(b"a\rb\r\nc\nd")
    c = remote.client
    with c.open(remote.r("u.txt"), "rU") as f:
        assert f.readlines() == ["a\n", "b\n", "c\n", "d"]
    for bufsize in (-1, 0, 1, 10, 8192):
        with c.open(remote.r(f"b{bufsize}"), "w", bufsize) as f:
            for i in range(50):
                f.write(f"{i}\n")
        with c.open(remote.r(f"b{bufsize}"), "r", bufsize) as f:
            assert f.read() == "".join(f"{i}\n" for i in range(50)).encode()


def test_file_object_operations(remote: Remote) -> None:
    c = remote.client
    data = os.urandom(100_000)
    (remote.local / "f.bin").write_bytes(data)
    with c.open(remote.r("f.bin"), "r+b") as f:
        assert isinstance(f, SFTPFile)
        assert f.stat().st_size == len(data)
        assert f.seek(-10, f.SEEK_END) == len(data) - 10
        assert f.read() == data[-10:]
        f.seek(1000)
        assert f.tell() == 1000
        assert f.read(5) == data[1000:1005]
        f.seek(3, f.SEEK_CUR)
        assert f.read(2) == data[1008:1010]
        f.chmod(0o640)
        f.truncate(5000)
        f.utime((1_000_000_000, 1_200_000_000))
        st = f.stat()
        assert st.st_size == 5000
        assert (st.st_mode or 0) & 0o777 == 0o640
        assert st.st_mtime == 1_200_000_000
        f.chown(os.getuid(), os.getgid())
        f.settimeout(20)
        assert f.gettimeout() == 20
        f.setblocking(True)
        assert f.gettimeout() is None
        f.fsync()
        assert f.statvfs().f_bsize > 0
    assert (remote.local / "f.bin").read_bytes() == data[:5000]


def test_readv(remote: Remote) -> None:
    data = os.urandom(1_500_000)
    (remote.local / "v.bin").write_bytes(data)
    ranges = [(0, 10), (500_000, 700_000), (5, 0), (1_499_990, 100), (2_000_000, 10), (123, 456)]
    with remote.client.open(remote.r("v.bin"), "rb") as f:
        got = list(f.readv(ranges))
    assert got == [data[o : o + n] for o, n in ranges]


def test_prefetch_reads_whole_file(remote: Remote) -> None:
    data = os.urandom(3_000_000)
    (remote.local / "p.bin").write_bytes(data)
    with remote.client.open(remote.r("p.bin"), "rb") as f:
        f.prefetch()
        assert f.read(1) == data[:1]
        assert f.read(100_001) == data[1:100_002]
        assert f.read() == data[100_002:]
        # a seek drops the prefetch and plain reads take over
        f.seek(10)
        assert f.read(20) == data[10:30]


def test_prefetch_then_seek_midway(remote: Remote) -> None:
    data = os.urandom(2_000_000)
    (remote.local / "p.bin").write_bytes(data)
    with remote.client.open(remote.r("p.bin"), "rb") as f:
        f.prefetch(len(data), max_concurrent_requests=4)
        assert f.read(300_000) == data[:300_000]
        f.seek(1_900_000)
        assert f.read() == data[1_900_000:]


def test_path_operations(remote: Remote) -> None:
    c = remote.client
    (remote.local / "a").write_bytes(b"12345")
    c.chmod(remote.r("a"), 0o600)
    assert (remote.local / "a").stat().st_mode & 0o777 == 0o600
    c.chown(remote.r("a"), os.getuid(), os.getgid())
    c.utime(remote.r("a"), (1_000_000_000, 1_100_000_000))
    assert (remote.local / "a").stat().st_mtime == 1_100_000_000
    before = time.time()
    c.utime(remote.r("a"), None)
    assert (remote.local / "a").stat().st_mtime >= int(before) - 1
    c.truncate(remote.r("a"), 2)
    assert (remote.local / "a").read_bytes() == b"12"
    c.rename(remote.r("a"), remote.r("b"))
    assert (remote.local / "b").exists() and not (remote.local / "a").exists()
    (remote.local / "c").write_bytes(b"c")
    with pytest.raises(OSError):
        c.rename(remote.r("b"), remote.r("c"))  # v3 rename does not replace
    c.posix_rename(remote.r("b"), remote.r("c"))
    assert (remote.local / "c").read_bytes() == b"12"
    c.hardlink(remote.r("c"), remote.r("h"))
    assert (remote.local / "h").stat().st_ino == (remote.local / "c").stat().st_ino
    c.symlink("c", remote.r("s"))
    assert c.readlink(remote.r("s")) == "c"
    assert stat.S_ISLNK(c.lstat(remote.r("s")).st_mode or 0)
    assert stat.S_ISREG(c.stat(remote.r("s")).st_mode or 0)
    c.unlink(remote.r("s"))
    c.remove(remote.r("h"))
    assert sorted(c.listdir(remote.base)) == ["c"]
    vfs = c.statvfs(remote.base)
    assert vfs.f_bsize > 0 and vfs.f_blocks > 0


def test_normalize_chdir_getcwd(remote: Remote) -> None:
    c = remote.client
    (remote.local / "sub").mkdir()
    (remote.local / "sub" / "x").write_bytes(b"x")
    assert c.getcwd() is None
    assert c.normalize(remote.r("sub", "..", "sub")) == remote.r("sub")
    c.chdir(remote.r("sub"))
    assert c.getcwd() == remote.r("sub")
    assert c.listdir() == ["x"]
    assert c.stat("x").st_size == 1
    with pytest.raises(OSError) as info:
        c.chdir("x")
    assert info.value.errno == errno.ENOTDIR
    c.chdir("..")
    assert c.getcwd() == c.normalize(remote.base)
    c.chdir(None)
    assert c.getcwd() is None


@pytest.mark.parametrize("size", [0, 1, 32767, 32768, 32769, 1_000_000, 4 * 1024 * 1024 + 3])
def test_get_put_exact(remote: Remote, tmp_path_factory: pytest.TempPathFactory, size: int) -> None:
    local = tmp_path_factory.mktemp("local")
    data = os.urandom(size)
    (local / "src").write_bytes(data)
    calls: list[tuple[int, int]] = []
    attrs = remote.client.put(str(local / "src"), remote.r("up"), callback=lambda a, b: calls.append((a, b)))
    assert attrs.st_size == size
    assert (remote.local / "up").read_bytes() == data
    _check_progress(calls, size)
    calls.clear()
    remote.client.get(remote.r("up"), str(local / "down"), callback=lambda a, b: calls.append((a, b)))
    assert hashlib.sha256((local / "down").read_bytes()).digest() == hashlib.sha256(data).digest()
    _check_progress(calls, size)


def _check_progress(calls: list[tuple[int, int]], size: int) -> None:
    assert calls, "callback never called"
    done = [a for a, _ in calls]
    assert done == sorted(done)
    assert done[-1] == size
    assert all(total == size for _, total in calls)


def test_getfo_putfo(remote: Remote) -> None:
    data = os.urandom(777_777)
    attrs = remote.client.putfo(io.BytesIO(data), remote.r("x"), len(data))
    assert isinstance(attrs, SFTPAttributes) and attrs.st_size == len(data)
    out = io.BytesIO()
    assert remote.client.getfo(remote.r("x"), out, prefetch=False) == len(data)
    assert out.getvalue() == data
    assert remote.client.putfo(io.BytesIO(b"abc"), remote.r("y"), confirm=False).st_size is None


def test_pipelined_write_error_surfaces(remote: Remote) -> None:
    c = remote.client
    f = c.open(remote.r("w.bin"), "wb")
    f.set_pipelined(True)
    f.write(b"x" * 100_000)
    # the server forgets the handle: later writes fail on the server side
    check_status(*c.session.request(4, f._hstr))  # CMD_CLOSE behind the file's back
    f.write(b"y" * 10)  # pipelined: no error yet
    with pytest.raises(OSError):
        f.stat()
    f._closed = True  # the handle is gone already


def test_big_transfer_100mib(openssh: Remote, tmp_path_factory: pytest.TempPathFactory) -> None:
    local = tmp_path_factory.mktemp("big")
    size = 100 * 1024 * 1024
    with open(local / "src", "wb") as fh:
        block = os.urandom(1024 * 1024)
        for i in range(100):
            fh.write(bytes([i]) + block[1:])
    want = hashlib.sha256((local / "src").read_bytes()).hexdigest()
    openssh.client.put(str(local / "src"), openssh.r("big"))
    assert hashlib.sha256((openssh.local / "big").read_bytes()).hexdigest() == want
    openssh.client.get(openssh.r("big"), str(local / "back"))
    assert (local / "back").stat().st_size == size
    assert hashlib.sha256((local / "back").read_bytes()).hexdigest() == want


def test_permission_denied_maps_to_permissionerror(tmp_path: Path) -> None:
    stream = openssh_server("-P", "remove,setstat")
    stream.settimeout(30)
    (tmp_path / "f").write_bytes(b"x")
    with SFTPClient(stream) as c:
        with pytest.raises(PermissionError) as info:
            c.remove(str(tmp_path / "f"))
        assert info.value.errno == errno.EACCES
        assert info.value.filename == str(tmp_path / "f")
        with pytest.raises(PermissionError):
            c.chmod(str(tmp_path / "f"), 0o600)
    assert (tmp_path / "f").exists()


def test_unsupported_extension_is_eopnotsupp(openssh: Remote) -> None:
    del openssh.client.server_extensions["statvfs@openssh.com"]
    with pytest.raises(OSError) as info:
        openssh.client.statvfs(openssh.base)
    assert info.value.errno == errno.EOPNOTSUPP


def test_requests_after_close_fail_fast(openssh: Remote) -> None:
    openssh.client.close()
    with pytest.raises(SFTPError):
        openssh.client.stat(openssh.base)


def test_check_unsupported_by_openssh(openssh: Remote) -> None:
    (openssh.local / "f").write_bytes(b"x")
    with openssh.client.open(openssh.r("f")) as f, pytest.raises(OSError) as info:
        f.check("sha1")
    assert info.value.errno == errno.EOPNOTSUPP


@pytest.mark.parametrize("read_aheads", [1, 4, 50])
def test_listdir_iter_with_read_aheads(remote: Remote, read_aheads: int) -> None:
    names = {f"f{i:04d}-{'x' * 40}" for i in range(1500)}  # several READDIR batches
    for name in names:
        (remote.local / name).touch()
    c = remote.client
    got = [a.filename for a in c.listdir_iter(remote.base, read_aheads=read_aheads)]
    assert sorted(got) == sorted(names)
    # stopping early drains the requests still in flight: the session stays usable
    it = c.listdir_iter(remote.base, read_aheads=read_aheads)
    next(it)
    it.close()
    assert len(c.listdir(remote.base)) == len(names)
