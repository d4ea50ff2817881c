"""A peer that accepts TCP connections and then never speaks (or only sends a
greeting): what a client's banner, kex and auth timeouts must give up on."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def silent_listener(greeting: bytes = b"") -> Iterator[tuple[str, int]]:
    """A peer that accepts connections, sends ``greeting``, then says nothing."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    held: list[socket.socket] = []

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            held.append(conn)
            if greeting:
                conn.sendall(greeting)

    threading.Thread(target=accept_loop, daemon=True).start()
    try:
        yield lsock.getsockname()[:2]
    finally:
        lsock.close()
        for conn in held:
            conn.close()
