"""Algorithm negotiation: KEXINIT build/parse, the RFC 4253 section 7.1 choice,
strict kex (Terrapin) and ext-info markers, and wiring derived keys into the
packet layer.

No I/O: ``KexNegotiator`` takes peer payloads and returns payloads to send.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from secrets import token_bytes
from typing import Any

from ssh_keys.certs import CERT_SUFFIX, cert_key_type, cert_type_for
from ssh_wire import (
    DISCONNECT_HOST_KEY_NOT_VERIFIABLE,
    DISCONNECT_KEY_EXCHANGE_FAILED,
    DISCONNECT_PROTOCOL_ERROR,
    IncompatiblePeer,
    Message,
    ProtocolError,
    SSHException,
)

from .algorithms import all_names, default_names
from .ciphers import CIPHERS
from .compression import COMPRESSIONS
from .constants import MSG_KEXINIT, MSG_NEWKEYS
from .kex import KEX_ALGORITHMS, Kex, KexContext
from .kex.derive import derive_key
from .macs import MACS
from .packets import PacketReader, PacketWriter

STRICT_CLIENT = "kex-strict-c-v00@openssh.com"
STRICT_SERVER = "kex-strict-s-v00@openssh.com"
EXT_INFO_CLIENT = "ext-info-c"
EXT_INFO_SERVER = "ext-info-s"
_PSEUDO_KEX = frozenset({STRICT_CLIENT, STRICT_SERVER, EXT_INFO_CLIENT, EXT_INFO_SERVER})

# Host key / signature algorithms, best first; the SHA-1 ones only on request.
HOST_KEY_ALGORITHMS: dict[str, bool] = {
    "ssh-ed25519": False,
    "ecdsa-sha2-nistp256": False,
    "ecdsa-sha2-nistp384": False,
    "ecdsa-sha2-nistp521": False,
    "rsa-sha2-512": False,
    "rsa-sha2-256": False,
    "ssh-rsa": True,
    "ssh-dss": True,
}

# OpenSSH certificate host key algorithms (PROTOCOL.certkeys), best first:
# never offered by a client by default (``SSHClient`` puts them first when a
# ``@cert-authority`` line applies to the host, as OpenSSH orders them); a
# server offers them for each host key that has a certificate loaded.
CERT_HOST_KEY_ALGORITHMS: dict[str, bool] = {
    "ssh-ed25519-cert-v01@openssh.com": False,
    "ecdsa-sha2-nistp256-cert-v01@openssh.com": False,
    "ecdsa-sha2-nistp384-cert-v01@openssh.com": False,
    "ecdsa-sha2-nistp521-cert-v01@openssh.com": False,
    "rsa-sha2-512-cert-v01@openssh.com": False,
    "rsa-sha2-256-cert-v01@openssh.com": False,
    "ssh-rsa-cert-v01@openssh.com": True,
}

# FIDO security-key user key algorithms (PROTOCOL.u2f), by the plain
# algorithm on the same curve: accepted in user authentication (never as
# host keys) and listed in server-sig-algs right after that algorithm, as
# OpenSSH lists them.
SK_USER_KEY_ALGORITHMS: dict[str, str] = {
    "ssh-ed25519": "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256": "sk-ecdsa-sha2-nistp256@openssh.com",
}

# Which key type (``PKey.get_name()``) signs with each signature algorithm.
_KEY_TYPE_OF = {"rsa-sha2-512": "ssh-rsa", "rsa-sha2-256": "ssh-rsa"}


def is_certificate_algorithm(algorithm: str) -> bool:
    """Whether ``algorithm`` names an OpenSSH certificate (``*-cert-v01@openssh.com``)."""
    return algorithm.endswith(CERT_SUFFIX)


def signature_algorithm_of(algorithm: str) -> str:
    """The signature algorithm behind a host key / publickey algorithm:
    itself for a plain one, the signing algorithm for a certificate one
    (``rsa-sha2-512-cert-v01@openssh.com`` -> ``rsa-sha2-512``)."""
    return cert_key_type(algorithm)


def certificate_algorithm(signature_algorithm: str) -> str:
    """The certificate algorithm name for a signature algorithm
    (``rsa-sha2-256`` -> ``rsa-sha2-256-cert-v01@openssh.com``)."""
    return cert_type_for(signature_algorithm)


def key_type_of(algorithm: str) -> str:
    """The public key type that produces signatures of ``algorithm`` (for a
    certificate algorithm, the type of the certified key)."""
    base = signature_algorithm_of(algorithm)
    return _KEY_TYPE_OF.get(base, base)


def has_certificate(key: Any) -> bool:
    """Whether ``key`` (a PKey) carries an OpenSSH certificate for itself."""
    blob = getattr(key, "public_blob", None)
    return blob is not None and bool(getattr(blob, "is_certificate", False))


def certificate_blob(key: Any) -> bytes:
    """The certificate blob attached to ``key`` (``has_certificate`` must hold)."""
    return bytes(key.public_blob.key_blob)


def algorithms_for_key_type(key_type: str) -> tuple[str, ...]:
    """Every signature algorithm a key of ``key_type`` can use, best first."""
    return tuple(a for a in HOST_KEY_ALGORITHMS if key_type_of(a) == key_type)


def with_security_key_algorithms(algorithms: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The user-auth algorithms ``algorithms`` plus the security-key one of
    each plain algorithm it keeps (``ssh-ed25519`` brings
    ``sk-ssh-ed25519@openssh.com``), placed right after it: a transport
    that refuses a curve refuses its FIDO keys too."""
    out: list[str] = []
    for alg in algorithms:
        if alg not in out:
            out.append(alg)
        sk = SK_USER_KEY_ALGORITHMS.get(alg)
        if sk is not None and sk not in out and sk not in algorithms:
            out.append(sk)
    return tuple(out)


class NegotiationFailed(ProtocolError, IncompatiblePeer):
    """The two sides share no algorithm in some category."""


def _names(table: Any) -> tuple[str, ...]:
    return tuple(default_names(table))


@dataclass
class AlgorithmPreferences:
    """The algorithms this side offers, each in preference order."""

    kex: tuple[str, ...] = field(default_factory=lambda: _names(KEX_ALGORITHMS))
    key_types: tuple[str, ...] = field(
        default_factory=lambda: tuple(a for a, leg in HOST_KEY_ALGORITHMS.items() if not leg)
    )
    ciphers: tuple[str, ...] = field(default_factory=lambda: _names(CIPHERS))
    digests: tuple[str, ...] = field(default_factory=lambda: _names(MACS))
    compression: tuple[str, ...] = ("none",)

    @staticmethod
    def known(category: str) -> tuple[str, ...]:
        """Every name (legacy too) that may be placed in ``category``."""
        if category == "kex":
            return tuple(all_names(KEX_ALGORITHMS))
        if category == "key_types":
            return (*CERT_HOST_KEY_ALGORITHMS, *HOST_KEY_ALGORITHMS)
        if category == "ciphers":
            return tuple(all_names(CIPHERS))
        if category == "digests":
            return tuple(all_names(MACS))
        if category == "compression":
            return tuple(all_names(COMPRESSIONS))
        raise KeyError(category)


@dataclass
class KexInit:
    """A parsed SSH_MSG_KEXINIT (RFC 4253 section 7.1)."""

    cookie: bytes
    kex: list[str]
    host_key: list[str]
    cipher_cs: list[str]
    cipher_sc: list[str]
    mac_cs: list[str]
    mac_sc: list[str]
    comp_cs: list[str]
    comp_sc: list[str]
    lang_cs: list[str]
    lang_sc: list[str]
    first_follows: bool
    reserved: int = 0

    def encode(self) -> bytes:
        """The KEXINIT payload, starting with the message number."""
        m = Message()
        m.add_byte(MSG_KEXINIT)
        m.add_bytes(self.cookie)
        for names in (
            self.kex,
            self.host_key,
            self.cipher_cs,
            self.cipher_sc,
            self.mac_cs,
            self.mac_sc,
            self.comp_cs,
            self.comp_sc,
            self.lang_cs,
            self.lang_sc,
        ):
            m.add_list(names)
        m.add_boolean(self.first_follows)
        m.add_int(self.reserved)
        return m.asbytes()

    @classmethod
    def parse(cls, payload: bytes) -> KexInit:
        """Parse a KEXINIT payload strictly (``ProtocolError`` when malformed)."""
        m = Message(payload, strict=True)
        if m.get_byte()[0] != MSG_KEXINIT:
            raise ProtocolError("not a KEXINIT")
        cookie = m.get_bytes(16)
        lists = [m.get_list() for _ in range(10)]
        for names in lists:
            for n in names:
                if not n or len(n) > 64 or not n.isascii():
                    raise ProtocolError(f"bad algorithm name in KEXINIT: {n[:70]!r}")
        first = m.get_boolean()
        reserved = m.get_int()
        k, h, ccs, csc, mcs, msc, zcs, zsc, lcs, lsc = lists
        return cls(cookie, k, h, ccs, csc, mcs, msc, zcs, zsc, lcs, lsc, first, reserved)


def choose(client: list[str] | tuple[str, ...], server: list[str] | tuple[str, ...], what: str) -> str:
    """RFC 4253 7.1: the first of the client's names the server also supports."""
    server_set = set(server)
    for name in client:
        if name in server_set:
            return name
    raise NegotiationFailed(
        f"no matching {what} algorithm (client offers {list(client)!r}, server offers {list(server)!r})",
        DISCONNECT_KEY_EXCHANGE_FAILED,
    )


@dataclass(frozen=True)
class Negotiated:
    """The outcome of one algorithm negotiation."""

    kex: str
    host_key: str
    cipher_cs: str
    cipher_sc: str
    mac_cs: str | None
    mac_sc: str | None
    comp_cs: str
    comp_sc: str


def negotiate(client: KexInit, server: KexInit) -> Negotiated:
    """Choose every algorithm from the two KEXINITs."""
    kex = choose([k for k in client.kex if k not in _PSEUDO_KEX], server.kex, "key exchange")
    host_key = choose(client.host_key, server.host_key, "host key")
    c_cs = choose(client.cipher_cs, server.cipher_cs, "client-to-server cipher")
    c_sc = choose(client.cipher_sc, server.cipher_sc, "server-to-client cipher")
    m_cs = None if CIPHERS[c_cs].aead else choose(client.mac_cs, server.mac_cs, "client-to-server MAC")
    m_sc = None if CIPHERS[c_sc].aead else choose(client.mac_sc, server.mac_sc, "server-to-client MAC")
    z_cs = choose(client.comp_cs, server.comp_cs, "client-to-server compression")
    z_sc = choose(client.comp_sc, server.comp_sc, "server-to-client compression")
    return Negotiated(kex, host_key, c_cs, c_sc, m_cs, m_sc, z_cs, z_sc)


SendFn = Callable[[bytes], None]


class KexNegotiator:
    """One side's key-exchange state across the first kex and every rekey.

    The core feeds it KEXINIT, kex-method (30..49) and NEWKEYS payloads;
    it sends through ``send`` (which bypasses the core's kex queue) and
    installs keys into the writer/reader at the right packet boundaries.
    """

    def __init__(
        self,
        role: str,
        prefs: AlgorithmPreferences,
        writer: PacketWriter,
        reader: PacketReader,
        send: SendFn,
        *,
        host_keys: dict[str, Any] | None = None,
        gex_moduli: Callable[[int, int, int], tuple[int, int] | None] | None = None,
        expected_host_key_type: str | None = None,
        strict_kex: bool = True,
    ) -> None:
        self.role = role
        # offer strict kex (the Terrapin counter-measure); only in effect
        # when the peer offers it too
        self.offer_strict = strict_kex
        self.prefs = prefs
        self.writer = writer
        self.reader = reader
        self._send = send
        self.host_keys = host_keys or {}
        self.gex_moduli = gex_moduli
        self.expected_host_key_type = expected_host_key_type
        self.local_version = b""
        self.remote_version = b""
        self.session_id: bytes | None = None
        self.strict = False
        self.peer_wants_ext_info = False
        self.kex_count = 0
        self.host_key_blob: bytes | None = None
        #: the first exchange's host key and its signature over H (the
        #: session id): what hostbound auth and agent session-bind refer to
        self.initial_host_key_blob: bytes | None = None
        self.initial_signature: bytes | None = None
        self.negotiated: Negotiated | None = None
        # per-exchange state
        self.local_kexinit: bytes | None = None
        self.peer_kexinit: bytes | None = None
        self.kex: Kex | None = None
        self.newkeys_sent = False
        self.newkeys_received = False
        self._ignore_next_kex_packet = False
        self._pending_reader_keys: tuple[Any, ...] | None = None

    # -- state -------------------------------------------------------------

    @property
    def in_progress(self) -> bool:
        """True from our KEXINIT (or the peer's) until both NEWKEYS are done."""
        return self.local_kexinit is not None or self.peer_kexinit is not None

    @property
    def peer_in_kex(self) -> bool:
        """True between the peer's KEXINIT and the peer's NEWKEYS: only
        kex messages may arrive then."""
        return self.peer_kexinit is not None and not self.newkeys_received

    @property
    def first(self) -> bool:
        """True during the first key exchange of the connection."""
        return self.kex_count == 0

    def _host_key_algorithms(self) -> list[str]:
        if self.role == "server":
            offered: list[str] = []
            certified: list[str] = []
            for alg in self.prefs.key_types:
                key = self.host_keys.get(key_type_of(alg))
                if key is None or alg in offered or is_certificate_algorithm(alg):
                    continue
                offered.append(alg)
                # a host key with its certificate loaded is offered both ways
                cert_alg = certificate_algorithm(alg)
                if cert_alg in CERT_HOST_KEY_ALGORITHMS and self._certificate_matches(key, cert_alg):
                    certified.append(cert_alg)
            return certified + offered
        algs = list(self.prefs.key_types)
        if self.expected_host_key_type:
            preferred = [a for a in algs if key_type_of(a) == self.expected_host_key_type]
            algs = preferred + [a for a in algs if a not in preferred]
        return algs

    @staticmethod
    def _certificate_matches(key: Any, cert_alg: str) -> bool:
        """Whether ``key`` has a certificate of the type ``cert_alg`` sends."""
        return has_certificate(key) and str(key.public_blob.key_type) == cert_type_for(key_type_of(cert_alg))

    def build_kexinit(self) -> bytes:
        """Our KEXINIT payload for this exchange (markers only in the first)."""
        kex = list(self.prefs.kex)
        if self.first:
            kex.append(EXT_INFO_CLIENT if self.role == "client" else EXT_INFO_SERVER)
            if self.offer_strict:
                kex.append(STRICT_CLIENT if self.role == "client" else STRICT_SERVER)
        ciphers = list(self.prefs.ciphers)
        macs = list(self.prefs.digests)
        comp = list(self.prefs.compression)
        init = KexInit(
            token_bytes(16), kex, self._host_key_algorithms(), ciphers, ciphers, macs, macs, comp, comp, [], [], False
        )
        return init.encode()

    def start(self) -> None:
        """Send our KEXINIT (first exchange, or a rekey we start)."""
        if self.local_kexinit is not None:
            return
        if self.role == "server" and not self.host_keys:
            raise SSHException("server has no host keys (add_server_key)")
        self.local_kexinit = self.build_kexinit()
        self.newkeys_sent = False
        self.newkeys_received = False
        self._send(self.local_kexinit)

    # -- incoming ----------------------------------------------------------

    def on_kexinit(self, payload: bytes, packets_before: int) -> None:
        """The peer's KEXINIT: answer with ours if needed, negotiate, start the method."""
        if self.peer_kexinit is not None:
            raise ProtocolError("KEXINIT during a key exchange")
        peer = KexInit.parse(payload)
        self.peer_kexinit = payload
        self.start()
        assert self.local_kexinit is not None
        mine = KexInit.parse(self.local_kexinit)
        client, server = (mine, peer) if self.role == "client" else (peer, mine)
        if self.first:
            peer_marker, own_marker = (
                (STRICT_SERVER, STRICT_CLIENT) if self.role == "client" else (STRICT_CLIENT, STRICT_SERVER)
            )
            self.strict = peer_marker in peer.kex and own_marker in mine.kex
            if self.strict and packets_before != 0:
                raise ProtocolError("strict kex: KEXINIT was not the first packet")
            if self.role == "server":
                self.peer_wants_ext_info = EXT_INFO_CLIENT in peer.kex
            else:  # a server sending ext-info-s takes our EXT_INFO (RFC 8308 2.1)
                self.peer_wants_ext_info = EXT_INFO_SERVER in peer.kex
        chosen = negotiate(client, server)
        self.negotiated = chosen
        if peer.first_follows:
            guess_ok = peer.kex and peer.host_key and peer.kex[0] == chosen.kex and peer.host_key[0] == chosen.host_key
            self._ignore_next_kex_packet = not guess_ok
        host_key = self.host_keys.get(key_type_of(chosen.host_key)) if self.role == "server" else None
        ctx = KexContext(
            role=self.role,
            client_version=self.local_version if self.role == "client" else self.remote_version,
            server_version=self.remote_version if self.role == "client" else self.local_version,
            client_kexinit=self.local_kexinit if self.role == "client" else payload,
            server_kexinit=payload if self.role == "client" else self.local_kexinit,
            host_key=host_key,
            host_key_algorithm=chosen.host_key,
        )
        if self.gex_moduli is not None:
            ctx.gex_moduli = self.gex_moduli
        kex_cls = KEX_ALGORITHMS[chosen.kex]
        self.kex = kex_cls(ctx)
        for out in self.kex.start():
            self._send(out)

    def on_kex_message(self, payload: bytes) -> None:
        """A kex-method message (30..49)."""
        if self.kex is None or self.peer_kexinit is None:
            raise ProtocolError("key exchange message outside a key exchange")
        if self._ignore_next_kex_packet:
            self._ignore_next_kex_packet = False
            return
        if self.kex.done:
            raise ProtocolError("key exchange message after the exchange finished")
        for out in self.kex.handle(payload):
            self._send(out)
        if self.kex.done:
            self._finish_exchange()

    def _finish_exchange(self) -> None:
        kex = self.kex
        assert kex is not None and self.negotiated is not None
        if self.role == "client":
            self._verify_host_key(kex)
        else:
            self.host_key_blob = kex.host_key_blob
        if self.session_id is None:
            self.session_id = kex.exchange_hash
            self.initial_host_key_blob = bytes(kex.host_key_blob)
            self.initial_signature = bytes(kex.signature)
        self._send(bytes([MSG_NEWKEYS]))
        self.newkeys_sent = True
        writer_keys, reader_keys = self._derive(kex)
        self.writer.set_keys(*writer_keys)
        if self.strict:
            self.writer.reset_sequence()
        n = self.negotiated
        self._set_compression(self.writer, n.comp_cs if self.role == "client" else n.comp_sc)
        self._pending_reader_keys = reader_keys

    def _verify_host_key(self, kex: Kex) -> None:
        assert self.negotiated is not None
        alg = self.negotiated.host_key
        blob = kex.host_key_blob
        if self.host_key_blob is not None and not hmac.compare_digest(blob, self.host_key_blob):
            raise ProtocolError("server host key changed during rekey", DISCONNECT_HOST_KEY_NOT_VERIFIABLE)
        key = _server_host_key(blob, alg)
        sig = Message(kex.signature, strict=True)
        try:
            sig_alg = sig.get_name()
        except ProtocolError as exc:
            raise ProtocolError("malformed host key signature", DISCONNECT_HOST_KEY_NOT_VERIFIABLE) from exc
        if sig_alg != signature_algorithm_of(alg):
            raise ProtocolError(
                f"host signature algorithm {sig_alg} is not the negotiated {alg}", DISCONNECT_HOST_KEY_NOT_VERIFIABLE
            )
        sig.rewind()
        if not key.verify_ssh_sig(kex.exchange_hash, sig):
            raise ProtocolError("server host key signature does not verify", DISCONNECT_HOST_KEY_NOT_VERIFIABLE)
        self.host_key_blob = blob

    def _derive(self, kex: Kex) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        n = self.negotiated
        assert n is not None and self.session_id is not None
        K, H, sid = kex.shared_secret, kex.exchange_hash, self.session_id

        def keys(cipher: str, mac: str | None, iv_l: bytes, key_l: bytes, mac_l: bytes) -> tuple[Any, ...]:
            spec = CIPHERS[cipher]
            iv = derive_key(kex.hash_name, K, H, sid, iv_l, spec.iv_size) if spec.iv_size else b""
            key = derive_key(kex.hash_name, K, H, sid, key_l, spec.key_size)
            mac_key = None
            if mac is not None:
                mac_key = derive_key(kex.hash_name, K, H, sid, mac_l, MACS[mac].key_size)
            return (cipher, key, iv, mac, mac_key)

        cs = keys(n.cipher_cs, n.mac_cs, b"A", b"C", b"E")
        sc = keys(n.cipher_sc, n.mac_sc, b"B", b"D", b"F")
        return (cs, sc) if self.role == "client" else (sc, cs)

    @staticmethod
    def _set_compression(side: PacketWriter | PacketReader, name: str) -> None:
        # Every NEWKEYS starts a fresh deflate stream, as OpenSSH does.
        side.set_compression(name)

    def on_newkeys(self, payload: bytes) -> bool:
        """The peer's NEWKEYS: switch the reader. True when the exchange is complete."""
        if len(payload) != 1:
            raise ProtocolError("malformed NEWKEYS")
        if self.kex is None or not self.kex.done or self._pending_reader_keys is None:
            raise ProtocolError("NEWKEYS before the key exchange finished")
        self.reader.set_keys(*self._pending_reader_keys)
        if self.strict:
            self.reader.reset_sequence()
        n = self.negotiated
        assert n is not None
        self._set_compression(self.reader, n.comp_sc if self.role == "client" else n.comp_cs)
        self._pending_reader_keys = None
        self.newkeys_received = True
        self.kex_count += 1
        return True

    def reset_exchange(self) -> None:
        """Forget the per-exchange state once both NEWKEYS are through."""
        self.local_kexinit = None
        self.peer_kexinit = None
        self.kex = None
        self.newkeys_sent = False
        self.newkeys_received = False
        self._ignore_next_kex_packet = False


def host_key_from_blob(blob: bytes) -> Any:
    """The key a K_S blob (or a publickey request) carries: a plain public
    key, or for a certificate the certified key with the certificate
    attached as its ``public_blob`` (its CA signature not checked here).
    ``SSHException`` for an unknown type or malformed data."""
    from ssh_keys import Certificate, key_from_blob

    if not _blob_name(blob).endswith(CERT_SUFFIX):
        return key_from_blob(blob)
    cert = Certificate.from_blob(blob, verify=False)
    key = cert.key
    key.load_certificate(Message(blob))
    return key


def _blob_name(blob: bytes) -> str:
    try:
        return Message(blob, strict=True).get_name()
    except SSHException:
        return ""


def _server_host_key(blob: bytes, alg: str) -> Any:
    """The server's host key from its K_S blob, checked against the
    negotiated algorithm. A certificate is parsed and its CA signature
    verified (as OpenSSH does while reading it); whether the CA is trusted
    for this host is the caller's known_hosts business. The key returned is
    the certified key, the certificate attached as its ``public_blob``."""
    from ssh_keys import Certificate, CertificateError

    bad = DISCONNECT_HOST_KEY_NOT_VERIFIABLE
    try:
        key = host_key_from_blob(blob)
    except SSHException as exc:
        raise ProtocolError(f"bad server host key: {exc}", bad) from exc
    if is_certificate_algorithm(alg):
        if not has_certificate(key) or key.public_blob.key_type != cert_type_for(key_type_of(alg)):
            raise ProtocolError(f"server sent a plain {key.get_name()} key for {alg}", bad)
        try:
            cert = Certificate.from_blob(blob)
        except CertificateError as exc:
            raise ProtocolError(f"bad server host certificate: {exc}", bad) from exc
        if not cert.is_host:
            raise ProtocolError("server host certificate is not a host certificate", bad)
    elif has_certificate(key):
        raise ProtocolError(f"server sent a certificate for the plain algorithm {alg}", bad)
    if key.get_name() != key_type_of(alg):
        raise ProtocolError(f"host key type {key.get_name()} does not match negotiated {alg}", bad)
    return key


def parse_ext_info(payload: bytes) -> dict[str, bytes]:
    """Parse SSH_MSG_EXT_INFO (RFC 8308) into name -> value."""
    m = Message(payload, strict=True)
    m.get_byte()
    count = m.get_int()
    if count > 64:
        raise ProtocolError("too many extensions in EXT_INFO", DISCONNECT_PROTOCOL_ERROR)
    out: dict[str, bytes] = {}
    for _ in range(count):
        name = m.get_name()
        out[name] = m.get_string()
    m.expect_end()
    return out
