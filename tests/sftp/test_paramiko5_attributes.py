"""``SFTPAttributes`` as paramiko 5 shows it: the ``ls -l`` line of ``str()``
(rows checked against paramiko 5.1), ``from_stat``, and the "?" shown until
``filename`` is set."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from ssh_sftp import SFTPAttributes

pytestmark = pytest.mark.timeout(10)

# (fields, str()) with no date to depend on the clock or time zone
LS_ROWS: list[tuple[dict[str, object], str]] = [
    (
        {"st_mode": stat.S_IFDIR | 0o755, "st_uid": 0, "st_gid": 0, "st_size": 4096, "filename": "d"},
        "drwxr-xr-x   1 0        0            4096 (unknown date) d",
    ),
    (
        {
            "st_mode": stat.S_IFREG | 0o4751,
            "st_uid": 1000,
            "st_gid": 100,
            "st_size": 123456789,
            "st_mtime": 0xFFFFFFFF,
            "filename": "f",
        },
        "-rwsr-x--x   1 1000     100      123456789 (unknown date) f",
    ),
    (
        {"st_mode": stat.S_IFLNK | 0o777, "st_uid": 1, "st_gid": 2, "st_size": 3},
        "lrwxrwxrwx   1 1        2               3 (unknown date) ?",
    ),
    ({"st_mode": stat.S_IFIFO | 0o2670, "filename": "p"}, "prw-rws---   1 0        0               0 (unknown date) p"),
    (
        {"st_mode": stat.S_IFSOCK | 0o1777, "filename": "s"},
        "srwxrwxrwt   1 0        0               0 (unknown date) s",
    ),
    ({"st_mode": stat.S_IFBLK | 0o1776, "filename": "b"}, "brwxrwxrwT   1 0        0               0 (unknown date) b"),
    ({"st_mode": stat.S_IFCHR | 0o6000, "filename": "c"}, "c--S--S---   1 0        0               0 (unknown date) c"),
    ({"st_mode": 0o170644, "filename": "weird"}, "?rw-r--r--   1 0        0               0 (unknown date) weird"),
    ({"filename": "nomode"}, "?---------   1 0        0               0 (unknown date) nomode"),
    ({}, "?---------   1 0        0               0 (unknown date) ?"),
]


@pytest.mark.parametrize(("fields", "line"), LS_ROWS)
def test_ls_line_matches_paramiko(fields: dict[str, object], line: str) -> None:
    attr = SFTPAttributes()
    for name, value in fields.items():
        setattr(attr, name, value)
    assert str(attr) == line


def test_ls_line_dates_recent_and_old() -> None:
    now = time.time()
    recent = SFTPAttributes()
    recent.st_mode = stat.S_IFREG | 0o644
    recent.st_mtime = int(now - 3600)
    recent.filename = "new"
    when = time.strftime("%d %b %H:%M", time.localtime(recent.st_mtime))
    assert str(recent) == f"-rw-r--r--   1 0        0               0 {when:<12} new"
    old = SFTPAttributes()
    old.st_mtime = int(now - 400 * 86400)
    old.filename = "old"
    year = time.strftime("%d %b %Y", time.localtime(old.st_mtime))
    assert str(old) == f"?---------   1 0        0               0 {year:<12} old"


def test_filename_unknown_until_set() -> None:
    attr = SFTPAttributes()
    assert attr.filename == "" and attr.longname is None
    assert str(attr).endswith(" ?")
    attr.filename = "x"
    assert str(attr).endswith(" x")


def test_from_stat_copies_fields(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"12345")
    st = os.stat(p)
    attr = SFTPAttributes.from_stat(st)
    assert (attr.st_size, attr.st_uid, attr.st_gid, attr.st_mode) == (5, st.st_uid, st.st_gid, st.st_mode)
    assert (attr.st_atime, attr.st_mtime) == (st.st_atime, st.st_mtime)
    assert attr.filename == "" and str(attr).endswith(" ?")
    named = SFTPAttributes.from_stat(st, filename="f")
    assert named.filename == "f" and str(named).endswith(" f")


def test_flag_constants() -> None:
    assert (SFTPAttributes.FLAG_SIZE, SFTPAttributes.FLAG_UIDGID, SFTPAttributes.FLAG_PERMISSIONS) == (1, 2, 4)
    assert (SFTPAttributes.FLAG_AMTIME, SFTPAttributes.FLAG_EXTENDED) == (8, 0x80000000)
    attr = SFTPAttributes()
    assert attr.attr == {} and attr.st_size is None and attr.st_mtime is None
