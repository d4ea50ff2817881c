"""asyncio SSH client and server on the same protocol core as ``Transport``.

``await connect(host, ...)`` (or ``async with connect(...) as conn``) logs
in and gives an ``SSHClientConnection``: ``run``, ``create_process``,
``start_subsystem``, ``open_connection`` and port forwarding both ways.
``await listen(host, port, host_keys=..., server_factory=...,
process_factory=...)`` serves clients with the policy of a
``ServerInterface``. One ``asyncio.BufferedProtocol`` per connection, no
threads.
"""

from ._base import SSHConnection
from ._pump import ConnectionLost, SSHTimeout
from .channel import (
    ChannelClosedError,
    ChannelOpenError,
    ChannelReader,
    ChannelWriter,
    ProcessError,
    ProcessTimeout,
    RunResult,
    SSHChannel,
    SSHClientProcess,
    SSHServerProcess,
)
from .connection import HostKeyNotVerifiable, SSHClientConnection, check_host_key, connect
from .forward import LocalForwarder, RemoteForwarder
from .server import SSHServer, SSHServerConnection, listen

__all__ = [
    "ChannelClosedError",
    "ChannelOpenError",
    "ChannelReader",
    "ChannelWriter",
    "ConnectionLost",
    "HostKeyNotVerifiable",
    "LocalForwarder",
    "ProcessError",
    "ProcessTimeout",
    "RemoteForwarder",
    "RunResult",
    "SSHChannel",
    "SSHClientConnection",
    "SSHClientProcess",
    "SSHConnection",
    "SSHServer",
    "SSHServerConnection",
    "SSHServerProcess",
    "SSHTimeout",
    "check_host_key",
    "connect",
    "listen",
]
