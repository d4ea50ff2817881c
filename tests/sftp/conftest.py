"""Fixtures for the SFTP tests: our client against OpenSSH's sftp-server
(a subprocess over pipes) and against our own server (in-process, over a
socketpair), both serving a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sftp_helpers import OurServer, Remote, openssh_server

from ssh_sftp import SFTPClient


@pytest.fixture
def openssh(tmp_path: Path) -> Iterator[Remote]:
    """Our client talking to OpenSSH's sftp-server, serving ``tmp_path``."""
    stream = openssh_server()
    stream.settimeout(60)
    client = SFTPClient(stream)
    try:
        yield Remote(client, str(tmp_path), tmp_path, "openssh")
    finally:
        client.close()


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[Remote]:
    """Our client talking to our server, serving ``tmp_path`` as "/"."""
    srv = OurServer(tmp_path)
    client = SFTPClient(srv.client_stream)
    try:
        yield Remote(client, "/", tmp_path, "ours")
    finally:
        client.close()
        srv.close()


@pytest.fixture(params=["openssh", "ours"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    """Each test runs against OpenSSH's sftp-server and against ours."""
    yield request.getfixturevalue(request.param)
