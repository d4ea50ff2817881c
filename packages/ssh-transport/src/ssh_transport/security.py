"""``SecurityOptions``: view and edit the algorithms a transport offers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .protocol.negotiation import AlgorithmPreferences

if TYPE_CHECKING:
    from .transport import Transport


class SecurityOptions:
    """The preferred ciphers, digests (MACs), host key types, key exchanges
    and compression of one ``Transport``, each a tuple in preference order.

    Setting an attribute to a tuple (or list) reorders or restricts what the
    next key exchange offers; names must be known algorithms (``ValueError``
    otherwise; legacy algorithms such as ``aes128-cbc`` or ``ssh-rsa`` are
    known and become enabled when named here); anything but a tuple or list
    raises ``TypeError``.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        """Options for ``transport`` (use ``Transport.get_security_options()``)."""
        self._transport = transport

    def __repr__(self) -> str:
        return f"<ssh_transport.SecurityOptions for {self._transport!r}>"

    def _prefs(self) -> AlgorithmPreferences:
        return self._transport._prefs

    def _set(self, category: str, value: Any) -> None:
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, tuple):
            raise TypeError(f"expected a tuple of algorithm names, got {type(value).__name__}")
        known = AlgorithmPreferences.known(category)
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown {category} algorithm(s): {', '.join(map(str, unknown))}")
        if not value:
            raise ValueError(f"at least one {category} algorithm is needed")
        setattr(self._prefs(), category, value)

    @property
    def ciphers(self) -> tuple[str, ...]:
        """Symmetric ciphers, best first."""
        return self._prefs().ciphers

    @ciphers.setter
    def ciphers(self, value: tuple[str, ...]) -> None:
        self._set("ciphers", value)

    @property
    def digests(self) -> tuple[str, ...]:
        """MAC algorithms, best first."""
        return self._prefs().digests

    @digests.setter
    def digests(self, value: tuple[str, ...]) -> None:
        self._set("digests", value)

    @property
    def key_types(self) -> tuple[str, ...]:
        """Host key (and signature) algorithms, best first."""
        return self._prefs().key_types

    @key_types.setter
    def key_types(self, value: tuple[str, ...]) -> None:
        self._set("key_types", value)

    @property
    def kex(self) -> tuple[str, ...]:
        """Key exchange algorithms, best first."""
        return self._prefs().kex

    @kex.setter
    def kex(self, value: tuple[str, ...]) -> None:
        self._set("kex", value)

    @property
    def compression(self) -> tuple[str, ...]:
        """Compression algorithms, best first."""
        return self._prefs().compression

    @compression.setter
    def compression(self, value: tuple[str, ...]) -> None:
        self._set("compression", value)
