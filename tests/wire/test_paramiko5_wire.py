"""paramiko 5.x's Message, exception and util-helper API on ssh_wire. Expected
values (wire bytes, messages, strings) were checked against paramiko 5.1."""

from __future__ import annotations

import logging
import pickle
import re
import socket
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ssh_wire as w
from ssh_wire import Message, wildcard_match

# (value, wire bytes in hex) for add_adaptive_int / get_adaptive_int
ADAPTIVE = [
    (0, "00000000"),
    (1, "00000001"),
    (0xFEFFFFFF, "feffffff"),
    (0xFF000000, "ff0000000500ff000000"),
    (0xFFFFFFFF, "ff0000000500ffffffff"),
    (2**40, "ff00000006010000000000"),
]


@pytest.mark.parametrize(("value", "wire"), ADAPTIVE)
def test_adaptive_int_both_ways(value: int, wire: str) -> None:
    assert Message().add_adaptive_int(value).asbytes().hex() == wire
    msg = Message(bytes.fromhex(wire) + b"tail")
    assert msg.get_adaptive_int() == value
    assert msg.get_remainder() == b"tail"
    assert Message(bytes.fromhex(wire), strict=True).get_adaptive_int() == value


def test_adaptive_int_edges() -> None:
    assert Message.big_int == 0xFF000000
    with pytest.raises(struct.error):
        Message().add_adaptive_int(-1)
    with pytest.raises(w.ProtocolError):
        Message(b"\xff\x00\x00\x00\x09\x01", strict=True).get_adaptive_int()
    with pytest.raises(w.ProtocolError):
        Message(b"\x00\x01", strict=True).get_adaptive_int()
    assert Message(b"\x00\x01").get_adaptive_int() == 0x00010000  # lenient: zero-padded


def test_add_encodes_ints_adaptively() -> None:
    msg = Message().add(1, True, "s", b"b", ["a", "b"], 2**33)
    assert msg.asbytes().hex() == "00000001010000000173000000016200000003612c62ff000000050200000000"
    back = Message(msg.asbytes())
    assert back.get_int() == 1 and back.get_boolean() is True
    assert back.get_text() == "s" and back.get_binary() == b"b"
    assert back.get_list() == ["a", "b"]
    assert back.get_adaptive_int() == 2**33
    with pytest.raises(TypeError):
        Message().add(3.0)


def test_get_binary_so_far_remainder_rewind() -> None:
    msg = Message(b"\x00\x00\x00\x03abcdef")
    assert msg.get_binary() == b"abc"
    assert msg.get_remainder() == b"def"
    assert msg.get_so_far() == b"\x00\x00\x00\x03abc"
    msg.rewind()
    assert msg.get_bytes(2) == b"\x00\x00"
    assert msg.get_so_far() == b"\x00\x00"
    assert msg.get_remainder() == b"\x00\x03abcdef"


def test_str_is_repr() -> None:
    msg = Message().add_int(5).add_string("hé").add_boolean(True)
    expected = "paramiko.Message(b'\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x03h\\xc3\\xa9\\x01')"
    assert repr(msg) == str(msg) == expected
    assert str(Message(b"\x00\x01")) == "paramiko.Message(b'\\x00\\x01')"


def test_int64_and_mpint_encodings() -> None:
    assert Message().add_int64(2**64 - 1).asbytes().hex() == "ffffffffffffffff"
    assert Message().add_mpint(0).add_mpint(-1).add_mpint(128).asbytes().hex() == "0000000000000001ff000000020080"
    m = Message(Message().add_int64(2**40 + 3).add_mpint(-129).asbytes())
    assert m.get_int64() == 2**40 + 3
    assert m.get_mpint() == -129
    with pytest.raises(struct.error):
        Message().add_int(2**32)


# -- exceptions ---------------------------------------------------------------


def test_exception_strings_and_args() -> None:
    e = w.BadAuthenticationType("Bad authentication type", ["publickey", "password"])
    assert str(e) == "Bad authentication type; allowed types: ['publickey', 'password']"
    assert e.args == ("Bad authentication type", ["publickey", "password"])
    p = w.PartialAuthentication(["password"])
    assert str(p) == "Partial authentication; allowed types: ['password']"
    assert p.args == (["password"],)
    assert w.BadAuthenticationType.allowed_types == [] and w.PartialAuthentication.allowed_types == []
    c = w.ChannelException(2, "Connect failed")
    assert (str(c), c.args, c.code, c.text) == (
        "ChannelException(2, 'Connect failed')",
        (2, "Connect failed"),
        2,
        "Connect failed",
    )
    f = w.ProxyCommandFailure("nc x", "broken")
    assert str(f) == 'ProxyCommand("nc x") returned nonzero exit status: broken'
    assert (f.command, f.error, f.args) == ("nc x", "broken", ("nc x", "broken"))


class _Key:
    def __init__(self, b64: str) -> None:
        self.b64 = b64

    def get_base64(self) -> str:
        return self.b64


def test_bad_host_key_exception() -> None:
    got, expected = _Key("AAAAgot"), _Key("AAAAexp")
    e = w.BadHostKeyException("host", got, expected)
    assert str(e) == "Host key for server 'host' does not match: got 'AAAAgot', expected 'AAAAexp'"
    assert (e.hostname, e.key, e.expected_key) == ("host", got, expected)
    assert e.args == ("host", got, expected)


@pytest.mark.parametrize(
    ("errors", "text"),
    [
        ({("10.0.0.1", 22): OSError("r")}, "Unable to connect to port 22 on 10.0.0.1"),
        (
            {("127.0.0.1", 22): OSError("r"), ("::1", 22, 0, 0): OSError("r")},
            "Unable to connect to port 22 on 127.0.0.1 or ::1",
        ),
        ({("b", 2): OSError(), ("a", 2): OSError(), ("c", 2): OSError()}, "Unable to connect to port 2 on a, b or c"),
    ],
)
def test_no_valid_connections_error(errors: dict[tuple[object, ...], Exception], text: str) -> None:
    e = w.NoValidConnectionsError(errors)
    assert isinstance(e, socket.error) and isinstance(e, OSError)
    assert e.args == (None, text)
    assert (e.errno, e.strerror) == (None, text)
    assert str(e) == f"[Errno None] {text}"
    assert e.errors == errors
    back = pickle.loads(pickle.dumps(e))
    assert str(back) == str(e) and back.errors.keys() == errors.keys()


def test_plain_subclasses() -> None:
    for cls in (w.IncompatiblePeer, w.CouldNotCanonicalize, w.ConfigParseError, w.MessageOrderError):
        assert cls.__mro__[1] is w.SSHException
        assert str(cls("why")) == "why" and cls("why").args == ("why",)
    assert w.UnableToAuthenticate.__mro__[1] is w.AuthenticationException


# -- the paramiko.util helpers ------------------------------------------------------


def test_byte_and_text_helpers() -> None:
    assert w.b("é") == b"\xc3\xa9" and w.b(b"x") == b"x" and w.b("é", "latin-1") == b"\xe9"
    assert w.u(b"\xc3\xa9") == "é" and w.u("s") == "s"
    for func in (w.b, w.u):
        with pytest.raises(TypeError, match="Expected unicode or bytes, got <class 'int'>"):
            func(5)  # type: ignore[operator]
    assert w.asbytes("é") == b"\xc3\xa9" and w.asbytes(b"x") == b"x"
    assert w.asbytes(Message().add_int(1)) == b"\x00\x00\x00\x01"
    assert w.asbytes(5) == 5  # anything else comes back unchanged
    assert w.byte_chr(65) == b"A" and w.byte_ord(65) == 65 and w.byte_ord("A") == 65
    assert w.byte_mask(0x1FF, 0xFF) == b"\xff"
    assert (w.zero_byte, w.one_byte, w.four_byte, w.max_byte, w.crlf) == (b"\x00", b"\x01", b"\x04", b"\xff", b"\r\n")
    assert w.xffffffff == 0xFFFFFFFF and w.DEBUG == logging.DEBUG


def test_number_helpers() -> None:
    assert [w.bit_length(n) for n in (0, 255, -256, 2**100)] == [0, 8, 9, 101]
    assert w.constant_time_bytes_eq(b"ab", b"ab")
    assert not w.constant_time_bytes_eq(b"ab", b"ac")
    assert not w.constant_time_bytes_eq(b"ab", b"abc")
    assert w.constant_time_bytes_eq("ab", "ab")
    assert (w.clamp_value(1, 5, 3), w.clamp_value(1, -5, 3), w.clamp_value(1, 2, 3)) == (3, 1, 2)
    assert w.deflate_long(-129) == b"\xff\x7f" and w.deflate_long(255, False) == b"\xff"
    assert w.inflate_long(b"\xff\x7f") == -129 and w.inflate_long(b"\xff", True) == 255
    assert w.mod_inverse(3, 11) == 4


def test_hexdump_matches_paramiko() -> None:
    data = bytes(range(32, 40)) + b"~\x7f\x80"
    line = "20 21 22 23 24 25 26 27 7E 7F 80"
    assert w.format_binary(data, "> ") == [f"> {line:50s}  !\"#$%&'~.."]
    assert w.safe_string(b"a\x00b%\x7f\xff") == b"a%00b%\x7f%FF"


def test_closing_context_manager() -> None:
    class Thing(w.ClosingContextManager):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    with Thing() as t:
        assert isinstance(t, Thing)
    assert t.closed == 1
    with pytest.raises(RuntimeError), Thing() as t2:
        raise RuntimeError("propagates")
    assert t2.closed == 1


def test_thread_ids_and_logging(tmp_path: Path) -> None:
    mine = w.get_thread_id()
    assert w.get_thread_id() == mine
    other: list[int] = []
    t = threading.Thread(target=lambda: other.append(w.get_thread_id()))
    t.start()
    t.join(10)
    assert other and other[0] != mine
    logger = w.get_logger("paramiko.test_p5")
    w.get_logger("paramiko.test_p5")
    assert sum(isinstance(f, w.PFilter) for f in logger.filters) == 1
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert w.PFilter().filter(record) and record._threadid == mine


@settings(max_examples=300, deadline=None)
@given(st.text("ab*?.", max_size=8), st.text("abAB.", max_size=10), st.booleans())
def test_wildcard_match_agrees_with_a_regex(pattern: str, value: str, ignore_case: bool) -> None:
    """The linear matcher behind ssh_config Host/Match and known_hosts
    patterns answers as the ('*' -> '.*', '?' -> '.') regex would."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    expected = re.fullmatch(body, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None
    assert wildcard_match(pattern, value, ignore_case) is expected


@pytest.mark.timeout(10)
def test_wildcard_match_does_not_backtrack_exponentially() -> None:
    assert not wildcard_match("*" * 40 + "x", "a" * 80)
    assert wildcard_match("*" * 40 + "a", "a" * 80)
