"""``Channel.set_receiver``: data handed to a callback in the transport's
thread (what the SFTP client uses instead of a reader thread of its own)."""

from __future__ import annotations

import threading

import pytest

from transport.test_transport_pair import make_pair, open_session_pair


@pytest.mark.timeout(60)
def test_receiver_gets_buffered_then_live_data_in_order_and_eof() -> None:
    ct, st, _ = make_pair()
    try:
        chan, schan = open_session_pair(ct, st)
        schan.sendall(b"before-")
        chan.settimeout(10)
        # wait until the first piece is buffered on our side
        first = chan.recv(1)
        assert first == b"b"
        got: list[bytes] = []
        ended = threading.Event()
        lock = threading.Lock()

        def receive(data: bytes) -> None:
            with lock:
                if not data:
                    ended.set()
                    return
                got.append(data)

        with lock:
            pending = chan.set_receiver(receive)
            got[:0] = pending
        big = bytes(range(256)) * 4096  # 1 MiB: several windows' worth
        schan.sendall(big)
        schan.sendall_stderr(b"err")
        schan.shutdown_write()
        assert ended.wait(20)
        assert b"".join(got) == b"efore-" + big
        # stderr still goes to the stderr buffer; recv sees nothing
        assert chan.recv_stderr(10) == b"err"
        assert chan.recv(10) == b""
    finally:
        ct.close()
        st.close()


@pytest.mark.timeout(60)
def test_receiver_told_when_transport_dies() -> None:
    ct, st, _ = make_pair()
    try:
        chan, _ = open_session_pair(ct, st)
        ended = threading.Event()
        chan.set_receiver(lambda data: None if data else ended.set())
        st.close()
        assert ended.wait(20)
    finally:
        ct.close()
        st.close()
