"""The documented paramiko API, on the ssh-wire/keys/transport/sftp/agent layers.

Every name here is defined once, in its layer; this package re-exports it
and registers the layer modules under paramiko's submodule paths
(``paramiko.transport`` *is* ``ssh_transport.transport``). ``SSHClient``, the
demos and ``paramiko.util`` are the only code of its own.
"""

from ssh_agent import Agent, AgentKey
from ssh_keys import DSSKey, ECDSAKey, Ed25519Key, HostKeys, PKey, RSAKey
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
    SubsystemHandler,
    Transport,
)
from ssh_transport.config import SSHConfig, SSHConfigDict
from ssh_transport.file import BufferedFile
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

__version__ = "0.1.0"
__version_info__ = (0, 1, 0)

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
    "IncompatiblePeer",
    "InteractiveQuery",
    "Message",
    "MessageOrderError",
    "MissingHostKeyPolicy",
    "NoValidConnectionsError",
    "PKey",
    "PartialAuthentication",
    "PasswordRequiredException",
    "ProtocolError",
    "ProxyCommand",
    "ProxyCommandFailure",
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
    "SubsystemHandler",
    "Transport",
    "UnableToAuthenticate",
    "WarningPolicy",
    "util",
]
