"""fsspec's "sftp" filesystem (built on paramiko's SSHClient and SFTPClient)
as its users drive it, on our paramiko, against sshd and our SFTP server:
mkdir, ls, info, open rb/wb, put/get (recursive too), find, rm, mv."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from downstream_env import Target, make_tree, read_tree, require

fsspec = require("fsspec")
require("paramiko")

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


@pytest.fixture
def fs(target: Target) -> Iterator[Any]:
    """``fsspec.filesystem("sftp", ...)`` logged in to ``target`` with its key file."""
    filesystem = fsspec.filesystem(
        "sftp",
        host=target.host,
        port=target.port,
        username=target.user,
        key_filename=str(target.key),
        look_for_keys=False,
        allow_agent=False,
        timeout=20,
        skip_instance_cache=True,
    )
    try:
        yield filesystem
    finally:
        filesystem.client.close()


def test_mkdir_open_ls_info(fs: Any, tmp_path: Path) -> None:
    base = str(tmp_path / "remote")
    fs.mkdir(base + "/sub/deeper")
    assert fs.isdir(base + "/sub/deeper")
    data = bytes(range(256)) * 3000
    with fs.open(base + "/sub/data.bin", "wb") as f:
        f.write(data[:1000])
        f.write(data[1000:])
    assert (tmp_path / "remote/sub/data.bin").read_bytes() == data
    with fs.open(base + "/sub/data.bin", "rb") as f:
        assert f.read(10) == data[:10]
        f.seek(5000)
        assert f.read(100) == data[5000:5100]
        f.seek(0)
        assert f.read() == data
    assert fs.cat_file(base + "/sub/data.bin") == data
    assert sorted(fs.ls(base + "/sub")) == [base + "/sub/data.bin", base + "/sub/deeper"]
    detail = {d["name"]: d for d in fs.ls(base + "/sub", detail=True)}
    assert detail[base + "/sub/data.bin"]["type"] == "file"
    assert detail[base + "/sub/data.bin"]["size"] == len(data)
    assert detail[base + "/sub/deeper"]["type"] == "directory"
    info = fs.info(base + "/sub/data.bin")
    assert info["size"] == len(data) and info["type"] == "file"
    assert info["mtime"].timestamp() == pytest.approx((tmp_path / "remote/sub/data.bin").stat().st_mtime, abs=1)
    assert fs.info(base)["type"] == "directory"
    assert not fs.exists(base + "/nope")
    with pytest.raises(FileNotFoundError):
        fs.info(base + "/nope")


def test_put_get_find_rm(fs: Any, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "local")
    remote = str(tmp_path / "remote")
    # a list of files: fsspec's SFTP put_file does not skip directories itself
    fs.put([str(tmp_path / "local" / rel) for rel in files], [f"{remote}/{rel}" for rel in files])
    assert read_tree(tmp_path / "remote") == files
    found = fs.find(remote)
    assert sorted(found) == sorted(f"{remote}/{rel}" for rel in files)
    fs.get(remote, str(tmp_path / "back"), recursive=True)
    assert read_tree(tmp_path / "back") == files
    fs.put_file(str(tmp_path / "local/a.txt"), remote + "/single.txt")
    fs.get_file(remote + "/single.txt", str(tmp_path / "single.back"))
    assert (tmp_path / "single.back").read_bytes() == files["a.txt"]
    fs.mv(remote + "/single.txt", remote + "/moved.txt")
    assert fs.exists(remote + "/moved.txt") and not fs.exists(remote + "/single.txt")
    fs.rm(remote + "/moved.txt")
    assert not (tmp_path / "remote/moved.txt").exists()
    fs.rm(remote, recursive=True)
    assert not (tmp_path / "remote").exists()


def test_fsspec_open_url(target: Target, tmp_path: Path) -> None:
    path = tmp_path / "url.txt"
    path.write_bytes(b"by url\n")
    url = f"sftp://{target.user}@{target.host}:{target.port}{path}"
    opts = {"key_filename": str(target.key), "look_for_keys": False, "allow_agent": False, "timeout": 20}
    with fsspec.open(url, "rb", skip_instance_cache=True, **opts) as f:
        assert f.read() == b"by url\n"
