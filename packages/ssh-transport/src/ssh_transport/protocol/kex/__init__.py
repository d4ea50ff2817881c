"""Key exchange methods: one class per SSH kex name, in default preference order.

``KEX_ALGORITHMS`` maps each name to its ``Kex`` subclass; instantiate it with
a ``KexContext`` per exchange. ``derive_key`` turns the result into keys.
"""

from __future__ import annotations

from .base import Kex, KexContext, SimpleKex
from .curve25519 import Curve25519SHA256, Curve25519SHA256Libssh
from .derive import derive_key
from .dh import DHGroup1SHA1, DHGroup14SHA1, DHGroup14SHA256, DHGroup16SHA512, DHGroup18SHA512
from .ecdh import ECDHNistp256, ECDHNistp384, ECDHNistp521
from .gex import DHGroupExchangeSHA1, DHGroupExchangeSHA256, fallback_group, gex_sizes_for
from .mlkem import AVAILABLE as MLKEM_AVAILABLE
from .mlkem import MLKEM768X25519SHA256

_ORDER: list[type[Kex]] = [
    *([MLKEM768X25519SHA256] if MLKEM_AVAILABLE else []),
    Curve25519SHA256,
    Curve25519SHA256Libssh,
    ECDHNistp256,
    ECDHNistp384,
    ECDHNistp521,
    DHGroupExchangeSHA256,
    DHGroup16SHA512,
    DHGroup18SHA512,
    DHGroup14SHA256,
    DHGroup14SHA1,
    DHGroup1SHA1,
    DHGroupExchangeSHA1,
]

KEX_ALGORITHMS: dict[str, type[Kex]] = {cls.name: cls for cls in _ORDER}

__all__ = [
    "KEX_ALGORITHMS",
    "MLKEM_AVAILABLE",
    "Curve25519SHA256",
    "Curve25519SHA256Libssh",
    "DHGroup1SHA1",
    "DHGroup14SHA1",
    "DHGroup14SHA256",
    "DHGroup16SHA512",
    "DHGroup18SHA512",
    "DHGroupExchangeSHA1",
    "DHGroupExchangeSHA256",
    "ECDHNistp256",
    "ECDHNistp384",
    "ECDHNistp521",
    "Kex",
    "KexContext",
    "MLKEM768X25519SHA256",
    "SimpleKex",
    "derive_key",
    "fallback_group",
    "gex_sizes_for",
]
