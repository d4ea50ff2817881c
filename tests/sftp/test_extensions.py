"""The OpenSSH SFTP extensions, both sides: our client's methods against
OpenSSH's sftp-server and against our server (``remote`` fixture), and
our server offering only what its interface can do."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sftp_helpers import OurServer, Remote, openssh_server

from ssh_sftp import (
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    LocalSFTPServerInterface,
    SFTPAttributes,
    SFTPClient,
    SFTPHandle,
    SFTPServer,
    SFTPServerInterface,
)
from ssh_sftp.requests import RequestPolicy

pytestmark = pytest.mark.timeout(60)

OPENSSH_EXTENSIONS = {
    "posix-rename@openssh.com",
    "statvfs@openssh.com",
    "fstatvfs@openssh.com",
    "hardlink@openssh.com",
    "fsync@openssh.com",
    "lsetstat@openssh.com",
    "limits@openssh.com",
    "expand-path@openssh.com",
    "copy-data",
    "home-directory",
    "users-groups-by-id@openssh.com",
}


def test_every_openssh_extension_offered(remote: Remote) -> None:
    assert set(remote.client.server_extensions) >= OPENSSH_EXTENSIONS


def test_limits(remote: Remote) -> None:
    limits = remote.client.limits()
    assert limits.max_read_length >= 32768 and limits.max_write_length >= 32768
    assert limits.max_packet_length > limits.max_write_length


def test_remote_copy_keeps_data_and_mode(remote: Remote) -> None:
    data = os.urandom(600_000)
    (remote.local / "src").write_bytes(data)
    os.chmod(remote.local / "src", 0o640)
    remote.client.remote_copy(remote.r("src"), remote.r("dst"))
    assert (remote.local / "dst").read_bytes() == data
    assert (remote.local / "dst").stat().st_mode & 0o777 == 0o640


def test_copy_data_ranges(remote: Remote) -> None:
    (remote.local / "src").write_bytes(b"0123456789")
    c = remote.client
    with c.open(remote.r("src"), "rb") as src, c.open(remote.r("dst"), "wb") as dst:
        c.copy_data(src, dst, offset=2, length=3, dest_offset=4)
        c.copy_data(src, dst, offset=8, length=100, dest_offset=0)  # stops at end of file
    assert (remote.local / "dst").read_bytes() == b"89\x00\x00234"


def test_copy_data_refuses_one_file(remote: Remote) -> None:
    (remote.local / "f").write_bytes(b"abc")
    c = remote.client
    with c.open(remote.r("f"), "r+b") as f, pytest.raises(OSError):
        c.copy_data(f, f, 0, 0, 3)
    assert (remote.local / "f").read_bytes() == b"abc"


def test_users_groups_by_id(remote: Remote) -> None:
    uid, gid = os.getuid(), os.getgid()
    users, groups = remote.client.users_groups_by_id([uid, 0x7FFFFFF0], [gid])
    assert users == [pwd.getpwuid(uid).pw_name, ""]
    assert groups == [grp.getgrgid(gid).gr_name]
    assert remote.client.users_groups_by_id([], []) == ([], [])


def test_lsetstat_does_not_follow_links(remote: Remote) -> None:
    (remote.local / "target").write_bytes(b"x")
    os.symlink("target", remote.local / "link")
    before = os.stat(remote.local / "target").st_mtime
    attr = SFTPAttributes()
    attr.st_atime = attr.st_mtime = 1_000_000
    remote.client.lsetstat(remote.r("link"), attr)
    assert os.lstat(remote.local / "link").st_mtime == 1_000_000
    assert os.stat(remote.local / "target").st_mtime == before
    attr = SFTPAttributes()
    attr.st_mode = 0o600
    remote.client.lsetstat(remote.r("target"), attr)  # not a link: applied
    assert os.stat(remote.local / "target").st_mode & 0o777 == 0o600
    attr = SFTPAttributes()
    attr.st_size = 0
    with pytest.raises(OSError) as info:  # a size is a bad message for lsetstat
        remote.client.lsetstat(remote.r("link"), attr)
    assert info.value.errno == errno.EBADMSG


def test_home_directory_of_a_user(remote: Remote) -> None:
    if remote.kind == "ours":
        pytest.skip("the served directory is not the whole file system here")
    me = pwd.getpwuid(os.getuid())
    assert remote.client.home_directory(me.pw_name) == me.pw_dir
    with pytest.raises(OSError):
        remote.client.home_directory("no-such-user-h1x")


@pytest.fixture(params=["openssh", "ours"])
def started(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SFTPClient]:
    """A client whose server serves the whole file system, starting in ``tmp_path``."""
    if request.param == "openssh":
        client = SFTPClient(openssh_server("-d", str(tmp_path)))
        try:
            yield client
        finally:
            client.close()
        return
    srv = OurServer(tmp_path, root="/", start=str(tmp_path))
    client = SFTPClient(srv.client_stream)
    try:
        yield client
    finally:
        client.close()
        srv.close()


def test_expand_path(started: SFTPClient, tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    assert started.normalize(".") == str(tmp_path)
    assert started.expand_path("~") == str(tmp_path)
    (tmp_path / "sub").mkdir()
    assert started.expand_path("~/sub/x") == f"{tmp_path}/sub/x"
    assert started.expand_path(f"~{me.pw_name}") == os.path.realpath(me.pw_dir)
    assert started.expand_path("rel") == f"{tmp_path}/rel"
    with pytest.raises(FileNotFoundError):
        started.expand_path("~no-such-user-h1x/a")


def test_home_directory_default_user_ours(tmp_path: Path) -> None:
    # the spec's empty user name is the session's own user (OpenSSH 9.2 refuses it)
    srv = OurServer(tmp_path, root="/", start=str(tmp_path))
    client = SFTPClient(srv.client_stream)
    try:
        assert client.home_directory() == os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir)
    finally:
        client.close()
        srv.close()


# -- a server written to paramiko 1.5's interface ---------------------------------------


class Handle15(SFTPHandle):
    """A 1.5-style handle: only readfile/writefile and stat."""

    def __init__(self, path: str, flags: int) -> None:
        super().__init__(flags)
        self.path = path

    def stat(self) -> SFTPAttributes | int:
        return SFTPAttributes.from_stat(os.fstat((self.readfile or self.writefile).fileno()))


class Stub15(SFTPServerInterface):
    """Implements exactly paramiko 1.5's SFTPServerInterface methods, over a
    local directory (as paramiko's own test stub does)."""

    ROOT = ""

    def _p(self, path: str) -> str:
        return self.ROOT + self.canonicalize(path)

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        try:
            fd = os.open(self._p(path), flags, attr.st_mode or 0o666)
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)
        mode = "r+b" if flags & os.O_RDWR else "wb" if flags & os.O_WRONLY else "rb"
        if flags & os.O_APPEND:
            mode = "ab"
        handle = Handle15(path, flags)
        f = os.fdopen(fd, mode)
        handle.readfile = f if "r" in mode or "+" in mode else None
        handle.writefile = f if mode != "rb" else None
        return handle

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        try:
            real = self._p(path)
            return [SFTPAttributes.from_stat(os.lstat(os.path.join(real, n)), n) for n in os.listdir(real)]
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)

    def _attr(self, fn: Any, path: str) -> SFTPAttributes | int:
        try:
            return SFTPAttributes.from_stat(fn(self._p(path)))
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)

    def stat(self, path: str) -> SFTPAttributes | int:
        return self._attr(os.stat, path)

    def lstat(self, path: str) -> SFTPAttributes | int:
        return self._attr(os.lstat, path)

    def _do(self, fn: Any, *args: Any) -> int:
        try:
            fn(*args)
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)
        return SFTP_OK

    def remove(self, path: str) -> int:
        return self._do(os.remove, self._p(path))

    def rename(self, oldpath: str, newpath: str) -> int:
        if os.path.lexists(self._p(newpath)):
            return SFTP_FAILURE
        return self._do(os.rename, self._p(oldpath), self._p(newpath))

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        return self._do(os.mkdir, self._p(path), attr.st_mode or 0o777)

    def rmdir(self, path: str) -> int:
        return self._do(os.rmdir, self._p(path))

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        return self._do(SFTPServer.set_file_attr, self._p(path), attr)

    def symlink(self, target_path: str, path: str) -> int:
        return self._do(os.symlink, target_path, self._p(path))

    def readlink(self, path: str) -> str | int:
        try:
            return os.readlink(self._p(path))
        except OSError as exc:
            return SFTPServer.convert_errno(exc.errno or 0)


@pytest.fixture
def stub15(tmp_path: Path) -> Iterator[tuple[SFTPClient, Path]]:
    """Our client against our server running the 1.5-only interface."""
    root = tmp_path / "root"
    root.mkdir()
    iface = type("Stub15Here", (Stub15,), {"ROOT": str(root)})
    srv = OurServer(root, si=iface)
    client = SFTPClient(srv.client_stream)
    try:
        yield client, root
    finally:
        client.close()
        srv.close()


def test_15_interface_gets_only_what_it_can_do(stub15: tuple[SFTPClient, Path]) -> None:
    client, _root = stub15
    offered = set(client.server_extensions)
    assert {"posix-rename@openssh.com", "lsetstat@openssh.com", "copy-data", "fsync@openssh.com"} <= offered
    assert {"limits@openssh.com", "expand-path@openssh.com", "home-directory"} <= offered
    # nothing in a 1.5 interface can answer these
    assert not offered & {"statvfs@openssh.com", "fstatvfs@openssh.com", "hardlink@openssh.com"}
    assert "users-groups-by-id@openssh.com" not in offered
    with pytest.raises(OSError) as info:
        client.statvfs("/")
    assert info.value.errno == errno.EOPNOTSUPP


def test_15_posix_rename_replaces_files(stub15: tuple[SFTPClient, Path]) -> None:
    client, root = stub15
    (root / "a").write_bytes(b"new")
    (root / "b").write_bytes(b"old")
    client.posix_rename("/a", "/b")
    assert sorted(os.listdir(root)) == ["b"]
    assert (root / "b").read_bytes() == b"new"
    client.posix_rename("/b", "/c")  # no target: a plain rename
    assert sorted(os.listdir(root)) == ["c"]
    with pytest.raises(OSError):
        client.posix_rename("/missing", "/c")
    assert (root / "c").read_bytes() == b"new"


def test_15_posix_rename_directories(stub15: tuple[SFTPClient, Path]) -> None:
    client, root = stub15
    (root / "d1").mkdir()
    (root / "d1" / "f").write_bytes(b"1")
    (root / "empty").mkdir()
    (root / "full").mkdir()
    (root / "full" / "g").write_bytes(b"2")
    (root / "file").write_bytes(b"3")
    client.posix_rename("/d1", "/empty")  # an empty directory is replaced
    assert (root / "empty" / "f").read_bytes() == b"1" and not (root / "d1").exists()
    with pytest.raises(OSError):
        client.posix_rename("/empty", "/full")  # not empty: refused, both kept
    with pytest.raises(OSError):
        client.posix_rename("/file", "/full")  # a file does not replace a directory
    assert (root / "full" / "g").read_bytes() == b"2"
    assert (root / "file").read_bytes() == b"3"
    assert sorted(os.listdir(root)) == ["empty", "file", "full"]


def test_15_lsetstat_copy_data_fsync(stub15: tuple[SFTPClient, Path]) -> None:
    client, root = stub15
    (root / "f").write_bytes(b"hello")
    os.symlink("f", root / "l")
    attr = SFTPAttributes()
    attr.st_mode = 0o600
    client.lsetstat("/f", attr)  # served through chattr: f is not a link
    assert (root / "f").stat().st_mode & 0o777 == 0o600
    with pytest.raises(OSError):
        client.lsetstat("/l", attr)  # a link itself cannot be changed through chattr
    client.remote_copy("/f", "/g")
    assert (root / "g").read_bytes() == b"hello"
    with client.open("/g", "ab") as f:
        f.write(b"!")
        f.fsync()  # the default handle flushes and fsyncs its file
    assert (root / "g").read_bytes() == b"hello!"


def test_fstatvfs_falls_back_to_the_path(tmp_path: Path) -> None:
    class WithStatvfs(Stub15):
        ROOT = str(tmp_path)

        def statvfs(self, path: str) -> Any:
            from ssh_sftp import SFTPStatVFS

            return SFTPStatVFS.from_statvfs(os.statvfs(self._p(path)))

    class NoFdHandle(SFTPHandle):
        def read(self, offset: int, length: int) -> bytes:
            return b""

    class Opaque(WithStatvfs):
        def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
            return NoFdHandle(flags)

    (tmp_path / "f").write_bytes(b"x")
    srv = OurServer(tmp_path, si=Opaque)
    client = SFTPClient(srv.client_stream)
    try:
        assert "fstatvfs@openssh.com" in client.server_extensions
        with client.open("/f") as f:
            assert f.statvfs().f_blocks == os.statvfs(tmp_path).f_blocks
    finally:
        client.close()
        srv.close()


# -- restricted servers (sftp-server's -R, -p, -P) ----------------------------------------


def _restricted(tmp_path: Path, policy: RequestPolicy) -> tuple[OurServer, SFTPClient]:
    srv = OurServer(tmp_path)
    srv.server.policy = policy
    return srv, SFTPClient(srv.client_stream)


def test_read_only(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    srv, client = _restricted(tmp_path, RequestPolicy(read_only=True))
    try:
        offered = set(client.server_extensions)
        for writer in ("posix-rename@openssh.com", "hardlink@openssh.com", "copy-data", "lsetstat@openssh.com"):
            assert writer not in offered
        assert "statvfs@openssh.com" in offered and "limits@openssh.com" in offered
        assert client.open("/f").read() == b"data"
        assert client.listdir("/") == ["f"]
        for attempt in (
            lambda: client.open("/new", "w"),
            lambda: client.open("/f", "r+"),
            lambda: client.remove("/f"),
            lambda: client.mkdir("/d"),
            lambda: client.rename("/f", "/g"),
            lambda: client.chmod("/f", 0o600),
            lambda: client.symlink("f", "/l"),
        ):
            with pytest.raises(PermissionError):
                attempt()
        assert sorted(os.listdir(tmp_path)) == ["f"] and (tmp_path / "f").read_bytes() == b"data"
    finally:
        client.close()
        srv.close()


def test_deny_and_allow_lists(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    srv, client = _restricted(tmp_path, RequestPolicy.from_lists(denied="remove,hardlink"))
    try:
        assert "hardlink@openssh.com" not in client.server_extensions
        with pytest.raises(PermissionError):
            client.remove("/f")
        client.rename("/f", "/g")
    finally:
        client.close()
        srv.close()
    allowed = "open,close,read,lstat,stat,realpath,opendir,readdir,limits"
    srv, client = _restricted(tmp_path, RequestPolicy.from_lists(allowed=allowed, denied="opendir"))
    try:
        assert set(client.server_extensions) == {"limits@openssh.com"}
        assert client.open("/g").read() == b"data"
        with pytest.raises(PermissionError):
            client.listdir("/")  # denied wins over allowed
        with pytest.raises(PermissionError), client.open("/h", "w") as f:
            f.write(b"x")  # write is not allowed (open is)
    finally:
        client.close()
        srv.close()


def test_policy_rules() -> None:
    policy = RequestPolicy.from_lists(read_only=True)
    assert policy.permits_open(os.O_RDONLY)
    assert not policy.permits_open(os.O_RDONLY | os.O_CREAT)
    assert not policy.permits_open(os.O_WRONLY)
    assert RequestPolicy().permits_open(os.O_RDWR | os.O_TRUNC)
    assert "users-groups-by-id@openssh.com" not in policy.refused_extensions()
    assert "copy-data" in policy.refused_extensions()


def test_local_interface_stays_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    si = LocalSFTPServerInterface(None, root=str(root), start="/sub")
    assert si.canonicalize(".") == "/sub"
    assert si.canonicalize("../../..") == "/"
    assert si.home_directory("") == SFTP_NO_SUCH_FILE  # the real home is outside this root
    assert si.home_directory("no-such-user-h1x") == SFTP_FAILURE
    assert si.users_groups_by_id([0], [0]) == ([pwd.getpwuid(0).pw_name], [grp.getgrgid(0).gr_name])
    (tmp_path / "outside").write_bytes(b"x")
    os.symlink(str(tmp_path / "outside"), root / "esc")
    attr = SFTPAttributes()
    attr.st_mode = 0o600
    assert si.lsetstat("/esc", attr) == SFTP_FAILURE  # a link's own mode: refused, target untouched
    assert stat.S_IMODE((tmp_path / "outside").stat().st_mode) != 0o600
