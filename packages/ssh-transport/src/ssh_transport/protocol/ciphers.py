"""The cipher table: every SSH encryption algorithm we know, with its sizes.

The packet layer (``packets.py``) picks its framing from ``CipherSpec.mode``:

* ``"chacha"``: chacha20-poly1305@openssh.com (AEAD, length encrypted separately);
* ``"gcm"``: aes*-gcm@openssh.com (AEAD, length in the clear as associated data);
* ``"stream"``: a block cipher in CTR or CBC mode, one context kept for the
  whole key lifetime, paired with a separately negotiated MAC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes


@dataclass(frozen=True)
class CipherSpec:
    """One SSH cipher: its name, key/IV/block sizes and how packets are framed.

    ``aead`` ciphers authenticate packets themselves, so no MAC is negotiated.
    """

    name: str
    key_size: int
    iv_size: int
    block_size: int
    aead: bool = False
    legacy: bool = False
    mode: str = "stream"
    # Cipher construction for "stream" ciphers: "aes-ctr", "aes-cbc" or "3des-cbc".
    family: str = ""

    @property
    def key_bits(self) -> int:
        """Effective strength in bits, used to size a DH group-exchange request."""
        if self.family == "3des-cbc":
            return 112
        if self.mode == "chacha":
            return 256
        return self.key_size * 8


def _spec(*args: Any, **kwargs: Any) -> tuple[str, CipherSpec]:
    spec = CipherSpec(*args, **kwargs)
    return spec.name, spec


# Order is the default preference. AES-GCM comes first (unlike OpenSSH): with
# AES-NI our client spends about half the CPU per MB it spends on
# chacha20-poly1305, whose separate length cipher and Poly1305 key cost
# extra Python and C calls per packet (bench/: ~1 ms/MB more on every path).
CIPHERS: dict[str, CipherSpec] = dict(
    [
        _spec("aes128-gcm@openssh.com", 16, 12, 16, aead=True, mode="gcm"),
        _spec("aes256-gcm@openssh.com", 32, 12, 16, aead=True, mode="gcm"),
        _spec("chacha20-poly1305@openssh.com", 64, 0, 8, aead=True, mode="chacha"),
        _spec("aes128-ctr", 16, 16, 16, family="aes-ctr"),
        _spec("aes192-ctr", 24, 16, 16, family="aes-ctr"),
        _spec("aes256-ctr", 32, 16, 16, family="aes-ctr"),
        _spec("aes128-cbc", 16, 16, 16, legacy=True, family="aes-cbc"),
        _spec("aes192-cbc", 24, 16, 16, legacy=True, family="aes-cbc"),
        _spec("aes256-cbc", 32, 16, 16, legacy=True, family="aes-cbc"),
        _spec("3des-cbc", 24, 8, 8, legacy=True, family="3des-cbc"),
    ]
)


def get_cipher(name: str) -> CipherSpec:
    """The spec for ``name``; ``KeyError`` names the unknown cipher."""
    try:
        return CIPHERS[name]
    except KeyError:
        raise KeyError(f"unknown cipher {name!r}") from None


def stream_context(spec: CipherSpec, key: bytes, iv: bytes, encrypt: bool) -> CipherContext:
    """A CTR/CBC context for ``spec``, kept for the whole key lifetime.

    CTR and CBC both carry their state (counter / chaining block) across
    ``update`` calls, so feeding packets one after the other is correct.
    """
    key = bytes(key[: spec.key_size])
    iv = bytes(iv[: spec.iv_size])
    if len(key) != spec.key_size or len(iv) != spec.iv_size:
        raise ValueError(f"{spec.name} needs a {spec.key_size}-byte key and a {spec.iv_size}-byte IV")
    cipher: Cipher[Any]
    if spec.family == "aes-ctr":
        cipher = Cipher(algorithms.AES(key), modes.CTR(iv))
    elif spec.family == "aes-cbc":
        cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    elif spec.family == "3des-cbc":
        cipher = Cipher(TripleDES(key), modes.CBC(iv))
    else:
        raise ValueError(f"{spec.name} is not a stream cipher")
    return cipher.encryptor() if encrypt else cipher.decryptor()
