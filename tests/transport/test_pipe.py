"""``ssh_transport.pipe``: the select-able ready signal behind ``Channel.fileno()``
(paramiko's ``paramiko.pipe`` names and behaviour)."""

from __future__ import annotations

import select
from collections.abc import Iterator

import pytest

from ssh_transport import pipe as pipe_mod
from ssh_transport.pipe import OrPipe, PosixPipe, WindowsPipe, make_or_pipe, make_pipe

pytestmark = pytest.mark.timeout(10)


def readable(p: PosixPipe | WindowsPipe) -> bool:
    return bool(select.select([p.fileno()], [], [], 0.01)[0])


@pytest.fixture(params=[PosixPipe, WindowsPipe])
def pipe(request: pytest.FixtureRequest) -> Iterator[PosixPipe | WindowsPipe]:
    p = request.param()
    yield p
    p.close()


def test_make_pipe_gives_the_platform_kind() -> None:
    p = make_pipe()
    try:
        assert isinstance(p, PosixPipe)  # the tests run on POSIX
        assert isinstance(p.fileno(), int)
    finally:
        p.close()


def test_set_and_clear_toggle_readability(pipe: PosixPipe | WindowsPipe) -> None:
    assert not readable(pipe)
    pipe.set()
    pipe.set()  # idempotent: still one byte
    assert readable(pipe)
    pipe.clear()
    assert not readable(pipe)
    pipe.clear()  # clearing a clear pipe is harmless
    assert not readable(pipe)


def test_set_forever_survives_clear(pipe: PosixPipe | WindowsPipe) -> None:
    pipe.set_forever()
    pipe.clear()
    assert readable(pipe)


def test_close_then_set_and_clear_do_nothing(pipe: PosixPipe | WindowsPipe) -> None:
    pipe.set()
    pipe.close()
    assert pipe.closed
    pipe.set()
    pipe.clear()
    pipe.close()


def test_or_pipe_is_set_while_either_flag_is(pipe: PosixPipe | WindowsPipe) -> None:
    out, err = make_or_pipe(pipe)
    assert isinstance(out, OrPipe) and isinstance(err, OrPipe)
    err.set()
    assert readable(pipe)
    out.set()
    err.clear()
    assert readable(pipe)  # stdout still has data
    out.clear()
    assert not readable(pipe)
    out.set()
    err.set()
    out.clear()
    assert readable(pipe)
    err.clear()
    assert not readable(pipe)


def test_module_exports_paramikos_names() -> None:
    for name in ("make_pipe", "make_or_pipe", "PosixPipe", "WindowsPipe", "OrPipe"):
        assert hasattr(pipe_mod, name)
