"""Leader/follower reading: a thread waiting in ``Channel.recv`` reads the
socket itself while the transport's reader thread is parked (socket_pump.py).

``PARK_IDLE`` is raised to 30 s here, so a parked reader thread comes back
only when something asks for it: a wait that is not a recv, an event that
is not channel data, an error. A missing wake-up then shows as a test
timeout instead of a 2 ms stall nobody notices.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ssh_transport import Channel, Transport, socket_pump
from ssh_wire import SSHException
from support.polling import wait_until
from transport.test_transport_pair import make_pair, open_session_pair

BLOCK = bytes(range(256)) * 1024  # 256 KiB


@pytest.fixture
def parked(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Transport, Transport, Channel, Channel]]:
    """A session whose client has just read 1 MiB, leaving its reader thread parked."""
    monkeypatch.setattr(socket_pump, "PARK_IDLE", 30.0)
    ct, st, _ = make_pair()
    try:
        chan, schan = open_session_pair(ct, st)
        chan.settimeout(20)
        # recv reads the socket itself once the reader thread parks; whether
        # that happens within one MiB depends on timing, so stream until it has
        for _ in range(20):
            sender = threading.Thread(target=schan.sendall, args=(BLOCK * 4,))
            sender.start()
            assert _read(chan, len(BLOCK) * 4) == BLOCK * 4
            sender.join(10)
            if ct._pump._lead_epoch > 0:
                break
        assert ct._pump._lead_epoch > 0, "recv never read the socket itself"
        assert wait_until(lambda: ct._pump.parked)
        yield ct, st, chan, schan
    finally:
        ct.close()
        st.close()


def _read(chan: Channel, n: int) -> bytes:
    parts = []
    while n > 0:
        data = chan.recv(min(n, 65536))
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def _recv_in_thread(ct: Transport, chan: Channel, nbytes: int = 10) -> tuple[threading.Thread, list[bytes]]:
    """Start ``chan.recv(nbytes)`` in a thread and wait until that thread is
    the one reading the socket; the list gets what recv returned."""
    result: list[bytes] = []
    reading = threading.Thread(target=lambda: result.append(chan.recv(nbytes)))
    reading.start()
    assert wait_until(lambda: ct._pump.reading_thread is not None and ct._pump.reading_thread != ct._thread.ident)
    return reading, result


def _times_out_then_gets(chan: Channel, schan: Channel, payload: bytes) -> None:
    """``recv`` with a timeout, then non-blocking, raises ``socket.timeout``
    in time; then ``payload``, sent by the peer, arrives."""
    chan.settimeout(0.3)
    start = time.monotonic()
    with pytest.raises(socket.timeout):
        chan.recv(10)
    assert time.monotonic() - start < 5
    chan.settimeout(0.0)
    with pytest.raises(socket.timeout):
        chan.recv(10)
    schan.sendall(payload)
    chan.settimeout(10)
    assert chan.recv(10) == payload


@pytest.mark.timeout(20)
def test_recv_times_out_while_reading_the_socket_itself(parked: Any) -> None:
    ct, _, chan, schan = parked
    _times_out_then_gets(chan, schan, b"later")
    assert ct.is_active()


@pytest.mark.timeout(20)
def test_events_other_than_data_go_to_the_reader_thread(parked: Any) -> None:
    ct, st, chan, schan = parked
    seen: list[threading.Thread] = []
    opened = threading.Event()

    def handler(fwd: Channel, origin: Any, dest: Any) -> None:
        seen.append(threading.current_thread())
        opened.set()

    ct._channels.forward_handler = handler
    reading, got = _recv_in_thread(ct, chan, 100)
    # a channel open from the server arrives while the recv thread leads
    st.open_forwarded_tcpip_channel(("10.0.0.1", 1234), ("127.0.0.1", 4242))
    assert opened.wait(10)
    assert seen == [ct._thread]
    schan.sendall(b"data after the open")
    reading.join(10)
    assert got == [b"data after the open"]


@pytest.mark.timeout(20)
def test_eof_and_exit_status_while_leading(parked: Any) -> None:
    _, _, chan, schan = parked
    schan.sendall(b"tail")
    schan.send_exit_status(3)
    schan.close()
    assert _read(chan, 100) == b"tail"
    assert chan.recv_exit_status() == 3


@pytest.mark.timeout(20)
def test_waits_other_than_recv_bring_the_reader_back(parked: Any) -> None:
    ct, st, _chan, _schan = parked
    # a transport-level wait (open a channel), a request reply, a window wait
    chan2 = ct.open_session()
    schan2 = st.accept(10)
    assert schan2 is not None
    assert ct._pump.parked is False or ct._pump._unpark
    assert chan2.exec_command("true")
    chan2.settimeout(10)
    schan2.settimeout(10)
    got: list[bytes] = []
    drain = threading.Thread(target=lambda: got.append(_read(schan2, len(BLOCK) * 12)))
    drain.start()
    chan2.sendall(BLOCK * 12)  # 3 MiB: more than the server's initial window
    drain.join(10)
    assert got == [BLOCK * 12]
    schan2.send_exit_status(0)
    assert chan2.recv_exit_status() == 0


@pytest.mark.timeout(20)
def test_close_from_another_thread_wakes_a_leading_recv(parked: Any) -> None:
    ct, _, chan, _ = parked
    reading, result = _recv_in_thread(ct, chan)
    chan.close()
    reading.join(10)
    assert result == [b""]
    assert ct.is_active()


@pytest.mark.timeout(20)
def test_transport_close_wakes_a_leading_recv(parked: Any) -> None:
    ct, _, chan, _ = parked
    reading, result = _recv_in_thread(ct, chan)
    ct.close()
    reading.join(10)
    assert result == [b""]
    ct._thread.join(10)
    assert not ct._thread.is_alive()


@pytest.mark.timeout(20)
def test_connection_lost_while_leading(parked: Any) -> None:
    ct, st, chan, _ = parked
    reading, result = _recv_in_thread(ct, chan)
    st.sock.shutdown(socket.SHUT_RDWR)
    reading.join(10)
    assert result == [b""]
    assert wait_until(lambda: not ct.is_active())
    assert isinstance(ct.get_exception(), SSHException)


@pytest.mark.timeout(20)
def test_garbage_while_leading_ends_the_transport_cleanly(parked: Any) -> None:
    ct, st, chan, _ = parked
    reading, result = _recv_in_thread(ct, chan)
    with st._pump._write_lock:
        st.sock.sendall(b"\x00\x00\x00\x40" + bytes(80))  # fails the AEAD tag
    reading.join(10)
    assert result == [b""]
    assert wait_until(lambda: not ct.is_active())
    assert isinstance(ct.get_exception(), SSHException)


@pytest.mark.timeout(60)
def test_two_threads_reading_two_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket_pump, "PARK_IDLE", 30.0)
    ct, st, _ = make_pair()
    try:
        ct.auth_password("bob", "pw")
        pairs = []
        for _ in range(2):
            chan = ct.open_session()
            schan = st.accept(10)
            assert schan is not None
            chan.settimeout(30)
            pairs.append((chan, schan))
        payloads = [BLOCK * 16, bytes(reversed(BLOCK)) * 16]  # 4 MiB each
        got: list[bytes] = [b"", b""]

        def reader(i: int) -> None:
            got[i] = _read(pairs[i][0], len(payloads[i]))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        threads += [threading.Thread(target=pairs[i][1].sendall, args=(payloads[i],)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(50)
        assert got == payloads
    finally:
        ct.close()
        st.close()


def _random_session(seed: int) -> list[tuple[int, int, str]]:
    """2-4 channels, each with a reader thread and a sender thread that use
    random sizes and short random pauses; returns the readers' failures."""
    rnd = random.Random(seed)
    nchan = rnd.choice([2, 3, 4])
    size = 1 << 20
    ct, st, _ = make_pair()
    errors: list[tuple[int, int, str]] = []
    try:
        ct.auth_password("bob", "pw")
        pairs = []
        for _ in range(nchan):
            chan = ct.open_session()
            schan = st.accept(10)
            assert schan is not None
            chan.settimeout(8)
            pairs.append((chan, schan))

        def reader(i: int) -> None:
            r = random.Random(seed * 100 + i)
            got = 0
            try:
                while got < size:
                    data = pairs[i][0].recv(r.choice([1, 100, 4096, 65536, 262144]))
                    if not data:
                        break
                    got += len(data)
                    if r.random() < 0.05:
                        time.sleep(r.random() * 0.003)
            except Exception as exc:
                errors.append((i, got, repr(exc)))
            if got != size:
                errors.append((i, got, "short read"))

        def sender(i: int) -> None:
            r = random.Random(seed * 1000 + i)
            left = size
            while left:
                n = min(left, r.choice([100, 32768, 300000]))
                pairs[i][1].sendall(bytes(n))
                left -= n
                if r.random() < 0.05:
                    time.sleep(r.random() * 0.003)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(nchan)]
        threads += [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(nchan)]
        for th in threads:
            th.start()
        for th in threads[:nchan]:
            th.join(20)
    finally:
        ct.close()
        st.close()
    return errors


@pytest.mark.timeout(120)
def test_random_readers_never_wait_on_a_parked_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the reader thread parked after waking one recv() thread
    while another, not woken, was waiting; that one then waited for nothing
    (30 s here, 2 ms in production). The reader's park decision is delayed a
    little to widen that window."""
    monkeypatch.setattr(socket_pump, "PARK_IDLE", 30.0)
    park = socket_pump.SocketPump._park_if_led

    def late_park(self: Any) -> None:
        time.sleep(0.002)
        park(self)

    monkeypatch.setattr(socket_pump.SocketPump, "_park_if_led", late_park)
    failures = {seed: errs for seed in range(30) if (errs := _random_session(seed))}
    assert failures == {}


class _InterruptOnce:
    """Wraps a callable: the first call raises KeyboardInterrupt (as Ctrl-C would)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.fired = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return self.fn(*args, **kwargs)


@pytest.mark.timeout(20)
def test_interrupt_while_waiting_in_poll_leaves_the_session_usable(parked: Any) -> None:
    ct, _, chan, schan = parked

    class Poller:
        def __init__(self, real: Any) -> None:
            self.poll = _InterruptOnce(real.poll)

    ct._pump._poller = Poller(ct._pump._poller)
    with pytest.raises(KeyboardInterrupt):
        chan.recv(10)
    schan.sendall(b"still here")
    assert chan.recv(100) == b"still here"
    assert ct.is_active()


@pytest.mark.timeout(20)
def test_interrupt_while_handling_data_ends_the_session_cleanly(parked: Any) -> None:
    ct, _, chan, schan = parked
    ct._pump._process_events = _InterruptOnce(ct._pump._process_events)
    schan.sendall(b"lost?")
    with pytest.raises(KeyboardInterrupt):
        chan.recv(10)
    # bytes may have been read and not handled: the session ends, it does not
    # go on with a gap in the stream
    assert wait_until(lambda: not ct.is_active())
    assert "interrupted" in str(ct.get_exception())
    assert chan.recv(10) == b""


def test_reads_pause_only_while_a_stream_pours_in(monkeypatch: pytest.MonkeyPatch) -> None:
    size = socket_pump.RECV_SIZE
    assert socket_pump._coalesce_until(100, size) == 0.0  # small data: no pause
    assert socket_pump._coalesce_until(size, size) == 0.0  # a full read: more waits, read at once
    assert socket_pump._coalesce_until(0, size) == 0.0
    now = time.monotonic()
    until = socket_pump._coalesce_until(socket_pump.BULK_READ, size)
    assert now < until <= time.monotonic() + socket_pump.BULK_RECENT
    monkeypatch.setattr(socket_pump, "_SHORT_SLEEPS", False)  # Windows: a sleep can last a timer tick
    assert socket_pump._coalesce_until(socket_pump.BULK_READ, size) == 0.0


def _count_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the driver's coalescing pauses (sleeps of ``COALESCE``); they still sleep."""
    pauses: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if seconds == socket_pump.COALESCE:
            pauses.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return pauses


@pytest.mark.timeout(60)
def test_a_stream_is_read_with_pauses_and_arrives_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses = _count_pauses(monkeypatch)
    ct, st, _ = make_pair()
    try:
        chan, schan = open_session_pair(ct, st)
        chan.settimeout(20)
        payload = random.Random(7).randbytes(len(BLOCK)) * 16  # 4 MiB
        sender = threading.Thread(target=schan.sendall, args=(payload,))
        sender.start()
        assert _read(chan, len(payload)) == payload
        sender.join(10)
        assert pauses, "a 4 MiB stream never made a read pause"
        # a small message after the stream: read (the pause loses nothing), and pauses end
        schan.sendall(b"tail")
        assert chan.recv(10) == b"tail"
        assert wait_until(lambda: ct._pump._bulk_until == 0.0)
    finally:
        ct.close()
        st.close()


@pytest.mark.timeout(20)
def test_pauses_never_outlast_a_recv_timeout(parked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ct, _, chan, schan = parked
    pauses = _count_pauses(monkeypatch)
    ct._pump._bulk_until = time.monotonic() + 60  # as if a stream were pouring in
    assert ct._pump.hold_socket(5)
    ct._pump.lead(time.monotonic() + socket_pump.COALESCE / 2)  # less time left than a pause: none
    assert not pauses, "a read paused past its caller's deadline"
    _times_out_then_gets(chan, schan, b"after")
    assert ct._pump._bulk_until == 0.0


# -- uploads ----------------------------------------------------------------------------


def _drain(schan: Channel, n: int, out: list[bytes]) -> None:
    out.append(_read(schan, n))


@pytest.mark.timeout(60)
def test_uploads_both_ways_at_once_never_deadlock() -> None:
    # both sides stream 8 MiB at the same time on one channel and read it
    # in other threads (recv leading while the reader thread parks): nobody
    # may be left blocked in a write with nobody reading
    ct, st, _ = make_pair()
    try:
        chan, schan = open_session_pair(ct, st)
        for c in (chan, schan):
            c.settimeout(30)
        up = random.Random(4).randbytes(len(BLOCK)) * 32
        down = random.Random(5).randbytes(len(BLOCK)) * 32
        got_up: list[bytes] = []
        got_down: list[bytes] = []
        threads = [
            threading.Thread(target=chan.sendall, args=(up,)),
            threading.Thread(target=schan.sendall, args=(down,)),
            threading.Thread(target=_drain, args=(schan, len(up), got_up)),
            threading.Thread(target=_drain, args=(chan, len(down), got_down)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert got_up == [up] and got_down == [down]
    finally:
        ct.close()
        st.close()
