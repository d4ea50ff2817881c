"""Client side of the ssh-agent protocol: ``Agent`` and ``AgentKey``.

``Agent()`` talks to the agent named by ``SSH_AUTH_SOCK``; its keys are
``AgentKey`` objects that sign through the agent and can be handed to
``Transport.auth_publickey`` like any private key. This module is also
published as ``paramiko.agent``; the forwarding pieces (``AgentRequestHandler``,
``AgentClientProxy``, ``AgentServerProxy``, ...) live in ``ssh_agent.forward``
and are reachable from here too.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ssh_keys import PKey, SKKey, SKSignature, key_from_blob
from ssh_keys.certs import cert_key_type
from ssh_wire import Message, ProtocolError, SSHException, get_logger

from .protocol import (
    ALGORITHM_FLAG_MAP,
    DEFAULT_TIMEOUT,
    FAILURE_CODES,
    FLAG_SIGNATURE_NAME,
    MAX_AGENT_IDENTITIES,
    SSH2_AGENT_IDENTITIES_ANSWER,
    SSH2_AGENT_SIGN_RESPONSE,
    SSH2_AGENTC_REQUEST_IDENTITIES,
    SSH2_AGENTC_SIGN_REQUEST,
    SSH_AGENT_RSA_SHA2_256,
    SSH_AGENT_RSA_SHA2_512,
    SSH_AGENT_SUCCESS,
    ChannelLike,
    bind_connection,
    close_connection,
    connect_agent_socket,
    deadline_after,
    frame,
    get_agent_connection,
    read_frame,
    send_all,
    session_bind_message,
)

if TYPE_CHECKING:
    from .forward import (
        AgentClientProxy,
        AgentLocalProxy,
        AgentProxyThread,
        AgentRemoteProxy,
        AgentRequestHandler,
        AgentServerProxy,
    )

__all__ = [
    "ALGORITHM_FLAG_MAP",
    "SSH2_AGENTC_REQUEST_IDENTITIES",
    "SSH2_AGENTC_SIGN_REQUEST",
    "SSH2_AGENT_IDENTITIES_ANSWER",
    "SSH2_AGENT_SIGN_RESPONSE",
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
    "cSSH2_AGENTC_REQUEST_IDENTITIES",
    "cSSH2_AGENTC_SIGN_REQUEST",
    "get_agent_connection",
]

_FORWARD_NAMES = frozenset(
    {
        "AgentClientProxy",
        "AgentLocalProxy",
        "AgentProxyThread",
        "AgentRemoteProxy",
        "AgentRequestHandler",
        "AgentServerProxy",
    }
)


def __getattr__(name: str) -> Any:
    """The forwarding classes, loaded from ``ssh_agent.forward`` on first use
    (that module builds on this one, so it cannot be imported at the top)."""
    if name in _FORWARD_NAMES:
        from . import forward

        return getattr(forward, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_log = get_logger("ssh_agent")

# paramiko.agent's request codes as one-byte strings, ready to send.
cSSH2_AGENTC_REQUEST_IDENTITIES = bytes([SSH2_AGENTC_REQUEST_IDENTITIES])
cSSH2_AGENTC_SIGN_REQUEST = bytes([SSH2_AGENTC_SIGN_REQUEST])

BytesLike = bytes | bytearray | memoryview


#: login sessions beyond the first that one agent object keeps a bound connection for
MAX_SESSION_CONNECTIONS = 16


def _leading_string(data: bytes) -> bytes | None:
    """The SSH string ``data`` starts with (a session id, 20 to 64 bytes,
    for the data of a publickey login), or None."""
    if len(data) < 4:
        return None
    n = int.from_bytes(data[:4], "big")
    return data[4 : 4 + n] if 20 <= n <= 64 and len(data) >= 4 + n else None


def _rsa_base(name: str) -> bool:
    """Whether a key type name is RSA (plain or certificate)."""
    return name == "ssh-rsa" or name.startswith("ssh-rsa-cert-")


class AgentSSH:
    """A conversation with one agent over one connection (a socket or a channel).

    Requests are serialised by a lock, so several threads may sign at once.
    """

    def __init__(self, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Start unconnected; ``_connect`` attaches a connection and lists keys."""
        self._conn: ChannelLike | None = None
        self._keys: tuple[AgentKey, ...] = ()
        self._lock = threading.Lock()
        self.timeout = timeout
        # session-bind: the bindings of the main connection (session id,
        # for forwarding), and one more connection per further login session
        self._bindings: list[tuple[bytes, bool]] = []
        self._session_conns: dict[bytes, ChannelLike] = {}
        self._bind_lock = threading.Lock()

    def get_keys(self) -> tuple[AgentKey, ...]:
        """The keys the agent offered when we connected (empty: no agent)."""
        return self._keys

    def _connect(self, conn: ChannelLike) -> None:
        """Use ``conn`` for requests and fetch the agent's identities.

        ``SSHException`` if the peer does not answer like an agent. A previous
        connection is closed first.
        """
        self._close()
        self._conn = conn
        try:
            self._keys = self._request_identities()
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        """Drop the connections and the keys (idempotent)."""
        conn, self._conn = self._conn, None
        extra, self._session_conns = self._session_conns, {}
        self._keys = ()
        self._bindings = []
        close_connection(conn)
        for c in extra.values():
            close_connection(c)

    def _open_connection(self) -> ChannelLike | None:
        """Another connection to the same agent (None: not possible), for
        binding a second login session."""
        return None

    @property
    def bound_sessions(self) -> list[tuple[bytes, bool]]:
        """The sessions bound with ``session_bind``: (session id, for forwarding)."""
        with self._lock:
            return [*self._bindings, *((sid, False) for sid in self._session_conns)]

    def session_bind(self, host_key: bytes, session_id: bytes, signature: bytes, is_forwarding: bool = False) -> bool:
        """Bind this agent connection to an SSH session (OpenSSH's
        ``session-bind@openssh.com``, PROTOCOL.agent), so that the agent can
        check what it signs and where its keys are used: ``host_key`` is the
        server host key blob of the session's first key exchange,
        ``signature`` that key's signature over ``session_id`` from the
        exchange, ``is_forwarding`` says whether the connection is being
        forwarded to that host rather than used to log in to it.

        Returns True when the agent accepted the binding, False when it
        refused it or does not know the extension (agents before OpenSSH
        8.9: use them unbound). A connection bound for a login cannot be
        bound to another session (OpenSSH's agent refuses), so a further
        login session gets a connection of its own to the same agent
        (``Agent``, ``AgentServerProxy``; at most ``MAX_SESSION_CONNECTIONS``,
        the oldest closed first), and the keys' signatures over that
        session's login data go through it. ``SSHException`` only when the
        connection itself fails.
        """
        with self._bind_lock:  # one binding decision at a time
            return self._session_bind(bytes(host_key), bytes(session_id), bytes(signature), bool(is_forwarding))

    def _session_bind(self, host_key: bytes, sid: bytes, signature: bytes, fwd: bool) -> bool:
        request = session_bind_message(host_key, sid, signature, fwd)
        with self._lock:
            if (sid, fwd) in self._bindings or (not fwd and sid in self._session_conns):
                return True
            main_for_login = any(not f for _, f in self._bindings)
        if not main_for_login:
            ptype, _ = self._send_message(request)
            if ptype != SSH_AGENT_SUCCESS:
                _log.debug("ssh-agent answered session-bind with message type %d", ptype)
                return False
            with self._lock:
                self._bindings.append((sid, fwd))
            return True
        if fwd:
            return False  # forwarding binds the connection being forwarded, not one bound for a login
        conn = self._open_connection()
        if conn is None:
            return False
        try:
            ok = bind_connection(conn, (host_key, sid, signature), False, self.timeout)
        except SSHException:
            close_connection(conn)
            raise
        if not ok:
            close_connection(conn)
            return False
        with self._lock:
            self._session_conns[sid] = conn
            while len(self._session_conns) > MAX_SESSION_CONNECTIONS:
                close_connection(self._session_conns.pop(next(iter(self._session_conns))))
        return True

    def _send_message(self, msg: Message | bytes, session_id: bytes | None = None) -> tuple[int, Message]:
        """Send one request and wait (up to ``timeout``) for its answer, on
        the connection bound to ``session_id`` if there is one.

        Returns the answer's type byte and a strict ``Message`` over the rest.
        A broken connection also drops it, so later requests fail fast.
        """
        payload = bytes(msg)
        with self._lock:
            extra = self._session_conns.get(session_id) if session_id is not None else None
            conn = extra if extra is not None else self._conn
            if conn is None:
                raise SSHException("not connected to an ssh-agent")
            deadline = deadline_after(self.timeout)
            try:
                send_all(conn, frame(payload), deadline)
                reply = read_frame(conn, deadline)
            except SSHException:
                if extra is not None and session_id is not None:
                    self._session_conns.pop(session_id, None)
                else:
                    self._conn = None
                close_connection(conn)
                raise
        return reply[0], Message(reply[1:], strict=True)

    def _request_identities(self) -> tuple[AgentKey, ...]:
        ptype, msg = self._send_message(bytes([SSH2_AGENTC_REQUEST_IDENTITIES]))
        if ptype != SSH2_AGENT_IDENTITIES_ANSWER:
            if ptype in FAILURE_CODES:
                raise SSHException("could not get keys from ssh-agent: it refused the request")
            raise ProtocolError(f"could not get keys from ssh-agent: unexpected answer type {ptype}")
        count = msg.get_int()
        if count > MAX_AGENT_IDENTITIES:
            raise ProtocolError(f"ssh-agent offers {count} keys, more than the {MAX_AGENT_IDENTITIES} allowed")
        keys = []
        for _ in range(count):
            blob = msg.get_string()
            comment = msg.get_string().decode("utf-8", "replace")
            Message(blob, strict=True).get_name()  # an agent must answer with real key blobs
            keys.append(AgentKey(self, blob, comment))
        msg.expect_end()
        return tuple(keys)


class Agent(AgentSSH):
    """Client for the SSH agent running on this machine (``SSH_AUTH_SOCK``).

    With no agent (or one that cannot be contacted) construction succeeds and
    ``get_keys()`` is an empty tuple; an agent that answers in a way that is
    not the agent protocol raises ``SSHException``. Use as a context manager
    to close it.
    """

    def __init__(self, *, path: str | None = None, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Connect to the agent at ``path`` (default ``$SSH_AUTH_SOCK``) and list
        its keys; ``timeout`` bounds each request in seconds (None: no limit)."""
        super().__init__(timeout)
        self._path = path
        conn = connect_agent_socket(path, timeout)
        if conn is None:
            return
        self._connect(conn)

    def _open_connection(self) -> ChannelLike | None:
        """Another socket to the same agent (for a second login session)."""
        return connect_agent_socket(self._path, self.timeout)

    def close(self) -> None:
        """Close the agent connection; the keys can no longer sign."""
        self._close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AgentKey(PKey):
    """A private key held by an agent: it signs by asking the agent, and
    otherwise behaves like its public key (name, blob, fingerprints, verify).

    ``comment`` is the comment the agent reported for the key. The private
    half never leaves the agent, so it cannot be written to a file.
    """

    def __init__(self, agent: AgentSSH, blob: bytes, comment: str = "") -> None:
        """Wrap the public ``blob`` that ``agent`` reported.

        The blob is read leniently, as paramiko reads it (code and tests
        build keys from placeholder bytes): a blob that is not a key leaves a
        best-effort ``name`` and no ``inner_key``. Key types ssh_keys does not
        know still sign; they just cannot verify.
        """
        self.agent = agent
        self.blob = bytes(blob)
        self.comment = comment or ""
        self.name = Message(self.blob).get_text()
        self.public_blob = None
        self.inner_key: PKey | None = None
        try:
            self.inner_key = key_from_blob(self.blob)
        except SSHException as exc:
            _log.debug("agent key of type %s is opaque to ssh_keys: %s", self.name, exc)

    def __getattr__(self, name: str) -> Any:
        """Anything else the public key offers comes from it."""
        if name.startswith("__") or name == "inner_key":
            raise AttributeError(name)
        inner = self.__dict__.get("inner_key")
        if inner is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(inner, name)

    def __repr__(self) -> str:
        """paramiko's key repr (algorithm, bits, SHA256 fingerprint, and the
        agent's comment): Fabric logs agent keys in this form."""
        comment = f", comment={self.comment!r}" if self.comment else ""
        return f"PKey(alg={self.algorithm_name}, bits={self.get_bits()}, fp={self.fingerprint}{comment})"

    # -- public key facts ----------------------------------------------------

    def asbytes(self) -> bytes:
        """The public key blob, as the agent reported it."""
        return self.blob

    def get_name(self) -> str:
        """The key type name, e.g. ``ssh-ed25519`` or ``ssh-rsa``."""
        return self.name

    @property
    def algorithm_name(self) -> str:
        """ssh-keygen's short type name (``RSA``, ``ECDSA``, ``ED25519``)."""
        if self.inner_key is not None:
            return self.inner_key.algorithm_name
        base = self.name.split("-cert-")[0]
        base = base[4:] if base.startswith("ssh-") else base.split("-")[0]
        return base.upper()

    def get_bits(self) -> int:
        """The key size in bits (0 when ssh_keys does not know the type)."""
        return self.inner_key.get_bits() if self.inner_key is not None else 0

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        """Signature algorithms the agent can make with this key, best first."""
        if self.inner_key is not None:
            return self.inner_key.signature_algorithms
        if _rsa_base(self.name):
            return ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
        return (cert_key_type(self.name),)

    def can_sign(self) -> bool:
        """True: the agent holds the private half."""
        return True

    def verify_ssh_sig(self, data: BytesLike | str, msg: Message | BytesLike) -> bool:
        """Whether ``msg`` is a valid signature of ``data`` by this key
        (checked by the public key; False for types ssh_keys does not know)."""
        if self.inner_key is None:
            return False
        return self.inner_key.verify_ssh_sig(data, msg)

    def private_message(self) -> Message:
        """Refused: the private half stays in the agent."""
        raise SSHException("an agent key's private half stays in the agent")

    def private_key_text(self, password: str | bytes | None = None, format: object = None) -> str:
        """Refused: the private half stays in the agent."""
        raise SSHException("an agent key's private half stays in the agent; it cannot be written")

    # -- signing -------------------------------------------------------------

    def sign_ssh_data(self, data: Any, algorithm: Any = None) -> Message:
        """Ask the agent to sign ``data``; the signature blob comes back as a
        ``Message`` (string algorithm name, string signature), as ``PKey`` gives.

        ``algorithm`` ``rsa-sha2-256``/``rsa-sha2-512`` asks the agent for that
        RSA hash (flags ``SSH_AGENT_RSA_SHA2_256``/``_512``); None or
        ``ssh-rsa`` gives its default. The 1.5 form ``sign_ssh_data(rpool,
        data)`` still works. For a FIDO key (``sk-ecdsa-sha2-nistp256@openssh.com``,
        ``sk-ssh-ed25519@openssh.com``) the agent drives the token, which
        may wait for a touch; its answer carries the token's flags and
        counter (PROTOCOL.u2f) and is checked for that shape.
        ``SSHException`` if the agent refuses or answers with something else.
        """
        if not isinstance(data, (bytes, bytearray, memoryview, str)) and algorithm is not None:
            data, algorithm = algorithm, None  # 1.5 form: (rpool, data)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"sign_ssh_data needs bytes to sign, not {type(data).__name__}")
        flags = 0
        if algorithm is not None:
            flags = ALGORITHM_FLAG_MAP.get(str(algorithm), 0)
            if flags and not _rsa_base(self.name):
                raise SSHException(f"a {self.name} key cannot make {algorithm} signatures")
        request = Message()
        request.add_byte(SSH2_AGENTC_SIGN_REQUEST)
        request.add_string(self.blob)
        request.add_string(bytes(data))
        request.add_int(flags)
        # a login's data starts with its session id: sign on the connection bound to it
        ptype, reply = self.agent._send_message(request, _leading_string(bytes(data)))
        if ptype != SSH2_AGENT_SIGN_RESPONSE:
            if ptype in FAILURE_CODES:
                raise SSHException("key cannot be used for signing: the ssh-agent refused")
            raise ProtocolError(f"ssh-agent answered a sign request with message type {ptype}")
        sig_blob = reply.get_string()
        reply.expect_end()
        sig_name = self._signature_name(sig_blob)
        if sig_name not in self.signature_algorithms:
            raise SSHException(f"ssh-agent made a {sig_name[:64]!r} signature with a {self.name} key")
        wanted = FLAG_SIGNATURE_NAME.get(flags)
        if wanted is not None and sig_name != wanted:
            raise SSHException(f"ssh-agent made a {sig_name} signature when {wanted} was asked for")
        return Message(sig_blob)

    def _signature_name(self, sig_blob: bytes) -> str:
        """The algorithm of a signature blob the agent returned, after
        checking its shape: (name, signature), or for a security key the
        token's flags and counter after them (PROTOCOL.u2f)."""
        if isinstance(self.inner_key, SKKey) or self.name.startswith("sk-"):  # a key or its certificate
            return SKSignature.from_blob(sig_blob).algorithm
        check = Message(sig_blob, strict=True)
        sig_name = check.get_name()
        check.get_string()
        check.expect_end()
        return sig_name
