"""Micro-benchmark of the packet layer: CPU per packet and MB/s of sealing and opening.

Run: ``python bench/bench_packets.py [--size 32768] [--seconds 0.5] [--repeat 3]``.
Each row times, in CPU time (``process_time``, best of ``--repeat``), the three
paths a bulk transfer takes through ``PacketWriter`` / ``PacketReader``:

* ``seal``: ``PacketWriter.seal(payload)``, one packet at a time (control
  messages, paramiko's Packetizer);
* ``parts``: ``PacketWriter.seal_parts`` of CHANNEL_DATA payloads given as
  (9-byte header, view of the data), 8 packets per batch while streaming: what
  a channel upload does (``SSHProtocol.send_data`` in 256 KiB steps);
* ``open``: ``buffer_for_recv`` + ``commit`` in 64 KiB chunks (as
  ``recv_into`` would fill them) then ``next_payload_view``: a download.

For a deterministic A/B under ``valgrind --tool=callgrind``, ``--count N``
runs N packets (a multiple of 64) of each path instead of timing; the
difference of two counts is the per-packet cost without the set-up.
"""

from __future__ import annotations

import argparse
import os
import struct
import time
from collections.abc import Callable

from ssh_transport.protocol.ciphers import CIPHERS
from ssh_transport.protocol.macs import MACS
from ssh_transport.protocol.packets import PacketReader, PacketWriter

COMBOS = [
    ("chacha20-poly1305@openssh.com", None),
    ("aes128-gcm@openssh.com", None),
    ("aes256-gcm@openssh.com", None),
    ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
    ("aes256-ctr", "hmac-sha2-512-etm@openssh.com"),
    ("aes128-ctr", "hmac-sha1-etm@openssh.com"),
    ("aes128-ctr", "hmac-sha2-256"),
    ("aes256-cbc", "hmac-sha2-256"),
    ("3des-cbc", "hmac-sha1"),
    ("none", None),
]
PATHS = ("seal", "parts", "open")
BATCH = 8  # packets per seal_parts call: 256 KiB of 32 KiB packets
RECV = 64 * 1024
PER_ROUND = 64  # packets per timed round
_CHAN = struct.Struct(">BII")


def pair(cipher: str, mac: str | None) -> tuple[PacketWriter, PacketReader]:
    """A writer and reader sharing fixed keys (the same on every call, so a
    fresh reader opens what an earlier writer sealed)."""
    w, r = PacketWriter(), PacketReader()
    if cipher != "none":
        spec = CIPHERS[cipher]
        seed = bytes(range(256))
        key, iv = seed[: spec.key_size], seed[100 : 100 + spec.iv_size]
        mac_key = seed[: MACS[mac].key_size] if mac else None
        w.set_keys(cipher, key, iv, mac, mac_key)
        r.set_keys(cipher, key, iv, mac, mac_key)
    return w, r


def _seal_round(cipher: str, mac: str | None, data: memoryview, packets: int) -> Callable[[], None]:
    w, _ = pair(cipher, mac)
    payload = bytes(_CHAN.pack(94, 0, len(data)) + data)

    def run() -> None:
        seal = w.seal
        for _ in range(packets):
            seal(payload)

    return run


def _parts_round(cipher: str, mac: str | None, data: memoryview, packets: int) -> Callable[[], None]:
    w, _ = pair(cipher, mac)
    head = _CHAN.pack(94, 0, len(data))
    w.keep_batch_buffer(True)

    def run() -> None:
        seal_parts = w.seal_parts
        for _ in range(max(1, packets // BATCH)):
            # a fresh list per step, as Connection.send_data builds one
            out = seal_parts([(head, data) for _ in range(BATCH)])
            del out  # written and dropped, as a driver does

    return run


def _open_round(cipher: str, mac: str | None, data: memoryview, packets: int) -> Callable[[], None]:
    w, _ = pair(cipher, mac)
    payload = _CHAN.pack(94, 0, len(data)) + data
    wire = memoryview(b"".join(w.seal(payload) for _ in range(packets)))

    def run() -> None:
        _, r = pair(cipher, mac)
        pos = 0
        got = 0
        while pos < len(wire):
            chunk = wire[pos : pos + RECV]
            r.buffer_for_recv(len(chunk))[:] = chunk
            r.commit(len(chunk))
            pos += len(chunk)
            while r.next_payload_view() is not None:
                got += 1
        if got != packets:
            raise RuntimeError(f"opened {got} of {packets} packets")

    return run


ROUNDS = {"seal": _seal_round, "parts": _parts_round, "open": _open_round}


def measure(cipher: str, mac: str | None, path: str, size: int, seconds: float, repeat: int) -> float:
    """CPU microseconds per packet of ``path`` (best of ``repeat`` timings)."""
    data = memoryview(os.urandom(size))
    per_round = PER_ROUND
    run = ROUNDS[path](cipher, mac, data, per_round)
    run()  # warm up (buffers, caches)
    best = float("inf")
    for _ in range(repeat):
        rounds = 0
        t0 = time.process_time()
        while True:
            run()
            rounds += 1
            spent = time.process_time() - t0
            if spent >= seconds:
                break
        best = min(best, spent / (rounds * per_round) * 1e6)
    return best


def main() -> None:
    """Print one row per cipher/MAC pair (or run ``--count`` packets of one path)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32768, help="channel data bytes per packet")
    parser.add_argument("--seconds", type=float, default=0.5, help="CPU seconds per timing")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cipher", action="append", help="only these ciphers (repeatable; substring match)")
    parser.add_argument("--only", choices=PATHS, action="append", help="only these paths")
    parser.add_argument("--count", type=int, default=0, help="run this many packets of each path, untimed")
    args = parser.parse_args()
    combos = [c for c in COMBOS if not args.cipher or any(s in c[0] for s in args.cipher)]
    paths = args.only or list(PATHS)
    if args.count:  # setup (keys, the wire to open) is the same for any count: diff two counts
        for cipher, mac in combos:
            for path in paths:
                run = ROUNDS[path](cipher, mac, memoryview(os.urandom(args.size)), PER_ROUND)
                for _ in range(max(1, args.count // PER_ROUND)):
                    run()
        return
    print(f"payload {args.size} bytes of channel data; CPU us per packet (MB/s of data, 1 MB = 10^6 bytes)")
    print(f"{'cipher':30s} {'mac':30s}" + "".join(f" {p:>16s}" for p in paths))
    for cipher, mac in combos:
        cells = []
        for path in paths:
            us = measure(cipher, mac, path, args.size, args.seconds, args.repeat)
            cells.append(f" {us:7.1f} ({args.size / us:5.0f})")
        print(f"{cipher:30s} {mac or '-':30s}" + "".join(cells))


if __name__ == "__main__":
    main()
