"""Write the seed corpus (``fuzz/corpus/<target>/seed-*``): one well-formed
input per message or file kind each target understands, so the fuzzer starts
from inputs that get past the first checks.

Run it again only to add seeds (``python fuzz/make_seeds.py``); keys are
generated afresh, so the bytes differ on every run, which is harmless.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

from fuzz_targets import TARGETS, plain_packet

import ssh_keys
from ssh_keys.certificates import sign_certificate
from ssh_transport.protocol.core import SSHProtocol
from ssh_transport.protocol.packets import PacketReader
from ssh_wire import Message

CORPUS = Path(__file__).resolve().parent / "corpus"
U32 = struct.Struct(">I")


def chunk(b: bytes) -> bytes:
    """The ``Bytes.chunk`` framing: a 2-byte length, then the bytes."""
    return struct.pack(">H", len(b)) + b


def chunks(*parts: bytes) -> bytes:
    return b"".join(chunk(p) for p in parts)


def msg(*items: object) -> bytes:
    """An SSH message: ints are bytes if < 256 and first, strings as strings."""
    m = Message()
    for i, item in enumerate(items):
        if isinstance(item, bool):
            m.add_boolean(item)
        elif isinstance(item, int):
            m.add_byte(item) if i == 0 else m.add_int(item)
        else:
            m.add_string(item)
    return m.asbytes()


def kexinit_payload(role: str) -> bytes:
    """The KEXINIT our core sends in ``role``."""
    keys = {HOST.get_name(): HOST} if role == "server" else None
    core = SSHProtocol(role, host_keys=keys)
    core.start()
    out = core.data_to_send()
    reader = PacketReader()
    reader.feed(out[out.index(b"\n") + 1 :])
    payload = reader.next_payload()
    assert payload is not None
    return payload


HOST = ssh_keys.Ed25519Key.generate()
ED = ssh_keys.Ed25519Key.generate()
EC = ssh_keys.ECDSAKey.generate()
RSA = ssh_keys.RSAKey.generate(2048)


def seeds() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {name: [] for name in TARGETS}
    kex_c, kex_s = kexinit_payload("client"), kexinit_payload("server")
    sig_algs = Message().add_string("server-sig-algs").add_string("ssh-ed25519,rsa-sha2-256")
    ext = msg(7) + U32.pack(1) + sig_algs.asbytes()

    packets = [plain_packet(p) for p in (kex_s, msg(2, "ignored"), msg(4, True, "debug", ""), msg(21))]
    out["packet_reader_plain"] += [b"\x01\x10" + b"".join(packets), b"\x00\xff" + packets[0]]
    out["packet_reader_keyed"] += [
        b"\x00" + chunks(*(plain_packet(p, 16) for p in (msg(2, "x"), msg(5, "ssh-userauth")))),
        b"\x01" + chunks(*(etm_packet(p) for p in (msg(2, "x"), msg(21)))),
    ]
    ecdh_reply = msg(31, HOST.asbytes(), bytes(32), msg(0, "ssh-ed25519", bytes(64))[1:])
    out["core_client"] += [b"\x01\x01" + chunks(kex_s, ecdh_reply, msg(21)), b"\x01\x01" + chunks(kex_s, ext)]
    out["core_server"] += [b"\x01\x01" + chunks(kex_c, msg(30, bytes(32)), msg(21)), b"\x01\x00SSH-2.0-x\r\n"]
    auth_req = [
        msg(5, "ssh-userauth"),
        msg(50, "u", "ssh-connection", "none"),
        msg(50, "u", "ssh-connection", "password", False, "pw"),
        msg(50, "u", "ssh-connection", "publickey", False, "ssh-ed25519", ED.asbytes()),
        msg(50, "u", "ssh-connection", "keyboard-interactive", "", ""),
        msg(61, 1, "answer"),
    ]
    conn = [
        msg(90, "session", 0, 1 << 20, 32768),
        msg(98, 0, "pty-req", True, "xterm", 80, 24, 0, 0, b""),
        msg(98, 0, "exec", True, "ls"),
        msg(94, 0, "data"),
        msg(93, 0, 1000),
        msg(80, "tcpip-forward", True, "127.0.0.1", 8080),
        msg(96, 0),
        msg(97, 0),
    ]
    out["userauth_server"] += [b"\x01" * 16 + chunks(*auth_req[:3], *conn), b"\x00\x01" * 8 + chunks(*auth_req)]
    client_side = [
        msg(6, "ssh-userauth"),
        msg(53, "welcome", ""),
        msg(51, "publickey,password", False),
        msg(60, "ssh-ed25519", ED.asbytes()),
        msg(60, "name", "instr", "", 1, "Password: ", False),
        msg(52),
        msg(91, 0, 0, 1 << 20, 32768),
        msg(94, 0, "hello"),
        msg(98, 0, "exit-status", False, 0),
    ]
    out["userauth_client"] += [bytes([i]) + chunks(*client_side) for i in range(4)]
    out["kex_messages"] += [b"\x00" + kex_s, b"\x00" + kex_c, b"\x01" + ext, b"\x02" + HOST.asbytes()]

    data = b"signed data"
    for key in (ED, EC, RSA):
        out["key_blob"].append(chunk(key.asbytes()) + key.sign_ssh_data(data).asbytes())
        out["private_key"].append(key.private_key_text().encode())
    out["private_key"].append(ED.private_key_text(password="pw").encode())
    out["private_key"].append(RSA.private_key_text(format="PEM").encode())

    cert = sign_certificate(ED, EC, principals=["alice"], key_id="id", valid_after=0, valid_before=2**40)
    host_cert = sign_certificate(EC, ED, cert_type="host", principals=["example.com"])
    out["certificate"] += [b"\x01" + cert.asbytes(), b"\x00" + host_cert.asbytes()]

    sk_pub = Message().add_string("sk-ssh-ed25519@openssh.com").add_string(ED.asbytes()[-32:]).add_string("ssh:")
    sk_sig = Message().add_string("sk-ssh-ed25519@openssh.com").add_string(bytes(64)).add_byte(1).add_int(7)
    out["sk_signature"].append(chunk(sk_pub.asbytes()) + sk_sig.asbytes())

    line = f"{ED.get_name()} {ED.get_base64()}"
    out["known_hosts"] += [
        f"example.com,10.0.0.1 {line}\n[example.com]:2222 {EC.get_name()} {EC.get_base64()}\n".encode(),
        f"|1|{'A' * 27}=|{'B' * 27}= {line}\n# comment\n@revoked * {line}\n".encode(),
        f"@cert-authority *.example.com {line}\n!bad.example.com,*.example.com {line}\n".encode(),
    ]
    out["ssh_config"] += [
        b"Host example.com\n  HostName 10.0.0.1\n  Port 2222\n  User alice\n  IdentityFile ~/.ssh/id_%h\n"
        b"Host *\n  ForwardAgent yes\n  ProxyJump bastion\n",
        b'Match host example.com user alice\n  ServerAliveInterval 30\nHost "quoted name" !x\n  SetEnv A=1 "B=2 3"\n',
    ]

    ident = bytes([12]) + U32.pack(2)
    for key in (ED, RSA):
        ident += Message().add_string(key.asbytes()).add_string("comment").asbytes()
    sign = bytes([14]) + Message().add_string(ED.sign_ssh_data(b"x").asbytes()).asbytes()
    frame = lambda b: U32.pack(len(b)) + b  # noqa: E731
    out["agent_client"] += [frame(ident) + frame(sign) + frame(bytes([5])), frame(bytes([5]))]
    out["agent_relay"] += [chunk(frame(bytes([11]))) + frame(ident)]

    def sftp(t: int, *items: object) -> bytes:
        m = Message()
        for item in items:
            if isinstance(item, int):
                m.add_int(item)
            elif isinstance(item, bytearray):
                m.add_bytes(bytes(item))  # already encoded (attributes)
            else:
                m.add_string(item)
        body = m.asbytes()
        return U32.pack(len(body) + 1) + bytes([t]) + body

    attrs = bytearray(U32.pack(0x4) + U32.pack(0o644))
    init = sftp(1, 3)
    offset = bytearray(bytes(8))  # uint64 0
    server_reqs = [
        init,
        sftp(3, 1, "f", 1, b"") + sftp(5, 2, "f1", offset + U32.pack(16)),
        sftp(3, 3, "new", 0x1A, b"") + sftp(6, 4, "f2", offset + chunk_str(b"data")),
        sftp(10, 5, "f2", attrs) + sftp(8, 6, "f2") + sftp(4, 7, "f1") + sftp(4, 8, "f2"),
        sftp(11, 9, "d") + sftp(12, 10, "d3") + sftp(12, 11, "d3") + sftp(4, 12, "d3"),
        sftp(17, 13, "f") + sftp(7, 14, "d") + sftp(16, 15, "."),
        sftp(14, 16, "d/x", b"") + sftp(18, 17, "f", "g") + sftp(20, 18, "l", "g") + sftp(19, 19, "l"),
        sftp(9, 20, "g", attrs) + sftp(13, 21, "g") + sftp(15, 22, "d/x"),
        sftp(200, 23, "statvfs@openssh.com", "/") + sftp(200, 24, "posix-rename@openssh.com", "new", "h"),
        sftp(200, 25, "hardlink@openssh.com", "h", "k") + sftp(200, 26, "limits@openssh.com"),
    ]
    out["sftp_server"] += [b"".join(server_reqs), init + server_reqs[1], init + server_reqs[4] + server_reqs[6]]
    version = sftp(2, 3, "posix-rename@openssh.com", "1", "statvfs@openssh.com", "2")
    name = lambda n: sftp(104, n, 1, "/home", "drwx /home", U32.pack(0))  # noqa: E731
    replies = [
        name(1),
        sftp(105, 2, bytearray(U32.pack(0x4) + U32.pack(0o100644))),
        sftp(102, 3, "h") + name(4) + sftp(101, 5, 1, "eof", ""),
        sftp(101, 6, 0, "", ""),
        sftp(102, 7, "h") + sftp(103, 8, "data") + sftp(101, 9, 0, "", ""),
        name(10),
        sftp(201, 11) + bytes(88),
    ]
    out["sftp_client"] += [version + b"".join(replies), version + replies[0], sftp(2, 3)]
    return out


def etm_packet(payload: bytes, block: int = 16) -> bytes:
    """A plaintext packet framed for encrypt-then-MAC (the length not in the padded part)."""
    pad = block - (1 + len(payload)) % block
    if pad < 4:
        pad += block
    return U32.pack(1 + len(payload) + pad) + bytes([pad]) + payload + bytes(pad)


def chunk_str(b: bytes) -> bytes:
    return U32.pack(len(b)) + b


def main() -> None:
    """Write every seed, named by its hash, under ``fuzz/corpus/<target>/``."""
    wanted = set(sys.argv[1:]) or set(TARGETS)
    for target, items in seeds().items():
        if target not in wanted:
            continue
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for item in items:
            (folder / f"seed-{hashlib.sha1(item).hexdigest()[:16]}").write_bytes(item)
        print(f"{target}: {len(items)} seeds")


if __name__ == "__main__":
    main()
