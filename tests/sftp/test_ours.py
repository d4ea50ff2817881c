"""Our client against our server: extensions only we offer (check-file),
failures in the middle of pipelined writes, and either side closing
mid-transfer."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sftp_helpers import OurServer, Remote

from ssh_sftp import (
    SFTP_FAILURE,
    SFTP_OK,
    LocalSFTPServerInterface,
    SFTPAttributes,
    SFTPClient,
    SFTPError,
    SFTPHandle,
    SFTPServerInterface,
)
from ssh_sftp.local import LocalSFTPHandle

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("alg", ["md5", "sha1", "sha256", "sha512"])
def test_check_file_whole_and_blocks(ours: Remote, alg: str) -> None:
    data = os.urandom(300_000)
    (ours.local / "c.bin").write_bytes(data)
    with ours.client.open("/c.bin", "rb") as f:
        assert f.check(alg) == hashlib.new(alg, data).digest()
        assert f.check(f"nope,{alg}", 1000, 5000) == hashlib.new(alg, data[1000:6000]).digest()
        blocks = f.check(alg, 0, 0, 65536)
        want = b"".join(hashlib.new(alg, data[i : i + 65536]).digest() for i in range(0, len(data), 65536))
        assert blocks == want
        with pytest.raises(OSError):
            f.check("crc32")
        with pytest.raises(OSError):
            f.check(alg, 0, 0, 16)  # block size under 256


def test_check_file_name_and_legacy_name(ours: Remote) -> None:
    data = b"hello world" * 1000
    (ours.local / "c.bin").write_bytes(data)
    c = ours.client
    t, msg = c._request(200, *_strings("check-file-name", "/c.bin", "sha256"), bytes(20))
    assert t == 201
    assert msg.get_text() == "check-file"
    assert msg.get_text() == "sha256"
    assert msg.get_remainder() == hashlib.sha256(data).digest()
    # a client that does not see the check-file announcement uses the old name
    del c.server_extensions["check-file"]
    with c.open("/c.bin") as f:
        assert f.check("md5") == hashlib.md5(data).digest()


def _strings(*items: str) -> list[bytes]:
    return [len(s.encode()).to_bytes(4, "big") + s.encode() for s in items]


class FailingHandle(LocalSFTPHandle):
    """Fails every write at or after offset 1 MiB."""

    def write(self, offset: int, data: Any) -> int:
        if offset >= 1024 * 1024:
            return SFTP_FAILURE
        return super().write(offset, data)


class FailingFS(LocalSFTPServerInterface):
    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        h = super().open(path, flags, attr)
        if isinstance(h, LocalSFTPHandle):
            return FailingHandle(h.fd, flags, h.path)
        return h


def test_pipelined_write_failure_mid_upload(tmp_path: Path) -> None:
    srv = OurServer(tmp_path, FailingFS)
    c = SFTPClient(srv.client_stream)
    try:
        f = c.open("/f", "wb")
        f.set_pipelined(True)
        for _ in range(8):
            f.write(b"z" * 256 * 1024)  # writes past 1 MiB fail, silently for now
        with pytest.raises(OSError) as info:
            f.close()
        assert "/f" in str(info.value)
        assert f.closed
        # the session is still usable
        assert c.stat("/f").st_size == 1024 * 1024
        with pytest.raises(OSError):
            c.put(str(_local_file(tmp_path, 3 * 1024 * 1024)), "/g")
    finally:
        c.close()
        srv.close()


def _local_file(tmp_path: Path, size: int) -> Path:
    p = tmp_path / "local.bin"
    p.write_bytes(os.urandom(size))
    return p


class SlowFS(LocalSFTPServerInterface):
    """Reads take a little time, so a transfer is surely in progress when
    the test pulls the plug."""

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        h = super().open(path, flags, attr)
        if isinstance(h, LocalSFTPHandle):
            return SlowHandle(h.fd, flags, h.path)
        return h


class SlowHandle(LocalSFTPHandle):
    def read(self, offset: int, length: int) -> bytes | int:
        time.sleep(0.005)
        return super().read(offset, length)


def test_server_closing_mid_get_gives_clear_error(tmp_path: Path) -> None:
    with open(tmp_path / "big", "wb") as fh:
        fh.truncate(64 * 1024 * 1024)
    srv = OurServer(tmp_path, SlowFS)
    c = SFTPClient(srv.client_stream)
    timer = threading.Timer(0.2, srv.server_stream.close)
    timer.start()
    try:
        with pytest.raises((SFTPError, OSError)) as info:
            c.get("/big", str(tmp_path / "copy"))
        assert "dropped" in str(info.value) or "closed" in str(info.value).lower()
        with pytest.raises(SFTPError):
            c.stat("/big")
    finally:
        timer.cancel()
        c.close()
        srv.close()


def test_client_closing_mid_transfer_ends_the_server(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(8 * 1024 * 1024))
    srv = OurServer(tmp_path, SlowFS)
    c = SFTPClient(srv.client_stream)
    f = c.open("/big", "rb")
    f.prefetch()
    f.read(100_000)
    c.close()  # with reads still in flight
    srv.thread.join(10)
    assert not srv.thread.is_alive()
    with pytest.raises((SFTPError, OSError)):
        f.read()  # what already arrived may be read; the rest cannot come
    f._closed = True


def test_default_interface_refuses_everything(tmp_path: Path) -> None:
    srv = OurServer(tmp_path, SFTPServerInterface)
    c = SFTPClient(srv.client_stream)
    try:
        assert c.normalize("a/../b") == "/b"
        for op in (lambda: c.stat("/x"), lambda: c.open("/x"), lambda: c.listdir("/"), lambda: c.mkdir("/d")):
            with pytest.raises(OSError) as info:
                op()
            assert info.value.errno == 95  # EOPNOTSUPP
    finally:
        c.close()
        srv.close()


class ReadfileHandle(SFTPHandle):
    """The documented default: a handle with readfile/writefile attributes."""

    def __init__(self, path: str, flags: int) -> None:
        super().__init__(flags)
        mode = "r+b" if flags & os.O_RDWR else ("wb" if flags & os.O_WRONLY else "rb")
        self.readfile = self.writefile = open(path, mode)  # noqa: SIM115


class ReadfileFS(LocalSFTPServerInterface):
    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        try:
            return ReadfileHandle(self._real(path), flags)
        except OSError as exc:
            return self.convert(exc)

    @staticmethod
    def convert(exc: OSError) -> int:
        from ssh_sftp import SFTPServer

        return SFTPServer.convert_errno(exc.errno or 0)


def test_readfile_writefile_handle_defaults(tmp_path: Path) -> None:
    srv = OurServer(tmp_path, ReadfileFS)
    c = SFTPClient(srv.client_stream)
    try:
        data = os.urandom(600_000)
        with c.open("/x", "wb") as f:
            f.write(data)
        assert (tmp_path / "x").read_bytes() == data
        with c.open("/x", "rb") as f:
            f.seek(1234)
            assert f.read(5000) == data[1234:6234]
            with pytest.raises(OSError) as info:
                f.stat()
            assert info.value.errno == 95
        with pytest.raises(FileNotFoundError):
            c.open("/missing", "rb")
    finally:
        c.close()
        srv.close()


def test_handle_limit(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    srv = OurServer(tmp_path)
    srv.server.MAX_HANDLES = 5
    c = SFTPClient(srv.client_stream)
    try:
        files = [c.open("/f") for _ in range(5)]
        with pytest.raises(OSError):
            c.open("/f")
        for f in files:
            f.close()
        c.open("/f").close()
    finally:
        c.close()
        srv.close()


def test_socket_timeout_propagates(tmp_path: Path) -> None:
    a, b = socket.socketpair()
    try:
        from ssh_sftp import SocketStream

        a.settimeout(0.3)
        with pytest.raises(TimeoutError):
            SFTPClient(SocketStream(a))  # nobody answers
    finally:
        a.close()
        b.close()


def test_ok_constant() -> None:
    assert SFTP_OK == 0


def test_dropped_file_is_closed_with_the_next_request(tmp_path: Path) -> None:
    import gc

    (tmp_path / "f").write_bytes(b"x")
    srv = OurServer(tmp_path)
    c = SFTPClient(srv.client_stream)
    try:
        f = c.open("/f")
        assert len(srv.server.file_table) == 1
        del f
        gc.collect()
        c.stat("/f")  # the deferred CLOSE goes out first
        assert srv.server.file_table == {}
    finally:
        c.close()
        srv.close()


@pytest.mark.parametrize("kind", ["openssh", "ours"])
def test_one_client_many_threads(request: pytest.FixtureRequest, kind: str) -> None:
    remote: Remote = request.getfixturevalue(kind)
    c = remote.client
    blobs = {i: os.urandom(300_000 + i) for i in range(6)}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for _ in range(3):
                with c.open(remote.r(f"t{i}"), "wb") as f:
                    f.set_pipelined(True)
                    f.write(blobs[i])
                assert c.stat(remote.r(f"t{i}")).st_size == len(blobs[i])
                with c.open(remote.r(f"t{i}"), "rb") as f:
                    f.prefetch()
                    assert f.read() == blobs[i]
                assert f"t{i}" in c.listdir(remote.base)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in blobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(50)
    assert not errors, errors
    assert not any(th.is_alive() for th in threads)


def test_prefetch_and_upload_at_once_do_not_deadlock(openssh: Remote) -> None:
    """Replies of a running prefetch fill the pipe from the server while a
    big pipelined upload fills the pipe to it: the reader thread keeps
    draining, so neither side stalls."""
    data = os.urandom(8 * 1024 * 1024)
    (openssh.local / "src").write_bytes(data)
    c = openssh.client
    with c.open(openssh.r("src"), "rb") as fr, c.open(openssh.r("dst"), "wb") as fw:
        fr.prefetch()
        fw.set_pipelined(True)
        fw.write(data)
        fw.write(data)
        assert fr.read() == data
    assert (openssh.local / "dst").read_bytes() == data + data


def test_absurd_paths_are_refused(ours: Remote) -> None:
    with pytest.raises(OSError):
        ours.client.stat("/a" * 3000)
    with pytest.raises(OSError):
        ours.client.normalize("a/" * 300)
    assert ours.client.normalize("a/" * 10 + "../" * 20) == "/"


class BuggyFS(LocalSFTPServerInterface):
    """An interface with bugs: the server must answer FAILURE and go on."""

    def stat(self, path: str) -> SFTPAttributes | int:
        raise ValueError("bug in the interface")

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        return None  # type: ignore[return-value]


def test_interface_bugs_become_failures(tmp_path: Path) -> None:
    srv = OurServer(tmp_path, BuggyFS)
    c = SFTPClient(srv.client_stream)
    try:
        with pytest.raises(OSError) as info:
            c.stat("/x")
        assert "bug in the interface" in str(info.value)
        with pytest.raises(OSError):
            c.listdir("/")
        assert c.lstat("/").st_mode is not None  # still serving
    finally:
        c.close()
        srv.close()
