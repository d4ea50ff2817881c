"""The channel's receive buffer against a plain bytearray model (hypothesis),
with bytes and view chunks in, bytes out, and byte-at-a-time reads staying cheap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_transport.receive_buffer import ReceiveBuffer

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=200)),
        st.tuples(st.just("append_view"), st.binary(min_size=1, max_size=200)),
        st.tuples(st.just("take"), st.integers(min_value=1, max_value=300)),
        st.tuples(st.just("move"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_buffer_matches_model(ops: list[tuple[str, object]]) -> None:
    buf, other = ReceiveBuffer(), ReceiveBuffer()
    model, other_model = bytearray(), bytearray()
    for op, arg in ops:
        if op in ("append", "append_view"):
            assert isinstance(arg, bytes)
            # channel data arrives as read-only views of decrypted packets
            buf.append(memoryview(b"hdr" + arg)[3:] if op == "append_view" else arg)
            model += arg
        elif op == "take" and buf.size:
            assert isinstance(arg, int)
            got = buf.take(arg)
            assert type(got) is bytes
            assert 1 <= len(got) <= arg
            assert got == model[: len(got)]
            del model[: len(got)]
        elif op == "move":
            buf.move_to(other)
            other_model += model
            model.clear()
        assert buf.size == len(model) == sum(len(c) for c in buf.chunks) - buf.offset
    rest = bytearray()
    while other.size:
        got = other.take(1 << 20)
        assert type(got) is bytes
        rest += got
    assert rest == other_model


def test_whole_chunks_are_not_copied() -> None:
    buf = ReceiveBuffer()
    chunk = b"x" * 32768
    buf.append(chunk)
    assert buf.take(1 << 20) is chunk


def test_one_byte_reads_are_linear() -> None:
    buf = ReceiveBuffer()
    data = bytes(range(256)) * 256
    buf.append(data)
    out = bytearray()
    while buf.size:
        out += buf.take(1)
    assert out == data
