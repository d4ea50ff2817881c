"""A FIDO security key in software, and an ssh-agent that signs with it.

No token is attached to the test machines, so the tests make what a token
makes: a key pair bound to an application, and signatures over
sha256(application) || flags || counter || sha256(message) (PROTOCOL.u2f),
with the flags the test asks for (user present, user verified, or none).
``SKAgent`` serves such keys over the agent protocol on a Unix socket, as
``ssh-agent`` does when it drives a real token through its middleware.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ssh_keys import SK_USER_PRESENCE_REQD, ECDSASKKey, Ed25519SKKey, SKKey, SKSignature
from ssh_wire import Message

AGENT_FAILURE = 5
AGENT_REQUEST_IDENTITIES = 11
AGENT_IDENTITIES_ANSWER = 12
AGENT_SIGN_REQUEST = 13
AGENT_SIGN_RESPONSE = 14


class SoftToken:
    """One FIDO credential: ``public_key`` is the sk public key; ``sign``
    makes the signature blob a token would, reporting ``flags`` and a
    counter that grows by one per signature."""

    def __init__(self, kind: str = "ecdsa", application: str = "ssh:", flags: int = SK_USER_PRESENCE_REQD) -> None:
        self.kind = kind
        self.application = application
        self.flags = flags
        self.counter = 0
        self.signatures: list[SKSignature] = []
        self.public_key: SKKey
        if kind == "ecdsa":
            self._ec = ec.generate_private_key(ec.SECP256R1())
            self.public_key = ECDSASKKey(key=self._ec.public_key(), application=application)
        elif kind == "ed25519":
            self._ed = ed25519.Ed25519PrivateKey.generate()
            self.public_key = Ed25519SKKey(key=self._ed.public_key(), application=application)
        else:
            raise KeyError(kind)
        self.public_key.comment = f"soft-token-{kind}"
        #: what the agent lists for this token: the public key blob, or a
        #: certificate for it (``certify``), as ssh-agent holds one
        self.identity = self.public_key.asbytes()

    def certify(self, certificate_blob: bytes) -> SoftToken:
        """List this token in the agent under ``certificate_blob`` (a
        certificate for its key) instead of the plain key."""
        self.identity = bytes(certificate_blob)
        return self

    def public_line(self) -> str:
        """The key as an authorized_keys / .pub line."""
        return f"{self.public_key.get_name()} {self.public_key.get_base64()} {self.public_key.comment}"

    def sign(self, data: bytes, signing_application: str | None = None) -> bytes:
        """The SSH signature blob over ``data`` (``signing_application``
        lets a test forge one bound to another application)."""
        self.counter += 1
        app = (signing_application or self.application).encode()
        signed = (
            hashlib.sha256(app).digest() + struct.pack(">BI", self.flags, self.counter) + hashlib.sha256(data).digest()
        )
        if self.kind == "ecdsa":
            r, s = decode_dss_signature(self._ec.sign(signed, ec.ECDSA(hashes.SHA256())))
            inner = Message().add_mpint(r).add_mpint(s).asbytes()
        else:
            inner = self._ed.sign(signed)
        sig = SKSignature(self.public_key.get_name(), inner, self.flags, self.counter)
        self.signatures.append(sig)
        return sig.asbytes()


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _read_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class SKAgent:
    """An agent holding software tokens, listening on ``path``."""

    def __init__(self, path: Path, tokens: list[SoftToken]) -> None:
        self.path = str(path)
        self.tokens = tokens
        self.sign_requests: list[tuple[bytes, int]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(8)
        self._sock.settimeout(30)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with conn:
            while True:
                try:
                    head = _read_exact(conn, 4)
                    if head is None:
                        return
                    body = _read_exact(conn, struct.unpack(">I", head)[0])
                    if body is None:
                        return
                    conn.sendall(_frame(self._answer(body)))
                except OSError:
                    return

    def _answer(self, body: bytes) -> bytes:
        m = Message(body)
        kind = m.get_byte()[0]
        if kind == AGENT_REQUEST_IDENTITIES:
            out = Message().add_byte(bytes([AGENT_IDENTITIES_ANSWER])).add_int(len(self.tokens))
            for t in self.tokens:
                out.add_string(t.identity).add_string(t.public_key.comment or "")
            return out.asbytes()
        if kind == AGENT_SIGN_REQUEST:
            blob, data, flags = m.get_string(), m.get_string(), m.get_int()
            self.sign_requests.append((blob, flags))
            for t in self.tokens:
                if t.identity == blob:
                    return Message().add_byte(bytes([AGENT_SIGN_RESPONSE])).add_string(t.sign(data)).asbytes()
        return bytes([AGENT_FAILURE])

    def close(self) -> None:
        """Stop listening (connections already open end with their peer)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            os.unlink(self.path)


@contextlib.contextmanager
def sk_agent(workdir: Path, tokens: list[SoftToken]) -> Iterator[SKAgent]:
    """Run an ``SKAgent`` for the ``with`` block."""
    agent = SKAgent(workdir / "sk-agent.sock", tokens)
    try:
        yield agent
    finally:
        agent.close()
