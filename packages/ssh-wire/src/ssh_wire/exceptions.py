"""The exception hierarchy shared by every layer.

Every exception is picklable: its ``args`` are exactly the constructor's
arguments, so ``pickle`` can rebuild it, and ``str()`` says what went wrong.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import Any

# RFC 4253 section 11.1 disconnect reason codes, used by ProtocolError.
DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT = 1
DISCONNECT_PROTOCOL_ERROR = 2
DISCONNECT_KEY_EXCHANGE_FAILED = 3
DISCONNECT_RESERVED = 4
DISCONNECT_MAC_ERROR = 5
DISCONNECT_COMPRESSION_ERROR = 6
DISCONNECT_SERVICE_NOT_AVAILABLE = 7
DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED = 8
DISCONNECT_HOST_KEY_NOT_VERIFIABLE = 9
DISCONNECT_CONNECTION_LOST = 10
DISCONNECT_BY_APPLICATION = 11
DISCONNECT_TOO_MANY_CONNECTIONS = 12
DISCONNECT_AUTH_CANCELLED_BY_USER = 13
DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE = 14
DISCONNECT_ILLEGAL_USER_NAME = 15


class SSHException(Exception):
    """Any failure of SSH negotiation, the protocol, or key handling."""


class ProtocolError(SSHException):
    """The peer sent something the protocol forbids: malformed, truncated,
    oversized or out-of-order data.

    ``reason`` is the RFC 4253 disconnect code the transport sends the peer
    before it closes the connection.
    """

    def __init__(self, message: str = "protocol error", reason: int = DISCONNECT_PROTOCOL_ERROR) -> None:
        super().__init__(message, reason)
        self.message = message
        self.reason = reason

    def __str__(self) -> str:
        return self.message


class AuthenticationException(SSHException):
    """Authentication failed: wrong credentials, or the server said no."""


class PasswordRequiredException(AuthenticationException):
    """A private key file is encrypted and no password was given."""


class BadAuthenticationType(AuthenticationException):
    """The server does not allow this kind of authentication.

    ``allowed_types`` lists the methods the server does allow
    (for example ``['publickey', 'keyboard-interactive']``).
    """

    #: empty on the class, as in paramiko, so code can read it off the type
    allowed_types: list[str] = []

    def __init__(self, explanation: str, types: Sequence[str]) -> None:
        super().__init__(explanation, types)
        self.explanation = explanation
        self.allowed_types = list(types)

    def __str__(self) -> str:
        return f"{self.explanation}; allowed types: {self.allowed_types!r}"


class PartialAuthentication(AuthenticationException):
    """This method succeeded, but the server wants another one too."""

    #: empty on the class, as in paramiko, so code can read it off the type
    allowed_types: list[str] = []

    def __init__(self, types: Sequence[str]) -> None:
        super().__init__(types)
        self.allowed_types = list(types)

    def __str__(self) -> str:
        return f"Partial authentication; allowed types: {self.allowed_types!r}"


class UnableToAuthenticate(AuthenticationException):
    """No authentication method that was tried could be used."""


class ChannelException(SSHException):
    """Opening a channel failed; ``code`` is the RFC 4254 failure reason."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text

    def __str__(self) -> str:
        return f"ChannelException({self.code!r}, {self.text!r})"


def _key_text(key: Any) -> str:
    """The base64 of a key for messages; tolerant of keys that lack it."""
    get = getattr(key, "get_base64", None)
    return get() if callable(get) else repr(key)


class BadHostKeyException(SSHException):
    """The server's host key is not the one we expected for this host."""

    def __init__(self, hostname: str, got_key: Any, expected_key: Any) -> None:
        super().__init__(hostname, got_key, expected_key)
        self.hostname = hostname
        self.key = got_key
        self.got_key = got_key
        self.expected_key = expected_key

    def __str__(self) -> str:
        return (
            f"Host key for server {self.hostname!r} does not match: "
            f"got {_key_text(self.got_key)!r}, expected {_key_text(self.expected_key)!r}"
        )


class IncompatiblePeer(SSHException):
    """The peer shares no algorithm with us for some negotiated category."""


class ProxyCommandFailure(SSHException):
    """The ProxyCommand subprocess failed or closed unexpectedly."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(command, error)
        self.command = command
        self.error = error

    def __str__(self) -> str:
        return f'ProxyCommand("{self.command}") returned nonzero exit status: {self.error}'


class NoValidConnectionsError(socket.error):
    """Every address a hostname resolved to refused the connection.

    ``errors`` maps each ``(address, port)`` tuple to the exception it raised.
    """

    def __init__(self, errors: Mapping[tuple[Any, ...], BaseException]) -> None:
        addrs = sorted(str(k[0]) for k in errors)
        port = next(iter(errors))[1] if errors else 0
        body = ", ".join(addrs[:-1])
        if len(addrs) > 1:
            body = f"{body} or {addrs[-1]}"
        else:
            body = addrs[0] if addrs else ""
        super().__init__(None, f"Unable to connect to port {port} on {body}")
        self.errors = dict(errors)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the per-address errors."""
        return (self.__class__, (self.errors,))


class CouldNotCanonicalize(SSHException):
    """CanonicalizeHostname is 'yes' with no fallback, and no domain matched."""


class ConfigParseError(SSHException):
    """An ssh_config file has a line that cannot be parsed."""


class MessageOrderError(SSHException):
    """A message arrived out of the order the protocol allows."""
