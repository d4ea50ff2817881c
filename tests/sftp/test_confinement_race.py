"""The local-directory server's root holds while a component of the path is
swapped between a real directory and a link to outside it.

A separate process (real parallelism, not the GIL's turns) flips
``root/d`` between a directory and a symlink to ``outside`` as fast as it
can, while this process sends requests through ``/d/...`` for a bounded
time. Nothing outside may be read, listed, created, changed or removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ssh_sftp import SFTPAttributes, SFTPHandle, confined
from ssh_sftp.local import LocalSFTPServerInterface
from ssh_sftp.sftp import SFTP_OK

# how long each kind of request races the flipper
RACE_SECONDS = 1.0

SECRET = b"SECRET" * 200  # the outside file: a size no inside file has
INSIDE = b"inside!"

_FLIPPER = r"""
import os, sys
root, outside = sys.argv[1], sys.argv[2]
d, stash = os.path.join(root, "d"), os.path.join(root, "stash")
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    try:
        os.rename(d, stash)
        os.symlink(outside, d)
        os.unlink(d)
        os.rename(stash, d)
    except OSError:
        # a request moved something: put a directory back at d
        if not os.path.lexists(d) and os.path.isdir(stash):
            os.rename(stash, d)
        elif os.path.islink(d) and os.path.isdir(stash):
            os.unlink(d)
"""


def _snapshot(top: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry under ``top``: mode, size, mtime and content (files)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(top))] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out


class _NoOpenat2:
    """Stands in for openat2 on a kernel without it."""

    available = False


@pytest.fixture(params=["openat2", "walk"])
def race(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalSFTPServerInterface, Path]]:
    """A served root whose ``d`` flips, and the outside directory; lookups
    with openat2 where the kernel has it, and by the descriptor walk alone."""
    if request.param == "walk":
        monkeypatch.setattr(confined, "_openat2", _NoOpenat2())
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "emptydir").mkdir()
    (root / "d" / "victim").write_bytes(INSIDE)
    (outside / "sub").mkdir(parents=True)
    (outside / "emptydir").mkdir()
    (outside / "victim").write_bytes(SECRET)
    (outside / "victim").chmod(0o644)
    (outside / "sub" / "keep").write_bytes(SECRET)
    before = _snapshot(outside)
    flipper = subprocess.Popen(
        [sys.executable, "-c", _FLIPPER, str(root), str(outside)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert flipper.stdout is not None
        assert flipper.stdout.readline() == "ready\n"
        yield LocalSFTPServerInterface(None, root=str(root)), outside
    finally:
        flipper.terminate()
        flipper.wait(timeout=10)
    assert _snapshot(outside) == before, "something outside the root was changed"


def _hammer(op: Callable[[], None]) -> int:
    """Run ``op`` until the time is up; how many times it ran."""
    n = 0
    deadline = time.monotonic() + RACE_SECONDS
    while time.monotonic() < deadline:
        op()
        n += 1
    return n


def _read_all(h: SFTPHandle) -> bytes:
    data = h.read(0, 1 << 16)
    h.close()
    assert isinstance(data, bytes)
    return data


def test_reads_stay_inside(race: tuple[LocalSFTPServerInterface, Path]) -> None:
    si, _ = race

    def op() -> None:
        h = si.open("/d/victim", os.O_RDONLY, SFTPAttributes())
        if isinstance(h, SFTPHandle):
            assert _read_all(h) == INSIDE
        h = si.open("/d/sub/../victim", os.O_RDONLY, SFTPAttributes())
        if isinstance(h, SFTPHandle):
            assert _read_all(h) == INSIDE

    assert _hammer(op) > 100


def test_stat_and_list_stay_inside(race: tuple[LocalSFTPServerInterface, Path]) -> None:
    si, _ = race

    def op() -> None:
        for attr in (si.stat("/d/victim"), si.lstat("/d/victim"), si.stat("/d/sub/keep")):
            assert isinstance(attr, int) or attr.st_size != len(SECRET)
        listing = si.list_folder("/d/sub")
        assert isinstance(listing, int) or "keep" not in {a.filename for a in listing}
        canonical = si.canonicalize("/d/sub")
        assert isinstance(canonical, str) and canonical.startswith("/d")

    assert _hammer(op) > 100


def test_creates_and_writes_stay_inside(race: tuple[LocalSFTPServerInterface, Path]) -> None:
    si, _ = race

    def op() -> None:
        for path, flags in (
            ("/d/created", os.O_WRONLY | os.O_CREAT),
            ("/d/victim", os.O_WRONLY),
            ("/d/sub/keep", os.O_WRONLY | os.O_CREAT),
        ):
            h = si.open(path, flags, SFTPAttributes())
            if isinstance(h, SFTPHandle):
                h.write(0, INSIDE)
                h.close()
        si.remove("/d/created")
        si.remove("/d/sub/keep")

    assert _hammer(op) > 100


def test_renames_and_removes_stay_inside(race: tuple[LocalSFTPServerInterface, Path]) -> None:
    si, _ = race

    def op() -> None:
        if si.rename("/d/victim", "/d/moved") == SFTP_OK:
            si.posix_rename("/d/moved", "/d/victim")
        if si.remove("/d/victim") == SFTP_OK:
            h = si.open("/d/victim", os.O_WRONLY | os.O_CREAT, SFTPAttributes())
            if isinstance(h, SFTPHandle):
                h.write(0, INSIDE)
                h.close()
        if si.rmdir("/d/emptydir") == SFTP_OK:
            si.mkdir("/d/emptydir", SFTPAttributes())
        si.hardlink("/d/victim", "/d/linked")
        si.remove("/d/linked")

    assert _hammer(op) > 100


def test_mkdir_and_setstat_stay_inside(race: tuple[LocalSFTPServerInterface, Path]) -> None:
    si, _ = race
    attr = SFTPAttributes()
    attr.st_mode = 0o600
    cut = SFTPAttributes()
    cut.st_size = 3

    def op() -> None:
        if si.mkdir("/d/newdir", SFTPAttributes()) == SFTP_OK:
            si.rmdir("/d/newdir")
        si.chattr("/d/victim", attr)
        si.chattr("/d/sub/keep", cut)
        si.lsetstat("/d/victim", attr)
        si.symlink("/", "/d/newlink")
        si.remove("/d/newlink")

    assert _hammer(op) > 100


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
@pytest.mark.parametrize("resolver", ["openat2", "walk"])
def test_links_inside_work_and_no_descriptor_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resolver: str
) -> None:
    """Links that stay inside (relative, absolute, through ".."), links
    that leave (refused), loops (ELOOP), and every operation leave no
    descriptor behind, with either resolver."""
    if resolver == "walk":
        monkeypatch.setattr(confined, "_openat2", _NoOpenat2())
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "b" / "f").write_bytes(INSIDE)
    (outside / "f").write_bytes(SECRET)
    os.symlink("a/b", root / "rel")
    os.symlink(str(root / "a"), root / "abs")
    os.symlink("../a/b/f", root / "a" / "up")
    os.symlink("../../outside", root / "a" / "out")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    si = LocalSFTPServerInterface(None, root=str(root))
    si.stat("/")  # the root's own descriptor is opened once and kept
    before = _open_fds()
    for _ in range(20):
        for path in ("/rel/f", "/abs/b/f", "/a/up", "/abs/b/../up", "/abs/../rel/f"):
            h = si.open(path, os.O_RDONLY, SFTPAttributes())
            assert isinstance(h, SFTPHandle), path
            assert _read_all(h) == INSIDE
            attr = si.stat(path)
            assert not isinstance(attr, int) and attr.st_size == len(INSIDE)
        assert si.canonicalize("/abs/b/../up") == "/a/b/f"
        assert si.canonicalize("/rel/nonexistent/x") == "/a/b/nonexistent/x"
        assert si.canonicalize("/a/out/f") == "/a/out/f"  # outside: left as written
        for path in ("/a/out/f", "/a/out"):
            assert si.open(path, os.O_RDONLY, SFTPAttributes()) == si.stat("/a/out") == 3  # permission denied
        assert si.open("/loop1", os.O_RDONLY, SFTPAttributes()) == 4  # failure (ELOOP)
        assert si.list_folder("/rel") != 3
        assert si.readlink("/a/up") == "../a/b/f"
        assert si.mkdir("/rel/new", SFTPAttributes()) == SFTP_OK
        assert si.rename("/rel/new", "/abs/new2") == SFTP_OK
        assert si.rmdir("/a/new2") == SFTP_OK
        assert si.symlink("/a/b/f", "/a/b/abslink") == SFTP_OK
        assert os.readlink(root / "a" / "b" / "abslink") == str(root / "a" / "b" / "f")
        assert si.readlink("/rel/abslink") == "/a/b/f"
        assert si.remove("/rel/abslink") == SFTP_OK
        assert not isinstance(si.statvfs("/abs"), int)
    assert _open_fds() == before
    si.session_ended()
    assert _open_fds() == before - 1
