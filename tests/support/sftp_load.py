"""One ``SFTPClient`` shared by many threads at once: each thread works on
files of its own (stat, listdir, open/read/write, get/put, recursive
get/put) and checks every answer, so a reply handed to the wrong caller, a
lost reply or a deadlock shows up as a failure."""

from __future__ import annotations

import os
import posixpath
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _worker(client: Any, rdir: str, ldir: Path, deadline: float, counts: Counter[str], lock: threading.Lock) -> None:
    """Loop over the operations until ``deadline``, checking each result."""
    tag = posixpath.basename(rdir).encode()
    client.mkdir(rdir)
    ldir.mkdir()
    tree = ldir / "tree"
    (tree / "sub").mkdir(parents=True)
    local_tree = {"a": os.urandom(3000) + tag, "sub/b": os.urandom(70_000) + tag, "sub/c": tag}
    for rel, data in local_tree.items():
        (tree / rel).write_bytes(data)
    n = 0
    mine: Counter[str] = Counter()
    while time.monotonic() < deadline:
        n += 1
        payload = tag + b":%d:" % n + os.urandom((n * 7919) % 150_000)
        f = posixpath.join(rdir, "f")
        with client.open(f, "wb") as fh:
            fh.write(payload)
        mine["write"] += 1
        assert client.stat(f).st_size == len(payload), "stat answered for another file"
        mine["stat"] += 1
        with client.open(f, "rb") as fh:
            fh.prefetch(len(payload))
            assert fh.read() == payload, "read returned another file's data"
        mine["read"] += 1
        assert sorted(client.listdir(rdir)) == (["f", "p", "tree"] if n > 1 else ["f"]), "listdir mixed up"
        mine["listdir"] += 1
        up = ldir / "up.bin"
        up.write_bytes(payload[::-1])
        assert client.put(str(up), posixpath.join(rdir, "p")).st_size == len(payload)
        mine["put"] += 1
        down = ldir / "down.bin"
        client.get(posixpath.join(rdir, "p"), str(down))
        assert down.read_bytes() == payload[::-1], "get returned another file's data"
        mine["get"] += 1
        if n == 1:
            client.put(str(tree), posixpath.join(rdir, "tree"), recursive=True)
        back = ldir / f"back{n}"
        client.get(posixpath.join(rdir, "tree"), str(back), recursive=True)
        for rel, data in local_tree.items():
            assert (back / rel).read_bytes() == data, "recursive get mixed up"
        mine["recursive get"] += 1
        assert client.normalize(rdir).endswith(posixpath.basename(rdir))
        mine["normalize"] += 1
    with lock:
        counts.update(mine)


def hammer(client: Any, remote_dir: str, local_dir: Path, seconds: float = 2.0, threads: int = 8) -> Counter[str]:
    """Run ``threads`` workers on ``client`` for ``seconds``; raise the first
    failure, or ``AssertionError`` if a worker is still stuck well after the
    end (a deadlock). Returns how many of each operation completed."""
    deadline = time.monotonic() + seconds
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            _worker(client, posixpath.join(remote_dir, f"t{i}"), local_dir / f"t{i}", deadline, counts, lock)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,), name=f"sftp-load-{i}", daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()) + 30)
    stuck = [w.name for w in workers if w.is_alive()]
    assert not stuck, f"threads still running (deadlock?): {stuck}"
    if errors:
        raise errors[0]
    return counts
