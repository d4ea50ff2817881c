"""Regression tests for defects found in the review pass: the served root
itself, NUL bytes in paths, and DATA replies longer than what was asked."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sftp_helpers import OurServer, Remote

from ssh_sftp import LocalSFTPHandle, LocalSFTPServerInterface, SFTPAttributes, SFTPClient, SFTPError, SFTPHandle
from ssh_sftp.operations import check_status
from ssh_sftp.sftp import CMD_CLOSE, CMD_HANDLE, CMD_OPENDIR, SFTP_OK
from ssh_sftp.sftp import ssh_string as _string


def test_root_itself_cannot_be_removed_or_moved(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    srv = OurServer(root)
    c = SFTPClient(srv.client_stream)
    try:
        for op in (
            lambda: c.rmdir("/"),
            lambda: c.rmdir("/."),
            lambda: c.rmdir("a/.."),
            lambda: c.remove("/"),
            lambda: c.rename("/", "/moved"),
            lambda: c.posix_rename("/", "/moved"),
        ):
            with pytest.raises(PermissionError):
                op()
            assert root.is_dir()
        c.mkdir("/sub")
        c.rmdir("/sub")  # ordinary entries still work
    finally:
        c.close()
        srv.close()
    assert os.listdir(tmp_path) == ["root"]


@pytest.mark.parametrize(
    "op",
    [
        lambda c: c.stat("/a\x00b"),
        lambda c: c.normalize("/a\x00b"),
        lambda c: c.open("/a\x00b", "w"),
        lambda c: c.symlink("x\x00y", "/l"),
        lambda c: c.symlink("/x\x00y", "/l"),
        lambda c: c.rename("/a\x00", "/b"),
    ],
)
def test_nul_in_path_is_a_clean_failure(ours: Remote, caplog: pytest.LogCaptureFixture, op: object) -> None:
    caplog.set_level(logging.DEBUG, logger="paramiko.sftp")
    with pytest.raises(OSError) as info:
        op(ours.client)  # type: ignore[operator]
    assert "ValueError" not in str(info.value)
    # refused as bad input, not logged as a crash of the interface
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not os.path.lexists(ours.local / "l")


class _Greedy(LocalSFTPHandle):
    """A handle that answers every read with more bytes than were asked."""

    def read(self, offset: int, length: int) -> bytes | int:
        data = super().read(offset, length)
        return data + b"!" * 10 if isinstance(data, bytes) and data else data


def _serving(handle_class: type[LocalSFTPHandle]) -> type[LocalSFTPServerInterface]:
    """A local interface whose open files are ``handle_class`` handles."""

    class FS(LocalSFTPServerInterface):
        def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
            result = super().open(path, flags, attr)
            if isinstance(result, LocalSFTPHandle):
                fd, result.fd = result.fd, -1
                return handle_class(fd, flags, result.path)
            return result

    return FS


def test_data_reply_longer_than_asked_is_refused(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    srv = OurServer(tmp_path, _serving(_Greedy))
    c = SFTPClient(srv.client_stream)
    try:
        with c.open("/f", "rb") as f:
            with pytest.raises(SFTPError):
                f.read(len(data))
            with pytest.raises(SFTPError):
                list(f.readv([(0, 100), (1000, 100)]))
            f.seek(0)
            f.prefetch()
            with pytest.raises(SFTPError):
                f.read()
    finally:
        c.close()
        srv.close()


@pytest.mark.timeout(30)
def test_pipe_stream_with_timeout_above_fd_setsize(tmp_path: Path) -> None:
    """PipeStream timeouts work on descriptors past 1024 (``select`` fails there)."""
    import resource

    from ssh_sftp import PipeStream

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open more than 1024 files here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    fds: list[int] = []
    try:
        base = os.open(os.devnull, os.O_RDONLY)
        fds.append(base)
        while len(fds) < 1050:
            fds.append(os.dup(base))
        r, w = os.pipe()
        stream = PipeStream(r, w)
        stream.settimeout(5)
        stream.sendall(b"ping")
        assert stream.recv(4) == b"ping"
        stream.settimeout(0.05)
        with pytest.raises(TimeoutError):
            stream.recv(1)
        stream.close()
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_values_out_of_range_are_clean_failures(ours: Remote, caplog: pytest.LogCaptureFixture) -> None:
    """Offsets and sizes past what the OS takes (2**63 and more) are refused
    as bad input: a status for the client, no crash report in the log."""
    caplog.set_level(logging.DEBUG, logger="paramiko.sftp")
    (ours.local / "f").write_bytes(b"abc")
    huge = SFTPAttributes()
    huge.st_size = 2**64 - 1
    with ours.client.open("/f", "r+") as f:
        f.seek(2**64 - 10)
        with pytest.raises(OSError, match="out of range"):
            f.read(5)
        f.seek(2**63 + 5)
        with pytest.raises(OSError, match="out of range"):
            f.write(b"x")
        with pytest.raises(OSError, match="out of range"):
            f.truncate(2**64 - 1)
        with pytest.raises(OSError, match="out of range"):
            f.check("sha256", 2**64 - 2, 1)
    with pytest.raises(OSError, match="out of range"):
        ours.client._setstat("/f", huge)
    assert (ours.local / "f").read_bytes() == b"abc"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_directory_handle_batches_cover_the_listing_once() -> None:
    handle = SFTPHandle()
    entries = []
    for i in range(250):
        a = SFTPAttributes()
        a.filename = f"f{i}"
        entries.append(a)
    handle._set_files(entries)
    got = []
    while batch := handle._get_next_files(100):
        assert len(batch) <= 100
        got += [a.filename for a in batch]
    assert got == [f"f{i}" for i in range(250)]
    assert handle._get_next_files(100) == []


class _NoFstatHandle(LocalSFTPHandle):
    """A handle without stat (the documented SFTPHandle default)."""

    def stat(self) -> SFTPAttributes | int:
        return SFTPHandle.stat(self)


def test_get_works_when_handles_cannot_be_stated(tmp_path: Path) -> None:
    """get/getfo fall back to STAT of the path when the server has no FSTAT,
    as paramiko's getfo (which uses the path) does."""
    data = os.urandom(200_000)
    (tmp_path / "f").write_bytes(data)
    srv = OurServer(tmp_path, _serving(_NoFstatHandle))
    c = SFTPClient(srv.client_stream)
    try:
        seen: list[tuple[int, int]] = []
        c.get("/f", tmp_path / "copy", callback=lambda n, total: seen.append((n, total)))
        assert (tmp_path / "copy").read_bytes() == data
        assert seen[-1] == (len(data), len(data))
    finally:
        c.close()
        srv.close()


def test_open_directory_listings_are_bounded(tmp_path: Path) -> None:
    """Every OPENDIR holds its whole listing until read or closed: the total
    held across handles is capped, so many open handles on a big directory
    cannot exhaust the server's memory."""
    for i in range(30):
        (tmp_path / f"f{i}").write_bytes(b"")
    srv = OurServer(tmp_path)
    srv.server.MAX_LISTED_ENTRIES = 70
    c = SFTPClient(srv.client_stream)
    try:
        first = c._request(CMD_OPENDIR, _string("/"))
        second = c._request(CMD_OPENDIR, _string("/"))
        assert first[0] == second[0] == CMD_HANDLE
        with pytest.raises(OSError, match="Too many directory entries"):
            c.listdir("/")
        handle = first[1].get_string()
        check_status(*c.session.request(CMD_CLOSE, _string(handle)))
        assert len(c.listdir("/")) == 30
    finally:
        c.close()
        srv.close()


_COMPONENTS = ["..", ".", "", "sub", "out", "abs_out", "in", "loop", "up", "abs_in", "secret", "new"]


@pytest.fixture(scope="module")
def jail(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalSFTPServerInterface, Path, Path]:
    """A root full of links (out of the root, back in, loops) next to a secret."""
    base = tmp_path_factory.mktemp("jail")
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(b"SECRET")
    (root / "sub" / "inner").write_bytes(b"inner")
    os.symlink("../outside", root / "out")
    os.symlink(str(outside), root / "abs_out")
    os.symlink("sub", root / "in")
    os.symlink("loop", root / "loop")
    os.symlink("..", root / "sub" / "up")
    os.symlink(str(root / "sub"), root / "sub" / "abs_in")
    os.symlink("../../outside/secret", root / "sub" / "secret")
    return LocalSFTPServerInterface(None, root=root), root, outside


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(_COMPONENTS), min_size=1, max_size=8), absolute=st.booleans())
def test_no_path_reaches_outside_the_root(
    jail: tuple[LocalSFTPServerInterface, Path, Path], parts: list[str], absolute: bool
) -> None:
    """Whatever mix of '..', links out, links back in and loops a path has,
    nothing outside the root is read, listed, named or changed."""
    si, root, outside = jail
    path = ("/" if absolute else "") + "/".join(parts)
    real_root = os.path.realpath(root)
    for follow in (True, False):
        try:
            real = si._real(path, follow=follow)
        except OSError:
            continue
        checked = real if follow or real == real_root else os.path.dirname(real)
        assert os.path.realpath(checked) == real_root or os.path.realpath(checked).startswith(real_root + "/")
    handle = si.open(path, os.O_RDONLY, SFTPAttributes())
    if isinstance(handle, SFTPHandle):
        try:
            assert handle.read(0, 100) != b"SECRET"
        finally:
            handle.close()
    listing = si.list_folder(path)
    if not isinstance(listing, int):
        assert "secret" not in {a.filename for a in listing} or os.path.realpath(si._real(path)) != str(outside)
    for result in (si.canonicalize(path), si.readlink(path)):
        assert not isinstance(result, str) or str(outside) not in result
    # writes: nothing may appear outside (and what was made is undone, so the
    # links stay in place for the next example)
    if si.mkdir(path, SFTPAttributes()) == SFTP_OK:
        assert si.rmdir(path) == SFTP_OK
    if si.symlink("x", path) == SFTP_OK:
        assert si.remove(path) == SFTP_OK
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_bytes() == b"SECRET"


class _Stingy(LocalSFTPHandle):
    """A handle that answers every read with at most 1000 bytes (allowed:
    a server may return less than asked before the end of the file)."""

    def read(self, offset: int, length: int) -> bytes | int:
        return super().read(offset, min(length, 1000))


def test_short_reads_before_eof_are_completed(tmp_path: Path) -> None:
    """Short DATA replies in the middle of a file are not end of file: read,
    prefetch and readv all ask again for the rest."""
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    srv = OurServer(tmp_path, _serving(_Stingy))
    c = SFTPClient(srv.client_stream)
    try:
        with c.open("/f", "rb") as f:
            assert f.read(5000) == data[:5000]
            chunks = [(10, 2500), (299_000, 5000), (0, 0), (100_000, 70_000)]
            got = list(f.readv(chunks))
            assert got == [data[off : off + n] for off, n in chunks]
            f.seek(0)
            f.prefetch()
            assert f.read() == data
    finally:
        c.close()
        srv.close()
