"""A keepalive that notices a silent peer: ``set_keepalive(interval,
max_missed)`` asks a quiet peer for a reply (``keepalive@openssh.com``, want
reply), keeps a live peer's session up, and drops the session once
``max_missed`` probes in a row went unanswered, which every thread waiting on
the transport hears about as an ``SSHException``. ``max_missed=0`` is
paramiko's send-only keepalive. The silent peer is a live server behind a
relay that stops forwarding (``support.stall_relay``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ssh_transport import Transport
from ssh_wire import Message, SSHException
from support.polling import wait_until
from support.stall_relay import Setup, relayed_server

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def setup() -> Iterator[Setup]:
    with relayed_server() as s:
        yield s


def closed_within(t: Transport, limit: float) -> float | None:
    """Seconds until ``t`` became inactive, or None if it still is after ``limit``."""
    t0 = time.monotonic()
    if not wait_until(lambda: not t.is_active(), limit):
        return None
    return time.monotonic() - t0


def test_a_live_idle_peer_answers_and_the_session_stays_up(setup: Setup) -> None:
    ct = setup.connect()
    try:
        ct.set_keepalive(0.2, max_missed=2)
        # Without answers the session would be dropped after 0.4-0.6 s.
        time.sleep(1.5)
        assert ct.is_active()
        probes = setup.server_ifaces[0].globals
        assert len(probes) >= 3
        assert set(probes) == {"keepalive@openssh.com"}
        chan = ct.open_session(timeout=5)  # still usable
        chan.close()
    finally:
        ct.close()


def test_a_silent_peer_is_dropped_after_max_missed_probes(setup: Setup) -> None:
    ct = setup.connect()
    try:
        interval, missed = 0.3, 3
        ct.set_keepalive(interval, max_missed=missed)
        time.sleep(0.5)
        setup.relay.stall()
        took = closed_within(ct, interval * (missed + 1) + 2)
        assert took is not None, "the transport is still active"
        # silent for at least interval*missed, at most interval*(missed+1) (+ scheduling slack)
        assert interval * (missed - 1) <= took <= interval * (missed + 1) + 1.0
        exc = ct.get_exception()
        assert isinstance(exc, SSHException)
        assert "keepalive" in str(exc)
    finally:
        ct.close()


def test_waiters_on_a_dropped_transport_get_an_ssh_exception(setup: Setup) -> None:
    ct = setup.connect()
    try:
        chan = ct.open_session()
        assert chan.exec_command("true")
        outcome: list[Any] = []

        def reader() -> None:
            try:
                outcome.append(chan.recv(100))
            except Exception as exc:
                outcome.append(exc)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        ct.set_keepalive(0.2, max_missed=2)
        setup.relay.stall()
        th.join(5)
        assert len(outcome) == 1
        assert isinstance(outcome[0], SSHException), outcome
        assert "keepalive" in str(outcome[0])
        assert "keepalive" in str(chan.close_error)
        with pytest.raises(SSHException, match="keepalive"):
            chan.recv(100)  # and every later read, rather than an EOF
        with pytest.raises(OSError, match="keepalive"):
            chan.send(b"x")
        with pytest.raises(SSHException, match="keepalive"):
            ct.open_session()
    finally:
        ct.close()


def test_data_received_before_the_drop_is_still_read(setup: Setup) -> None:
    ct = setup.connect()
    try:
        chan = ct.open_session()
        assert chan.exec_command("true")
        schan = setup.servers[0].accept(10)
        assert schan is not None
        schan.sendall(b"last words")
        assert wait_until(chan.recv_ready, 5)
        ct.set_keepalive(0.2, max_missed=1)
        setup.relay.stall()
        assert closed_within(ct, 5) is not None
        assert chan.recv(100) == b"last words"
        with pytest.raises(SSHException, match="keepalive"):
            chan.recv(100)
    finally:
        ct.close()


def test_a_channel_that_ended_normally_still_reads_eof(setup: Setup) -> None:
    ct = setup.connect()
    try:
        chan = ct.open_session()
        assert chan.exec_command("true")
        schan = setup.servers[0].accept(10)
        assert schan is not None
        schan.shutdown_write()
        assert wait_until(lambda: chan.eof_received, 5)
        ct.set_keepalive(0.2, max_missed=1)
        setup.relay.stall()
        assert closed_within(ct, 5) is not None
        assert chan.recv(100) == b""
        assert chan.close_error is None
    finally:
        ct.close()


def test_server_side_keepalive_drops_a_silent_client_and_accept_says_why(setup: Setup) -> None:
    ct = setup.connect()
    st = setup.servers[0]
    try:
        outcome: list[Any] = []

        def acceptor() -> None:
            try:
                outcome.append(st.accept())
            except Exception as exc:
                outcome.append(exc)

        th = threading.Thread(target=acceptor, daemon=True)
        th.start()
        st.set_keepalive(0.2, max_missed=2)
        setup.relay.stall()
        th.join(5)
        assert len(outcome) == 1
        assert isinstance(outcome[0], SSHException)
        assert "keepalive" in str(outcome[0])
        assert not st.is_active()
    finally:
        ct.close()


def test_a_writer_blocked_on_a_silent_peer_is_released_by_the_drop() -> None:
    # no channel timeout: the write waits for the peer until the keepalive gives up on it
    with relayed_server(window=64 * 1024 * 1024) as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            assert chan.exec_command("true")
            outcome: list[Any] = []

            def writer() -> None:
                try:
                    chan.sendall(b"w" * (48 * 1024 * 1024))
                    outcome.append("sent")
                except Exception as exc:
                    outcome.append(exc)

            ct.set_keepalive(0.3, max_missed=2)
            setup.relay.stall()
            th = threading.Thread(target=writer, daemon=True)
            th.start()
            th.join(5)
            assert len(outcome) == 1
            assert isinstance(outcome[0], (OSError, SSHException)), outcome
            assert not ct.is_active()
            assert "keepalive" in str(ct.get_exception())
        finally:
            ct.close()


def test_traffic_from_the_peer_postpones_the_probes(setup: Setup) -> None:
    ct = setup.connect()
    try:
        chan = ct.open_session()
        assert chan.exec_command("true")
        schan = setup.servers[0].accept(10)
        assert schan is not None
        ct.set_keepalive(0.4, max_missed=1)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            schan.sendall(b".")
            time.sleep(0.1)
        assert setup.server_ifaces[0].globals == []
        assert ct.is_active()
    finally:
        ct.close()


def test_max_missed_zero_is_paramikos_send_only_keepalive(setup: Setup) -> None:
    ct = setup.connect()
    try:
        ct.set_keepalive(0.2, max_missed=0)
        assert wait_until(lambda: len(setup.server_ifaces[0].globals) >= 2, 5)
        assert set(setup.server_ifaces[0].globals) == {"keepalive@lag.net"}
        setup.relay.stall()
        time.sleep(1.2)
        assert ct.is_active()  # it never checks the peer
    finally:
        ct.close()


def test_keepalive_zero_turns_it_off(setup: Setup) -> None:
    ct = setup.connect()
    try:
        ct.set_keepalive(0.2)
        ct.set_keepalive(0)
        setup.relay.stall()
        time.sleep(1.0)
        assert ct.is_active()
    finally:
        ct.close()


def test_max_missed_must_not_be_negative() -> None:
    a, b = socket.socketpair()
    t = Transport(a)
    try:
        with pytest.raises(ValueError):
            t.set_keepalive(1, max_missed=-1)
    finally:
        t.close()
        a.close()
        b.close()


def test_our_server_answers_keepalive_at_openssh_com_with_failure(setup: Setup) -> None:
    # as sshd does: REQUEST_FAILURE for a request it does not know, at once
    ct = setup.connect()
    try:
        t0 = time.monotonic()
        assert ct.global_request("keepalive@openssh.com", wait=True, timeout=5) is None
        assert time.monotonic() - t0 < 2
        assert ct.is_active()
    finally:
        ct.close()


def test_our_client_answers_a_servers_keepalive(setup: Setup) -> None:
    # sshd's ClientAliveInterval sends keepalive@openssh.com to the client
    ct = setup.connect()
    st = setup.servers[0]
    try:
        t0 = time.monotonic()
        reply = st.global_request("keepalive@openssh.com", wait=True, timeout=5)
        assert reply is None  # REQUEST_FAILURE, as OpenSSH's client answers
        assert time.monotonic() - t0 < 2
        # and the server's own keepalive sees a live client
        st.set_keepalive(0.2, max_missed=1)
        time.sleep(1.0)
        assert st.is_active() and ct.is_active()
        ok = st.global_request("no-such-request@example.com", (Message().add_int(1).asbytes(),), timeout=5)
        assert ok is None
    finally:
        with contextlib.suppress(SSHException):
            ct.close()
