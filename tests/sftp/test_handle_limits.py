"""SFTP handle limits beyond one session: per connection (all SFTP sessions of
one transport together) and per server process (``HandleQuota``), so one
user with many sessions cannot use up the server's descriptors. Refusals are
SFTP_FAILURE with a message saying which limit; the server keeps serving."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssh_keys import Ed25519Key
from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer
from ssh_sftp.handle_quota import HandleQuota, descriptor_budget
from ssh_transport import AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport

HOST_KEY = Ed25519Key.generate()

# -- the counting -----------------------------------------------------------------


def test_quota_counts_per_connection_and_in_total() -> None:
    quota = HandleQuota(per_connection=2, total=3)
    a, b = object(), object()
    assert quota.acquire(a) is None and quota.acquire(a) is None
    assert "on this connection (limit 2)" in (quota.acquire(a) or "")
    assert quota.acquire(b) is None
    assert "on the server (limit 3)" in (quota.acquire(b) or "")
    assert quota.open_handles() == 3 and quota.open_handles(a) == 2
    quota.release(a)
    assert quota.acquire(b) is None
    for key in (a, b, b):
        quota.release(key)
    quota.release(a)  # more releases than handles: ignored
    assert quota.open_handles() == 0 and quota.open_handles(a) == 0


def test_default_total_follows_the_descriptor_limit() -> None:
    budget = [100]
    quota = HandleQuota(per_connection=None, budget=lambda: budget[0])
    assert quota.total_limit() == 100
    budget[0] = 1
    key = object()
    assert quota.acquire(key) is None
    assert quota.acquire(key) is not None  # read again at each request
    resource = pytest.importorskip("resource")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY:
        expected = soft - max(64, soft // 4)
        assert descriptor_budget() == max(1, expected)
        assert HandleQuota().total_limit() == descriptor_budget()


# -- over SSH, several sessions on one connection ----------------------------------------


class NoneAuth(ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED


class Limited(SFTPServer):
    """Small limits, its own quota (the process-wide one is left alone)."""

    MAX_HANDLES = 4
    handle_quota = HandleQuota(per_connection=6, total=9)


def connect(root: Path) -> tuple[Transport, Transport]:
    """A logged-in client transport to a server transport serving ``root``."""
    a, b = socket.socketpair()
    server = Transport(b)
    server.add_server_key(HOST_KEY)
    server.set_subsystem_handler("sftp", Limited, LocalSFTPServerInterface, root=str(root))
    threading.Thread(target=server.start_server, kwargs={"server": NoneAuth()}, daemon=True).start()
    client = Transport(a)
    client.start_client(timeout=10)
    client.auth_none("me")
    return client, server


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    for n in range(3):
        (tmp_path / f"f{n}").write_bytes(b"data")
    (tmp_path / "d").mkdir()
    Limited.handle_quota = HandleQuota(per_connection=6, total=9)
    yield tmp_path


def refusal(sftp: SFTPClient, path: str = "/f0") -> str:
    """The error text of an OPEN the server refuses."""
    with pytest.raises(OSError) as info:
        sftp.open(path)
    return str(info.value)


def wait_for_handles(quota: HandleQuota, count: int) -> bool:
    """The server side closes a finished session's handles in its own thread."""
    event = threading.Event()
    for _ in range(250):
        if quota.open_handles() == count:
            return True
        event.wait(0.02)
    return False


@pytest.mark.timeout(60)
def test_handles_are_limited_per_session_connection_and_server(root: Path) -> None:
    client, server = connect(root)
    other_client, other_server = connect(root)
    quota = Limited.handle_quota
    try:
        one, two = SFTPClient.from_transport(client), SFTPClient.from_transport(client)
        files = [one.open("/f0") for _ in range(4)]
        assert "limit 4 per session" in refusal(one)
        files += [two.open("/f1") for _ in range(2)]
        assert "on this connection (limit 6)" in refusal(two)
        three = SFTPClient.from_transport(client)  # a new session does not reset it
        assert "on this connection" in refusal(three)
        assert one.stat("/f0").st_size == three.stat("/f2").st_size == 4  # everything else still works

        other = SFTPClient.from_transport(other_client)
        others = [other.open("/f2") for _ in range(3)]
        assert "on the server (limit 9)" in refusal(other)
        assert quota.open_handles() == 9

        files.pop().close()  # a close on connection one frees room for anyone
        others.append(other.open("/f2"))
        assert "on the server" in refusal(two)

        one.close()  # a session that ends gives its handles back
        assert wait_for_handles(quota, 5)
        assert three.open("/f0").read() == b"data"
        for f in files[4:] + others:
            f.close()
        for sftp in (two, three, other):
            sftp.close()
        assert wait_for_handles(quota, 0)
    finally:
        client.close()
        other_client.close()
        server.close()
        other_server.close()


@pytest.mark.timeout(60)
def test_directory_handles_count_too(root: Path) -> None:
    client, server = connect(root)
    try:
        sftp = SFTPClient.from_transport(client)
        files = [sftp.open("/f0") for _ in range(4)]
        with pytest.raises(OSError, match="per session"):
            list(sftp.listdir_iter("/d"))
        files[0].close()
        assert sorted(sftp.listdir("/")) == ["d", "f0", "f1", "f2"]
        sftp.close()
    finally:
        client.close()
        server.close()


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count descriptors")
def test_a_handle_flood_over_many_sessions_stays_bounded(root: Path) -> None:
    Limited.handle_quota = HandleQuota(per_connection=40, total=60)
    quota = Limited.handle_quota
    client, server = connect(root)
    other_client, other_server = connect(root)
    try:
        before = open_descriptors()
        sessions = [SFTPClient.from_transport(client) for _ in range(12)]
        refused = 0
        held = []
        for sftp in sessions:  # 12 sessions x 4 handles asked, 40 allowed
            for _ in range(4):
                try:
                    held.append(sftp.open("/f1"))
                except OSError as exc:
                    assert "on this connection" in str(exc)
                    refused += 1
        assert len(held) == 40 and refused == 8
        others = [SFTPClient.from_transport(other_client) for _ in range(8)]
        for sftp in others:
            for _ in range(4):
                try:
                    held.append(sftp.open("/f2"))
                except OSError as exc:
                    assert "on the server" in str(exc)
        assert quota.open_handles() == 60 and len(held) == 60
        # the server's descriptors grew by the handles it allowed, not by what was asked
        grown = open_descriptors() - before
        assert grown <= 60 + 2 * len(sessions + others) + 10
        assert others[0].stat("/f0").st_size == 4  # still serving
        for f in held:
            f.close()
        for sftp in sessions + others:
            sftp.close()
        assert wait_for_handles(quota, 0)
    finally:
        client.close()
        other_client.close()
        server.close()
        other_server.close()
