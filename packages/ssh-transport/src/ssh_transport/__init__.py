"""SSH2 transport: a protocol core without I/O and a threaded ``Transport`` driver."""

from ssh_wire import (
    AuthenticationException,
    BadAuthenticationType,
    ChannelException,
    PartialAuthentication,
    SSHException,
)

from .channel import Channel, ChannelFile, ChannelStderrFile, ChannelStdinFile
from .protocol.constants import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_CONNECT_FAILED,
    OPEN_FAILED_RESOURCE_SHORTAGE,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
    OPEN_SUCCEEDED,
)
from .security import SecurityOptions
from .server import InteractiveQuery, ServerInterface, SubsystemHandler
from .transport import ServiceRequestingTransport, Transport

__version__ = "0.1.0"

__all__ = [
    "AUTH_FAILED",
    "AUTH_PARTIALLY_SUCCESSFUL",
    "AUTH_SUCCESSFUL",
    "OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED",
    "OPEN_FAILED_CONNECT_FAILED",
    "OPEN_FAILED_RESOURCE_SHORTAGE",
    "OPEN_FAILED_UNKNOWN_CHANNEL_TYPE",
    "OPEN_SUCCEEDED",
    "AuthenticationException",
    "BadAuthenticationType",
    "Channel",
    "ChannelException",
    "ChannelFile",
    "ChannelStderrFile",
    "ChannelStdinFile",
    "InteractiveQuery",
    "PartialAuthentication",
    "SSHException",
    "SecurityOptions",
    "ServerInterface",
    "ServiceRequestingTransport",
    "SubsystemHandler",
    "Transport",
]
