"""SFTP through SSH: our SFTPClient over our Transport to OpenSSH's sshd
(which runs its sftp-server), OpenSSH's ``sftp`` against our SSH server
running our SFTPServer, and our client against our server on one transport."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer
from ssh_transport import Transport
from support.peers import need_program
from support.sshd import SSHD, keygen
from support.sshserver import ExecServer, RunningServer, serve

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def connect_sshd(sshd: SSHD) -> Transport:
    """Our transport, logged in to the private sshd with the ed25519 key."""
    t = Transport((sshd.host, sshd.port))
    try:
        key = ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"]))
        t.connect(username=sshd.user, pkey=key)
    except BaseException:
        t.close()
        raise
    return t


@pytest.fixture
def sshd_sftp(sshd: SSHD) -> Iterator[SFTPClient]:
    t = connect_sshd(sshd)
    try:
        client = SFTPClient.from_transport(t)
        assert client is not None
        client.get_channel().settimeout(60)
        yield client
        client.close()
    finally:
        t.close()


def test_operations_through_sshd(sshd_sftp: SFTPClient, tmp_path: Path) -> None:
    c = sshd_sftp
    base = str(tmp_path)
    assert c.server_version == 3 and c.max_read_size > 32768
    c.mkdir(f"{base}/d")
    c.chdir(f"{base}/d")
    assert c.getcwd() == f"{base}/d"
    with c.open("f.txt", "w") as f:
        f.write("one\ntwo\n")
    with c.open("f.txt") as f:
        assert f.readlines() == ["one\n", "two\n"]
    c.chmod("f.txt", 0o600)
    assert (c.stat("f.txt").st_mode or 0) & 0o777 == 0o600
    c.symlink("f.txt", "l")
    assert c.readlink("l") == "f.txt"
    c.posix_rename("f.txt", "g.txt")
    assert sorted(c.listdir()) == ["g.txt", "l"]
    with pytest.raises(FileNotFoundError):
        c.stat("f.txt")
    assert c.statvfs(".").f_bsize > 0
    c.remove("l")
    c.remove("g.txt")
    c.chdir(base)
    c.rmdir("d")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("size", [0, 1, 32767, 32768, 32769, 3_000_001])
def test_transfers_through_sshd(sshd_sftp: SFTPClient, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    seen: list[int] = []
    sshd_sftp.put(str(tmp_path / "src"), str(tmp_path / "remote"), callback=lambda a, b: seen.append(a))
    assert seen[-1] == size and seen == sorted(seen)
    seen.clear()
    sshd_sftp.get(str(tmp_path / "remote"), str(tmp_path / "back"), callback=lambda a, b: seen.append(a))
    assert seen[-1] == size and seen == sorted(seen)
    assert (tmp_path / "back").read_bytes() == data


def test_100mib_through_sshd(sshd_sftp: SFTPClient, tmp_path: Path) -> None:
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(tmp_path / "src", "wb") as fh:
        for i in range(100):
            chunk = bytes([i]) + block[1:]
            fh.write(chunk)
            h.update(chunk)
    sshd_sftp.put(str(tmp_path / "src"), str(tmp_path / "remote"))
    sshd_sftp.get(str(tmp_path / "remote"), str(tmp_path / "back"))
    for name in ("remote", "back"):
        got = hashlib.sha256()
        with open(tmp_path / name, "rb") as fh:
            while chunk := fh.read(1 << 20):
                got.update(chunk)
        assert got.digest() == h.digest()


def test_prefetch_bigger_than_window(sshd: SSHD, tmp_path: Path) -> None:
    data = os.urandom(6 * 1024 * 1024)
    (tmp_path / "f").write_bytes(data)
    t = connect_sshd(sshd)
    try:
        c = SFTPClient.from_transport(t, window_size=256 * 1024, max_packet_size=16384)
        assert c is not None
        with c.open(str(tmp_path / "f"), "rb") as f:
            f.prefetch()
            assert f.read() == data
        with c.open(str(tmp_path / "f"), "rb") as f:
            assert list(f.readv([(0, 5), (4_000_000, 1_000_000)])) == [data[:5], data[4_000_000:5_000_000]]
        c.close()
    finally:
        t.close()


# -- our SSH server with our SFTPServer ------------------------------------------------


@dataclass
class OurSSH:
    server: RunningServer
    root: Path
    key: Path
    known_hosts: Path


@pytest.fixture
def our_ssh(tmp_path: Path) -> Iterator[OurSSH]:
    need_program("ssh-keygen")
    root = tmp_path / "root"
    root.mkdir()
    key = keygen(tmp_path / "client", "ed25519")
    authorized = [ssh_keys.PKey.from_private_key_file(str(key))]
    host_key = ssh_keys.Ed25519Key.generate()

    def configure(t: Any) -> None:
        t.set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root=str(root))

    with serve([host_key], lambda: ExecServer(authorized=authorized), configure) as running:
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{running.port} {host_key.get_name()} {host_key.get_base64()}\n")
        yield OurSSH(running, root, key, known)


def test_openssh_sftp_against_our_ssh_server(our_ssh: OurSSH, tmp_path: Path) -> None:
    sftp = need_program("sftp")
    local = tmp_path / "local"
    local.mkdir()
    data = os.urandom(5 * 1024 * 1024 + 3)
    (local / "up.bin").write_bytes(data)
    batch = tmp_path / "batch"
    batch.write_text(
        "put up.bin\nget up.bin down.bin\nmkdir d\nrename up.bin d/x.bin\nchmod 640 d/x.bin\n"
        "symlink x.bin d/l\nls -l d\ndf\nrm d/l\nget ../../etc/passwd stolen\n"
    )
    result = subprocess.run(
        [
            sftp,
            "-F",
            "/dev/null",
            "-P",
            str(our_ssh.server.port),
            "-i",
            str(our_ssh.key),
            "-o",
            f"UserKnownHostsFile={our_ssh.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-b",
            str(batch),
            "tester@127.0.0.1",
        ],
        cwd=local,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    # the last command must fail (nothing outside the root), everything before it works
    assert result.returncode != 0
    assert "stolen" in result.stdout.splitlines()[-1]
    assert "x.bin" in result.stdout and "Avail" in result.stdout, result.stdout + result.stderr
    assert (local / "down.bin").read_bytes() == data
    assert (our_ssh.root / "d" / "x.bin").read_bytes() == data
    assert (our_ssh.root / "d" / "x.bin").stat().st_mode & 0o777 == 0o640
    assert not (local / "stolen").exists()


def _connect_ours(our_ssh: OurSSH) -> Transport:
    t = Transport(("127.0.0.1", our_ssh.server.port))
    t.connect(username="tester", pkey=ssh_keys.PKey.from_private_key_file(str(our_ssh.key)))
    return t


def test_our_client_our_server_over_ssh(our_ssh: OurSSH) -> None:
    t = _connect_ours(our_ssh)
    try:
        c = SFTPClient.from_transport(t)
        assert c is not None
        data = os.urandom(4 * 1024 * 1024)
        with c.open("/f", "wb") as f:
            f.set_pipelined(True)
            f.write(data)
        with c.open("/f", "rb") as f:
            f.prefetch()
            assert f.read() == data
            assert f.check("sha256") == hashlib.sha256(data).digest()
        # a second channel speaking garbage is dropped; the first keeps working
        bad = t.open_session()
        bad.settimeout(10)
        bad.invoke_subsystem("sftp")
        bad.sendall(struct.pack(">IBI", 5, 1, 3))
        assert bad.recv(4)
        bad.sendall(struct.pack(">I", 0x7FFFFFFF) + b"junk")
        deadline_data = b""
        while True:
            chunk = bad.recv(65536)
            if not chunk:
                break
            deadline_data += chunk
        bad.close()
        assert c.stat("/f").st_size == len(data)
        c.close()
    finally:
        t.close()
