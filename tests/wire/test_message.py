"""Message encodes and decodes each SSH wire type, both directions, from a table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssh_wire import Message, ProtocolError, SSHException

# (adder, value, wire bytes, getter, value read back)
ROWS = [
    ("add_byte", b"\x07", b"\x07", "get_byte", b"\x07"),
    ("add_byte", 255, b"\xff", "get_byte", b"\xff"),
    ("add_boolean", True, b"\x01", "get_boolean", True),
    ("add_boolean", False, b"\x00", "get_boolean", False),
    ("add_int", 0, b"\x00\x00\x00\x00", "get_int", 0),
    ("add_int", 0x29B7F4AA, b"\x29\xb7\xf4\xaa", "get_int", 0x29B7F4AA),
    ("add_int", 2**32 - 1, b"\xff\xff\xff\xff", "get_int", 2**32 - 1),
    ("add_int64", 2**64 - 1, b"\xff" * 8, "get_int64", 2**64 - 1),
    ("add_int64", 0x0102030405060708, bytes(range(1, 9)), "get_int64", 0x0102030405060708),
    ("add_string", b"", b"\x00\x00\x00\x00", "get_string", b""),
    ("add_string", b"testing", b"\x00\x00\x00\x07testing", "get_string", b"testing"),
    ("add_string", "h\u00e9", b"\x00\x00\x00\x03h\xc3\xa9", "get_text", "h\u00e9"),
    ("add_string", bytearray(b"ab"), b"\x00\x00\x00\x02ab", "get_string", b"ab"),
    ("add_bytes", b"\x00\x01raw", b"\x00\x01raw", "get_remainder", b"\x00\x01raw"),
    # RFC 4251 section 5 mpint examples
    ("add_mpint", 0, b"\x00\x00\x00\x00", "get_mpint", 0),
    (
        "add_mpint",
        0x9A378F9B2E332A7,
        b"\x00\x00\x00\x08\x09\xa3\x78\xf9\xb2\xe3\x32\xa7",
        "get_mpint",
        0x9A378F9B2E332A7,
    ),
    ("add_mpint", 0x80, b"\x00\x00\x00\x02\x00\x80", "get_mpint", 0x80),
    ("add_mpint", -0x1234, b"\x00\x00\x00\x02\xed\xcc", "get_mpint", -0x1234),
    ("add_mpint", -0xDEADBEEF, b"\x00\x00\x00\x05\xff\x21\x52\x41\x11", "get_mpint", -0xDEADBEEF),
    ("add_list", [], b"\x00\x00\x00\x00", "get_list", []),
    ("add_list", ["zlib"], b"\x00\x00\x00\x04zlib", "get_list", ["zlib"]),
    ("add_list", ["zlib", "none"], b"\x00\x00\x00\x09zlib,none", "get_list", ["zlib", "none"]),
]


@pytest.mark.parametrize(("adder", "value", "wire", "getter", "back"), ROWS)
def test_encode(adder: str, value: object, wire: bytes, getter: str, back: object) -> None:
    msg = Message()
    getattr(msg, adder)(value)
    assert msg.asbytes() == wire
    assert bytes(msg) == wire


@pytest.mark.parametrize(("adder", "value", "wire", "getter", "back"), ROWS)
@pytest.mark.parametrize("strict", [False, True])
def test_decode(adder: str, value: object, wire: bytes, getter: str, back: object, strict: bool) -> None:
    msg = Message(wire, strict=strict)
    assert getattr(msg, getter)() == back
    if getter != "get_remainder":  # get_remainder peeks; it does not consume
        assert msg.get_remainder() == b""
        assert msg.get_so_far() == wire


def test_add_encodes_by_type() -> None:
    msg = Message().add("a", b"b", True, 7, 2**40, ["x", "y"])
    m = Message(msg.asbytes())
    assert m.get_string() == b"a"
    assert m.get_string() == b"b"
    assert m.get_boolean() is True
    assert m.get_int() == 7
    assert m.get_adaptive_int() == 2**40  # ints go through add_adaptive_int, as in paramiko
    assert m.get_list() == ["x", "y"]


def test_add_string_takes_objects_with_asbytes() -> None:
    inner = Message().add_int(5)
    assert Message().add_string(inner).asbytes() == b"\x00\x00\x00\x04\x00\x00\x00\x05"
    with pytest.raises(TypeError):
        Message().add_string(3.5)


def test_so_far_plus_remainder_is_whole_and_rewind() -> None:
    data = Message().add_int(1).add_string(b"xyz").asbytes()
    msg = Message(data)
    msg.get_int()
    assert msg.get_so_far() + msg.get_remainder() == data
    msg.rewind()
    assert msg.get_int() == 1
    assert repr(Message(b"\x01")) == "paramiko.Message(b'\\x01')"


def test_lenient_reads_pad_with_zero_bytes_as_documented() -> None:
    msg = Message(b"\x01\x02")
    assert msg.get_bytes(4) == b"\x01\x02\x00\x00"
    assert msg.get_byte() == b"\x00"
    assert msg.get_int() == 0
    assert msg.get_boolean() is False
    assert msg.get_string() == b""


def test_lenient_read_never_pads_gigabytes() -> None:
    assert Message(b"\xff\xff\xff\xf0ab").get_string() == b"ab"


@pytest.mark.parametrize(
    ("wire", "getter"),
    [
        (b"", "get_byte"),
        (b"\x00\x00\x01", "get_int"),
        (b"\x00" * 7, "get_int64"),
        (b"\x00\x00\x00\x05abc", "get_string"),
        (b"\xff\xff\xff\xff", "get_string"),
        (b"\x00\x00\x00\x02\xff\xfe", "get_text"),
        (b"\x00\x00\x00\x02\xc3\x28", "get_list"),
        (b"\x00\x00\x00\x03abc\x00", "expect_end_after_string"),
        (b"\x00\x00\x00\x02\xc3\xa9", "get_name"),
    ],
)
def test_strict_reads_raise_protocol_error(wire: bytes, getter: str) -> None:
    msg = Message(wire, strict=True)
    with pytest.raises(ProtocolError) as info:
        if getter == "expect_end_after_string":
            msg.get_string()
            msg.expect_end()
        else:
            getattr(msg, getter)()
    assert isinstance(info.value, SSHException)
    assert str(info.value)


def test_bad_utf8_is_an_ssh_exception_even_when_lenient() -> None:
    with pytest.raises(SSHException):
        Message(b"\x00\x00\x00\x01\xff").get_text()


def test_add_byte_refuses_more_than_one_byte() -> None:
    with pytest.raises(ValueError):
        Message().add_byte(b"ab")


_GETTERS = ["get_byte", "get_boolean", "get_int", "get_int64", "get_mpint", "get_string", "get_text", "get_list"]


@given(data=st.binary(max_size=64), script=st.lists(st.sampled_from(_GETTERS), max_size=12))
def test_strict_parse_of_random_bytes_raises_only_ssh_exception(data: bytes, script: list[str]) -> None:
    msg = Message(data, strict=True)
    try:
        for getter in script:
            getattr(msg, getter)()
    except SSHException:
        pass


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add_int"), st.integers(0, 2**32 - 1)),
            st.tuples(st.just("add_int64"), st.integers(0, 2**64 - 1)),
            st.tuples(st.just("add_mpint"), st.integers(-(2**4100), 2**4100)),
            st.tuples(st.just("add_string"), st.binary(max_size=100)),
            st.tuples(st.just("add_boolean"), st.booleans()),
        ),
        max_size=10,
    )
)
def test_round_trip_any_sequence(items: list[tuple[str, object]]) -> None:
    getter = {
        "add_int": "get_int",
        "add_int64": "get_int64",
        "add_mpint": "get_mpint",
        "add_string": "get_string",
        "add_boolean": "get_boolean",
    }
    msg = Message()
    for adder, value in items:
        getattr(msg, adder)(value)
    back = Message(msg.asbytes(), strict=True)
    for adder, value in items:
        assert getattr(back, getter[adder])() == value
    back.expect_end()


def test_message_can_wrap_another_message() -> None:
    inner = Message().add_string(b"ssh-ed25519").add_string(b"sig")
    again = Message(inner)
    assert again.get_text() == "ssh-ed25519"
    assert again.get_string() == b"sig"
