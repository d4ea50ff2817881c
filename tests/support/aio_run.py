"""``arun``: run a coroutine for a sync test, in a fresh event loop.

The asyncio tests are plain pytest functions (no pytest-asyncio). Every run
has a timeout, and afterwards no task may be left pending: a leaked task is
how a driver that does not clean up after a cancellation or a close shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def arun(coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
    """Run ``coro`` in a fresh loop with a timeout, then check that it left
    no task behind (no "Task was destroyed but it is pending")."""

    async def main() -> T:
        result = await asyncio.wait_for(coro, timeout)
        for _ in range(20):
            await asyncio.sleep(0)
        me = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        assert not left, f"tasks left behind: {left}"
        return result

    return asyncio.run(main())
