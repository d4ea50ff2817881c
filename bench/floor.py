"""What moving bytes costs one Python process here, with no SSH in the way.

The floor under any Python SSH client's "client CPU per MB": 32 KiB packets
over loopback TCP to (or from) a peer process that discards (or makes) bytes
as fast as it can, with and without AES-128-GCM on each packet, one thread,
no protocol logic. The "paced" receive has the peer write one packet per
``send`` as sshd does, so the receiver wakes once per packet.

Usage: ``python3 bench/floor.py [--size MiB] [--runs N]``; prints a markdown
table of the median over the runs (MB/s and CPU ms/MB of the measuring
process: user + sys, all threads).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import socket
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PACKET = 32768  # channel data per packet, as OpenSSH and this project use
TAG = 16
BATCH = 3  # packets per sendmsg, as the transport sends 96 KiB at a time


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _listen(port_q: mp.Queue[int]) -> socket.socket:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port_q.put(lsock.getsockname()[1])
    conn, _ = lsock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _sink(port_q: mp.Queue[int]) -> None:
    conn = _listen(port_q)
    view = memoryview(bytearray(1 << 20))
    while conn.recv_into(view):
        pass


def _source(port_q: mp.Queue[int], size: int, paced: bool) -> None:
    conn = _listen(port_q)
    length = (PACKET + TAG).to_bytes(4, "big")
    packet = length + AESGCM(bytes(16)).encrypt(bytes(12), bytes(PACKET + TAG), length)
    count = size // PACKET
    if paced:
        for _ in range(count):
            conn.sendall(packet)
    else:
        burst = packet * 32
        for _ in range(count // 32):
            conn.sendall(burst)
    conn.close()


def _with_peer(target: Callable[..., None], *args: object) -> tuple[socket.socket, mp.Process]:
    port_q: mp.Queue[int] = mp.Queue()
    proc = mp.Process(target=target, args=(port_q, *args), daemon=True)
    proc.start()
    sock = socket.create_connection(("127.0.0.1", port_q.get(timeout=30)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, proc


def send(size: int, encrypt: bool) -> tuple[float, float]:
    """Seal ``size`` bytes into packets (or just frame them) and send them."""
    sock, proc = _with_peer(_sink)
    aes = AESGCM(bytes(16))
    data = bytes(PACKET)
    batch: list[bytes] = []
    c0, w0 = _cpu(), time.perf_counter()
    for counter in range(size // PACKET):
        body = b"".join((b"\x10", data, bytes(15)))
        length = len(body).to_bytes(4, "big")
        batch.append(length)
        batch.append(aes.encrypt(bytes(4) + counter.to_bytes(8, "big"), body, length) if encrypt else body)
        if len(batch) == 2 * BATCH:
            sock.sendmsg(batch)
            batch = []
    if batch:
        sock.sendmsg(batch)
    sock.close()
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    proc.join(30)
    return size / wall / 1e6, cpu * 1e3 / (size / 1e6)


def receive(size: int, decrypt: bool, paced: bool) -> tuple[float, float]:
    """Receive packets into one buffer and open each (or just frame it)."""
    sock, proc = _with_peer(_source, size, paced)
    aes = AESGCM(bytes(16))
    nonce = bytes(12)
    buf = bytearray(256 * 1024)
    view = memoryview(buf)
    start = end = got = 0
    c0, w0 = _cpu(), time.perf_counter()
    while True:
        if len(buf) - end < PACKET + 64:
            buf[: end - start] = buf[start:end]
            end -= start
            start = 0
        n = sock.recv_into(view[end:])
        if not n:
            break
        end += n
        while end - start >= 4:
            length = int.from_bytes(view[start : start + 4], "big")
            if end - start < 4 + length + TAG:
                break
            if decrypt:
                aes.decrypt(nonce, view[start + 4 : start + 4 + length + TAG], view[start : start + 4])
            got += length
            start += 4 + length + TAG
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    sock.close()
    proc.join(30)
    return got / wall / 1e6, cpu * 1e3 / (got / 1e6)


CASES: dict[str, Callable[[int], tuple[float, float]]] = {
    "send, socket only": lambda size: send(size, False),
    "send, AES-GCM + socket": lambda size: send(size, True),
    "receive, socket only": lambda size: receive(size, False, False),
    "receive, AES-GCM + socket": lambda size: receive(size, True, False),
    "receive, AES-GCM + socket, paced like sshd": lambda size: receive(size, True, True),
}


def main() -> None:
    """Run every case ``--runs`` times and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="MiB per run (1024)")
    parser.add_argument("--runs", type=int, default=5, help="runs per case; the median is shown (5)")
    args = parser.parse_args()
    size = args.size << 20
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, case in CASES.items():
            results[name].append(case(size))
    print(f"| {args.size} MiB, median of {args.runs} | MB/s | CPU ms/MB | CPU ms/MB range |")
    print("|---|---:|---:|---|")
    for name, samples in results.items():
        rate = statistics.median(s[0] for s in samples)
        cpus = [s[1] for s in samples]
        print(f"| {name} | {rate:.0f} | {statistics.median(cpus):.2f} | {min(cpus):.2f}-{max(cpus):.2f} |")


if __name__ == "__main__":
    main()
