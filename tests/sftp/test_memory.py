"""A 1 GiB get and put keep the client's memory bounded (measured with
tracemalloc), against OpenSSH's sftp-server as a subprocess."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from sftp_helpers import openssh_server

from ssh_sftp import SFTPClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

GIB = 1 << 30
LIMIT = 64 * 1024 * 1024


class Sink:
    """A file object that counts and forgets what is written."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, data: bytes) -> int:
        self.n += len(data)
        return len(data)


class Zeros:
    """A file object that reads ``size`` zero bytes without holding them."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def test_one_gib_get_and_put_memory(tmp_path: Path) -> None:
    src = tmp_path / "sparse"
    with open(src, "wb") as fh:
        fh.truncate(GIB)
    stream = openssh_server()
    stream.settimeout(60)
    with SFTPClient(stream) as c:
        tracemalloc.start()
        try:
            sink = Sink()
            assert c.getfo(str(src), sink) == GIB  # type: ignore[arg-type]
            assert sink.n == GIB
            _, peak_get = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            c.putfo(Zeros(GIB), "/dev/null", GIB, confirm=False)  # type: ignore[arg-type]
            _, peak_put = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak_get < LIMIT, f"get peaked at {peak_get / 1e6:.1f} MB"
    assert peak_put < LIMIT, f"put peaked at {peak_put / 1e6:.1f} MB"
