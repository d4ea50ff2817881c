"""asyncio SSH for paramiko users: ``paramiko.aio.connect`` / ``listen``,
and SFTP on top: ``open_sftp(conn)`` (an ``SFTPClient``), ``serve_sftp``.

The same API as ``ssh_transport.aio`` (re-exported here), on the protocol
core the threaded ``Transport`` uses.
"""

from typing import Any

from ssh_agent import Agent
from ssh_sftp.aio import SFTPClient, SFTPFile, open_sftp, serve_sftp
from ssh_transport.aio import (
    ChannelClosedError,
    ChannelOpenError,
    ChannelReader,
    ChannelWriter,
    ConnectionLost,
    HostKeyNotVerifiable,
    LocalForwarder,
    ProcessError,
    ProcessTimeout,
    RemoteForwarder,
    RunResult,
    SSHChannel,
    SSHClientConnection,
    SSHClientProcess,
    SSHConnection,
    SSHServer,
    SSHServerConnection,
    SSHServerProcess,
    SSHTimeout,
    listen,
)
from ssh_transport.aio import connect as _transport_connect


def connect(host: str, port: int = 22, **kwargs: Any) -> Any:
    """``ssh_transport.aio.connect`` with the same arguments, whose
    ``allow_agent`` uses the ssh-agent at ``SSH_AUTH_SOCK`` (``ssh_agent.Agent``,
    unless ``agent_factory`` is given). Await it or use ``async with``."""
    kwargs.setdefault("agent_factory", Agent)
    return _transport_connect(host, port, **kwargs)


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
    "SFTPClient",
    "SFTPFile",
    "SSHChannel",
    "SSHClientConnection",
    "SSHClientProcess",
    "SSHConnection",
    "SSHServer",
    "SSHServerConnection",
    "SSHServerProcess",
    "SSHTimeout",
    "connect",
    "listen",
    "open_sftp",
    "serve_sftp",
]
