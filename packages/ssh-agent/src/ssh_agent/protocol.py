"""The ssh-agent wire protocol (draft-miller-ssh-agent): message numbers,
framing with length limits, and reading whole messages with a deadline.

Every agent message is ``uint32 length || byte type || contents``. Nothing
here trusts the peer: a zero length, a length over ``MAX_AGENT_MESSAGE``, a
short read, a close or a timeout raises ``SSHException``.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Protocol, runtime_checkable

from ssh_wire import Message, ProtocolError, SSHException

# Requests (client to agent) and answers (agent to client).
SSH_AGENT_FAILURE = 5
SSH_AGENT_SUCCESS = 6
SSH2_AGENTC_REQUEST_IDENTITIES = 11
SSH2_AGENT_IDENTITIES_ANSWER = 12
SSH2_AGENTC_SIGN_REQUEST = 13
SSH2_AGENT_SIGN_RESPONSE = 14
SSH2_AGENTC_ADD_IDENTITY = 17
SSH2_AGENTC_REMOVE_IDENTITY = 18
SSH2_AGENTC_REMOVE_ALL_IDENTITIES = 19
SSH_AGENTC_EXTENSION = 27
SSH_AGENT_EXTENSION_FAILURE = 28
# OpenSSH's extension binding an agent connection to an SSH session (PROTOCOL.agent)
SESSION_BIND_EXTENSION = "session-bind@openssh.com"
# Failure codes older agents use (OpenSSH's client accepts them too).
SSH_COM_AGENT2_FAILURE = 30
SSH2_AGENT_FAILURE = 102
FAILURE_CODES = frozenset({SSH_AGENT_FAILURE, SSH_COM_AGENT2_FAILURE, SSH2_AGENT_FAILURE})

# Sign-request flags: which hash an RSA signature should use.
SSH_AGENT_RSA_SHA2_256 = 2
SSH_AGENT_RSA_SHA2_512 = 4

# Signature algorithm -> sign-request flags (anything else: 0).
ALGORITHM_FLAG_MAP: dict[str, int] = {
    "rsa-sha2-256": SSH_AGENT_RSA_SHA2_256,
    "rsa-sha2-512": SSH_AGENT_RSA_SHA2_512,
    "rsa-sha2-256-cert-v01@openssh.com": SSH_AGENT_RSA_SHA2_256,
    "rsa-sha2-512-cert-v01@openssh.com": SSH_AGENT_RSA_SHA2_512,
}
# The signature name an agent must answer with for the flagged algorithms.
FLAG_SIGNATURE_NAME: dict[int, str] = {
    SSH_AGENT_RSA_SHA2_256: "rsa-sha2-256",
    SSH_AGENT_RSA_SHA2_512: "rsa-sha2-512",
}

# Limits, as OpenSSH's own client and agent apply them.
MAX_AGENT_MESSAGE = 256 * 1024
MAX_AGENT_IDENTITIES = 2048
DEFAULT_TIMEOUT = 30.0

_U32 = struct.Struct(">I")


@runtime_checkable
class ChannelLike(Protocol):
    """What the agent code needs from a connection: a socket or an SSH channel."""

    def recv(self, nbytes: int) -> bytes:
        """Up to ``nbytes`` bytes; ``b""`` at end of stream."""
        ...

    def send(self, data: bytes) -> int:
        """Send some of ``data``; return how much was sent."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


def send_all(conn: ChannelLike, data: bytes, deadline: float | None = None) -> None:
    """Send every byte of ``data`` (``sendall`` when the object has it) before
    ``deadline`` (a ``time.monotonic()`` value; None: no limit).

    A connection error or the deadline raises ``SSHException``.
    """
    try:
        if deadline is not None:
            set_timeout(conn, max(deadline - time.monotonic(), 0.001))
        sendall = getattr(conn, "sendall", None)
        if callable(sendall):
            sendall(data)
            return
        view = memoryview(data)
        while view:
            sent = conn.send(bytes(view))
            if sent <= 0:
                raise SSHException("ssh-agent connection closed while sending")
            view = view[sent:]
    except TimeoutError as exc:
        raise SSHException("timed out sending to the ssh-agent") from exc
    except OSError as exc:
        raise SSHException(f"lost the ssh-agent connection: {exc}") from exc


def set_timeout(conn: ChannelLike, seconds: float | None) -> None:
    """Set ``conn``'s timeout when it has ``settimeout`` (channels and sockets do)."""
    settimeout = getattr(conn, "settimeout", None)
    if callable(settimeout):
        settimeout(seconds)


def recv_exact(conn: ChannelLike, n: int, deadline: float | None) -> bytes:
    """Exactly ``n`` bytes from ``conn`` before ``deadline`` (a ``time.monotonic()``
    value, or None to wait as long as the connection does).

    End of stream, a connection error or the deadline raises ``SSHException``.
    """
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SSHException("timed out waiting for the ssh-agent")
            set_timeout(conn, remaining)
        try:
            chunk = conn.recv(n - len(buf))
        except TimeoutError as exc:
            raise SSHException("timed out waiting for the ssh-agent") from exc
        except OSError as exc:
            raise SSHException(f"lost the ssh-agent connection: {exc}") from exc
        if not chunk:
            if buf:
                raise ProtocolError(f"ssh-agent message truncated: {len(buf)} of {n} bytes")
            raise SSHException("ssh-agent closed the connection")
        buf += chunk
    return bytes(buf)


def close_connection(conn: object) -> None:
    """Close ``conn`` so that a thread blocked in its ``recv`` wakes up too
    (``shutdown`` first where there is one); errors are ignored."""
    if conn is None:
        return
    shutdown = getattr(conn, "shutdown", None)
    if callable(shutdown):
        try:
            shutdown(socket.SHUT_RDWR)
        except (OSError, SSHException):
            pass
    close = getattr(conn, "close", None)
    if callable(close):
        try:
            close()
        except (OSError, SSHException):
            pass


def frame(payload: bytes) -> bytes:
    """``payload`` (type byte and contents) with its uint32 length in front."""
    if len(payload) > MAX_AGENT_MESSAGE:
        raise SSHException(f"ssh-agent message of {len(payload)} bytes exceeds {MAX_AGENT_MESSAGE}")
    return _U32.pack(len(payload)) + payload


def read_frame(conn: ChannelLike, deadline: float | None, limit: int = MAX_AGENT_MESSAGE) -> bytes:
    """One whole agent message (type byte and contents, without the length).

    A zero length or one above ``limit`` is refused before anything is read
    into memory.
    """
    header = recv_exact(conn, 4, deadline)
    (length,) = _U32.unpack(header)
    if length == 0:
        raise ProtocolError("empty ssh-agent message")
    if length > limit:
        raise ProtocolError(f"ssh-agent message of {length} bytes exceeds the {limit}-byte limit")
    return recv_exact(conn, length, deadline)


def deadline_after(timeout: float | None) -> float | None:
    """The ``time.monotonic()`` deadline ``timeout`` seconds from now (None: none)."""
    return None if timeout is None else time.monotonic() + timeout


def session_bind_message(host_key: bytes, session_id: bytes, signature: bytes, is_forwarding: bool) -> bytes:
    """The ``session-bind@openssh.com`` extension request (PROTOCOL.agent), unframed."""
    m = Message()
    m.add_byte(SSH_AGENTC_EXTENSION)
    m.add_string(SESSION_BIND_EXTENSION)
    m.add_string(bytes(host_key))
    m.add_string(bytes(session_id))
    m.add_string(bytes(signature))
    m.add_boolean(bool(is_forwarding))
    return m.asbytes()


def bind_connection(
    conn: ChannelLike,
    binding: tuple[bytes, bytes, bytes],
    is_forwarding: bool,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> bool:
    """Send session-bind for ``binding`` (host key, session id, signature)
    on a raw agent connection and read the answer: True if the agent took
    it. ``SSHException`` if the connection fails."""
    deadline = deadline_after(timeout)
    send_all(conn, frame(session_bind_message(*binding, is_forwarding)), deadline)
    reply = read_frame(conn, deadline)
    return reply[:1] == bytes([SSH_AGENT_SUCCESS])


def agent_socket_path() -> str | None:
    """The local agent's socket path from ``SSH_AUTH_SOCK`` (None when unset)."""
    path = os.environ.get("SSH_AUTH_SOCK")
    return path or None


def connect_agent_socket(path: str | None = None, timeout: float | None = DEFAULT_TIMEOUT) -> socket.socket | None:
    """A connected UNIX socket to the agent at ``path`` (default ``SSH_AUTH_SOCK``).

    None when no agent is configured or it cannot be contacted, as the API
    documents for ``Agent``.
    """
    path = path or agent_socket_path()
    if path is None or not hasattr(socket, "AF_UNIX"):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def get_agent_connection() -> socket.socket | None:
    """The local agent's connection, as today's paramiko names it (None: no agent)."""
    return connect_agent_socket()
