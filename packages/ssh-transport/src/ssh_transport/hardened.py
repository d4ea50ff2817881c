"""A hardened algorithm preset: only what a security audit (``ssh-audit``)
passes with no failure and no warning, for servers and clients that can
require recent peers.

The defaults stay broad so that OpenSSH 7.x-9.x and paramiko peers connect;
the preset narrows them. What it removes, and why:

* key exchange: everything but the post-quantum hybrid
  (``mlkem768x25519-sha256``). The classical exchanges (curve25519, finite-field
  DH, NIST ECDH) can be recorded now and broken later by a quantum computer;
  the NIST curves are distrusted besides, and group14 is only 2048 bits. Peers
  need ML-KEM: OpenSSH 9.9 or later, or this library.
* host key and user key signatures: ECDSA on the NIST curves (distrusted
  curves, and a weak random nonce reveals the key) and the SHA-1 ones
  (``ssh-rsa``, ``ssh-dss``, already off by default). Ed25519 and RSA with
  SHA-2 remain; an RSA host key should have 3072 bits or more.
* MACs: HMAC-SHA1 (broken hash) and every encrypt-and-MAC variant (the MAC of
  the plaintext is checked only after decrypting); the SHA-2 encrypt-then-MAC
  ones remain. AEAD ciphers (GCM, chacha20-poly1305) carry their own MAC.
* ciphers: nothing beyond the defaults (CBC and 3DES are already off by
  default); CTR, GCM and chacha20-poly1305 remain.

Compression is left as it is.
"""

from __future__ import annotations

from dataclasses import fields, replace
from types import MappingProxyType

from .protocol.negotiation import AlgorithmPreferences
from .security import SecurityOptions

__all__ = [
    "HARDENED_ALGORITHMS",
    "HardenedUnavailable",
    "harden",
    "hardened_disabled_algorithms",
    "hardened_preferences",
]

# What the preset keeps, per ``SecurityOptions`` category: a list of what is
# allowed (not of what is removed), so an algorithm added to the tables later
# stays out of the preset until someone decides it belongs.
HARDENED_ALGORITHMS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "kex": frozenset({"mlkem768x25519-sha256"}),
        "key_types": frozenset(
            {
                "ssh-ed25519",
                "ssh-ed25519-cert-v01@openssh.com",
                "rsa-sha2-512",
                "rsa-sha2-512-cert-v01@openssh.com",
                "rsa-sha2-256",
                "rsa-sha2-256-cert-v01@openssh.com",
            }
        ),
        "ciphers": frozenset(
            {
                "chacha20-poly1305@openssh.com",
                "aes256-gcm@openssh.com",
                "aes128-gcm@openssh.com",
                "aes256-ctr",
                "aes192-ctr",
                "aes128-ctr",
            }
        ),
        "digests": frozenset({"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"}),
    }
)

# paramiko's ``disabled_algorithms`` keys for our categories.
_DISABLED_KEY = {"kex": "kex", "key_types": "keys", "ciphers": "ciphers", "digests": "macs"}


_CATEGORIES = tuple(f.name for f in fields(AlgorithmPreferences))


class HardenedUnavailable(ValueError):
    """The preset would leave a category empty (e.g. this ``cryptography``
    build has no ML-KEM, so no key exchange would remain)."""


def hardened_preferences(base: AlgorithmPreferences | None = None) -> AlgorithmPreferences:
    """``base`` (default: the library's defaults) restricted to the preset,
    order kept; compression is untouched.

    Raises ``HardenedUnavailable`` if a category would be left empty, so a
    server can refuse to start rather than fail every connection.
    """
    base = base if base is not None else AlgorithmPreferences()
    kept: dict[str, tuple[str, ...]] = {}
    for category, allowed in HARDENED_ALGORITHMS.items():
        offered: tuple[str, ...] = getattr(base, category)
        kept[category] = tuple(name for name in offered if name in allowed)
        if not kept[category]:
            raise HardenedUnavailable(
                f"the hardened preset leaves no {category} algorithm "
                f"(allowed: {', '.join(sorted(allowed))}; offered: {', '.join(offered) or 'none'})"
            )
    return replace(base, **kept)


def harden(options: SecurityOptions) -> None:
    """Restrict a transport's algorithms to the hardened preset, keeping the
    current order (call before ``start_client``/``start_server``).

    Works for both roles: ``harden(transport.get_security_options())``.
    Raises ``HardenedUnavailable`` if a category would be left empty; the
    transport is then unchanged.
    """
    current = AlgorithmPreferences(**{category: getattr(options, category) for category in _CATEGORIES})
    hardened = hardened_preferences(current)
    for category in HARDENED_ALGORITHMS:
        setattr(options, category, getattr(hardened, category))


def hardened_disabled_algorithms() -> dict[str, list[str]]:
    """The preset as paramiko's ``disabled_algorithms`` argument (for
    ``SSHClient.connect(..., disabled_algorithms=...)`` or ``Transport(sock,
    disabled_algorithms=...)``): every default algorithm the preset removes."""
    defaults = AlgorithmPreferences()
    return {
        _DISABLED_KEY[category]: [name for name in getattr(defaults, category) if name not in allowed]
        for category, allowed in HARDENED_ALGORITHMS.items()
    }
