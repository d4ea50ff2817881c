"""Bulk data between our client and our server over loopback TCP: 256 MiB
each way through one channel with sha256 equal at both ends, the same with
rekeying forced every few MiB, and closing mid-transfer."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ssh_transport import AUTH_SUCCESSFUL, OPEN_SUCCEEDED, Channel, ServerInterface, Transport
from ssh_wire import SSHException
from support.corepair import host_key

pytestmark = pytest.mark.timeout(300)

BULK = 256 * 1024 * 1024
BLOCK = hashlib.sha512(b"bulk").digest() * (1 << 14)  # 1 MiB


def blocks(total: int) -> Iterator[bytes]:
    """Deterministic pseudo-random data, 1 MiB at a time."""
    for i in range(total // len(BLOCK)):
        k = i % 64
        yield BLOCK[k:] + BLOCK[:k]


def expected_digest(total: int) -> str:
    h = hashlib.sha256()
    for b in blocks(total):
        h.update(b)
    return h.hexdigest()


class BulkServer(ServerInterface):
    """exec "send N": stream N bytes; exec "sink": reply with the sha256 of stdin."""

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        threading.Thread(target=self._run, args=(channel, command.decode()), daemon=True).start()
        return True

    def _run(self, chan: Channel, command: str) -> None:
        try:
            if command.startswith("send "):
                for b in blocks(int(command.split()[1])):
                    chan.sendall(b)
            elif command == "sink":
                h = hashlib.sha256()
                while True:
                    d = chan.recv(1 << 20)
                    if not d:
                        break
                    h.update(d)
                chan.sendall(h.hexdigest().encode())
            chan.send_exit_status(0)
        except (OSError, SSHException):
            pass
        finally:
            chan.close()


def tcp_pair(configure: Any = None) -> tuple[Transport, Transport]:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    client_sock = socket.create_connection(lsock.getsockname())
    server_sock, _ = lsock.accept()
    lsock.close()
    st = Transport(server_sock)
    st.add_server_key(host_key("ed25519"))
    ct = Transport(client_sock)
    if configure is not None:
        configure(ct, st)
    th = threading.Thread(target=st.start_server, kwargs={"server": BulkServer()})
    th.start()
    ct.start_client(timeout=20)
    th.join(20)
    ct.auth_password("user", "pw")
    return ct, st


def bulk(ct: Transport, total: int) -> None:
    digest = expected_digest(total)
    chan = ct.open_session()
    chan.exec_command(f"send {total}")
    h = hashlib.sha256()
    got = 0
    while True:
        d = chan.recv(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
    assert got == total and h.hexdigest() == digest
    chan = ct.open_session()
    chan.exec_command("sink")
    for b in blocks(total):
        chan.sendall(b)
    chan.shutdown_write()
    assert chan.makefile("rb").read().decode() == digest
    assert chan.recv_exit_status() == 0


@pytest.mark.slow
def test_bulk_256mib_each_way() -> None:
    ct, st = tcp_pair()
    try:
        bulk(ct, BULK)
    finally:
        ct.close()
        st.close()


@pytest.mark.slow
def test_bulk_256mib_each_way_with_rekeys() -> None:
    def configure(ct: Transport, st: Transport) -> None:
        ct.rekey_bytes = 8 << 20
        st.rekey_bytes = 13 << 20

    ct, st = tcp_pair(configure)
    try:
        bulk(ct, BULK)
        assert ct._events.kex_count >= 40 and st._events.kex_count >= 40
    finally:
        ct.close()
        st.close()


def test_close_mid_transfer_from_server() -> None:
    ct, st = tcp_pair()
    try:
        chan = ct.open_session()
        chan.exec_command(f"send {BULK}")
        assert chan.recv(1 << 16)
        st.close()
        while chan.recv(1 << 20):
            pass
        assert chan.recv_exit_status() == -1
        assert not ct.is_active() or ct.get_exception() is None
    finally:
        ct.close()
        st.close()
