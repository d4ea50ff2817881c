"""Micro-benchmark of the packet layer: MB/s of seal + open per cipher/MAC.

Run: ``python bench/bench_packets.py [--size 32768] [--seconds 0.5]``. Each row
seals payloads of ``--size`` bytes with a ``PacketWriter`` and opens them with
a ``PacketReader`` (fed in 64 KiB chunks, like a socket would), then prints the
payload throughput of the round trip and of each half.
"""

from __future__ import annotations

import argparse
import os
import time

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


def pair(cipher: str, mac: str | None) -> tuple[PacketWriter, PacketReader]:
    """A writer and reader sharing fresh random keys."""
    w, r = PacketWriter(), PacketReader()
    if cipher != "none":
        spec = CIPHERS[cipher]
        key, iv = os.urandom(spec.key_size), os.urandom(spec.iv_size)
        mac_key = os.urandom(MACS[mac].key_size) if mac else None
        w.set_keys(cipher, key, iv, mac, mac_key)
        r.set_keys(cipher, key, iv, mac, mac_key)
    return w, r


def measure(cipher: str, mac: str | None, size: int, seconds: float) -> tuple[float, float, float]:
    """(round-trip MB/s, seal MB/s, open MB/s) of payload bytes."""
    w, r = pair(cipher, mac)
    payload = os.urandom(size)
    batch = 64
    sealed = 0
    t_seal = t_open = 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        wire = [w.seal(payload) for _ in range(batch)]
        t1 = time.perf_counter()
        for chunk in wire:
            r.feed(chunk)
            while r.next_payload() is not None:
                pass
        t2 = time.perf_counter()
        t_seal += t1 - t0
        t_open += t2 - t1
        sealed += batch * size
    mb = sealed / 1e6
    return mb / (t_seal + t_open), mb / t_seal, mb / t_open


def main() -> None:
    """Print one row per cipher/MAC pair."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=32768)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    print(f"payload {args.size} bytes; MB/s of payload (1 MB = 10^6 bytes)")
    print(f"{'cipher':32s} {'mac':32s} {'seal+open':>10s} {'seal':>8s} {'open':>8s} {'us/pkt':>8s}")
    for cipher, mac in COMBOS:
        both, seal, open_ = measure(cipher, mac, args.size, args.seconds)
        us = args.size / both
        print(f"{cipher:32s} {mac or '-':32s} {both:10.0f} {seal:8.0f} {open_:8.0f} {us:8.1f}")


if __name__ == "__main__":
    main()
