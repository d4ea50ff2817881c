"""deflate_long/inflate_long are exact at every boundary, for 4096-bit values too."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssh_wire import deflate_long, inflate_long, mod_inverse

ROWS = [
    (0, b""),
    (1, b"\x01"),
    (-1, b"\xff"),
    (127, b"\x7f"),
    (128, b"\x00\x80"),
    (255, b"\x00\xff"),
    (256, b"\x01\x00"),
    (-128, b"\x80"),
    (-129, b"\xff\x7f"),
    (-256, b"\xff\x00"),
    (2**31, b"\x00\x80\x00\x00\x00"),
    (2**32 - 1, b"\x00\xff\xff\xff\xff"),
    (-(2**31), b"\x80\x00\x00\x00"),
    (2**4096 - 1, b"\x00" + b"\xff" * 512),
    (2**4095, b"\x00\x80" + b"\x00" * 511),
]


@pytest.mark.parametrize(("n", "wire"), ROWS)
def test_deflate(n: int, wire: bytes) -> None:
    assert deflate_long(n) == wire


@pytest.mark.parametrize(("n", "wire"), ROWS)
def test_inflate(n: int, wire: bytes) -> None:
    assert inflate_long(wire) == n


def test_without_sign_padding_and_always_positive() -> None:
    assert deflate_long(128, add_sign_padding=False) == b"\x80"
    assert inflate_long(b"\x80", always_positive=True) == 128
    assert inflate_long(b"\xff\xff", always_positive=True) == 0xFFFF
    assert deflate_long(2**4096 - 1, add_sign_padding=False) == b"\xff" * 512


@given(st.integers(min_value=-(2**4200), max_value=2**4200))
def test_round_trip(n: int) -> None:
    assert inflate_long(deflate_long(n)) == n
    if n >= 0:
        assert inflate_long(deflate_long(n, False), always_positive=True) == n


def test_mod_inverse() -> None:
    assert mod_inverse(3, 11) == 4
    assert (mod_inverse(65537, 2**61 - 1) * 65537) % (2**61 - 1) == 1
    with pytest.raises(ValueError):
        mod_inverse(2, 4)
