"""Raw channel throughput of our client ``Transport`` (a script, not a test).

Against a private OpenSSH sshd: receive ``head -c N /dev/zero`` and send into
``cat > /dev/null``, per cipher; prints MB/s and the client's CPU
milliseconds per MB (user+system of this process, all threads).

    python3 bench/bench_channel.py [MiB]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import ssh_keys
from ssh_transport import Transport
from support.sshd import start_sshd

CIPHERS = ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr")


def cpu() -> float:
    """CPU seconds used by this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(t: Transport, size: int) -> tuple[float, float, float, float]:
    """(recv MB/s, recv ms/MB, send MB/s, send ms/MB) for one transport."""
    chan = t.open_session()
    chan.exec_command(f"head -c {size} /dev/zero")
    t0, c0 = time.perf_counter(), cpu()
    got = 0
    while True:
        data = chan.recv(1 << 20)
        if not data:
            break
        got += len(data)
    rt, rc = time.perf_counter() - t0, cpu() - c0
    assert got == size
    chan = t.open_session()
    chan.exec_command("cat > /dev/null")
    block = b"\0" * (1 << 20)
    t0, c0 = time.perf_counter(), cpu()
    for _ in range(size // len(block)):
        chan.sendall(block)
    chan.shutdown_write()
    assert chan.recv_exit_status() == 0
    st, sc = time.perf_counter() - t0, cpu() - c0
    mb = size / 1e6
    return mb / rt, rc * 1000 / mb, mb / st, sc * 1000 / mb


def main() -> None:
    size = (int(sys.argv[1]) if len(sys.argv) > 1 else 256) << 20
    with tempfile.TemporaryDirectory() as tmp, start_sshd(Path(tmp)) as sshd:
        key = ssh_keys.PKey.from_private_key_file(str(sshd.client_keys["ed25519"]))
        print(f"{'cipher':32} {'recv MB/s':>10} {'ms/MB':>7} {'send MB/s':>10} {'ms/MB':>7}")
        for cipher in CIPHERS:
            t = Transport((sshd.host, sshd.port))
            t.get_security_options().ciphers = (cipher,)
            t.connect(username=sshd.user, pkey=key)
            try:
                r, rc, s, sc = measure(t, size)
            finally:
                t.close()
            print(f"{cipher:32} {r:10.0f} {rc:7.2f} {s:10.0f} {sc:7.2f}")


if __name__ == "__main__":
    main()
