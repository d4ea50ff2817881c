"""The asyncio SFTP client's pieces talk through public interfaces:
``SFTPFile`` and the recursive transfers use the client's and its
``RequestSession``'s public methods, not their privates. Checked on the
source, so that a new private reach fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

import ssh_sftp.aio
from support.source_check import private_reaches

pytestmark = pytest.mark.timeout(30)

AIO = Path(ssh_sftp.aio.__file__).parent

# SFTPAttributes._from_msg is the attributes' reader of a message, named as
# paramiko names it and used so by every ssh_sftp module
ALLOWED = {"SFTPAttributes._from_msg"}


def test_the_aio_sftp_modules_reach_into_no_other_object() -> None:
    modules = sorted(AIO.glob("*.py"))
    assert {"client.py", "session.py", "file.py"} <= {p.name for p in modules}
    found = [hit for path in modules for hit in private_reaches(path)]
    assert [hit for hit in found if hit.split(": ", 1)[1] not in ALLOWED] == []
