"""The documented paramiko API, on the ssh-wire/keys/transport/sftp/agent layers.

Every name here is defined once, in its layer; this package re-exports it
and registers the layer modules under paramiko's submodule paths
(``paramiko.transport`` *is* ``ssh_transport.transport``). ``SSHClient``, the
demos and ``paramiko.util`` are the only code of its own.
"""

from importlib import metadata

from ssh_agent import Agent, AgentKey
from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, HostKeys, PKey, PublicBlob, RSAKey, UnknownKeyType, key_classes
from ssh_sftp import (
    SFTP,
    SFTP_BAD_MESSAGE,
    SFTP_CONNECTION_LOST,
    SFTP_EOF,
    SFTP_FAILURE,
    SFTP_NO_CONNECTION,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
    SFTPAttributes,
    SFTPClient,
    SFTPError,
    SFTPFile,
    SFTPHandle,
    SFTPServer,
    SFTPServerInterface,
)
from ssh_transport import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_CONNECT_FAILED,
    OPEN_FAILED_RESOURCE_SHORTAGE,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
    OPEN_SUCCEEDED,
    Channel,
    ChannelFile,
    ChannelStderrFile,
    ChannelStdinFile,
    InteractiveQuery,
    SecurityOptions,
    ServerInterface,
    ServiceRequestingTransport,
    SubsystemHandler,
    Transport,
)
from ssh_transport.auth_strategy import (
    AuthFailure,
    AuthResult,
    AuthSource,
    AuthStrategy,
    InMemoryPrivateKey,
    NoneAuth,
    OnDiskPrivateKey,
    Password,
    PrivateKey,
    SourceResult,
)
from ssh_transport.common import io_sleep
from ssh_transport.config import SSHConfig, SSHConfigDict
from ssh_transport.file import BufferedFile
from ssh_transport.packetizer import Packetizer
from ssh_transport.proxy import ProxyCommand
from ssh_wire import (
    AuthenticationException,
    BadAuthenticationType,
    BadHostKeyException,
    ChannelException,
    ConfigParseError,
    CouldNotCanonicalize,
    IncompatiblePeer,
    Message,
    MessageOrderError,
    NoValidConnectionsError,
    PartialAuthentication,
    PasswordRequiredException,
    ProtocolError,
    ProxyCommandFailure,
    SSHException,
    UnableToAuthenticate,
)

from . import _aliases, util
from .client import AutoAddPolicy, MissingHostKeyPolicy, RejectPolicy, SSHClient, WarningPolicy

# The distribution's version (pyproject.toml): 5.1.0.N is our Nth release
# tracking paramiko 5.1.0's API, so that packages requiring paramiko>=... accept it.
__version__ = metadata.version("paramiko")
__version_info__ = tuple(int(part) for part in __version__.split(".") if part.isdigit())

_aliases.register(__import__(__name__))

__all__ = [
    "AUTH_FAILED",
    "AUTH_PARTIALLY_SUCCESSFUL",
    "AUTH_SUCCESSFUL",
    "OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED",
    "OPEN_FAILED_CONNECT_FAILED",
    "OPEN_FAILED_RESOURCE_SHORTAGE",
    "OPEN_FAILED_UNKNOWN_CHANNEL_TYPE",
    "OPEN_SUCCEEDED",
    "SFTP",
    "SFTP_BAD_MESSAGE",
    "SFTP_CONNECTION_LOST",
    "SFTP_EOF",
    "SFTP_FAILURE",
    "SFTP_NO_CONNECTION",
    "SFTP_NO_SUCH_FILE",
    "SFTP_OK",
    "SFTP_OP_UNSUPPORTED",
    "SFTP_PERMISSION_DENIED",
    "Agent",
    "AgentKey",
    "AuthFailure",
    "AuthResult",
    "AuthSource",
    "AuthStrategy",
    "AuthenticationException",
    "AutoAddPolicy",
    "BadAuthenticationType",
    "BadHostKeyException",
    "BufferedFile",
    "Channel",
    "ChannelException",
    "ChannelFile",
    "ChannelStderrFile",
    "ChannelStdinFile",
    "ConfigParseError",
    "CouldNotCanonicalize",
    "DSSKey",
    "ECDSAKey",
    "Ed25519Key",
    "HostKeys",
    "InMemoryPrivateKey",
    "IncompatiblePeer",
    "InteractiveQuery",
    "Message",
    "MessageOrderError",
    "MissingHostKeyPolicy",
    "NoValidConnectionsError",
    "NoneAuth",
    "OnDiskPrivateKey",
    "PKey",
    "Packetizer",
    "PartialAuthentication",
    "Password",
    "PasswordRequiredException",
    "PrivateKey",
    "ProtocolError",
    "ProxyCommand",
    "ProxyCommandFailure",
    "PublicBlob",
    "RSAKey",
    "RejectPolicy",
    "SFTPAttributes",
    "SFTPClient",
    "SFTPError",
    "SFTPFile",
    "SFTPHandle",
    "SFTPServer",
    "SFTPServerInterface",
    "SSHClient",
    "SSHConfig",
    "SSHConfigDict",
    "SSHException",
    "SecurityOptions",
    "ServerInterface",
    "ServiceRequestingTransport",
    "SourceResult",
    "SubsystemHandler",
    "Transport",
    "UnableToAuthenticate",
    "UnknownKeyType",
    "WarningPolicy",
    "io_sleep",
    "key_classes",
    "util",
]
