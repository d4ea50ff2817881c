"""SSH agent protocol: a client for the local agent (``Agent``, ``AgentKey``)
and the building blocks of agent forwarding (``AgentRequestHandler``,
``AgentClientProxy``, ``AgentServerProxy``), independent of the transport."""

from .agent import Agent, AgentKey, AgentSSH
from .forward import (
    AgentClientProxy,
    AgentLocalProxy,
    AgentProxyThread,
    AgentRemoteProxy,
    AgentRequestHandler,
    AgentServerProxy,
    relay_agent_messages,
)
from .protocol import (
    MAX_AGENT_MESSAGE,
    SSH_AGENT_RSA_SHA2_256,
    SSH_AGENT_RSA_SHA2_512,
    ChannelLike,
    get_agent_connection,
)

__version__ = "0.1.0"

__all__ = [
    "MAX_AGENT_MESSAGE",
    "SSH_AGENT_RSA_SHA2_256",
    "SSH_AGENT_RSA_SHA2_512",
    "Agent",
    "AgentClientProxy",
    "AgentKey",
    "AgentLocalProxy",
    "AgentProxyThread",
    "AgentRemoteProxy",
    "AgentRequestHandler",
    "AgentSSH",
    "AgentServerProxy",
    "ChannelLike",
    "get_agent_connection",
    "relay_agent_messages",
]
