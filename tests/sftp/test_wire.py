"""Encoding tables (attributes, status codes) in both directions, and bad
input: hypothesis feeds our server random and truncated packets, and fake
servers feed our client malformed replies."""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sftp_helpers import OurServer

from ssh_sftp import SFTPAttributes, SFTPClient, SFTPError, SFTPServer, SocketStream
from ssh_sftp.errors import status_to_exception
from ssh_sftp.local import LocalSFTPServerInterface
from ssh_transport.server import ServerInterface
from ssh_wire import Message, SSHException

pytestmark = pytest.mark.timeout(120)

# (fields, wire bytes)
ATTR_ROWS: list[tuple[dict[str, object], bytes]] = [
    ({}, bytes.fromhex("00000000")),
    ({"st_size": 5}, bytes.fromhex("00000001 0000000000000005")),
    ({"st_uid": 1000, "st_gid": 100}, bytes.fromhex("00000002 000003e8 00000064")),
    ({"st_mode": 0o100644}, bytes.fromhex("00000004 000081a4")),
    ({"st_atime": 1, "st_mtime": 2}, bytes.fromhex("00000008 00000001 00000002")),
    (
        {"st_size": 1 << 40, "st_uid": 0, "st_gid": 0, "st_mode": 0o40755, "st_atime": 7, "st_mtime": 8},
        bytes.fromhex("0000000f 0000010000000000 00000000 00000000 000041ed 00000007 00000008"),
    ),
    (
        {"st_size": 0, "attr": {"x@y": b"z"}},
        bytes.fromhex("80000001 0000000000000000 00000001 00000003") + b"x@y" + bytes.fromhex("00000001") + b"z",
    ),
]


@pytest.mark.parametrize(("fields", "wire"), ATTR_ROWS)
def test_attributes_encode(fields: dict[str, object], wire: bytes) -> None:
    attr = SFTPAttributes()
    for k, v in fields.items():
        setattr(attr, k, v)
    assert attr.asbytes() == wire


@pytest.mark.parametrize(("fields", "wire"), ATTR_ROWS)
def test_attributes_decode(fields: dict[str, object], wire: bytes) -> None:
    attr = SFTPAttributes._from_msg(Message(wire, strict=True), "name")
    for k, v in fields.items():
        assert getattr(attr, k) == v
    assert attr.filename == "name"
    assert attr.asbytes() == wire


def test_attributes_truncated_raise_sshexception() -> None:
    for _, wire in ATTR_ROWS:
        for cut in range(1 if len(wire) > 4 else 0, len(wire) if len(wire) > 4 else 4):
            if cut >= 4 and wire[3] == 0 and wire[0] == 0:
                continue
            with pytest.raises(SSHException):
                SFTPAttributes._from_msg(Message(wire[:cut], strict=True))


def test_attributes_from_stat_and_ls_line(tmp_path: Path) -> None:
    p = tmp_path / "file.txt"
    p.write_bytes(b"x" * 1234)
    os.chmod(p, 0o4751)
    attr = SFTPAttributes.from_stat(os.stat(p), "file.txt")
    assert attr.st_size == 1234 and attr.filename == "file.txt"
    line = str(attr)
    assert line.startswith("-rwsr-x--x")
    assert " 1234 " in line and line.endswith(" file.txt")
    d = SFTPAttributes()
    d.st_mode = stat.S_IFDIR | 0o1777
    d.filename = "tmp"
    assert str(d).startswith("drwxrwxrwt")
    assert str(SFTPAttributes()).startswith("?---------")
    assert "st_size=1234" in repr(attr)


@pytest.mark.parametrize(
    ("code", "exc_type", "err"),
    [
        (1, EOFError, None),
        (2, FileNotFoundError, errno.ENOENT),
        (3, PermissionError, errno.EACCES),
        (4, OSError, None),
        (5, OSError, errno.EBADMSG),
        (6, OSError, errno.ENOTCONN),
        (7, ConnectionResetError, errno.ECONNRESET),
        (8, OSError, errno.EOPNOTSUPP),
        (99, OSError, None),
    ],
)
def test_status_mapping(code: int, exc_type: type[BaseException], err: int | None) -> None:
    exc = status_to_exception(code, "", "/some/path")
    assert type(exc) is exc_type
    if isinstance(exc, OSError):
        assert exc.errno == err
        assert "/some/path" in str(exc)


@pytest.mark.parametrize(
    ("err", "code"),
    [(errno.ENOENT, 2), (errno.EACCES, 3), (errno.EPERM, 3), (errno.EEXIST, 4), (errno.EIO, 4)],
)
def test_convert_errno(err: int, code: int) -> None:
    assert SFTPServer.convert_errno(err) == code


# -- our server against random input ---------------------------------------------


class _Sink:
    """A channel stand-in that records what the server sends."""

    def __init__(self) -> None:
        self.out = bytearray()

    def sendall(self, data: bytes) -> None:
        self.out += data

    def recv(self, n: int) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def get_id(self) -> int:
        return 0

    def get_transport(self) -> None:
        return None


def _server(root: Path) -> tuple[SFTPServer, _Sink]:
    sink = _Sink()
    srv = SFTPServer(sink, "sftp", ServerInterface(), LocalSFTPServerInterface, root=str(root))
    return srv, sink


def _replies(buf: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    pos = 0
    while pos < len(buf):
        n, t = struct.unpack_from(">IB", buf, pos)
        body = buf[pos + 5 : pos + 4 + n]
        out.append((t, struct.unpack_from(">I", body)[0], body[4:]))
        pos += 4 + n
    assert pos == len(buf)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=st.integers(0, 255), body=st.binary(max_size=64))
def test_server_random_packets(tmp_path: Path, t: int, body: bytes) -> None:
    srv, sink = _server(tmp_path)
    data = struct.pack(">I", 7) + body
    keep = srv._process(t, data)
    assert keep
    replies = _replies(bytes(sink.out))
    assert len(replies) == 1
    rt, num, _payload = replies[0]
    assert num == 7
    assert rt in (101, 102, 103, 104, 105, 201)
    srv._close_all()


REQUESTS = [
    (3, Message().add_string("/f").add_int(0x1A).add_int(0).asbytes()),  # open
    (6, Message().add_string("f1").add_int64(0).add_string(b"data").asbytes()),  # write
    (5, Message().add_string("f1").add_int64(0).add_int(100).asbytes()),  # read
    (9, Message().add_string("/f").add_int(4).add_int(0o600).asbytes()),  # setstat
    (14, Message().add_string("/d").add_int(0).asbytes()),  # mkdir
    (18, Message().add_string("/f").add_string("/g").asbytes()),  # rename
    (200, Message().add_string("check-file-name").add_string("/g").add_string("md5").asbytes() + bytes(20)),
    (200, Message().add_string("posix-rename@openssh.com").add_string("/g").add_string("/h").asbytes()),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(REQUESTS) - 1), cut=st.integers(0, 200), junk=st.binary(max_size=8))
def test_server_truncated_requests_get_bad_message(tmp_path: Path, which: int, cut: int, junk: bytes) -> None:
    srv, sink = _server(tmp_path)
    # a valid open first so that handle "f1" exists
    srv._process(3, struct.pack(">I", 1) + REQUESTS[0][1])
    sink.out.clear()
    t, body = REQUESTS[which]
    if cut < len(body):
        body = body[:cut]
        expect_bad = True
    else:
        expect_bad = bool(junk) and t in (5, 6)  # trailing bytes on READ/WRITE are refused
        body = body + junk
    assert srv._process(t, struct.pack(">I", 9) + body)
    (rt, num, payload), *_ = _replies(bytes(sink.out))
    assert num == 9
    if expect_bad and cut < len(REQUESTS[which][1]):
        assert rt == 101
        code = struct.unpack_from(">I", payload)[0]
        assert code in (5, 4, 2)  # bad message, or a failure of the truncated path/handle
    elif expect_bad:
        assert rt == 101 and struct.unpack_from(">I", payload)[0] == 5
    srv._close_all()


def test_server_over_socket_survives_garbage_and_closes_on_bad_framing(tmp_path: Path) -> None:
    srv = OurServer(tmp_path)
    sock = srv.client_stream
    try:
        sock.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT v3
        n = struct.unpack(">I", _recv_exact(sock, 4))[0]
        assert _recv_exact(sock, n)[0] == 2  # VERSION
        sock.sendall(struct.pack(">IBI", 6, 17, 1) + b"\x00")  # STAT with a truncated path
        n = struct.unpack(">I", _recv_exact(sock, 4))[0]
        reply = _recv_exact(sock, n)
        assert reply[0] == 101 and struct.unpack_from(">II", reply, 1) == (1, 5)
        sock.sendall(struct.pack(">I", 0xFFFFFFF0))  # absurd length: the server hangs up
        srv.thread.join(10)
        assert not srv.thread.is_alive()
        assert sock.recv(10) == b""
    finally:
        srv.close()


def _recv_exact(sock: SocketStream, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk
        out += chunk
    return out


def test_server_closes_without_init(tmp_path: Path) -> None:
    srv = OurServer(tmp_path)
    try:
        srv.client_stream.sendall(struct.pack(">IBI", 5, 17, 3))
        srv.thread.join(10)
        assert not srv.thread.is_alive()
    finally:
        srv.close()


# -- our client against a misbehaving server --------------------------------------


def _fake_server(script: Callable[[socket.socket], None]) -> tuple[SocketStream, threading.Thread]:
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)

    def run() -> None:
        try:
            script(b)
        except OSError:
            pass
        finally:
            b.close()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return SocketStream(a), th


def _read_req(s: socket.socket) -> tuple[int, int]:
    head = b""
    while len(head) < 4:
        head += s.recv(4 - len(head))
    n = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return body[0], struct.unpack_from(">I", body, 1)[0]


def _version(s: socket.socket) -> None:
    _read_req(s)
    s.sendall(struct.pack(">IBI", 5, 2, 3))


@pytest.mark.parametrize(
    "reply",
    [
        lambda num: struct.pack(">IBI", 5, 105, num),  # ATTRS with no flags word
        lambda num: struct.pack(">IBI", 9, 105, num) + b"\x00\x00\x00\x01",  # size flag, no size
        lambda num: struct.pack(">IB", 3, 105) + b"\x00\x00",  # too short for a request id
        lambda num: struct.pack(">IBI", 5, 105, num + 1000),  # reply to a request never sent
        lambda num: struct.pack(">I", 50_000_000),  # absurd length
        lambda num: struct.pack(">IBI", 13, 104, num) + struct.pack(">II", 1, 1000),  # NAME string overflows
        lambda num: struct.pack(">IBI", 9, 103, num) + struct.pack(">I", 0),  # DATA instead of ATTRS
        lambda num: b"",  # connection closed
    ],
)
def test_client_malformed_replies_raise(reply: Callable[[int], bytes]) -> None:
    def script(s: socket.socket) -> None:
        _version(s)
        _, num = _read_req(s)
        s.sendall(reply(num))

    stream, th = _fake_server(script)
    try:
        c = SFTPClient(stream)
        with pytest.raises((SSHException, OSError)):
            c.stat("/x")
    finally:
        stream.close()
        th.join(5)


def test_client_rejects_non_sftp_server() -> None:
    def script(s: socket.socket) -> None:
        _read_req(s)
        s.sendall(b"SSH-2.0-nope\r\n")

    stream, th = _fake_server(script)
    try:
        with pytest.raises(SFTPError):
            SFTPClient(stream)
    finally:
        stream.close()
        th.join(5)


@settings(max_examples=150, deadline=None)
@given(garbage=st.binary(max_size=40))
def test_client_random_reply_never_hangs(garbage: bytes) -> None:
    def script(s: socket.socket) -> None:
        _version(s)
        _, num = _read_req(s)
        s.sendall(struct.pack(">I", len(garbage) + 5) + bytes([105]) + struct.pack(">I", num) + garbage)

    stream, th = _fake_server(script)
    try:
        c = SFTPClient(stream)
        try:
            c.stat("/x")
        except (SSHException, OSError, EOFError):
            pass
    finally:
        stream.close()
        th.join(5)


def test_client_times_out_on_a_silent_server() -> None:
    done = threading.Event()

    def script(s: socket.socket) -> None:
        _version(s)
        _read_req(s)  # the stat request: never answered
        done.wait(10)

    stream, th = _fake_server(script)
    try:
        c = SFTPClient(stream)
        stream.settimeout(0.3)
        with pytest.raises(TimeoutError):
            c.stat("/x")
    finally:
        done.set()
        stream.close()
        th.join(5)
