"""A transfer progress bar showing MB/s: rich when installed, plain text otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Callback = Callable[[int, int], None]


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callback]:
    """Yield a ``callback(done, total)`` suitable for SFTP get/put that draws a bar."""
    try:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
    except ImportError:
        yield from _plain_bar(label, total)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield update


def _plain_bar(label: str, total: int) -> Iterator[Callback]:
    start = time.monotonic()
    last = [0.0]

    def update(done: int, _total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.1 and done < total:
            return
        last[0] = now
        rate = done / max(now - start, 1e-6) / 1e6
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done / 1e6:7.1f} MB {rate:7.1f} MB/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    yield update
