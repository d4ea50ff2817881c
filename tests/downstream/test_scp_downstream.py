"""scp's ``SCPClient`` on a paramiko ``Transport`` as its users drive it, on our
paramiko: recursive put and get of a directory tree (bytes equal, progress
callbacks called), single files, ``putfo``, and a missing remote
file. The remote side is the system ``scp`` program, run by sshd or by our
server's exec handler."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from downstream_env import Target, make_tree, read_tree, require

from support.peers import need_program

scp = require("scp")
paramiko = require("paramiko")

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


@pytest.fixture
def ssh(target: Target) -> Iterator[Any]:
    """A connected ``SSHClient`` (what scp's users build the SCPClient on)."""
    need_program("scp")
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        target.host,
        port=target.port,
        username=target.user,
        key_filename=str(target.key),
        look_for_keys=False,
        allow_agent=False,
        timeout=20,
    )
    try:
        yield client
    finally:
        client.close()


def test_recursive_put_and_get_with_progress(ssh: Any, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    calls: list[tuple[bytes, int, int]] = []
    calls4: list[tuple[bytes, int, int, tuple[str, int]]] = []

    def progress(filename: bytes, size: int, sent: int) -> None:
        calls.append((filename, size, sent))

    with scp.SCPClient(ssh.get_transport(), progress=progress) as client:
        client.put(str(tmp_path / "src"), remote_path=str(tmp_path / "remote"), recursive=True)
    assert read_tree(tmp_path / "remote") == files
    finished = {name: size for name, size, sent in calls if sent == size}
    assert finished[b"big"] == len(files["bin/big"])
    assert finished[b"a.txt"] == len(files["a.txt"])

    def progress4(filename: bytes, size: int, sent: int, peer: tuple[str, int]) -> None:
        calls4.append((filename, size, sent, peer))

    with scp.SCPClient(ssh.get_transport(), progress4=progress4) as client:
        client.get(str(tmp_path / "remote"), local_path=str(tmp_path / "back"), recursive=True)
    assert read_tree(tmp_path / "back") == files
    assert {os.path.basename(c[0]) for c in calls4} >= {b"big", b"a.txt", b"leaf.txt"}
    assert all(len(c[3]) == 2 for c in calls4)


def test_single_files_and_file_objects(ssh: Any, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    (tmp_path / "one.bin").write_bytes(data)
    (tmp_path / "two.txt").write_bytes(b"two\n")
    out = tmp_path / "out"
    out.mkdir()
    with scp.SCPClient(ssh.get_transport()) as client:
        client.put([str(tmp_path / "one.bin"), str(tmp_path / "two.txt")], remote_path=str(out))
        assert (out / "one.bin").read_bytes() == data
        assert (out / "two.txt").read_bytes() == b"two\n"
        client.putfo(io.BytesIO(b"from memory"), str(out / "mem.txt"))
        assert (out / "mem.txt").read_bytes() == b"from memory"
        client.get(str(out / "one.bin"), local_path=str(tmp_path / "one.back"))
        assert (tmp_path / "one.back").read_bytes() == data


def test_missing_remote_file_raises_scpexception(ssh: Any, tmp_path: Path) -> None:
    with scp.SCPClient(ssh.get_transport()) as client, pytest.raises(scp.SCPException):
        client.get(str(tmp_path / "does-not-exist"), local_path=str(tmp_path / "x"))
    # the transport is still usable afterwards
    _, stdout, _ = ssh.exec_command("echo still")
    assert stdout.read() == b"still\n"
