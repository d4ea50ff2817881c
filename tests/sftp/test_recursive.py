"""Recursive, preserving and resumable ``get``/``put`` and the tree helpers
(``walk``, ``glob``, ``makedirs``, ``rmtree``), against OpenSSH's
sftp-server and against our server."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sftp_helpers import Remote

from ssh_sftp.session import RequestSession
from ssh_sftp.sftp import CMD_CLOSE, CMD_OPEN

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A local directory apart from the one the server serves (``tmp_path``)."""
    w = tmp_path.parent / f"{tmp_path.name}-local"
    w.mkdir()
    return w


def make_tree(top: Path) -> dict[str, bytes]:
    """A small tree: nested directories, an empty one, empty and multi-request
    files, a symlink to a file and one to a directory. Returns the regular
    files' contents by relative path."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "sub/b.bin": os.urandom(70_000),
        "sub/deeper/c.bin": os.urandom(4096),
        "sub/deeper/d.bin": os.urandom(1),
    }
    for i in range(40):
        files[f"many/f{i:02}"] = os.urandom(100 + i * 37)
    for rel, data in files.items():
        p = top / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (top / "emptydir").mkdir()
    os.symlink("a.txt", top / "link_to_file")
    os.symlink("sub", top / "link_to_dir")
    return files


def local_tree(top: Path) -> tuple[set[str], dict[str, bytes]]:
    """(directories, regular files with contents) below ``top``, by relative path."""
    dirs: set[str] = set()
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel = os.path.relpath(dirpath, top)
        for d in dirnames:
            p = os.path.normpath(os.path.join(rel, d))
            if os.path.islink(top / p):
                files[p] = b"<link>"
            else:
                dirs.add(p)
        for f in filenames:
            p = os.path.normpath(os.path.join(rel, f))
            files[p] = b"<link>" if os.path.islink(top / p) else (top / p).read_bytes()
    return dirs, files


EXPECTED_DIRS = {"sub", "sub/deeper", "many", "emptydir"}


def test_put_and_get_tree_round_trip(remote: Remote, work: Path) -> None:
    src = work / "src"
    files = make_tree(src)
    c = remote.client
    c.put(str(src), remote.r("up"), recursive=True)
    # the copy on the server: regular files and directories, links skipped
    up = remote.local / "up"
    dirs, got = local_tree(up)
    assert dirs == EXPECTED_DIRS
    assert got == files
    back = work / "back"
    c.get(remote.r("up"), str(back), recursive=True)
    dirs, got = local_tree(back)
    assert dirs == EXPECTED_DIRS
    assert got == files


def test_symlinks_followed_on_request(remote: Remote, work: Path) -> None:
    src = work / "src"
    files = make_tree(src)
    c = remote.client
    c.put(str(src), remote.r("up"), recursive=True, follow_symlinks=True)
    _, got = local_tree(remote.local / "up")
    assert got["link_to_file"] == files["a.txt"]
    assert got["link_to_dir/b.bin"] == files["sub/b.bin"]
    # and downloading: links on the server are followed too
    os.symlink("a.txt", remote.local / "up" / "rlink")
    back = work / "back"
    c.get(remote.r("up"), str(back), recursive=True)
    assert not (back / "rlink").exists()
    back2 = work / "back2"
    c.get(remote.r("up"), str(back2), recursive=True, follow_symlinks=True)
    assert (back2 / "rlink").read_bytes() == files["a.txt"]
    assert not (back2 / "rlink").is_symlink()


def test_cp_semantics_for_the_destination(remote: Remote, work: Path) -> None:
    src = work / "tree"
    (src / "x").mkdir(parents=True)
    (src / "x" / "f").write_bytes(b"f")
    c = remote.client
    # destination missing: it becomes the copy
    c.put(str(src), remote.r("new"), recursive=True)
    assert (remote.local / "new" / "x" / "f").read_bytes() == b"f"
    # destination an existing directory: the copy goes inside it
    c.put(str(src), remote.r("new"), recursive=True)
    assert (remote.local / "new" / "tree" / "x" / "f").read_bytes() == b"f"
    dest = work / "dl"
    c.get(remote.r("new"), str(dest), recursive=True)
    assert (dest / "x" / "f").read_bytes() == b"f"
    c.get(remote.r("new"), str(dest), recursive=True)
    assert (dest / "new" / "tree" / "x" / "f").read_bytes() == b"f"
    # a single file with recursive=True into a directory keeps its name
    c.get(remote.r("new", "x", "f"), str(dest), recursive=True)
    assert (dest / "f").read_bytes() == b"f"


def test_preserve_modes_and_times(remote: Remote, work: Path) -> None:
    src = work / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"data")
    (src / "x").write_bytes(b"exec")
    os.chmod(src / "x", 0o751)
    os.chmod(src / "d" / "f", 0o604)
    os.chmod(src / "d", 0o750)
    os.utime(src / "x", (1_000_000_000, 1_100_000_000))
    os.utime(src / "d" / "f", (1_200_000_000, 1_300_000_000))
    os.utime(src / "d", (1_400_000_000, 1_500_000_000))
    c = remote.client
    c.put(str(src), remote.r("p"), recursive=True, preserve=True)
    for rel in ("x", "d/f", "d"):
        a = c.stat(remote.r("p", rel))
        s = os.stat(src / rel)
        assert stat.S_IMODE(a.st_mode or 0) == stat.S_IMODE(s.st_mode), rel
        assert a.st_mtime == int(s.st_mtime), rel
    # (reading the sources moved their access times: compare with the server's)
    os.utime(remote.local / "p" / "x", (1_000_000_007, 1_100_000_000))
    back = work / "back"
    c.get(remote.r("p"), str(back), recursive=True, preserve=True)
    for rel in ("x", "d/f", "d"):
        s, b = os.stat(src / rel), os.stat(back / rel)
        assert stat.S_IMODE(b.st_mode) == stat.S_IMODE(s.st_mode), rel
        assert int(b.st_mtime) == int(s.st_mtime), rel
    assert int(os.stat(back / "x").st_atime) == 1_000_000_007


def test_single_file_preserve(remote: Remote, work: Path) -> None:
    src = work / "one"
    src.write_bytes(b"1234")
    os.chmod(src, 0o640)
    os.utime(src, (1_000_000_000, 1_000_000_001))
    c = remote.client
    attrs = c.put(str(src), remote.r("one"), preserve=True)
    assert attrs.st_size == 4 and attrs.st_mtime == 1_000_000_001
    assert stat.S_IMODE(attrs.st_mode or 0) == 0o640
    out = work / "out"
    c.get(remote.r("one"), str(out), preserve=True)
    assert out.read_bytes() == b"1234"
    assert int(out.stat().st_mtime) == 1_000_000_001
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_resume_get_continues_from_local_size(remote: Remote, work: Path) -> None:
    data = os.urandom(300_000)
    (remote.local / "big").write_bytes(data)
    out = work / "big"
    # a partial copy whose first bytes differ: a resumed transfer leaves
    # them alone (it only fetches the rest), a restarted one would not
    out.write_bytes(b"X" * 1000 + data[1000:120_000])
    seen: list[tuple[int, int]] = []
    remote.client.get(remote.r("big"), str(out), resume=True, total_callback=lambda d, t: seen.append((d, t)))
    assert out.read_bytes() == b"X" * 1000 + data[1000:]
    assert seen[0][0] >= 120_000 and seen[-1] == (300_000, 300_000)


def test_resume_get_refuses_a_larger_local_file(remote: Remote, work: Path) -> None:
    (remote.local / "f").write_bytes(b"short")
    out = work / "f"
    out.write_bytes(b"much longer than that")
    with pytest.raises(OSError, match="larger"):
        remote.client.get(remote.r("f"), str(out), resume=True)
    assert out.read_bytes() == b"much longer than that"


def test_resume_put_continues_from_remote_size(remote: Remote, work: Path) -> None:
    data = os.urandom(200_000)
    src = work / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "big").write_bytes(data)
    (src / "d" / "small").write_bytes(b"small")
    (remote.local / "d").mkdir()
    (remote.local / "d" / "big").write_bytes(b"Y" * 500 + data[500:50_000])
    # into the existing parent: the copy of "d" is <base>/d, where the partial copy is
    remote.client.put(str(src / "d"), remote.base, recursive=True, resume=True)
    assert (remote.local / "d" / "big").read_bytes() == b"Y" * 500 + data[500:]
    assert (remote.local / "d" / "small").read_bytes() == b"small"
    # complete copies are left as they are
    remote.client.put(str(src / "d" / "big"), remote.r("d", "big"), resume=True)
    assert (remote.local / "d" / "big").read_bytes() == b"Y" * 500 + data[500:]


def test_progress_callbacks(remote: Remote, work: Path) -> None:
    src = work / "src"
    files = make_tree(src)
    total = sum(len(v) for v in files.values())
    per_file: list[tuple[int, int]] = []
    overall: list[tuple[int, int]] = []
    remote.client.put(
        str(src),
        remote.r("up"),
        recursive=True,
        callback=lambda d, t: per_file.append((d, t)),
        total_callback=lambda d, t: overall.append((d, t)),
    )
    assert overall[-1] == (total, total)
    assert [d for d, _ in overall] == sorted(d for d, _ in overall)
    # every file reports its completion (empty ones included)
    assert sorted(t for d, t in per_file if d == t) == sorted(len(v) for v in files.values())
    per_file.clear()
    overall.clear()
    remote.client.get(
        remote.r("up"),
        str(work / "back"),
        recursive=True,
        callback=lambda d, t: per_file.append((d, t)),
        total_callback=lambda d, t: overall.append((d, t)),
    )
    assert overall[-1] == (total, total)
    assert sorted(t for d, t in per_file if d == t) == sorted(len(v) for v in files.values())


def test_many_files_are_pipelined(remote: Remote, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = work / "src"
    src.mkdir()
    for i in range(50):
        (src / f"f{i}").write_bytes(os.urandom(512))
    c = remote.client
    sent: list[int] = []
    real, real_batch = RequestSession.send, RequestSession.send_batch

    def spy(self: RequestSession, handler: object, t: int, *parts: bytes) -> int:
        sent.append(t)
        return real(self, handler, t, *parts)  # type: ignore[arg-type]

    def spy_batch(self: RequestSession, requests: list[tuple[Any, int, Any]]) -> None:
        sent.extend(t for _, t, _ in requests)
        real_batch(self, requests)

    monkeypatch.setattr(RequestSession, "send", spy)
    monkeypatch.setattr(RequestSession, "send_batch", spy_batch)
    c.put(str(src), remote.r("up"), recursive=True)
    # many files are opened before the first one is closed
    assert opened_before_first_close(sent) > 10
    sent.clear()
    c.get(remote.r("up"), str(work / "back"), recursive=True)
    assert opened_before_first_close(sent) > 10
    assert len(os.listdir(work / "back")) == 50


def opened_before_first_close(sent: list[int]) -> int:
    """How many files were opened before the first file was closed."""
    first = sent.index(CMD_OPEN)
    return sent[first : sent.index(CMD_CLOSE, first)].count(CMD_OPEN)


def test_errors(remote: Remote, work: Path) -> None:
    c = remote.client
    with pytest.raises(FileNotFoundError):
        c.get(remote.r("missing"), str(work / "x"), recursive=True)
    (remote.local / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        c.get(remote.r("dir"), str(work / "x"), preserve=True)
    src = work / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"f")
    with pytest.raises(OSError):
        c.put(str(src), remote.r("no", "such", "parent"), recursive=True)
    # the session is still usable after a failed transfer
    assert c.listdir(remote.base) == ["dir"]


def test_walk(remote: Remote) -> None:
    base = remote.local
    (base / "w" / "a" / "b").mkdir(parents=True)
    (base / "w" / "f1").write_bytes(b"")
    (base / "w" / "a" / "f2").write_bytes(b"")
    os.symlink("a", base / "w" / "la")
    c = remote.client
    top = remote.r("w")
    got = {d: (sorted(ds), sorted(fs)) for d, ds, fs in c.walk(top)}
    assert got == {
        top: (["a", "la"], ["f1"]),
        f"{top}/a": (["b"], ["f2"]),
        f"{top}/a/b": ([], []),
    }
    assert f"{top}/la" in [d for d, _, _ in c.walk(top, followlinks=True)]
    assert [d for d, _, _ in c.walk(top, topdown=False)][-1] == top
    # pruning dirnames in place stops the descent, as in os.walk
    seen = []
    for d, ds, _ in c.walk(top):
        seen.append(d)
        ds.clear()
    assert seen == [top]
    errors: list[OSError] = []
    assert list(c.walk(remote.r("nope"), onerror=errors.append)) == []
    assert isinstance(errors[0], FileNotFoundError)


def test_glob(remote: Remote) -> None:
    base = remote.local
    for rel in ("g/a.txt", "g/b.txt", "g/c.bin", "g/.hidden.txt", "g/s/d.txt", "g/s/t/e.txt"):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(b"")
    c = remote.client
    g = remote.r("g")
    assert c.glob(f"{g}/*.txt") == [f"{g}/a.txt", f"{g}/b.txt"]
    assert c.glob(f"{g}/.*.txt") == [f"{g}/.hidden.txt"]
    assert c.glob(f"{g}/[ab].*") == [f"{g}/a.txt", f"{g}/b.txt"]
    assert c.glob(f"{g}/?.bin") == [f"{g}/c.bin"]
    assert c.glob(f"{g}/*/d.txt") == [f"{g}/s/d.txt"]
    assert c.glob(f"{g}/**/*.txt") == [f"{g}/a.txt", f"{g}/b.txt", f"{g}/s/d.txt", f"{g}/s/t/e.txt"]
    assert c.glob(f"{g}/*/") == [f"{g}/s/"]
    assert c.glob(f"{g}/a.txt") == [f"{g}/a.txt"]
    assert c.glob(f"{g}/zz*") == []
    assert c.glob(f"{g}/nope") == []
    c.chdir(g)
    assert c.glob("*.bin") == ["c.bin"]
    assert c.glob("s/*") == ["s/d.txt", "s/t"]


def test_makedirs(remote: Remote) -> None:
    c = remote.client
    c.makedirs(remote.r("m", "n", "o"), 0o750)
    assert (remote.local / "m" / "n" / "o").is_dir()
    assert stat.S_IMODE(c.stat(remote.r("m", "n", "o")).st_mode or 0) == 0o750 & ~_umask(remote)
    with pytest.raises(FileExistsError):
        c.makedirs(remote.r("m", "n"))
    c.makedirs(remote.r("m", "n"), exist_ok=True)
    (remote.local / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):
        c.makedirs(remote.r("file"), exist_ok=True)
    with pytest.raises(OSError):
        c.makedirs(remote.r("file", "below"))


def _umask(remote: Remote) -> int:
    if remote.kind == "ours":
        return 0  # our server applies the modes it is given
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_rmtree(remote: Remote, work: Path) -> None:
    outside = work / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    make_tree(remote.local / "t")
    os.symlink(str(outside), remote.local / "t" / "sub" / "to_outside")
    c = remote.client
    c.rmtree(remote.r("t"))
    assert not (remote.local / "t").exists()
    assert (outside / "keep").read_bytes() == b"keep"  # links are not followed
    with pytest.raises(FileNotFoundError):
        c.rmtree(remote.r("t"))
    c.rmtree(remote.r("t"), ignore_errors=True)
    os.symlink("x", remote.local / "lnk")
    with pytest.raises(OSError, match="symbolic link"):
        c.rmtree(remote.r("lnk"))
