"""SFTP timeouts hold within a second of the channel's timeout when the
server stops answering mid-transfer (``support.stall_relay`` between our
client and our server): ``get``, ``put`` (both the file path and the
pipelined engine), ``readv``, prefetched reads, directory listings and
plain requests raise ``socket.timeout``, and a file closed after the
timeout is not waited for again. A transport dropped by its keepalive
makes SFTP errors say so."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ssh_sftp import LocalSFTPServerInterface, SFTPClient, SFTPServer
from ssh_transport import Transport
from ssh_wire import SSHException
from support.stall_relay import Setup, relayed_server

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 1.5
SLACK = 1.0  # "within a second of what was asked"
SIZE = 8 << 20


@dataclass
class Session:
    setup: Setup
    transport: Transport
    sftp: SFTPClient
    root: Path
    stalled_at: float | None = None

    def stall(self) -> None:
        """The relay goes silent now."""
        if self.stalled_at is None:
            self.setup.relay.stall()
            self.stalled_at = time.monotonic()

    def stall_after(self, nbytes: int) -> Callable[[int, int], None]:
        """A progress callback that stalls the relay once ``nbytes`` moved."""

        def callback(done: int, total: int) -> None:
            if done >= nbytes:
                self.stall()

        return callback


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """Our client and server through a relay that can go silent, with a
    big file on the server and one to upload, and the channel's timeout set."""
    (tmp_path / "big").write_bytes(os.urandom(SIZE))
    (tmp_path / "local").write_bytes(os.urandom(SIZE))
    for i in range(300):
        (tmp_path / f"entry-{i:04d}-{'x' * 100}").touch()
    with relayed_server() as setup:
        ct = Transport(socket.create_connection((setup.relay.host, setup.relay.port)))
        try:
            ct.start_client(timeout=10)
            ct.auth_password("bob", "pw")
            setup.servers[0].set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root=str(tmp_path))
            sftp = SFTPClient.from_transport(ct)
            assert sftp is not None
            sftp.get_channel().settimeout(TIMEOUT)
            yield Session(setup, ct, sftp, tmp_path)
        finally:
            ct.close()


def _times_out(s: Session, call: Callable[[], object]) -> float:
    """Run ``call``; it must raise ``socket.timeout`` within SLACK of the
    timeout after the stall. Returns how long after the stall it raised."""
    with pytest.raises(socket.timeout):
        call()
    assert s.stalled_at is not None, "the stall never happened"
    took = time.monotonic() - s.stalled_at
    assert TIMEOUT - 0.1 <= took <= TIMEOUT + SLACK, took
    return took


def test_get_with_prefetch(session: Session) -> None:
    s = session
    _times_out(s, lambda: s.sftp.get("/big", str(s.root / "out"), callback=s.stall_after(1 << 20)))


def test_get_with_the_transfer_engine(session: Session) -> None:
    s = session
    cb = s.stall_after(1 << 20)
    _times_out(s, lambda: s.sftp.get("/big", str(s.root / "out"), total_callback=cb))


def test_put_through_a_file(session: Session) -> None:
    s = session
    _times_out(s, lambda: s.sftp.put(str(s.root / "local"), "/up", callback=s.stall_after(1 << 20)))


def test_put_with_the_transfer_engine(session: Session) -> None:
    s = session
    cb = s.stall_after(1 << 20)
    _times_out(s, lambda: s.sftp.put(str(s.root / "local"), "/up", total_callback=cb))


def test_readv_then_close(session: Session) -> None:
    s = session
    f = s.sftp.open("/big")
    s.stall()
    _times_out(s, lambda: list(f.readv([(i << 20, 1 << 20) for i in range(8)])))
    f.close()  # the silent server is not waited for again
    took = time.monotonic() - (s.stalled_at or 0)
    assert took <= TIMEOUT + SLACK, took


def test_prefetched_read_in_a_with_block(session: Session) -> None:
    s = session

    def read_all() -> None:
        with s.sftp.open("/big") as f:
            f.prefetch()
            f.read(1 << 20)
            s.stall()
            f.read()

    _times_out(s, read_all)


def test_listdir_and_a_plain_request(session: Session) -> None:
    s = session
    s.stall()
    _times_out(s, lambda: s.sftp.listdir("/"))
    s.stalled_at = time.monotonic()
    _times_out(s, lambda: s.sftp.stat("/big"))


def test_a_keepalive_drop_is_the_reason_sftp_gives(session: Session) -> None:
    s = session
    s.sftp.get_channel().settimeout(None)
    s.transport.set_keepalive(0.2, max_missed=2)
    with pytest.raises(SSHException, match="keepalive"):
        s.sftp.get("/big", str(s.root / "out"), callback=s.stall_after(1 << 20))
    with pytest.raises(SSHException, match="keepalive"):
        s.sftp.stat("/big")  # and every later request
