"""Agent forwarding without the transport: relays between "auth-agent@openssh.com"
channels and agent sockets.

Client side (``ssh -A``): ``AgentRequestHandler(session_channel)`` asks the
server for forwarding; for each agent channel the server then opens, the
transport calls the handler, which starts an ``AgentClientProxy`` relaying that
channel to the local agent (``SSH_AUTH_SOCK``).

Server side: ``AgentServerProxy(transport)`` listens on a private UNIX socket;
each program that connects to it (``SSH_AUTH_SOCK`` from ``get_env()``) gets
its own agent channel to the client, opened with
``transport.open_forward_agent_channel()``.

Relays move whole agent messages, one request then its answer, checking
framing and the 256 KiB limit both ways; a thread per connection, stopped by
closing either end. Everything works with any channel-like object
(``recv``/``send``/``close``), such as a socket of a socketpair.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import threading
from typing import Any, Protocol

from ssh_wire import SSHException, get_logger

from .agent import AgentSSH
from .protocol import (
    DEFAULT_TIMEOUT,
    ChannelLike,
    bind_connection,
    close_connection,
    connect_agent_socket,
    deadline_after,
    frame,
    read_frame,
    send_all,
    set_timeout,
)

_log = get_logger("ssh_agent.forward")
_JOIN_TIMEOUT = 5.0
_ACCEPT_POLL = 0.5
# Local programs served at once through one AgentServerProxy.
MAX_LOCAL_CLIENTS = 64


class ForwardingTransport(Protocol):
    """What ``AgentServerProxy`` needs from a server-side transport."""

    def open_forward_agent_channel(self) -> Any:
        """Open an "auth-agent@openssh.com" channel to the client."""
        ...


class AgentEndpoint(Protocol):
    """The side of a relay that reaches the agent (``AgentClientProxy``:
    the local agent; ``AgentServerProxy``: a channel to the client's agent)."""

    def open_agent_connection(self) -> ChannelLike | None:
        """A new connection to the agent, or None when there is none."""
        ...


class LocalAgentEndpoint(AgentEndpoint, Protocol):
    """What ``AgentLocalProxy`` serves: a listening socket for local programs."""

    def accept_local_client(self, timeout: float | None) -> tuple[socket.socket, Any]:
        """The next local connection; ``TimeoutError`` after ``timeout``,
        ``OSError`` once the socket is closed."""
        ...


def relay_agent_messages(requester: ChannelLike, agent: ChannelLike, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Relay agent messages from ``requester`` to ``agent`` and each answer back,
    until either side closes or breaks the protocol.

    Waiting for the next request has no time limit (closing ``requester``
    ends it); the agent gets ``timeout`` seconds to take each request and
    answer it. Neither end is closed here.
    """
    set_timeout(requester, None)
    while True:
        try:
            request = read_frame(requester, None)
        except SSHException as exc:
            _log.debug("agent relay: requester side done: %s", exc)
            return
        try:
            deadline = deadline_after(timeout)
            send_all(agent, frame(request), deadline)
            reply = read_frame(agent, deadline)
            send_all(requester, frame(reply))
        except SSHException as exc:
            _log.debug("agent relay: agent side done: %s", exc)
            return


class AgentProxyThread(threading.Thread):
    """A daemon thread relaying one requester to one agent connection, as
    paramiko's class of that name: subclasses say where the requester comes
    from (``get_connection()``), and ``agent.open_agent_connection()`` gives
    the agent side, opened inside the thread (opening an SSH channel takes a
    round trip that must not hold up whoever starts the relay).

    Both ends are closed when the relay ends or ``close()`` is called.
    """

    def __init__(
        self, agent: AgentEndpoint, timeout: float | None = DEFAULT_TIMEOUT, name: str = "ssh-agent-relay"
    ) -> None:
        """Prepare a relay to ``agent``; ``start()`` runs it."""
        super().__init__(name=name, daemon=True)
        self.agent = agent
        self.timeout = timeout
        self.requester: ChannelLike | None = None
        self.agent_conn: ChannelLike | None = None
        self._ends_lock = threading.Lock()
        self._ends_closed = False

    def get_connection(self) -> tuple[ChannelLike, Any]:
        """The requester to serve and its address (None when it has none)."""
        raise NotImplementedError

    def run(self) -> None:
        """Get the requester, open the agent side, relay until one side is
        done, then close both."""
        try:
            requester, _ = self.get_connection()
            if self._keep("requester", requester):
                agent_conn = self._open_agent()
                if agent_conn is not None and self._keep("agent_conn", agent_conn):
                    relay_agent_messages(requester, agent_conn, self.timeout)
        except (OSError, SSHException) as exc:
            _log.info("agent relay ended: %s", exc)
        except Exception:
            _log.exception("agent relay failed")
        finally:
            self._close_ends()

    def _open_agent(self) -> ChannelLike | None:
        try:
            conn = self.agent.open_agent_connection()
        except (OSError, SSHException) as exc:
            _log.info("agent forwarding: could not reach the agent: %s", exc)
            return None
        if conn is None:
            _log.info("agent forwarding: no agent to forward to; closing the requester")
        return conn

    def _keep(self, end: str, conn: ChannelLike) -> bool:
        """Record an end of the relay; False (and ``conn`` closed) when the
        relay was closed meanwhile."""
        with self._ends_lock:
            if not self._ends_closed:
                setattr(self, end, conn)
                return True
        close_connection(conn)
        return False

    def _close_ends(self) -> None:
        with self._ends_lock:
            if self._ends_closed:
                return
            self._ends_closed = True
        close_connection(self.requester)
        close_connection(self.agent_conn)

    def close(self) -> None:
        """Stop relaying: close both ends and wait briefly for the thread."""
        self._close_ends()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(_JOIN_TIMEOUT)


class AgentRemoteProxy(AgentProxyThread):
    """Relays requests arriving on one agent channel ``chan`` to the agent
    that ``agent`` opens (on the client: the local agent)."""

    def __init__(self, agent: AgentEndpoint, chan: ChannelLike, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Relay ``chan`` to ``agent``."""
        super().__init__(agent, timeout, name="ssh-agent-remote-proxy")
        self.requester = chan

    def get_connection(self) -> tuple[ChannelLike, None]:
        """The channel given at construction (no address)."""
        assert self.requester is not None
        return self.requester, None


class _LocalClientRelay(AgentProxyThread):
    """Server side: relays one local program's connection to a new agent
    channel to the client."""

    def __init__(self, agent: AgentEndpoint, conn: socket.socket, addr: Any, timeout: float | None) -> None:
        super().__init__(agent, timeout, name="ssh-agent-local-relay")
        self.requester = conn
        self._addr = addr

    def get_connection(self) -> tuple[ChannelLike, Any]:
        assert self.requester is not None
        return self.requester, self._addr


class AgentClientProxy:
    """One forwarded-agent channel on the client: relays it, in a thread, to
    the local agent (``SSH_AUTH_SOCK``, or ``path``).

    With no local agent the channel is closed, so the program on the server
    side sees a refused agent rather than a hang. With ``binding`` (host
    key, session id, signature: ``Transport.get_session_binding()``), the
    local agent connection is first bound to that session as a forwarding
    (``session-bind@openssh.com`` with is_forwarding set), as OpenSSH's
    ``ssh -A`` does; an agent that refuses it is relayed to all the same.
    """

    def __init__(
        self,
        chanRemote: ChannelLike,
        *,
        path: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        binding: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        """Start relaying ``chanRemote`` to the local agent."""
        self._path = path
        self._timeout = timeout
        self._binding = binding
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self.thread = AgentRemoteProxy(self, chanRemote, timeout)
        self.thread.start()

    def connect(self) -> None:
        """Connect to the local agent (once; the relay thread does it)."""
        with self._lock:
            if self._conn is None:
                conn = connect_agent_socket(self._path, self._timeout)
                if conn is not None and self._binding is not None:
                    try:
                        if not bind_connection(conn, self._binding, True, self._timeout):
                            _log.debug("the local agent refused session-bind@openssh.com; forwarding it unbound")
                    except SSHException as exc:
                        close_connection(conn)
                        raise SSHException(f"agent forwarding: session-bind failed: {exc}") from exc
                self._conn = conn

    def open_agent_connection(self) -> socket.socket | None:
        """The local agent connection the relay uses (None: no agent)."""
        self.connect()
        return self._conn

    def is_active(self) -> bool:
        """Whether the relay thread is still running."""
        return self.thread.is_alive()

    def close(self) -> None:
        """Stop the relay and close the channel and the agent connection."""
        self.thread.close()
        with self._lock:
            conn, self._conn = self._conn, None
        close_connection(conn)


class AgentRequestHandler:
    """Client side of agent forwarding for one session channel.

    Asks the server for forwarding with
    ``chanClient.request_forward_agent(handler)``; every
    "auth-agent@openssh.com" channel the server opens afterwards is handed to
    that handler by the transport and relayed to the local agent.
    """

    def __init__(
        self,
        chanClient: Any,
        *,
        path: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        """Request forwarding on ``chanClient`` (a session channel)."""
        self._path = path
        self._timeout = timeout
        self._lock = threading.Lock()
        self._proxies: list[AgentClientProxy] = []
        self._closed = False
        self._chan = chanClient
        chanClient.request_forward_agent(self._forward_agent_handler)

    def _forward_agent_handler(self, chanRemote: ChannelLike) -> None:
        """Called by the transport with each new agent channel."""
        with self._lock:
            if self._closed:
                close_connection(chanRemote)
                return
            self._proxies = [p for p in self._proxies if p.is_active()]
            self._proxies.append(
                AgentClientProxy(chanRemote, path=self._path, timeout=self._timeout, binding=self._binding())
            )

    def _binding(self) -> tuple[bytes, bytes, bytes] | None:
        """The session the forwarded agent is bound to (the transport's
        ``get_session_binding()``; None for a transport without it)."""
        get_transport = getattr(self._chan, "get_transport", None)
        transport = get_transport() if get_transport is not None else None
        get = getattr(transport, "get_session_binding", None)
        return get() if get is not None else None

    @property
    def proxies(self) -> tuple[AgentClientProxy, ...]:
        """The relays started so far that may still be running."""
        with self._lock:
            return tuple(self._proxies)

    def close(self) -> None:
        """Stop every relay this handler started; later channels are refused."""
        with self._lock:
            self._closed = True
            proxies, self._proxies = self._proxies, []
        for proxy in proxies:
            proxy.close()


class AgentLocalProxy(AgentProxyThread):
    """Server side: accepts the programs that connect to an
    ``AgentServerProxy``'s socket and gives each its own agent channel to the
    client, relayed in its own thread."""

    agent: LocalAgentEndpoint

    def __init__(self, agent: LocalAgentEndpoint, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Serve ``agent``'s local socket."""
        super().__init__(agent, timeout, name="ssh-agent-local-proxy")
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._relays: list[AgentProxyThread] = []

    def get_connection(self) -> tuple[socket.socket, Any]:
        """Wait for the next local program to connect.

        :raises OSError: the proxy was closed.
        """
        while not self._stopping.is_set():
            try:
                return self.agent.accept_local_client(_ACCEPT_POLL)
            except TimeoutError:
                continue
        raise OSError("the agent proxy is closed")

    def run(self) -> None:
        """Accept until stopped."""
        while True:
            try:
                conn, addr = self.get_connection()
            except OSError:
                return
            self._serve(conn, addr)

    def _serve(self, conn: socket.socket, addr: Any) -> None:
        relay = _LocalClientRelay(self.agent, conn, addr, self.timeout)
        with self._lock:
            self._relays = [r for r in self._relays if r.is_alive()]
            if self._stopping.is_set() or len(self._relays) >= MAX_LOCAL_CLIENTS:
                _log.info("agent forwarding: refusing a local client (%d relays running)", len(self._relays))
                close_connection(conn)
                return
            self._relays.append(relay)
        relay.start()

    def close(self) -> None:
        """Stop accepting and end every relay."""
        self._stopping.set()
        with self._lock:
            relays, self._relays = self._relays, []
        for relay in relays:
            relay.close()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(_JOIN_TIMEOUT)


class AgentServerProxy(AgentSSH):
    """Server side of agent forwarding: exposes the client's forwarded agent
    as a private UNIX socket for programs run in the session.

    ``get_env()`` gives the ``SSH_AUTH_SOCK`` to set for them. The socket lives
    in a fresh directory only this user can enter; ``close()`` removes both.
    ``connect()`` also lets this object list and use the keys itself
    (``get_keys()``), over one more agent channel.
    """

    def __init__(self, t: ForwardingTransport, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Listen for local agent clients of transport ``t``'s forwarded agent."""
        super().__init__(timeout)
        self._transport = t
        self._dir = tempfile.mkdtemp(prefix="ssh-agent-proxy-")
        os.chmod(self._dir, stat.S_IRWXU)
        self._file = os.path.join(self._dir, "agent.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self._file)
            os.chmod(self._file, stat.S_IRUSR | stat.S_IWUSR)
            listener.listen(16)
        except OSError:
            listener.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self._listener = listener
        self.thread = AgentLocalProxy(self, timeout)
        self.thread.start()

    def open_agent_connection(self) -> Any:
        """A new agent channel to the client (None or an exception when it
        does not forward an agent)."""
        return self._transport.open_forward_agent_channel()

    def accept_local_client(self, timeout: float | None) -> tuple[socket.socket, Any]:
        """The next program connecting to the socket (for ``AgentLocalProxy``).

        :raises TimeoutError: nobody connected within ``timeout`` seconds.
        :raises OSError: the proxy is closed.
        """
        self._listener.settimeout(timeout)
        return self._listener.accept()

    def connect(self) -> None:
        """Open an agent channel for this object's own use and list the keys.

        ``SSHException`` if the client does not forward an agent.
        """
        chan = self.open_agent_connection()
        if chan is None:
            raise SSHException("lost ssh-agent: the client did not open an agent channel")
        set_name = getattr(chan, "set_name", None)
        if callable(set_name):
            set_name("auth-agent")
        self._connect(chan)

    def _open_connection(self) -> ChannelLike | None:
        """Another agent channel (for a second login session, see
        ``AgentSSH.session_bind``)."""
        try:
            chan = self.open_agent_connection()
        except (OSError, SSHException):
            return None
        return chan

    def close(self) -> None:
        """Stop listening, end every relay, and remove the socket and its directory."""
        close_connection(self._listener)
        self.thread.close()
        self._close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def get_env(self) -> dict[str, str]:
        """The environment for programs that should use the forwarded agent."""
        return {"SSH_AUTH_SOCK": self._get_filename()}

    def _get_filename(self) -> str:
        return self._file

    def __enter__(self) -> AgentServerProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
