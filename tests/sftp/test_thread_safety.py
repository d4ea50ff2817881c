"""One SFTPClient used by 8 threads at once, against OpenSSH's sftp-server
and against our server: no deadlock, no reply given to the wrong caller."""

from __future__ import annotations

from pathlib import Path

import pytest
from sftp_helpers import Remote

from support.sftp_load import hammer

pytestmark = pytest.mark.timeout(90)


def test_eight_threads_share_one_client(remote: Remote, tmp_path: Path) -> None:
    local = tmp_path.parent / f"{tmp_path.name}-local"
    local.mkdir()
    counts = hammer(remote.client, remote.base, local, seconds=2.0, threads=8)
    # every kind of operation ran, from every thread, more than once
    for op in ("write", "stat", "read", "listdir", "put", "get", "recursive get", "normalize"):
        assert counts[op] >= 8, counts
    # and the session is still sound afterwards
    assert sorted(remote.client.listdir(remote.base)) == [f"t{i}" for i in range(8)]


def test_a_failing_thread_does_not_disturb_the_others(remote: Remote, tmp_path: Path) -> None:
    import threading

    c = remote.client
    (remote.local / "ok").write_bytes(b"fine")
    results: list[object] = []

    def bad() -> None:
        for _ in range(200):
            try:
                c.stat(remote.r("missing"))
            except FileNotFoundError:
                results.append("enoent")

    def good() -> None:
        for _ in range(200):
            results.append(c.stat(remote.r("ok")).st_size)

    threads = [threading.Thread(target=f) for f in (bad, good, bad, good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert results.count("enoent") == 400 and results.count(4) == 400
