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
from collections.abc import Callable
from typing import Any, Protocol

from ssh_wire import SSHException, get_logger

from .agent import AgentSSH
from .protocol import (
    DEFAULT_TIMEOUT,
    ChannelLike,
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
    """A daemon thread relaying one requester connection to one agent
    connection; both are closed when the relay ends or ``close()`` is called.

    ``agent`` may be None with ``open_agent`` given: the thread then opens the
    agent connection itself first (opening an SSH channel takes a round trip,
    which must not hold up whoever starts the relay).
    """

    def __init__(
        self,
        requester: ChannelLike,
        agent: ChannelLike | None,
        timeout: float | None = DEFAULT_TIMEOUT,
        name: str = "ssh-agent-relay",
        open_agent: Callable[[], Any] | None = None,
    ) -> None:
        """Prepare the relay; ``start()`` runs it."""
        super().__init__(name=name, daemon=True)
        self.requester = requester
        self.agent_conn = agent
        self.timeout = timeout
        self._open_agent = open_agent
        self._ends_lock = threading.Lock()
        self._ends_closed = False

    def run(self) -> None:
        """Relay until one side is done, then close both."""
        try:
            agent = self.agent_conn if self.agent_conn is not None else self._open()
            if agent is not None:
                relay_agent_messages(self.requester, agent, self.timeout)
        except Exception:
            _log.exception("agent relay failed")
        finally:
            self._close_ends()

    def _open(self) -> ChannelLike | None:
        if self._open_agent is None:
            return None
        try:
            agent = self._open_agent()
        except (OSError, SSHException) as exc:
            _log.info("agent forwarding: could not open an agent channel: %s", exc)
            return None
        with self._ends_lock:
            if not self._ends_closed:
                self.agent_conn = agent
                return agent
        close_connection(agent)  # closed while we were opening
        return None

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
    """Relays requests arriving on an agent channel from the server to a
    connection to the local agent (the client side of forwarding)."""

    def __init__(self, chan: ChannelLike, agent_conn: ChannelLike, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Relay ``chan`` (from the server) to ``agent_conn`` (the local agent)."""
        super().__init__(chan, agent_conn, timeout, name="ssh-agent-remote-proxy")


class AgentClientProxy:
    """One forwarded-agent channel on the client: connects to the local agent
    (``SSH_AUTH_SOCK``, or ``path``) and relays the channel to it in a thread.

    With no local agent the channel is closed at once, so the program on the
    server side sees a refused agent rather than a hang.
    """

    def __init__(
        self,
        chanRemote: ChannelLike,
        *,
        path: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        """Start relaying ``chanRemote`` to the local agent."""
        self._chan = chanRemote
        self._path = path
        self._timeout = timeout
        self._conn: socket.socket | None = None
        self.thread: AgentRemoteProxy | None = None
        self.connect()

    def connect(self) -> None:
        """Connect to the local agent and start the relay (once)."""
        if self.thread is not None:
            return
        conn = connect_agent_socket(self._path, self._timeout)
        if conn is None:
            _log.info("agent forwarding: no local agent to forward to; closing the channel")
            close_connection(self._chan)
            return
        self._conn = conn
        self.thread = AgentRemoteProxy(self._chan, conn, self._timeout)
        self.thread.start()

    def is_active(self) -> bool:
        """Whether the relay thread is still running."""
        return self.thread is not None and self.thread.is_alive()

    def close(self) -> None:
        """Stop the relay and close the channel and the agent connection."""
        if self.thread is not None:
            self.thread.close()
        else:
            close_connection(self._chan)
        close_connection(self._conn)


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
            self._proxies.append(AgentClientProxy(chanRemote, path=self._path, timeout=self._timeout))

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


class AgentLocalProxy(threading.Thread):
    """Server side: accepts connections on the proxy's UNIX socket and gives
    each one its own agent channel to the client, relayed in its own thread."""

    def __init__(
        self,
        listener: socket.socket,
        open_channel: Callable[[], Any],
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        """Serve ``listener``; ``open_channel()`` opens a channel per connection."""
        super().__init__(name="ssh-agent-local-proxy", daemon=True)
        self._listener = listener
        self._open_channel = open_channel
        self._timeout = timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._relays: list[AgentProxyThread] = []

    def run(self) -> None:
        """Accept until stopped."""
        self._listener.settimeout(_ACCEPT_POLL)
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        relay = AgentProxyThread(conn, None, self._timeout, name="ssh-agent-local-relay", open_agent=self._open_channel)
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
        close_connection(self._listener)
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
        self.thread = AgentLocalProxy(listener, self._open_channel, timeout)
        self.thread.start()

    def _open_channel(self) -> Any:
        return self._transport.open_forward_agent_channel()

    def connect(self) -> None:
        """Open an agent channel for this object's own use and list the keys.

        ``SSHException`` if the client does not forward an agent.
        """
        chan = self._open_channel()
        if chan is None:
            raise SSHException("lost ssh-agent: the client did not open an agent channel")
        set_name = getattr(chan, "set_name", None)
        if callable(set_name):
            set_name("auth-agent")
        self._connect(chan)

    def close(self) -> None:
        """Stop listening, end every relay, and remove the socket and its directory."""
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
