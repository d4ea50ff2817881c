"""The common shape of every key exchange: ``KexContext`` (what the core knows
when kex starts) and ``Kex`` (one exchange, fed kex messages 30..49).

Most methods are one round trip (client INIT, server REPLY); ``SimpleKex``
implements that skeleton once and each family plugs in how it makes and reads
its public values and its shared secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ssh_keys import PKey
from ssh_keys.certs import CERT_SUFFIX, cert_key_type
from ssh_wire import DISCONNECT_KEY_EXCHANGE_FAILED, DISCONNECT_PROTOCOL_ERROR, Message, ProtocolError, SSHException

MSG_KEX_INIT = 30
MSG_KEX_REPLY = 31

# (min, preferred, max) -> (generator, prime), or None if the server has no such group.
GexModuli = Callable[[int, int, int], "tuple[int, int] | None"]


@dataclass
class KexContext:
    """Everything a key exchange needs from the negotiation that started it.

    ``host_key`` (servers only) is the ``ssh_keys.PKey`` that signs H with
    ``sign_ssh_data(H, algorithm=host_key_algorithm)``; ``gex_moduli`` (servers
    only) picks a group-exchange prime, ``gex_sizes`` is the client's request.
    """

    role: str
    client_version: bytes
    server_version: bytes
    client_kexinit: bytes
    server_kexinit: bytes
    host_key: PKey | None = None
    host_key_algorithm: str = ""
    gex_moduli: GexModuli | None = None
    gex_sizes: tuple[int, int, int] = (2048, 3072, 8192)


def kex_failed(message: str) -> ProtocolError:
    """A ProtocolError that disconnects with KEY_EXCHANGE_FAILED."""
    return ProtocolError(message, DISCONNECT_KEY_EXCHANGE_FAILED)


def mpint(value: int) -> bytes:
    """``value`` wire-encoded as an mpint (length prefix included)."""
    return Message().add_mpint(value).asbytes()


def string(value: bytes) -> bytes:
    """``value`` wire-encoded as a string (length prefix included)."""
    return len(value).to_bytes(4, "big") + value


class Kex:
    """One key exchange. Feed it the kex-method messages; it says what to send.

    Valid once ``done``: ``shared_secret`` (K, wire-encoded as hashed),
    ``exchange_hash`` (H), ``host_key_blob`` (K_S) and ``signature`` (the
    server's signature of H; the caller verifies it on the client side).
    """

    name: ClassVar[str] = ""
    hash_name: ClassVar[str] = "sha256"
    legacy: ClassVar[bool] = False

    def __init__(self, ctx: KexContext) -> None:
        """Prepare an exchange in ``ctx.role`` ("client" or "server")."""
        if ctx.role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {ctx.role!r}")
        if ctx.role == "server" and ctx.host_key is None:
            raise SSHException("a server key exchange needs a host key")
        self.ctx = ctx
        self.done = False
        self.shared_secret = b""
        self.exchange_hash = b""
        self.host_key_blob = b""
        self.signature = b""
        self._started = False

    @property
    def is_client(self) -> bool:
        """Whether this side is the client."""
        return self.ctx.role == "client"

    def hash(self, data: bytes) -> bytes:
        """The exchange's hash function (also used for key derivation)."""
        return hashlib.new(self.hash_name, data).digest()

    def start(self) -> list[bytes]:
        """The payloads to send first: the client's opening message; nothing for a server."""
        if self._started:
            raise SSHException("key exchange already started")
        self._started = True
        return self._client_start() if self.is_client else []

    def handle(self, payload: bytes) -> list[bytes]:
        """Process one kex-method message; returns the payloads to send in reply.

        ``ProtocolError`` when the message is unexpected now, malformed, or
        carries a public value that fails validation.
        """
        if not self._started:
            if self.is_client:
                raise SSHException("call start() before handle()")
            self._started = True  # a server has nothing to send first
        if self.done or not payload:
            raise self._unexpected(payload)
        return self._handle(bytes(payload))

    # -- for subclasses --------------------------------------------------------

    def _client_start(self) -> list[bytes]:
        raise NotImplementedError

    def _handle(self, payload: bytes) -> list[bytes]:
        raise NotImplementedError

    def _unexpected(self, payload: bytes) -> ProtocolError:
        what = f"message {payload[0]}" if payload else "an empty message"
        state = "after it finished" if self.done else f"as the {self.ctx.role}"
        return ProtocolError(f"unexpected {what} during {self.name} {state}", DISCONNECT_PROTOCOL_ERROR)

    def _hash_prefix(self, host_key_blob: bytes) -> bytes:
        """string V_C || string V_S || string I_C || string I_S || string K_S."""
        c = self.ctx
        return b"".join(
            string(bytes(x))
            for x in (c.client_version, c.server_version, c.client_kexinit, c.server_kexinit, host_key_blob)
        )

    def _host_key(self) -> PKey:
        key = self.ctx.host_key
        if key is None:
            raise SSHException("a server key exchange needs a host key")
        return key

    def _host_key_blob(self) -> bytes:
        """K_S: the host key blob, or its certificate for a ``*-cert-v01``
        host key algorithm."""
        key = self._host_key()
        if self.ctx.host_key_algorithm.endswith(CERT_SUFFIX):
            blob = getattr(key, "public_blob", None)
            if blob is None or not blob.is_certificate:
                raise SSHException(f"{self.ctx.host_key_algorithm} negotiated for a host key without a certificate")
            return bytes(blob.key_blob)
        return bytes(key.asbytes())

    def _sign(self, exchange_hash: bytes) -> bytes:
        """The server's signature blob over H with the negotiated algorithm
        (for a certificate algorithm, the signature algorithm it names)."""
        key = self._host_key()
        algorithm = cert_key_type(self.ctx.host_key_algorithm) or None
        return bytes(key.sign_ssh_data(exchange_hash, algorithm=algorithm))

    def _finish(self, shared_secret: bytes, exchange_hash: bytes, host_key_blob: bytes, signature: bytes) -> None:
        self.shared_secret = shared_secret
        self.exchange_hash = exchange_hash
        self.host_key_blob = host_key_blob
        self.signature = signature
        self.done = True


class SimpleKex(Kex):
    """A one-round-trip exchange: client sends INIT (30), server answers REPLY (31).

    Subclasses supply the public values as wire-encoded fields (mpint for DH,
    string for ECDH/X25519/hybrid), exactly as they are both sent and hashed:
    H = HASH(V_C || V_S || I_C || I_S || K_S || client field || server field || K).
    """

    def __init__(self, ctx: KexContext) -> None:
        """Prepare the exchange; the client makes its ephemeral key in ``start()``."""
        super().__init__(ctx)
        self._client_field = b""

    def _client_start(self) -> list[bytes]:
        self._client_field = self._make_client_field()
        return [bytes([MSG_KEX_INIT]) + self._client_field]

    def _handle(self, payload: bytes) -> list[bytes]:
        kind = payload[0]
        m = Message(payload, strict=True)
        m.get_byte()
        if not self.is_client and kind == MSG_KEX_INIT:
            client_field, server_field, secret = self._server_exchange(m)
            m.expect_end()
            blob = self._host_key_blob()
            h = self.hash(b"".join((self._hash_prefix(blob), client_field, server_field, secret)))
            sig = self._sign(h)
            self._finish(secret, h, blob, sig)
            return [bytes([MSG_KEX_REPLY]) + string(blob) + server_field + string(sig)]
        if self.is_client and kind == MSG_KEX_REPLY:
            blob = m.get_string()
            server_field, secret = self._client_exchange(m)
            sig = m.get_string()
            m.expect_end()
            h = self.hash(b"".join((self._hash_prefix(blob), self._client_field, server_field, secret)))
            self._finish(secret, h, blob, sig)
            return []
        raise self._unexpected(payload)

    def _make_client_field(self) -> bytes:
        """Make the client's ephemeral key; return its public value as a wire field."""
        raise NotImplementedError

    def _server_exchange(self, m: Message) -> tuple[bytes, bytes, bytes]:
        """Read and check the client's value from ``m``; make the server's.

        Returns (client field, server field, K), all wire-encoded.
        """
        raise NotImplementedError

    def _client_exchange(self, m: Message) -> tuple[bytes, bytes]:
        """Read and check the server's value from ``m``; returns (server field, K)."""
        raise NotImplementedError
