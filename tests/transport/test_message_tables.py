"""Connection and auth messages as tables of (core call, exact wire payload,
event at the other end): each row is checked in both directions, encoding by
the sender's core and decoding by the receiver's."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from ssh_transport.protocol import events as ev
from ssh_transport.protocol.core import SSHProtocol
from ssh_transport.protocol.negotiation import KexInit, parse_ext_info
from ssh_wire import Message
from support.corepair import CorePair


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(">I", len(raw)) + raw


def _u(n: int) -> bytes:
    return struct.pack(">I", n)


# (id, call on the client core with (core, cid), payload the client sends, event the server sees)
CLIENT_ROWS: list[tuple[str, Callable[[SSHProtocol, int], Any], bytes, ev.Event]] = [
    (
        "exec",
        lambda c, cid: c.channel_request(cid, "exec", True, _s("ls -l")),
        b"\x62" + _u(0) + _s("exec") + b"\x01" + _s("ls -l"),
        ev.ChannelRequestReceived(0, "exec", True, (b"ls -l",)),
    ),
    (
        "subsystem",
        lambda c, cid: c.channel_request(cid, "subsystem", True, _s("sftp")),
        b"\x62" + _u(0) + _s("subsystem") + b"\x01" + _s("sftp"),
        ev.ChannelRequestReceived(0, "subsystem", True, ("sftp",)),
    ),
    (
        "env",
        lambda c, cid: c.channel_request(cid, "env", False, _s("LANG") + _s("C")),
        b"\x62" + _u(0) + _s("env") + b"\x00" + _s("LANG") + _s("C"),
        ev.ChannelRequestReceived(0, "env", False, (b"LANG", b"C")),
    ),
    (
        "pty-req",
        lambda c, cid: c.channel_request(cid, "pty-req", True, _s("vt100") + _u(80) + _u(24) + _u(0) + _u(0) + _s(b"")),
        b"\x62" + _u(0) + _s("pty-req") + b"\x01" + _s("vt100") + _u(80) + _u(24) + _u(0) + _u(0) + _s(b""),
        ev.ChannelRequestReceived(0, "pty-req", True, (b"vt100", 80, 24, 0, 0, b"")),
    ),
    (
        "window-change",
        lambda c, cid: c.channel_request(cid, "window-change", False, _u(100) + _u(50) + _u(1) + _u(2)),
        b"\x62" + _u(0) + _s("window-change") + b"\x00" + _u(100) + _u(50) + _u(1) + _u(2),
        ev.ChannelRequestReceived(0, "window-change", False, (100, 50, 1, 2)),
    ),
    (
        "x11-req",
        lambda c, cid: c.channel_request(cid, "x11-req", True, b"\x00" + _s("MIT-MAGIC-COOKIE-1") + _s("ab") + _u(0)),
        b"\x62" + _u(0) + _s("x11-req") + b"\x01" + b"\x00" + _s("MIT-MAGIC-COOKIE-1") + _s("ab") + _u(0),
        ev.ChannelRequestReceived(0, "x11-req", True, (False, "MIT-MAGIC-COOKIE-1", b"ab", 0)),
    ),
    (
        "unknown-request",
        lambda c, cid: c.channel_request(cid, "foo@example.com", False, b"\x01\x02"),
        b"\x62" + _u(0) + _s("foo@example.com") + b"\x00" + b"\x01\x02",
        ev.ChannelRequestReceived(0, "foo@example.com", False, (b"\x01\x02",)),
    ),
    (
        "data",
        lambda c, cid: c.send_channel_data(cid, b"hello"),
        b"\x5e" + _u(0) + _s("hello"),
        ev.ChannelDataReceived(0, b"hello", 0),
    ),
    (
        "stderr",
        lambda c, cid: c.send_channel_data(cid, b"oops", ext=1),
        b"\x5f" + _u(0) + _u(1) + _s("oops"),
        ev.ChannelDataReceived(0, b"oops", 1),
    ),
    (
        "eof",
        lambda c, cid: c.channel_eof(cid),
        b"\x60" + _u(0),
        ev.ChannelEOFReceived(0),
    ),
    (
        "global",
        lambda c, cid: c.global_request("tcpip-forward", False, _s("0.0.0.0") + _u(8080)),
        b"\x50" + _s("tcpip-forward") + b"\x00" + _s("0.0.0.0") + _u(8080),
        ev.GlobalRequestReceived("tcpip-forward", False, _s("0.0.0.0") + _u(8080)),
    ),
    (
        "ignore",
        lambda c, cid: c.send_ignore(b"xyz"),
        b"\x02" + _s("xyz"),
        ev.IgnoreReceived(b"xyz"),
    ),
]

# rows sent by the server, seen by the client
SERVER_ROWS: list[tuple[str, Callable[[SSHProtocol, int], Any], bytes, ev.Event]] = [
    (
        "exit-status",
        lambda s, sid: s.channel_request(sid, "exit-status", False, _u(42)),
        b"\x62" + _u(0) + _s("exit-status") + b"\x00" + _u(42),
        ev.ChannelRequestReceived(0, "exit-status", False, (42,)),
    ),
    (
        "exit-signal",
        lambda s, sid: s.channel_request(sid, "exit-signal", False, _s("KILL") + b"\x01" + _s("core") + _s("en")),
        b"\x62" + _u(0) + _s("exit-signal") + b"\x00" + _s("KILL") + b"\x01" + _s("core") + _s("en"),
        ev.ChannelRequestReceived(0, "exit-signal", False, ("KILL", True, "core", "en")),
    ),
    (
        "window-adjust",
        lambda s, sid: s.conn._send(struct.pack(">BII", 93, 0, 1000)),
        b"\x5d" + _u(0) + _u(1000),
        ev.ChannelWindowAdjusted(0, 2 * 1024 * 1024 + 1000),
    ),
    (
        "close",
        lambda s, sid: s.close_channel(sid),
        b"\x61" + _u(0),
        ev.ChannelClosed(0),
    ),
]


def _session() -> tuple[CorePair, int, int, list[bytes], list[bytes]]:
    pair = CorePair()
    cid, sid = pair.session()
    sent_by_client: list[bytes] = []
    sent_by_server: list[bytes] = []
    pair.client.trace = lambda d, p: sent_by_client.append(p) if d == "OUT" else None
    pair.server.trace = lambda d, p: sent_by_server.append(p) if d == "OUT" else None
    return pair, cid, sid, sent_by_client, sent_by_server


@pytest.mark.parametrize(("row", "call", "wire", "event"), CLIENT_ROWS, ids=[r[0] for r in CLIENT_ROWS])
def test_client_to_server(row: str, call: Callable[[SSHProtocol, int], Any], wire: bytes, event: ev.Event) -> None:
    pair, cid, _, out, _ = _session()
    call(pair.client, cid)
    assert out == [wire]
    before = len(pair.server_events)
    pair.pump()
    assert pair.server_events[before] == event


@pytest.mark.parametrize(("row", "call", "wire", "event"), SERVER_ROWS, ids=[r[0] for r in SERVER_ROWS])
def test_server_to_client(row: str, call: Callable[[SSHProtocol, int], Any], wire: bytes, event: ev.Event) -> None:
    pair, _, sid, _, out = _session()
    call(pair.server, sid)
    assert out == [wire]
    before = len(pair.client_events)
    pair.pump()
    assert pair.client_events[before] == event


def test_channel_open_both_directions() -> None:
    pair = CorePair()
    pair.login()
    out: list[bytes] = []
    pair.client.trace = lambda d, p: out.append(p) if d == "OUT" else None
    extra = _s("example.com") + _u(80) + _s("10.0.0.1") + _u(5000)
    pair.client.open_channel("direct-tcpip", extra, window_size=65536, max_packet=16384)
    assert out == [b"\x5a" + _s("direct-tcpip") + _u(0) + _u(65536) + _u(16384) + extra]
    pair.pump()
    req = pair.server_of(ev.ChannelOpenRequested)[0]
    assert (req.kind, req.dest, req.origin, req.data) == (
        "direct-tcpip",
        ("example.com", 80),
        ("10.0.0.1", 5000),
        extra,
    )


@pytest.mark.parametrize(
    ("values", "wire"),
    [
        ({}, b"\x07" + _u(0)),
        ({"server-sig-algs": b"ssh-ed25519"}, b"\x07" + _u(1) + _s("server-sig-algs") + _s("ssh-ed25519")),
        (
            {"a": b"1", "delay-compression": b"\x00\x00\x00\x00"},
            b"\x07" + _u(2) + _s("a") + _s("1") + _s("delay-compression") + _s(b"\0\0\0\0"),
        ),
    ],
)
def test_ext_info_table(values: dict[str, bytes], wire: bytes) -> None:
    assert parse_ext_info(wire) == values
    m = Message().add_byte(7).add_int(len(values))
    for k, v in values.items():
        m.add_string(k).add_string(v)
    assert m.asbytes() == wire


@pytest.mark.parametrize(
    "init",
    [
        KexInit(
            b"\0" * 16,
            ["curve25519-sha256"],
            ["ssh-ed25519"],
            ["aes128-ctr"],
            ["aes256-ctr"],
            ["hmac-sha2-256"],
            ["hmac-sha1"],
            ["none"],
            ["zlib"],
            [],
            [],
            False,
            0,
        ),
        KexInit(
            b"\xff" * 16, ["a", "b"], ["c"], ["d", "e"], ["f"], [], [], ["none"], ["none"], ["en"], ["fr"], True, 7
        ),
    ],
)
def test_kexinit_table(init: KexInit) -> None:
    raw = init.encode()
    expected = b"\x14" + init.cookie
    for names in (
        init.kex,
        init.host_key,
        init.cipher_cs,
        init.cipher_sc,
        init.mac_cs,
        init.mac_sc,
        init.comp_cs,
        init.comp_sc,
        init.lang_cs,
        init.lang_sc,
    ):
        expected += _s(",".join(names))
    expected += bytes([init.first_follows]) + _u(init.reserved)
    assert raw == expected
    assert KexInit.parse(raw) == init


def test_userauth_request_encodings() -> None:
    pair = CorePair()
    pair.kex()
    out: list[bytes] = []
    pair.client.trace = lambda d, p: out.append(p) if d == "OUT" else None
    pair.client.auth_password("bob", "pw")
    assert out == [b"\x05" + _s("ssh-userauth")]  # the request waits for SERVICE_ACCEPT
    pair.pump()
    assert out == [
        b"\x05" + _s("ssh-userauth"),
        b"\x32" + _s("bob") + _s("ssh-connection") + _s("password") + b"\x00" + _s("pw"),
    ]
    req = pair.server_of(ev.AuthRequested)[0]
    assert (req.username, req.service, req.method, req.password) == ("bob", "ssh-connection", "password", "pw")
