"""Recursive transfers and a shared client through OpenSSH's sshd (its
sftp-server): our ``get``/``put(recursive=True, preserve=True)`` give the
same trees as OpenSSH's ``sftp get -Rp``/``put -Rp``, and 8 threads share
one client."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import ssh_keys
from ssh_sftp import SFTPClient
from ssh_transport import Transport
from support.peers import need_program
from support.sftp_load import hammer
from support.sshd import SSHD

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture
def client(sshd: SSHD) -> Iterator[SFTPClient]:
    """Our SFTP client through our transport to the private sshd."""
    t = Transport((sshd.host, sshd.port))
    try:
        t.connect(username=sshd.user, pkey=ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"])))
        c = SFTPClient.from_transport(t)
        assert c is not None
        c.get_channel().settimeout(60)
        yield c
        c.close()
    finally:
        t.close()


def openssh_sftp(sshd: SSHD, commands: str, cwd: Path) -> None:
    """Run OpenSSH's ``sftp -b`` with ``commands`` against the sshd."""
    sftp = need_program("sftp")
    batch = cwd / "batch"
    batch.write_text(commands)
    result = subprocess.run(
        [sftp, *sshd.ssh_args(program="sftp"), "-b", str(batch), sshd.target],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr


def snapshot(top: Path) -> dict[str, tuple[str, int, int, bytes]]:
    """Every entry below ``top``: kind, permission bits, mtime, contents."""
    out: dict[str, tuple[str, int, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(top))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, 0, b"")
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), int(st.st_mtime), b"")
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime), p.read_bytes())
    return out


def make_tree(top: Path) -> None:
    """Files of several sizes, modes and times; an empty directory; links."""
    for i in range(30):
        p = top / f"d{i % 3}" / f"f{i}"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(i * 997))
        os.chmod(p, 0o600 + (i % 2) * 0o40)
        os.utime(p, (1_000_000_000 + i, 1_100_000_000 + i))
    (top / "big").write_bytes(os.urandom(1_500_000))
    (top / "emptydir").mkdir()
    os.symlink("big", top / "link")
    os.symlink("d0", top / "dirlink")
    for d in ("d0", "d1", "d2", "emptydir"):
        os.chmod(top / d, 0o750)
        os.utime(top / d, (1_200_000_000, 1_300_000_000))


def test_recursive_put_and_get_match_openssh_sftp(sshd: SSHD, client: SFTPClient, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    remote = tmp_path / "remote"
    remote.mkdir()
    openssh_sftp(sshd, f"put -Rp {src} {remote}/theirs\n", tmp_path)
    client.put(str(src), f"{remote}/ours", recursive=True, preserve=True)
    theirs = snapshot(remote / "theirs")
    # OpenSSH skipped the links and copied 31 files and 4 directories
    assert sorted(v[0] for v in theirs.values()) == ["dir"] * 4 + ["file"] * 31
    assert snapshot(remote / "ours") == theirs
    openssh_sftp(sshd, f"get -Rp {remote}/theirs {tmp_path}/got_theirs\n", tmp_path)
    client.get(f"{remote}/theirs", str(tmp_path / "got_ours"), recursive=True, preserve=True)
    assert snapshot(tmp_path / "got_ours") == snapshot(tmp_path / "got_theirs") == theirs


def test_resume_through_sshd(client: SFTPClient, tmp_path: Path) -> None:
    data = os.urandom(2_000_000)
    (tmp_path / "remote.bin").write_bytes(data)
    # partial copies whose first bytes differ: resuming keeps them (only the
    # rest is transferred), starting over would not
    (tmp_path / "local.bin").write_bytes(b"L" * 10 + data[10:700_000])
    client.get(str(tmp_path / "remote.bin"), str(tmp_path / "local.bin"), resume=True)
    assert (tmp_path / "local.bin").read_bytes() == b"L" * 10 + data[10:]
    (tmp_path / "partial.bin").write_bytes(b"R" * 10 + data[10:300_000])
    client.put(str(tmp_path / "remote.bin"), str(tmp_path / "partial.bin"), resume=True)
    assert (tmp_path / "partial.bin").read_bytes() == b"R" * 10 + data[10:]


def test_eight_threads_through_sshd(client: SFTPClient, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    local = tmp_path / "local"
    local.mkdir()
    counts = hammer(client, str(remote), local, seconds=2.0, threads=8)
    assert counts["get"] >= 8 and counts["recursive get"] >= 8, counts
