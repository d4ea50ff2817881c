"""Every timeout holds, within a second of what was asked, against peers that
misbehave: one that accepts and never sends its banner, one that sends its
banner and then nothing, and a live server behind a relay that goes silent
(``support.stall_relay``) during auth, while a channel reads, while it waits
for a reply, and while it writes into a window the peer no longer empties
or into a socket the peer no longer reads."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from ssh_transport import Transport
from ssh_wire import AuthenticationException, SSHException
from support.corepair import host_key
from support.silent_peer import silent_listener
from support.stall_relay import QuietServer, relayed_server

pytestmark = pytest.mark.timeout(30)

SLACK = 1.0  # "within a second of what was asked"


def elapsed_since(t0: float) -> float:
    return time.monotonic() - t0


# -- negotiation -----------------------------------------------------------------


def test_banner_timeout_against_a_peer_that_never_sends_its_banner() -> None:
    with silent_listener() as addr:
        t = Transport(socket.create_connection(addr))
        t.banner_timeout = 1.0
        t0 = time.monotonic()
        with pytest.raises(SSHException, match="Error reading SSH protocol banner"):
            t.start_client(timeout=20)
        assert 0.9 <= elapsed_since(t0) < 1.0 + SLACK
        assert not t.is_active()
        t.close()


def test_banner_timeout_with_an_event_sets_it_and_records_why() -> None:
    with silent_listener() as addr:
        t = Transport(socket.create_connection(addr))
        t.banner_timeout = 0.5
        done = threading.Event()
        t0 = time.monotonic()
        t.start_client(event=done)
        assert done.wait(0.5 + SLACK)
        assert elapsed_since(t0) < 0.5 + SLACK
        assert not t.is_active()
        assert "banner" in str(t.get_exception())
        t.close()


def test_server_side_banner_timeout_drops_a_client_that_says_nothing() -> None:
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    st.banner_timeout = 0.5
    try:
        t0 = time.monotonic()
        with pytest.raises(SSHException, match="banner"):
            st.start_server(server=QuietServer())
        assert elapsed_since(t0) < 0.5 + SLACK
    finally:
        st.close()
        a.close()


def test_start_client_timeout_holds_when_the_key_exchange_never_finishes() -> None:
    # the banner comes at once, then nothing: banner_timeout is not what ends it
    with silent_listener(b"SSH-2.0-OpenSSH_9.2\r\n") as addr:
        t = Transport(socket.create_connection(addr))
        t0 = time.monotonic()
        with pytest.raises(SSHException, match="timed out"):
            t.start_client(timeout=1.0)
        assert 0.9 <= elapsed_since(t0) < 1.0 + SLACK
        assert not t.is_active()


def test_banner_arriving_in_time_cancels_the_banner_timeout() -> None:
    with relayed_server() as setup:
        ct = Transport(socket.create_connection((setup.relay.host, setup.relay.port)))
        ct.banner_timeout = 0.5
        try:
            ct.start_client(timeout=10)
            time.sleep(0.8)
            assert ct.is_active()
            ct.auth_password("bob", "pw")
        finally:
            ct.close()


# -- auth ------------------------------------------------------------------------


def test_auth_timeout_when_the_server_goes_silent_after_kex() -> None:
    with relayed_server() as setup:
        ct = setup.connect(auth=False)
        try:
            ct.auth_timeout = 1.0
            setup.relay.stall()
            t0 = time.monotonic()
            with pytest.raises(AuthenticationException, match="Authentication timeout"):
                ct.auth_password("bob", "pw")
            assert 0.9 <= elapsed_since(t0) < 1.0 + SLACK
        finally:
            ct.close()


# -- channels ----------------------------------------------------------------------


def test_open_session_timeout_when_the_server_goes_silent() -> None:
    with relayed_server() as setup:
        ct = setup.connect()
        try:
            setup.relay.stall()
            t0 = time.monotonic()
            with pytest.raises(SSHException, match="Timeout opening channel"):
                ct.open_session(timeout=0.5)
            assert elapsed_since(t0) < 0.5 + SLACK
        finally:
            ct.close()


def test_channel_request_reply_timeout_when_the_server_goes_silent() -> None:
    with relayed_server() as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            chan.settimeout(0.5)
            setup.relay.stall()
            t0 = time.monotonic()
            with pytest.raises(socket.timeout):
                chan.exec_command("true")
            assert elapsed_since(t0) < 0.5 + SLACK
        finally:
            ct.close()


def test_recv_timeout_when_the_server_goes_silent() -> None:
    with relayed_server() as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            assert chan.exec_command("true")
            setup.relay.stall()
            chan.settimeout(0.5)
            for reader in (chan.recv, chan.recv_stderr):
                t0 = time.monotonic()
                with pytest.raises(socket.timeout):
                    reader(1024)
                assert 0.45 <= elapsed_since(t0) < 0.5 + SLACK
            assert ct.is_active()  # a timeout is not the end of the session
        finally:
            ct.close()


def test_send_timeout_on_a_window_the_peer_no_longer_empties() -> None:
    with relayed_server(window=256 * 1024) as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            assert chan.exec_command("true")  # the server never reads the channel
            chan.settimeout(0.5)
            t0 = time.monotonic()
            with pytest.raises(socket.timeout):
                chan.sendall(b"x" * (4 * 1024 * 1024))
            assert elapsed_since(t0) < 0.5 + SLACK
            assert chan.out_window_size == 0
        finally:
            ct.close()


def test_send_timeout_when_the_peer_stops_reading_its_socket() -> None:
    # The SSH window is wide open (64 MiB), but nothing reads the socket any
    # more: the write would block in the kernel. It must still give up in time.
    with relayed_server(window=64 * 1024 * 1024) as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            assert chan.exec_command("true")
            chan.settimeout(1.0)
            setup.relay.stall()
            t0 = time.monotonic()
            with pytest.raises(socket.timeout):
                chan.sendall(b"x" * (48 * 1024 * 1024))
            assert elapsed_since(t0) < 1.0 + SLACK
            # and so does every later write, without queueing without bound: a
            # few MiB may still be taken into the (bounded) backlog, the rest
            # must give up in time
            timed_out = 0
            for _ in range(8):
                t0 = time.monotonic()
                try:
                    chan.sendall(b"y" * (1024 * 1024))
                except TimeoutError:
                    timed_out += 1
                assert elapsed_since(t0) < 1.0 + SLACK
            assert timed_out >= 3
            assert chan.out_window_size > 40 * 1024 * 1024
        finally:
            ct.close()


def test_nonblocking_send_never_waits_for_a_peer_that_stopped_reading() -> None:
    with relayed_server(window=64 * 1024 * 1024) as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            assert chan.exec_command("true")
            chan.setblocking(False)
            setup.relay.stall()
            t0 = time.monotonic()
            sent = 0
            with pytest.raises(socket.timeout):
                while True:
                    sent += chan.send(b"z" * (256 * 1024))
            assert sent > 0
            assert elapsed_since(t0) < SLACK
        finally:
            ct.close()


def test_data_queued_while_the_peer_was_stalled_arrives_once_it_resumes() -> None:
    with relayed_server(window=64 * 1024 * 1024) as setup:
        ct = setup.connect()
        try:
            chan = ct.open_session()
            assert chan.exec_command("true")
            schan = setup.servers[0].accept(10)
            assert schan is not None
            chan.settimeout(0.5)
            setup.relay.stall()
            sent = 0
            with contextlib.suppress(socket.timeout):
                while True:
                    sent += chan.send(b"d" * (256 * 1024))
            setup.relay.resume()
            schan.settimeout(10)
            got = 0
            while got < sent:
                data = schan.recv(1 << 20)
                assert data
                got += len(data)
            assert got == sent
            chan.settimeout(5)
            chan.sendall(b"more")  # and the channel works again
            assert schan.recv(10) == b"more"
        finally:
            ct.close()
