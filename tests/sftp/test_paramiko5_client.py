"""``SFTPClient``/``SFTPFile`` as paramiko 5 code uses them: over a real
``Transport`` pair (``from_transport``, a closed session or transport gives
``OSError("Socket is closed")``, logging), and the return values and errors
of the client calls paramiko users and fsspec depend on."""

from __future__ import annotations

import errno
import inspect
import io
import logging
import os
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sftp_helpers import OurServer, Remote

import ssh_keys
from ssh_sftp import (
    LocalSFTPServerInterface,
    SFTPAttributes,
    SFTPClient,
    SFTPError,
    SFTPFile,
    SFTPHandle,
    SFTPServer,
)
from ssh_sftp.local import LocalSFTPHandle
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport
from support.polling import wait_until

pytestmark = pytest.mark.timeout(60)

_HOST_KEY = ssh_keys.Ed25519Key.generate()


class _Login(ServerInterface):
    """Accepts user "u" with password "p" and session channels."""

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if (username, password) == ("u", "p") else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED


@dataclass
class Pair:
    client_transport: Transport
    server_transport: Transport
    sftp: SFTPClient
    root: Path


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """Our client on our SSH transport, talking to our SFTPServer over
    ``LocalSFTPServerInterface`` serving ``tmp_path`` as "/"."""
    a, b = socket.socketpair()
    server_t = Transport(b)
    server_t.add_server_key(_HOST_KEY)
    server_t.set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root=str(tmp_path))
    server_t.start_server(threading.Event(), _Login())
    client_t = Transport(a)
    try:
        client_t.connect(username="u", password="p")
        sftp = SFTPClient.from_transport(client_t, window_size=1 << 20, max_packet_size=16384)
        assert sftp is not None
        yield Pair(client_t, server_t, sftp, tmp_path)
    finally:
        client_t.close()
        server_t.close()
        a.close()
        b.close()


def _assert_socket_closed(exc: BaseException) -> None:
    """What paramiko raises for a request on a closed session."""
    assert isinstance(exc, OSError) and str(exc) == "Socket is closed"
    assert isinstance(exc, SFTPError)  # and what this project raised before


def _every_request(sftp: SFTPClient, root: Path) -> list[Any]:
    return [
        lambda: sftp.stat("/f"),
        lambda: sftp.lstat("/f"),
        lambda: sftp.listdir("/"),
        lambda: sftp.listdir_attr("/"),
        lambda: list(sftp.listdir_iter("/")),
        lambda: sftp.open("/f"),
        lambda: sftp.normalize("."),
        lambda: sftp.mkdir("/d"),
        lambda: sftp.remove("/f"),
        lambda: sftp.rename("/f", "/g"),
        lambda: sftp.posix_rename("/f", "/g"),
        lambda: sftp.chmod("/f", 0o600),
        lambda: sftp.get("/f", str(root / "copy")),
        lambda: sftp.put(str(root / "f"), "/up"),
    ]


def test_from_transport_and_channel(pair: Pair) -> None:
    chan = pair.sftp.get_channel()
    assert chan is pair.sftp.sock and chan.get_transport() is pair.client_transport
    assert pair.sftp.normalize(".") == "/"
    assert pair.sftp.logger.name == pair.client_transport.get_log_channel() + ".sftp"


def test_requests_after_close_say_socket_is_closed(pair: Pair) -> None:
    (pair.root / "f").write_bytes(b"data")
    sftp = pair.sftp
    open_file = sftp.open("/f")
    sftp.close()
    for call in _every_request(sftp, pair.root):
        with pytest.raises(OSError) as info:
            call()
        _assert_socket_closed(info.value)
    with pytest.raises(OSError) as info:
        open_file.read()
    _assert_socket_closed(info.value)
    open_file.close()  # quietly: the session is gone
    sftp.close()  # twice is fine


def test_requests_after_transport_close_say_socket_is_closed(pair: Pair) -> None:
    (pair.root / "f").write_bytes(b"data")
    pair.client_transport.close()
    for call in _every_request(pair.sftp, pair.root):
        with pytest.raises(OSError) as info:
            call()
        _assert_socket_closed(info.value)


def test_requests_after_server_goes_away_say_socket_is_closed(pair: Pair) -> None:
    (pair.root / "f").write_bytes(b"data")
    pair.server_transport.close()
    assert wait_until(lambda: not pair.client_transport.is_active(), timeout=10)
    with pytest.raises(OSError) as info:
        pair.sftp.stat("/f")
    _assert_socket_closed(info.value)


def test_put_get_return_values_and_callbacks(pair: Pair) -> None:
    sftp, root = pair.sftp, pair.root
    data = os.urandom(100_000)
    (root / "src").write_bytes(data)
    progress: list[tuple[int, int]] = []
    attrs = sftp.put(str(root / "src"), "/dst", callback=lambda done, total: progress.append((done, total)))
    assert isinstance(attrs, SFTPAttributes) and attrs.st_size == len(data)
    assert progress[-1] == (len(data), len(data))
    unconfirmed = sftp.put(str(root / "src"), "/dst2", confirm=False)
    assert isinstance(unconfirmed, SFTPAttributes) and unconfirmed.st_size is None
    assert sftp.putfo(io.BytesIO(b"abc"), "/small").st_size == 3
    assert sftp.get("/dst", str(root / "back"), prefetch=False) is None
    assert (root / "back").read_bytes() == data
    sink = io.BytesIO()
    assert sftp.getfo("/dst", sink, max_concurrent_prefetch_requests=4) == len(data)
    assert sink.getvalue() == data


class _LyingSize(LocalSFTPServerInterface):
    """Reports every file one byte longer than it is."""

    def stat(self, path: str) -> SFTPAttributes | int:
        attr = super().stat(path)
        if isinstance(attr, SFTPAttributes) and attr.st_size is not None:
            attr.st_size += 1
        return attr


def test_put_confirm_size_mismatch_message(tmp_path: Path) -> None:
    srv = OurServer(tmp_path, _LyingSize)
    sftp = SFTPClient(srv.client_stream)
    try:
        with pytest.raises(IOError, match=r"^size mismatch in put!  4 != 3$"):
            sftp.putfo(io.BytesIO(b"abc"), "/f")
        assert sftp.putfo(io.BytesIO(b"abc"), "/g", confirm=False).st_size is None
    finally:
        sftp.close()
        srv.close()


def test_chdir_to_a_file_is_sftperror_with_enotdir(ours: Remote) -> None:
    (ours.local / "file").write_bytes(b"x")
    with pytest.raises(SFTPError) as info:
        ours.client.chdir("/file")
    assert isinstance(info.value, OSError)
    assert info.value.args == (errno.ENOTDIR, "Not a directory: /file")
    assert ours.client.getcwd() is None


def test_path_operations(ours: Remote) -> None:
    c, local = ours.client, ours.local
    assert c.mkdir("/d") is None
    assert stat.S_ISDIR(c.stat("/d").st_mode or 0)
    c.chdir("/d")
    assert c.getcwd() == "/d"
    with c.open("f", "w") as f:
        f.write("hello")
    assert c.truncate("f", 2) is None and (local / "d" / "f").read_bytes() == b"he"
    assert c.utime("f", (1_000_000, 2_000_000)) is None
    assert c.stat("f").st_mtime == 2_000_000
    c.utime("f", None)
    assert c.chmod("f", 0o640) is None and stat.S_IMODE(c.stat("f").st_mode or 0) == 0o640
    st = os.stat(local / "d" / "f")
    assert c.chown("f", st.st_uid, st.st_gid) is None
    assert c.symlink("f", "l") is None and c.readlink("l") == "f"
    assert stat.S_ISLNK(c.lstat("l").st_mode or 0)
    assert c.posix_rename("f", "g") is None and sorted(c.listdir()) == ["g", "l"]
    assert c.unlink("l") is None and c.remove("g") is None
    c.chdir("/")
    assert c.rmdir("/d") is None and c.listdir() == []
    with pytest.raises(FileNotFoundError) as info:
        c.stat("/d")
    assert info.value.errno == errno.ENOENT and info.value.strerror == "No such file"


def test_file_methods(ours: Remote) -> None:
    c, local = ours.client, ours.local
    data = os.urandom(200_000)
    (local / "f").write_bytes(data)
    with c.file("/f", "r+", bufsize=-1) as f:
        assert isinstance(f, SFTPFile) and "/f" in repr(f)
        f.prefetch(file_size=None, max_concurrent_requests=4)
        assert f.read(10) == data[:10]
        assert list(f.readv([(0, 5), (150_000, 7)], max_concurrent_prefetch_requests=2)) == [
            data[:5],
            data[150_000:150_007],
        ]
        f.settimeout(5.0)
        assert f.gettimeout() == 5.0
        f.setblocking(True)
        assert f.gettimeout() is None
        f.set_pipelined(True)
        f.seek(0)
        f.write(b"XY")
        f.flush()
        f.set_pipelined(False)
        assert f.stat().st_size == len(data)
        f.chmod(0o600)
        f.utime((1_000_000, 3_000_000))
        assert f.stat().st_mtime == 3_000_000
        f.truncate(100)
        st = os.stat(local / "f")
        f.chown(st.st_uid, st.st_gid)
        assert len(f.check("sha256")) == 32
    assert (local / "f").read_bytes() == b"XY" + data[2:100]
    assert "closed" in repr(f)


class _RecordingHandle(LocalSFTPHandle):
    """Notes the length of every READ and WRITE it serves."""

    lengths: list[int] = []

    def read(self, offset: int, length: int) -> bytes | int:
        self.lengths.append(length)
        return super().read(offset, length)

    def write(self, offset: int, data: bytes | memoryview) -> int:
        self.lengths.append(len(data))
        return super().write(offset, data)


class _Recording(LocalSFTPServerInterface):
    def open(self, path: str, flags: int, attr: SFTPAttributes) -> SFTPHandle | int:
        result = super().open(path, flags, attr)
        if isinstance(result, LocalSFTPHandle):
            fd, result.fd = result.fd, -1
            return _RecordingHandle(fd, flags, result.path)
        return result


def test_max_request_size_applies_without_server_limits(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    srv = OurServer(tmp_path, _Recording)
    c = SFTPClient(srv.client_stream)
    lengths = _RecordingHandle.lengths
    try:
        assert c.limits_announced  # our server announces limits@openssh.com
        c.limits_announced = False  # as against servers that do not
        lengths.clear()
        with c.open("/f") as f:
            assert f.read(100_000) == data[:100_000]
        assert SFTPFile.MAX_REQUEST_SIZE == 32768 and max(lengths) == 32768
        lengths.clear()
        with c.open("/f") as f:
            f.MAX_REQUEST_SIZE = 65536  # paramiko's tuning knob
            assert f.read(200_000) == data[:200_000]
            f.seek(0)
        assert max(lengths) == 65536
        lengths.clear()
        with c.open("/g", "wb") as f:
            f.MAX_REQUEST_SIZE = 65536
            f.write(data)
        assert max(lengths) == 65536 and (tmp_path / "g").read_bytes() == data
    finally:
        c.close()
        srv.close()


def test_signatures_match_paramiko() -> None:
    def params(fn: Any) -> list[tuple[str, Any]]:
        """paramiko's parameters: positional ones, in order. Keyword-only
        options we add (get/put's ``recursive=`` ...) cannot break a call
        written for paramiko, so they are left out of the comparison."""
        values = inspect.signature(fn).parameters.values()
        return [(p.name, p.default) for p in values if p.name != "self" and p.kind != p.KEYWORD_ONLY]

    empty = inspect.Parameter.empty
    assert params(SFTPClient.from_transport) == [("t", empty), ("window_size", None), ("max_packet_size", None)]
    assert params(SFTPClient.listdir_iter) == [("path", "."), ("read_aheads", 50)]
    assert params(SFTPClient.open) == [("filename", empty), ("mode", "r"), ("bufsize", -1)]
    assert params(SFTPClient.mkdir) == [("path", empty), ("mode", 0o777)]
    assert params(SFTPClient.get) == [
        ("remotepath", empty),
        ("localpath", empty),
        ("callback", None),
        ("prefetch", True),
        ("max_concurrent_prefetch_requests", None),
    ]
    assert params(SFTPClient.putfo) == [
        ("fl", empty),
        ("remotepath", empty),
        ("file_size", 0),
        ("callback", None),
        ("confirm", True),
    ]
    assert params(SFTPFile.prefetch) == [("file_size", None), ("max_concurrent_requests", None)]
    assert params(SFTPFile.readv) == [("chunks", empty), ("max_concurrent_prefetch_requests", None)]
    assert SFTPClient.file is SFTPClient.open and SFTPClient.unlink is SFTPClient.remove


def test_closed_session_logs_nothing_alarming(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        pair.sftp.close()
        with pytest.raises(OSError):
            pair.sftp.stat("/")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
