"""The asyncio driver's objects talk through public interfaces: a
connection, its channels, their readers and writers, processes and
forwarders each keep their private attributes to themselves (the
connection hands ``create_connection`` its ``protocol()``, a channel feeds
its readers with ``feed_data``...). Checked on the source, so that a new
private reach fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

import ssh_transport.aio
from support.source_check import private_reaches

pytestmark = pytest.mark.timeout(30)

AIO = Path(ssh_transport.aio.__file__).parent


def test_the_aio_modules_reach_into_no_other_object() -> None:
    modules = sorted(AIO.glob("*.py"))
    assert len(modules) >= 6, "the package's modules were found"
    assert [hit for path in modules for hit in private_reaches(path)] == []


def test_the_check_finds_a_reach(tmp_path: Path) -> None:
    """The check itself: another object's private, directly or through one
    of ours, is found; our own, ``super()``'s and dunders are not."""
    src = tmp_path / "m.py"
    src.write_text(
        "class A:\n"
        "    def f(self, other):\n"
        "        self._mine = other._theirs\n"
        "        self._conn._pump.flush()\n"
        "        super()._hook()\n"
        "        return other.__class__, cls_like._x\n"
    )
    hits = private_reaches(src)
    assert [h.split(": ", 1)[1] for h in hits] == ["other._theirs", "self._conn._pump", "cls_like._x"]
