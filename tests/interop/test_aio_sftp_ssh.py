"""asyncio SFTP over asyncio SSH: ``open_sftp`` on an ``ssh_transport.aio``
connection to the private OpenSSH sshd, and ``serve_sftp`` as the "sftp"
subsystem of ``aio.listen`` driven by OpenSSH's ``sftp`` and by our own
asyncio client."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from ssh_sftp import LocalSFTPServerInterface
from ssh_sftp.aio import SFTPClient, open_sftp, serve_sftp
from support.aio_run import arun
from support.aio_servers import KeyServer, connect_local, connect_sshd, listen_local, sha256_of
from support.peers import missing_peer
from support.sshd import SSHD, keygen

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


def test_open_sftp_against_sshd(sshd: SSHD, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(16 * 1024 * 1024 + 5))
    for i in range(30):
        (tmp_path / f"small{i}").write_bytes(bytes([i]) * i)

    async def main() -> None:
        async with connect_sshd(sshd) as conn, open_sftp(conn) as sftp:
            assert isinstance(sftp, SFTPClient)
            assert "limits@openssh.com" in sftp.server_extensions
            await sftp.put(src, str(tmp_path / "up"))
            await sftp.get(str(tmp_path / "up"), tmp_path / "down")
            sizes = await asyncio.gather(*(sftp.stat(str(tmp_path / f"small{i}")) for i in range(30)))
            assert [a.st_size for a in sizes] == list(range(30))
            assert "up" in await sftp.listdir(str(tmp_path))
        # the session and its channel are closed; the connection too
        with pytest.raises(OSError, match="Socket is closed"):
            await sftp.stat(str(tmp_path))

    arun(main())
    assert sha256_of(tmp_path / "up") == sha256_of(src)
    assert sha256_of(tmp_path / "down") == sha256_of(src)


def test_serve_sftp_as_subsystem(tmp_path: Path) -> None:
    """OpenSSH's sftp, and our asyncio client over aio.connect, against
    ``aio.listen`` whose "sftp" subsystem is ``serve_sftp``."""
    sftp_prog = shutil.which("sftp")
    if sftp_prog is None:
        missing_peer("OpenSSH sftp is not installed")
    assert sftp_prog is not None
    keys = tmp_path / "keys"
    keys.mkdir()
    client_key = keygen(keys / "client", "ed25519")
    host_key = ssh_keys.Ed25519Key.generate()
    root = tmp_path / "root"
    root.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    payload = os.urandom(5 * 1024 * 1024 + 1)
    (work / "up.bin").write_bytes(payload)
    allowed = ssh_keys.PKey.from_private_key_file(str(client_key))

    async def sftp_subsystem(process: Any) -> None:
        await serve_sftp(process.stdin, process.stdout, LocalSFTPServerInterface(None, root=str(root)))

    async def main() -> None:
        server = await listen_local(
            lambda: KeyServer(allowed), host_keys=[host_key], subsystems={"sftp": sftp_subsystem}
        )
        try:
            known = keys / "known_hosts"
            known.write_text(f"[127.0.0.1]:{server.port} {host_key.get_name()} {host_key.get_base64()}\n")
            (work / "batch").write_text(
                "put up.bin\nmkdir d\nrename up.bin d/moved.bin\nls -l d\nget d/moved.bin back.bin\n"
            )
            proc = await asyncio.create_subprocess_exec(
                sftp_prog,
                "-F",
                "/dev/null",
                "-P",
                str(server.port),
                "-i",
                str(client_key),
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-b",
                "batch",
                "u@127.0.0.1",
                cwd=work,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            assert proc.returncode == 0, err
            assert b"moved.bin" in out
            assert (work / "back.bin").read_bytes() == payload
            # our own client, over our own asyncio transport
            async with (
                connect_local(server.port, username="u", key_filename=str(client_key), known_hosts=str(known)) as conn,
                open_sftp(conn) as sftp,
            ):
                assert await sftp.listdir("/d") == ["moved.bin"]
                await sftp.get("/d/moved.bin", work / "again.bin")
                async with await sftp.open("/d/new", "w") as f:
                    await f.write(b"written over asyncio SSH")
            assert (work / "again.bin").read_bytes() == payload
            assert (root / "d" / "new").read_bytes() == b"written over asyncio SSH"
        finally:
            server.close()
            await server.wait_closed()

    arun(main())
