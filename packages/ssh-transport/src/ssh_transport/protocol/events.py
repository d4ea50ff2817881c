"""Events the protocol core emits (``SSHProtocol.next_event()``).

Each event is a small frozen dataclass named in the past tense: something the
peer did, or something the protocol finished. The driver reacts to them; the
server's decisions go back into the core as method calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Base class of every protocol event."""


# -- transport layer ---------------------------------------------------------


@dataclass(frozen=True)
class VersionReceived(Event):
    """The peer's identification line (without CRLF) arrived."""

    version: bytes


@dataclass(frozen=True)
class KexCompleted(Event):
    """A key exchange finished and new keys are in use both ways."""

    first: bool
    kex: str
    host_key_algorithm: str
    host_key_blob: bytes
    cipher_out: str
    cipher_in: str
    mac_out: str
    mac_in: str
    compression_out: str
    compression_in: str
    strict: bool


@dataclass(frozen=True)
class ExtInfoReceived(Event):
    """The peer sent SSH_MSG_EXT_INFO (RFC 8308)."""

    extensions: dict[str, bytes] = field(hash=False)


@dataclass(frozen=True)
class DisconnectReceived(Event):
    """The peer sent SSH_MSG_DISCONNECT; the connection is over."""

    reason: int
    description: str


@dataclass(frozen=True)
class ConnectionClosed(Event):
    """The peer closed the byte stream (EOF), or we disconnected."""

    description: str = ""


@dataclass(frozen=True)
class DebugReceived(Event):
    """The peer sent SSH_MSG_DEBUG."""

    always_display: bool
    message: str


@dataclass(frozen=True)
class IgnoreReceived(Event):
    """The peer sent SSH_MSG_IGNORE."""

    data: bytes


@dataclass(frozen=True)
class UnimplementedReceived(Event):
    """The peer said it did not implement our packet number ``seq``."""

    seq: int


# -- user authentication (client side) ---------------------------------------


@dataclass(frozen=True)
class ServiceAccepted(Event):
    """The server accepted our SERVICE_REQUEST."""

    name: str


@dataclass(frozen=True)
class AuthBannerReceived(Event):
    """The server sent a USERAUTH_BANNER."""

    message: str
    language: str


@dataclass(frozen=True)
class AuthSucceeded(Event):
    """Authentication is complete (client: server said so; server: we said so)."""

    username: str


@dataclass(frozen=True)
class AuthFailed(Event):
    """The last auth request failed, or succeeded only partially."""

    allowed: tuple[str, ...]
    partial: bool


@dataclass(frozen=True)
class AuthPublicKeyAccepted(Event):
    """The server said a public key would be acceptable (USERAUTH_PK_OK)."""

    algorithm: str
    key_blob: bytes


@dataclass(frozen=True)
class AuthInfoRequested(Event):
    """Keyboard-interactive: the server asks questions (RFC 4256)."""

    name: str
    instructions: str
    language: str
    prompts: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class PasswordChangeRequested(Event):
    """The server wants a new password (USERAUTH_PASSWD_CHANGEREQ)."""

    prompt: str
    language: str


# -- user authentication (server side) ---------------------------------------


@dataclass(frozen=True)
class AuthRequested(Event):
    """A client asks to authenticate; answer with ``auth_result`` (or, for
    keyboard-interactive, ``auth_info_request``).

    ``method`` is "none", "password", "publickey" or "keyboard-interactive".
    For publickey, ``key`` is the parsed public key and ``signed`` says
    whether a signature came with the request and verified; ``key`` is None
    when the core already refused the key, its algorithm or its signature
    (the driver then answers AUTH_FAILED without asking anyone).
    ``hostbound`` is True for OpenSSH's ``publickey-hostbound-v00@openssh.com``
    form (reported as method "publickey"): the client bound the request,
    and its signature, to our host key, which the core has checked.
    """

    username: str
    service: str
    method: str
    password: str = ""
    new_password: str | None = None
    algorithm: str = ""
    key: object = field(default=None, hash=False, compare=False)
    signed: bool = False
    submethods: str = ""
    hostbound: bool = False


@dataclass(frozen=True)
class AuthInfoResponded(Event):
    """Keyboard-interactive: the client's answers to our last questions."""

    username: str
    responses: tuple[str, ...]


# -- connection protocol ------------------------------------------------------


@dataclass(frozen=True)
class GlobalRequestReceived(Event):
    """A global request; answer with ``global_request_reply`` if ``want_reply``.

    ``data`` is the request-specific data after the want-reply byte.
    """

    name: str
    want_reply: bool
    data: bytes


@dataclass(frozen=True)
class PongReceived(Event):
    """The peer answered one of our ``ping@openssh.com`` PINGs (its data echoed)."""

    data: bytes


@dataclass(frozen=True)
class GlobalReplyReceived(Event):
    """REQUEST_SUCCESS (with its data) or REQUEST_FAILURE for our request."""

    success: bool
    data: bytes


@dataclass(frozen=True)
class ChannelOpenRequested(Event):
    """The peer wants a channel; answer with ``accept_channel`` or
    ``reject_channel`` using ``chanid`` (our id for it).

    ``data`` is the type-specific data; for direct-tcpip and forwarded-tcpip
    ``dest``/``origin`` hold the parsed (host, port) pairs.
    """

    chanid: int
    kind: str
    data: bytes
    dest: tuple[str, int] | None = None
    origin: tuple[str, int] | None = None


@dataclass(frozen=True)
class ChannelOpenConfirmed(Event):
    """The peer confirmed a channel we asked for."""

    chanid: int


@dataclass(frozen=True)
class ChannelOpenFailed(Event):
    """The peer refused a channel we asked for."""

    chanid: int
    code: int
    text: str


@dataclass(frozen=True)
class ChannelDataReceived(Event):
    """Data arrived on a channel; ``ext`` is 0 for normal data, else the
    extended data type (1 is stderr). ``data`` is bytes or a read-only view
    of a decrypted packet that nothing else holds (never of a buffer that is
    reused), so it may be kept without a copy."""

    chanid: int
    data: bytes | memoryview
    ext: int = 0


@dataclass(frozen=True)
class ChannelWindowAdjusted(Event):
    """The peer opened more send window on a channel."""

    chanid: int
    window: int


@dataclass(frozen=True)
class ChannelEOFReceived(Event):
    """The peer will send no more data on a channel."""

    chanid: int


@dataclass(frozen=True)
class ChannelClosed(Event):
    """The peer closed a channel (our CLOSE has been sent too)."""

    chanid: int


@dataclass(frozen=True)
class ChannelRequestReceived(Event):
    """A channel request; answer with ``channel_request_reply`` if ``want_reply``.

    ``args`` holds the parsed request-specific fields for the types we know
    (exec: (command,), subsystem: (name,), env: (name, value), pty-req:
    (term, width, height, pixelwidth, pixelheight, modes), window-change:
    (width, height, pixelwidth, pixelheight), exit-status: (status,),
    exit-signal: (signal, core_dumped, message, language), x11-req:
    (single, protocol, cookie, screen)); for others it is (raw data,).
    """

    chanid: int
    kind: str
    want_reply: bool
    args: tuple[object, ...]


@dataclass(frozen=True)
class ChannelRequestReplied(Event):
    """CHANNEL_SUCCESS or CHANNEL_FAILURE for our last request on a channel."""

    chanid: int
    success: bool
