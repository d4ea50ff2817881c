"""PacketSplitter: SFTP packets cut out of a stream that arrives in pieces
(how replies reach the client from our Channel)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssh_sftp.errors import SFTPError
from ssh_sftp.sftp import PacketSplitter


def _frame(t: int, body: bytes) -> bytes:
    return struct.pack(">IB", len(body) + 1, t) + body


PACKETS = [
    (101, b"\x00\x00\x00\x01" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00\x00\x00\x00\x00"),
    (103, b"\x00\x00\x00\x02" + struct.pack(">I", 5) + b"hello"),
    (102, b"\x00\x00\x00\x03" + struct.pack(">I", 4) + b"\xff\x00\xfe\x01"),
]


@pytest.mark.parametrize(("t", "body"), PACKETS)
def test_one_packet_both_directions(t: int, body: bytes) -> None:
    wire = _frame(t, body)
    assert PacketSplitter(1 << 20).feed(wire) == [(t, body)]
    # and byte by byte: nothing until the last byte
    s = PacketSplitter(1 << 20)
    got = [s.feed(wire[i : i + 1]) for i in range(len(wire))]
    assert got[:-1] == [[]] * (len(wire) - 1)
    assert got[-1] == [(t, body)]


@given(
    st.lists(st.tuples(st.integers(1, 255), st.binary(min_size=4, max_size=300)), max_size=8),
    st.lists(st.integers(1, 64), max_size=40),
)
def test_any_split_gives_the_same_packets(packets: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(_frame(t, b) for t, b in packets)
    s = PacketSplitter(1 << 20)
    out: list[tuple[int, bytes]] = []
    pos = 0
    for c in cuts:
        out += s.feed(wire[pos : pos + c])
        pos += c
    out += s.feed(wire[pos:])
    assert out == packets
    assert s.size == 0


@pytest.mark.parametrize("length", [0, 1, 4, (1 << 16) + 1])
def test_bad_lengths_raise_sftp_error(length: int) -> None:
    s = PacketSplitter(1 << 16)
    with pytest.raises(SFTPError):
        s.feed(struct.pack(">I", length) + b"\x65" + bytes(8))
