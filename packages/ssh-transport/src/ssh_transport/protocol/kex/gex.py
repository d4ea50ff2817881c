"""Diffie-Hellman group exchange (RFC 4419): diffie-hellman-group-exchange-sha256
and the legacy -sha1. The client asks for a group size, the server picks a
prime, then it is ordinary DH over that group.

H = HASH(V_C || V_S || I_C || I_S || K_S || uint32 min || uint32 n || uint32 max
|| mpint p || mpint g || mpint e || mpint f || mpint K); after the old request
(message 30) only ``uint32 n`` is hashed in place of the three sizes.
"""

from __future__ import annotations

import struct

from ssh_wire import Message

from ..moduli import choose_group
from .base import Kex, KexContext, kex_failed, mpint, string
from .dh import check_public, private_exponent, shared_mpint
from .groups import FALLBACK_GROUPS, GENERATOR

MSG_KEX_DH_GEX_REQUEST_OLD = 30
MSG_KEX_DH_GEX_GROUP = 31
MSG_KEX_DH_GEX_INIT = 32
MSG_KEX_DH_GEX_REPLY = 33
MSG_KEX_DH_GEX_REQUEST = 34

# OpenSSH's limits: no group below 2048 bits is accepted or offered, none above 8192.
GROUP_MIN = 2048
GROUP_MAX = 8192

_FALLBACK = {bits: [(GENERATOR, prime)] for bits, prime in FALLBACK_GROUPS.items()}


def gex_sizes_for(key_bits: int) -> tuple[int, int, int]:
    """The client's (min, preferred, max) request for ciphers of ``key_bits``
    strength, sized like OpenSSH does (NIST SP 800-57 equivalences)."""
    if key_bits <= 112:
        preferred = 2048
    elif key_bits <= 128:
        preferred = 3072
    elif key_bits <= 192:
        preferred = 7680
    else:
        preferred = 8192
    return GROUP_MIN, preferred, GROUP_MAX


def fallback_group(minimum: int, preferred: int, maximum: int) -> tuple[int, int] | None:
    """The RFC 3526 group that best fits a request, for servers with no moduli file."""
    return choose_group(_FALLBACK, minimum, preferred, maximum)


class GroupExchangeKex(Kex):
    """The RFC 4419 exchange: REQUEST, GROUP, INIT, REPLY."""

    def __init__(self, ctx: KexContext) -> None:
        """Prepare the exchange; the client's request sizes come from ``ctx.gex_sizes``."""
        super().__init__(ctx)
        self._sizes_field = b""  # the request as hashed
        self._p = 0
        self._g = 0
        self._x = 0
        self._e = 0
        self._state = "start"

    def _client_start(self) -> list[bytes]:
        minimum, preferred, maximum = self.ctx.gex_sizes
        if not 0 < minimum <= preferred <= maximum:
            raise ValueError(f"bad group-exchange sizes {self.ctx.gex_sizes!r}")
        self._sizes_field = struct.pack(">III", minimum, preferred, maximum)
        self._state = "group"
        return [bytes([MSG_KEX_DH_GEX_REQUEST]) + self._sizes_field]

    def _handle(self, payload: bytes) -> list[bytes]:
        kind = payload[0]
        m = Message(payload, strict=True)
        m.get_byte()
        if self.is_client:
            if self._state == "group" and kind == MSG_KEX_DH_GEX_GROUP:
                return self._client_group(m)
            if self._state == "reply" and kind == MSG_KEX_DH_GEX_REPLY:
                return self._client_reply(m)
        else:
            if self._state == "start" and kind in (MSG_KEX_DH_GEX_REQUEST, MSG_KEX_DH_GEX_REQUEST_OLD):
                return self._server_request(m, kind == MSG_KEX_DH_GEX_REQUEST_OLD)
            if self._state == "init" and kind == MSG_KEX_DH_GEX_INIT:
                return self._server_init(m)
        raise self._unexpected(payload)

    # -- client ------------------------------------------------------------------

    def _client_group(self, m: Message) -> list[bytes]:
        p = m.get_mpint()
        g = m.get_mpint()
        m.expect_end()
        minimum, _, maximum = self.ctx.gex_sizes
        bits = p.bit_length()
        if p <= 0 or p % 2 == 0 or not minimum <= bits <= maximum:
            raise kex_failed(f"server offered a {bits}-bit group outside [{minimum}, {maximum}]")
        if not 1 < g < p - 1:
            raise kex_failed("server offered a bad group generator")
        self._p, self._g = p, g
        self._x = private_exponent(p)
        self._e = pow(g, self._x, p)
        self._state = "reply"
        return [bytes([MSG_KEX_DH_GEX_INIT]) + mpint(self._e)]

    def _client_reply(self, m: Message) -> list[bytes]:
        blob = m.get_string()
        f = m.get_mpint()
        sig = m.get_string()
        m.expect_end()
        check_public(f, self._p, "server")
        secret = shared_mpint(f, self._x, self._p)
        h = self._exchange_hash(blob, self._e, f, secret)
        self._finish(secret, h, blob, sig)
        return []

    # -- server ------------------------------------------------------------------

    def _server_request(self, m: Message, old: bool) -> list[bytes]:
        if old:
            preferred = m.get_int()
            m.expect_end()
            minimum, maximum = GROUP_MIN, GROUP_MAX
            self._sizes_field = struct.pack(">I", preferred)
        else:
            minimum, preferred, maximum = m.get_int(), m.get_int(), m.get_int()
            m.expect_end()
            self._sizes_field = struct.pack(">III", minimum, preferred, maximum)
            if not minimum <= preferred <= maximum:
                raise kex_failed(f"bad group-exchange request ({minimum}, {preferred}, {maximum})")
        lo = max(minimum, GROUP_MIN)
        hi = min(maximum, GROUP_MAX)
        want = min(max(preferred, lo), hi)
        if lo > hi:
            raise kex_failed(f"no group in the requested range ({minimum}, {maximum})")
        group = self.ctx.gex_moduli(lo, want, hi) if self.ctx.gex_moduli is not None else None
        if group is None:
            group = fallback_group(lo, want, hi)
        if group is None:
            raise kex_failed(f"no group of {lo}..{hi} bits available")
        self._g, self._p = group
        self._state = "init"
        return [bytes([MSG_KEX_DH_GEX_GROUP]) + mpint(self._p) + mpint(self._g)]

    def _server_init(self, m: Message) -> list[bytes]:
        e = m.get_mpint()
        m.expect_end()
        check_public(e, self._p, "client")
        y = private_exponent(self._p)
        f = pow(self._g, y, self._p)
        secret = shared_mpint(e, y, self._p)
        blob = self._host_key_blob()
        h = self._exchange_hash(blob, e, f, secret)
        sig = self._sign(h)
        self._finish(secret, h, blob, sig)
        return [bytes([MSG_KEX_DH_GEX_REPLY]) + string(blob) + mpint(f) + string(sig)]

    def _exchange_hash(self, blob: bytes, e: int, f: int, secret: bytes) -> bytes:
        return self.hash(
            b"".join(
                (
                    self._hash_prefix(blob),
                    self._sizes_field,
                    mpint(self._p),
                    mpint(self._g),
                    mpint(e),
                    mpint(f),
                    secret,
                )
            )
        )


class DHGroupExchangeSHA256(GroupExchangeKex):
    """diffie-hellman-group-exchange-sha256 (RFC 4419)."""

    name = "diffie-hellman-group-exchange-sha256"
    hash_name = "sha256"


class DHGroupExchangeSHA1(GroupExchangeKex):
    """diffie-hellman-group-exchange-sha1 (RFC 4419), legacy."""

    name = "diffie-hellman-group-exchange-sha1"
    hash_name = "sha1"
    legacy = True
