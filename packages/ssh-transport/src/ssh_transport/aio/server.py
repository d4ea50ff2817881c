"""The asyncio SSH server: ``listen`` and ``SSHServerConnection``.

Policy comes from a ``ServerInterface`` (one per connection, from
``server_factory``), consulted in the order the threaded server uses; any
hook may also return an awaitable, which is awaited while the connection
holds its other incoming messages. Accepted sessions run the application's
coroutine: ``process_factory(process)`` for exec and shell requests,
``subsystems[name](process)`` for subsystems.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from ssh_wire import Message, SSHException

from ..core_setup import build_core
from ..protocol import events as ev
from ..protocol.constants import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    DEFAULT_WINDOW_SIZE,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_CONNECT_FAILED,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
    OPEN_SUCCEEDED,
)
from ..protocol.core import REKEY_BYTES
from ..protocol.negotiation import AlgorithmPreferences
from ..server import InteractiveQuery, ServerInterface
from ..server_policy import (
    HOSTKEYS_ANNOUNCE,
    HOSTKEYS_PROVE,
    PERMIT_PORT_FORWARDING,
    ServerPolicy,
    host_keys_announcement,
    original_command,
    prove_host_keys,
)
from ._base import SSHConnection, ssh_string
from .channel import SSHServerProcess
from .forward import bridge

log = logging.getLogger("ssh_transport.aio")

ProcessHandler = Callable[[SSHServerProcess], Awaitable[Any]]


class SSHServerConnection(SSHConnection):
    """One client's connection to an ``SSHServer``."""

    def __init__(
        self,
        core: Any,
        server: ServerInterface,
        process_factory: ProcessHandler | None,
        subsystems: Mapping[str, ProcessHandler],
        *,
        window_size: int = DEFAULT_WINDOW_SIZE,
        host_keys: Iterable[Any] = (),
    ) -> None:
        super().__init__(core, window_size=window_size)
        self.server_object = server
        #: the policy logic shared with the threaded server (certificates, FIDO keys, forced commands)
        self.policy = ServerPolicy(self._server_object, log)
        self._host_keys = list(host_keys)
        #: announce every host key after the login (``hostkeys-00@openssh.com``), as sshd does
        self.announce_host_keys = True
        self._host_keys_announced = False
        self._process_factory = process_factory
        self._subsystems = dict(subsystems)
        self._processes: dict[int, SSHServerProcess] = {}
        self._banner_done = False
        self._remote_listeners: dict[tuple[str, int], asyncio.AbstractServer] = {}
        self._grace: asyncio.TimerHandle | None = None

    def _more_handlers(self) -> None:
        self._handlers[ev.AuthRequested] = self._on_auth_requested
        self._handlers[ev.AuthInfoResponded] = self._on_auth_info

    # -- hooks -------------------------------------------------------------------

    def _server_object(self) -> ServerInterface:
        return self.server_object

    def _hook(self, name: str, default: Any, *args: Any) -> Any:
        """Call a hook; an exception counts as its default (a refusal)."""
        return self.policy.hook(name, default, *args)

    def _allowed(self, username: str) -> list[str]:
        return self.policy.allowed_auths(username)

    def get_user_certificate(self) -> Any:
        """The user certificate the client logged in with (None when it used
        none); its ``force-command`` and ``permit-*`` extensions apply, as
        on the threaded server."""
        return self.policy.user_certificate

    def get_user_principal_line(self) -> Any:
        """The ``AuthorizedPrincipalsFile`` line that let the certificate in, or None."""
        return self.policy.principal_line

    def get_security_key_signature(self) -> Any:
        """The FIDO signature (``flags``, ``counter``) of the sk key that let the client in, or None."""
        return self.policy.security_key_signature

    def get_original_command(self, channel: Any) -> bytes | None:
        """What the client asked ``channel`` to run when a forced command
        replaced it (``SSH_ORIGINAL_COMMAND``), or None."""
        proc = self._processes.get(getattr(channel, "chanid", -1))
        if proc is None or proc.original_command is None:
            return None
        return proc.original_command.encode("utf-8", "surrogateescape")

    def _client_address(self) -> str | None:
        peer = self.get_extra_info("peername")
        if isinstance(peer, tuple) and peer and isinstance(peer[0], str) and peer[0]:
            return peer[0]
        return None

    # -- auth ---------------------------------------------------------------------

    def _on_auth_requested(self, e: ev.AuthRequested) -> None:
        core = self._core
        if not self._banner_done:
            self._banner_done = True
            banner = self._hook("get_banner", (None, None))
            if banner and banner[0]:
                core.send_auth_banner(banner[0], banner[1] or "")
        policy = self.policy
        auth = core.server_auth
        sk_signature = auth.sk_signature if auth is not None else None
        value = policy.auth_answer(e, sk_signature, self._client_address)
        if e.method == "publickey":

            def finish(result: Any) -> None:
                result = policy.publickey_finish(result, e.username, e.key, e.signed, sk_signature)
                self._answer_auth(result, e.username)

            self._decide(value, finish, AUTH_FAILED)
            return
        self._decide(value, lambda result: self._answer_auth(result, e.username), AUTH_FAILED)

    def _on_auth_info(self, e: ev.AuthInfoResponded) -> None:
        value = self._hook("check_auth_interactive_response", AUTH_FAILED, list(e.responses))
        self._decide(value, lambda result: self._answer_auth(result, e.username), AUTH_FAILED)

    def _answer_auth(self, result: Any, username: str) -> None:
        core = self._core
        if isinstance(result, InteractiveQuery):
            core.auth_info_request(result.name, result.instructions, result.prompts)
            return
        if not isinstance(result, int) or result not in (0, 1, 2):
            result = AUTH_FAILED
        core.auth_result(result, self._allowed(username))
        if result == AUTH_SUCCESSFUL and core.authenticated:
            self.username = username
            self._announce_host_keys()
            if self._grace is not None:
                self._grace.cancel()
                self._grace = None

    def _announce_host_keys(self) -> None:
        """Send ``hostkeys-00@openssh.com`` once, after the login, so that
        clients with ``UpdateHostKeys`` learn keys they do not know yet."""
        if self._host_keys_announced or not self.announce_host_keys:
            return
        self._host_keys_announced = True
        body = host_keys_announcement(self._host_keys)
        if body:
            self._core.global_request(HOSTKEYS_ANNOUNCE, False, body)

    def set_login_timeout(self, seconds: float) -> None:
        """Drop the client if it has not logged in ``seconds`` from now
        (sshd's ``LoginGraceTime``; ``listen``'s ``login_timeout``)."""
        if self._grace is not None:
            self._grace.cancel()
        self._grace = self._loop.call_later(seconds, self._login_grace_expired)

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        super()._connection_lost(exc)

    def _login_grace_expired(self) -> None:
        self._grace = None
        if not self._core.authenticated:
            self._pump.abort(SSHException("login grace time exceeded before authentication"))

    # -- channels -----------------------------------------------------------------

    def _on_open_requested(self, e: ev.ChannelOpenRequested) -> None:
        if e.kind == "direct-tcpip" and not self.policy.certificate_permits(PERMIT_PORT_FORWARDING):
            self._open_direct(e, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)
            return
        if e.kind == "direct-tcpip" and e.dest is not None and e.origin is not None:
            value = self._hook(
                "check_channel_direct_tcpip_request",
                OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
                e.chanid,
                e.origin,
                e.dest,
            )
            self._decide(value, lambda code: self._open_direct(e, code), OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)
            return
        if e.kind == "session":
            value = self._hook("check_channel_request", OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, e.kind, e.chanid)
        else:
            value = OPEN_FAILED_UNKNOWN_CHANNEL_TYPE
        self._decide(value, lambda code: self._open_session(e, code), OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)

    def _open_session(self, e: ev.ChannelOpenRequested, code: Any) -> None:
        if code != OPEN_SUCCEEDED:
            self._core.reject_channel(e.chanid, int(code) if isinstance(code, int) and code else 1, "")
            return
        ch = self._accept(e.chanid, e.kind)
        self._processes[e.chanid] = SSHServerProcess(ch)

    def _open_direct(self, e: ev.ChannelOpenRequested, code: Any) -> None:
        if code != OPEN_SUCCEEDED:
            self._core.reject_channel(e.chanid, int(code) if isinstance(code, int) and code else 1, "")
            return
        assert e.dest is not None
        self._pump.hold()
        self._spawn(self._connect_direct(e.chanid, e.dest))

    async def _connect_direct(self, chanid: int, dest: tuple[str, int]) -> None:
        try:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(dest[0], dest[1]), 10)
            except (OSError, asyncio.TimeoutError) as exc:
                if not self._pump.closed:
                    self._core.reject_channel(chanid, OPEN_FAILED_CONNECT_FAILED, str(exc))
                return
            if self._pump.closed:
                writer.close()
                return
            ch = self._accept(chanid, "direct-tcpip")
        finally:
            self._pump.release()
        await bridge(ch, reader, writer)

    def _on_channel_closed(self, e: ev.ChannelClosed) -> None:
        proc = self._processes.pop(e.chanid, None)
        super()._on_channel_closed(e)
        if proc is not None:
            proc.cancel_task()  # the client hung up: the handler goes too

    def _on_request_received(self, e: ev.ChannelRequestReceived) -> None:
        proc = self._processes.get(e.chanid)
        if proc is None:
            super()._on_request_received(e)
            return
        ch = proc.channel
        a = e.args
        kind = e.kind
        started = proc.started
        value: Any = False
        forced = self.policy.forced_command() if kind in ("exec", "shell", "subsystem") else None
        if kind in ("exec", "shell", "subsystem") and started:
            value = False
        elif forced is not None:
            log.info("a forced command replaces the client's %s request", kind)
            original = original_command(kind, a)
            proc.original_command = original.decode("utf-8", "surrogateescape") if original is not None else None
            if proc.original_command is not None:
                proc.env["SSH_ORIGINAL_COMMAND"] = proc.original_command
            value = self._hook("check_channel_exec_request", False, ch, forced.encode("utf-8"))
            kind = "exec"
            a = (forced.encode("utf-8"),)
        elif not self.policy.request_permitted(kind):
            value = False
        elif kind == "exec":
            value = self._hook("check_channel_exec_request", False, ch, a[0])
        elif kind == "shell":
            value = self._hook("check_channel_shell_request", False, ch)
        elif kind == "subsystem":
            name = str(a[0])
            if name not in self._subsystems:
                value = False
            elif _default_hook(self.server_object, "check_channel_subsystem_request"):
                value = True  # the threaded default looks for a Transport handler: ours is ``subsystems``
            else:
                value = self._hook("check_channel_subsystem_request", False, ch, name)
        elif kind == "pty-req":
            value = self._hook("check_channel_pty_request", False, ch, *a)
        elif kind == "window-change":
            value = self._hook("check_channel_window_change_request", False, ch, *a)
        elif kind == "env":
            value = self._hook("check_channel_env_request", False, ch, *a)
        elif kind in ("exit-status", "exit-signal"):
            ch.deliver_request(kind, a)
            value = True
        self._decide(value, lambda ok: self._answer_request(proc, e, bool(ok), kind, a), False)

    def _answer_request(
        self, proc: SSHServerProcess, e: ev.ChannelRequestReceived, ok: bool, kind: str, a: Any
    ) -> None:
        if e.want_reply:
            self._core.channel_request_reply(e.chanid, ok)
        if not ok or proc.channel.closed:
            return
        if kind == "env":
            proc.env[_text(a[0])] = _text(a[1])
        elif kind == "pty-req":
            proc.term_type = _text(a[0])
            proc.term_size = (int(a[1]), int(a[2]), int(a[3]), int(a[4]))
            proc.term_modes = bytes(a[5])
        elif kind == "window-change":
            proc.term_size = (int(a[0]), int(a[1]), int(a[2]), int(a[3]))
        elif kind in ("exec", "shell", "subsystem"):
            handler: ProcessHandler | None
            if kind == "subsystem":
                proc.subsystem = str(a[0])
                handler = self._subsystems.get(proc.subsystem)
            else:
                if kind == "exec":
                    proc.command = _text(a[0])
                handler = self._process_factory
            proc.attach_task(self._spawn(self._run_process(proc, handler)))

    async def _run_process(self, proc: SSHServerProcess, handler: ProcessHandler | None) -> None:
        status = 0
        try:
            if handler is None:
                proc.stderr.write(b"no handler for this request\n")
                status = 1
            else:
                result = await handler(proc)
                if isinstance(result, int) and not isinstance(result, bool):
                    status = result
        except asyncio.CancelledError:
            proc.close()
            return
        except (ConnectionError, SSHException):
            status = 255
        except Exception:
            log.exception("process handler failed")
            status = 1
        if not proc.exited:
            proc.exit(status)

    # -- global requests ------------------------------------------------------------

    def _on_global_request(self, e: ev.GlobalRequestReceived) -> None:
        try:
            m = Message(e.data, strict=True)
            if e.name == HOSTKEYS_PROVE:
                ok, reply = prove_host_keys(
                    self._core.session_id, self._host_keys, self.host_key_algorithm, e.data, log
                )
                if e.want_reply:
                    self._core.global_request_reply(ok, reply)
                return
            if e.name == "tcpip-forward" and not self.policy.certificate_permits(PERMIT_PORT_FORWARDING):
                if e.want_reply:
                    self._core.global_request_reply(False)
                return
            if e.name == "tcpip-forward":
                address = m.get_text()
                port = m.get_int()
                value = self._hook("check_port_forward_request", False, address, port)
                self._decide(value, lambda ok: self._start_remote_forward(e, address, port, ok), False)
                return
            if e.name == "cancel-tcpip-forward":
                address = m.get_text()
                port = m.get_int()
                self._hook("cancel_port_forward_request", None, address, port)
                listener = self._remote_listeners.pop((address, port), None)
                if listener is not None:
                    listener.close()
                if e.want_reply:
                    self._core.global_request_reply(listener is not None)
                return
        except SSHException:
            pass
        if e.want_reply:
            self._core.global_request_reply(False)

    def _start_remote_forward(self, e: ev.GlobalRequestReceived, address: str, port: int, ok: Any) -> None:
        if ok is False or ok is None:
            if e.want_reply:
                self._core.global_request_reply(False)
            return
        self._pump.hold()
        self._spawn(self._bind_remote(e.want_reply, address, port))

    async def _bind_remote(self, want_reply: bool, address: str, port: int) -> None:
        try:

            async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                peer = writer.get_extra_info("peername") or ("", 0)
                extra = (
                    ssh_string(address)
                    + bound.to_bytes(4, "big")
                    + ssh_string(str(peer[0]))
                    + int(peer[1]).to_bytes(4, "big")
                )
                try:
                    ch = await self.open_channel("forwarded-tcpip", extra)
                except Exception:
                    writer.close()
                    return
                await bridge(ch, reader, writer)

            host = None if address in ("", "0.0.0.0", "*") else ("127.0.0.1" if address == "localhost" else address)
            try:
                listener = await asyncio.start_server(on_connect, host, port)
            except OSError:
                if want_reply and not self._pump.closed:
                    self._core.global_request_reply(False)
                return
            bound = int(listener.sockets[0].getsockname()[1])
            if self._pump.closed:
                listener.close()
                return
            self._remote_listeners[(address, bound)] = listener
            self._listeners.append(listener)
            if want_reply:
                self._core.global_request_reply(True, bound.to_bytes(4, "big") if port == 0 else b"")
        finally:
            self._pump.release()


def _default_hook(server: object, name: str) -> bool:
    """Whether ``server`` keeps ServerInterface's own ``name``."""
    return getattr(type(server), name, None) is getattr(ServerInterface, name)


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class SSHServer:
    """A listening asyncio SSH server (from ``listen``)."""

    def __init__(self, server: asyncio.Server) -> None:
        self._server = server
        self.connections: set[SSHServerConnection] = set()

    @property
    def port(self) -> int:
        """The port it listens on (the first socket's)."""
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return tuple(self._server.sockets)

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._server.close()
        for conn in list(self.connections):
            conn.close()

    async def wait_closed(self) -> None:
        """Wait until the listener and all connections are closed."""
        await asyncio.gather(*(c.wait_closed() for c in list(self.connections)), return_exceptions=True)
        await self._server.wait_closed()

    async def __aenter__(self) -> SSHServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


async def listen(
    host: str | None,
    port: int,
    *,
    host_keys: Iterable[Any],
    server_factory: Callable[[], ServerInterface] = ServerInterface,
    process_factory: ProcessHandler | None = None,
    subsystems: Mapping[str, ProcessHandler] | None = None,
    login_timeout: float | None = 120.0,
    rekey_bytes: int | None = None,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_auth_attempts: int = 20,
    backlog: int = 100,
    keepalive_interval: float = 0,
    keepalive_count_max: int = 3,
) -> SSHServer:
    """Listen on (host, port; 0 picks a free port, see ``.port``).

    Each client gets ``server_factory()`` (a ``ServerInterface``) for its
    auth and channel policy. ``process_factory(process)`` runs for each
    exec or shell session the policy allows, ``subsystems[name](process)``
    for subsystem requests; a handler's int return value is the exit status
    (0 when it returns anything else, 1 if it raises) unless it called
    ``process.exit``. Clients that have not logged in after
    ``login_timeout`` seconds are dropped.

    A host key with a certificate loaded (``load_certificate``) is also
    offered as that certificate, as sshd's ``HostCertificate``; after a
    login every host key is announced (``hostkeys-00@openssh.com``) and
    proven on request, so ``ssh -o UpdateHostKeys=yes`` learns new ones.
    User certificates, FIDO keys and forced commands follow the
    ``ServerInterface`` policy as on the threaded server (a forced command
    reaches ``process_factory`` as ``process.command``, the client's in
    ``process.original_command`` and ``env["SSH_ORIGINAL_COMMAND"]``).
    ``keepalive_interval`` / ``keepalive_count_max`` are sshd's
    ``ClientAliveInterval`` / ``ClientAliveCountMax`` (see ``set_keepalive``).
    """
    keys = {k.get_name(): k for k in host_keys}
    if not keys:
        raise ValueError("listen needs at least one host key")
    subs = dict(subsystems or {})
    ssh_server: SSHServer | None = None

    def make() -> asyncio.BaseProtocol:
        core = build_core(
            "server",
            AlgorithmPreferences(),
            host_keys=keys,
            rekey_bytes=rekey_bytes or REKEY_BYTES,
            max_auth_attempts=max_auth_attempts,
        )
        conn = SSHServerConnection(
            core, server_factory(), process_factory, subs, window_size=window_size, host_keys=keys.values()
        )
        if keepalive_interval:
            conn.set_keepalive(keepalive_interval, keepalive_count_max)
        if login_timeout is not None:
            conn.set_login_timeout(login_timeout)
        assert ssh_server is not None
        ssh_server.connections.add(conn)
        conn.add_close_callback(lambda: _drop(conn))
        return conn.protocol()

    def _drop(conn: SSHServerConnection) -> None:
        if ssh_server is not None:
            ssh_server.connections.discard(conn)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(make, host, port, backlog=backlog)
    ssh_server = SSHServer(server)
    return ssh_server


__all__ = ["SSHServer", "SSHServerConnection", "listen"]
