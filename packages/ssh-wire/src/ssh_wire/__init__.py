"""SSH2 wire encoding: ``Message``, mpint helpers, hex helpers and the
exception hierarchy every layer of the stack shares."""

from .exceptions import (
    AuthenticationException,
    BadAuthenticationType,
    BadHostKeyException,
    ChannelException,
    ConfigParseError,
    CouldNotCanonicalize,
    IncompatiblePeer,
    MessageOrderError,
    NoValidConnectionsError,
    PartialAuthentication,
    PasswordRequiredException,
    ProtocolError,
    ProxyCommandFailure,
    SSHException,
    UnableToAuthenticate,
)
from .hexdump import format_binary, format_binary_line, format_binary_weird, hexify, safe_string, unhexify
from .logs import get_logger, log_to_file, tb_strings
from .message import Message
from .mpint import deflate_long, inflate_long, mod_inverse

__version__ = "0.1.0"

__all__ = [
    "AuthenticationException",
    "BadAuthenticationType",
    "BadHostKeyException",
    "ChannelException",
    "ConfigParseError",
    "CouldNotCanonicalize",
    "IncompatiblePeer",
    "Message",
    "MessageOrderError",
    "NoValidConnectionsError",
    "PartialAuthentication",
    "PasswordRequiredException",
    "ProtocolError",
    "ProxyCommandFailure",
    "SSHException",
    "UnableToAuthenticate",
    "deflate_long",
    "format_binary",
    "format_binary_line",
    "format_binary_weird",
    "get_logger",
    "hexify",
    "inflate_long",
    "log_to_file",
    "mod_inverse",
    "safe_string",
    "tb_strings",
    "unhexify",
]
