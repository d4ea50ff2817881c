"""Our ``SFTPServer`` with interfaces written for paramiko 5: what their
methods may return (``str`` data, error codes, ``None``), the constructor
arguments, the session hooks and the static helpers."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sftp_helpers import OurServer

from ssh_sftp import (
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_PERMISSION_DENIED,
    SFTPAttributes,
    SFTPClient,
    SFTPHandle,
    SFTPServer,
    SFTPServerInterface,
)
from ssh_sftp.sftp import SFTP_FAILURE
from support.polling import wait_until

pytestmark = pytest.mark.timeout(30)


class MemoryHandle(SFTPHandle):
    """A paramiko-style handle: ``read`` answers ``str``, ``write`` keeps
    whatever type the server hands it."""

    def __init__(self, fs: MemoryFS, path: str, flags: int = 0) -> None:
        super().__init__(flags)
        self.fs = fs
        self.path = path
        self.closed = False

    def read(self, offset: int, length: int) -> str | int:  # type: ignore[override]
        text = self.fs.files[self.path]
        return text[offset : offset + length]

    def write(self, offset: int, data: Any) -> int:
        self.fs.written.append(data)
        return SFTP_OK

    def stat(self) -> SFTPAttributes | int:
        attr = SFTPAttributes()
        attr.st_size = len(self.fs.files[self.path])
        attr.st_mode = stat.S_IFREG | 0o644
        return attr

    def close(self) -> None:
        self.closed = True


class MemoryFS(SFTPServerInterface):
    """A tiny in-memory tree, in the style of paramiko's stub servers."""

    instances: list[MemoryFS] = []

    def __init__(self, server: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.args = args
        self.kwargs = kwargs
        self.files: dict[str, str] = {"/hello.txt": "héllo wörld", "/other": "x"}
        self.written: list[Any] = []
        self.events: list[str] = []
        self.handles: list[MemoryHandle] = []
        MemoryFS.instances.append(self)

    def session_started(self) -> None:
        self.events.append("started")

    def session_ended(self) -> None:
        self.events.append("ended")

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        if path == "/none":
            return None  # type: ignore[return-value]
        if path not in self.files and not flags & os.O_CREAT:
            return SFTP_NO_SUCH_FILE
        self.files.setdefault(path, "")
        handle = MemoryHandle(self, path, flags)
        self.handles.append(handle)
        return handle

    def list_folder(self, path: str) -> list[SFTPAttributes] | int:
        if path != "/":
            return SFTP_NO_SUCH_FILE
        out = []
        for name, text in sorted(self.files.items()):
            attr = SFTPAttributes()
            attr.filename = name[1:]
            attr.st_size = len(text)
            attr.st_mode = stat.S_IFREG | 0o600
            attr.st_mtime = 0xFFFFFFFF
            out.append(attr)
        return out

    def stat(self, path: str) -> SFTPAttributes | int:
        if path == "/denied":
            return SFTP_PERMISSION_DENIED
        if path == "/none":
            return None  # type: ignore[return-value]
        if path == "/" or path in self.files:
            attr = SFTPAttributes()
            attr.st_mode = (stat.S_IFDIR | 0o755) if path == "/" else (stat.S_IFREG | 0o644)
            attr.st_size = 0 if path == "/" else len(self.files[path])
            return attr
        return SFTP_NO_SUCH_FILE

    lstat = stat

    def remove(self, path: str) -> int:
        # a paramiko-era bug: forgets to return SFTP_OK
        self.files.pop(path, None)
        return None  # type: ignore[return-value]

    def canonicalize(self, path: str) -> str:
        if path == "bytes":
            return b"/as-bytes"  # type: ignore[return-value]
        return "/home" if path == "." else super().canonicalize(path)

    def readlink(self, path: str) -> str | int:
        return "/hello.txt" if path == "/link" else SFTP_NO_SUCH_FILE


@pytest.fixture
def memory(tmp_path: Path) -> Any:
    MemoryFS.instances.clear()
    srv = OurServer(tmp_path, MemoryFS, flag="on")
    client = SFTPClient(srv.client_stream)
    try:
        yield client, MemoryFS.instances[-1]
    finally:
        client.close()
        srv.close()


def test_read_returning_str_is_sent_as_utf8(memory: Any) -> None:
    client, _ = memory
    with client.open("/hello.txt") as f:
        assert f.read() == "héllo wörld".encode()


def test_write_gives_paramiko_handles_bytes(memory: Any) -> None:
    client, fs = memory
    with client.open("/new", "wb") as f:
        f.write(b"abc")
    assert fs.written == [b"abc"] and type(fs.written[0]) is bytes


def test_interface_gets_constructor_arguments_and_hooks(memory: Any, tmp_path: Path) -> None:
    client, fs = memory
    assert fs.kwargs == {"flag": "on"} and fs.args == ()
    assert fs.events == ["started"]
    handle_file = client.open("/other")
    client.close()
    assert wait_until(lambda: fs.events == ["started", "ended"], timeout=10), fs.events
    assert fs.handles[-1].closed  # the server closed what the client left open
    del handle_file


def test_listing_from_list_folder(memory: Any) -> None:
    client, _ = memory
    assert client.listdir("/") == ["hello.txt", "other"]
    attrs = client.listdir_attr("/")
    assert [a.filename for a in attrs] == ["hello.txt", "other"]
    assert attrs[1].longname == "-rw-------   1 0        0               1 (unknown date) other"
    assert [a.filename for a in client.listdir_iter("/", read_aheads=1)] == ["hello.txt", "other"]


def test_error_codes_and_bad_results(memory: Any) -> None:
    client, _ = memory
    with pytest.raises(FileNotFoundError) as nf:
        client.stat("/missing")
    assert nf.value.errno == errno.ENOENT and nf.value.strerror == "No such file"
    with pytest.raises(PermissionError) as pd:
        client.stat("/denied")
    assert pd.value.errno == errno.EACCES
    with pytest.raises(OSError) as bad:
        client.stat("/none")  # an interface returning None is a failure
    assert type(bad.value) is OSError and "Failure" in str(bad.value)
    with pytest.raises(OSError) as bad_open:
        client.open("/none")
    assert "Failure" in str(bad_open.value)
    with pytest.raises(OSError) as bad_remove:
        client.remove("/other")
    assert "Failure" in str(bad_remove.value)
    with pytest.raises(OSError) as unsupported:
        client.mkdir("/d")  # not overridden: SFTP_OP_UNSUPPORTED
    assert "Operation unsupported" in str(unsupported.value)


def test_canonicalize_and_readlink_results(memory: Any) -> None:
    client, _ = memory
    assert client.normalize(".") == "/home"
    assert client.normalize("/a/../b") == "/b"
    assert client.normalize("bytes") == "/as-bytes"
    assert client.readlink("/link") == "/hello.txt"
    with pytest.raises(FileNotFoundError):
        client.readlink("/nope")


def test_fstat_from_handle(memory: Any) -> None:
    client, _ = memory
    with client.open("/hello.txt") as f:
        assert f.stat().st_size == len("héllo wörld")


def test_default_interface_answers_unsupported(tmp_path: Path) -> None:
    srv = OurServer(tmp_path, SFTPServerInterface)
    client = SFTPClient(srv.client_stream)
    try:
        assert client.normalize("x/../y") == "/y"
        for call in (lambda: client.stat("/"), lambda: client.listdir("/"), lambda: client.open("/f")):
            with pytest.raises(OSError, match="Operation unsupported"):
                call()
    finally:
        client.close()
        srv.close()


@pytest.mark.parametrize(
    ("err", "code"),
    [
        (errno.ENOENT, SFTP_NO_SUCH_FILE),
        (errno.ENOTDIR, SFTP_NO_SUCH_FILE),
        (errno.EACCES, SFTP_PERMISSION_DENIED),
        (errno.EEXIST, SFTP_FAILURE),
        (errno.EIO, SFTP_FAILURE),
    ],
)
def test_convert_errno(err: int, code: int) -> None:
    assert SFTPServer.convert_errno(err) == code


def test_set_file_attr(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    attr = SFTPAttributes()
    attr.st_mode = 0o600
    attr.st_atime, attr.st_mtime = 1_000_000, 2_000_000
    attr.st_size = 4
    SFTPServer.set_file_attr(str(p), attr)
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (int(st.st_atime), int(st.st_mtime)) == (1_000_000, 2_000_000)
    assert p.read_bytes() == b"0123"
    with pytest.raises(OSError):
        SFTPServer.set_file_attr(str(tmp_path / "missing"), attr)


def test_handle_is_a_context_manager() -> None:
    class Closing(SFTPHandle):
        def __init__(self) -> None:
            super().__init__()
            self.closed = False

        def close(self) -> None:
            self.closed = True

    with Closing() as h:
        assert not h.closed
    assert h.closed


def test_handle_defaults_use_readfile(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abcdef")
    h = SFTPHandle(os.O_RDONLY)
    assert h.read(0, 3) != b"abc"  # no readfile: an error code
    h.readfile = open(p, "rb")  # type: ignore[attr-defined]  # noqa: SIM115
    assert h.read(2, 3) == b"cde"
    assert h.stat() == h.chattr(SFTPAttributes())  # both unsupported by default
    h.close()
    assert h.readfile.closed  # type: ignore[attr-defined]
