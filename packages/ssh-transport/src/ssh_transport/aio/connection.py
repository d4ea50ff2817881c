"""The asyncio SSH client: ``connect`` and ``SSHClientConnection``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any

import ssh_keys
from ssh_wire import AuthenticationException, BadAuthenticationType, BadHostKeyException, SSHException

from ..core_setup import build_core, disabled_pubkeys, preferences_without
from ..protocol import events as ev
from ..protocol.constants import DEFAULT_WINDOW_SIZE
from ..protocol.core import REKEY_BYTES
from ..protocol.negotiation import (
    CERT_HOST_KEY_ALGORITHMS,
    host_key_from_blob,
    key_type_of,
)
from ._base import SSHConnection, parse_port_reply, ssh_string
from ._pump import ConnectionLost, SSHTimeout
from .channel import (
    ChannelClosedError,
    ChannelReader,
    ChannelWriter,
    ProcessError,
    ProcessTimeout,
    RunResult,
    SSHChannel,
    SSHClientProcess,
)
from .forward import LocalForwarder, RemoteForwarder, bridge, listen_local

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
_ID_FILES = ("id_ed25519", "id_ecdsa", "id_rsa")


class HostKeyNotVerifiable(SSHException):
    """The server's host key is not in ``known_hosts`` (OpenSSH's
    StrictHostKeyChecking=yes refuses such hosts too)."""

    def __init__(self, hostname: str, key: Any) -> None:
        super().__init__(f"host key for {hostname} ({key.get_name()}) is not in known_hosts")
        self.hostname = hostname
        self.key = key


class SSHClientConnection(SSHConnection):
    """A logged-in client connection: run commands, start processes and
    subsystems, forward ports. Made by ``connect``."""

    def __init__(
        self,
        core: Any,
        host_name: str,
        known: Any,
        *,
        window_size: int = DEFAULT_WINDOW_SIZE,
    ) -> None:
        super().__init__(core, window_size=window_size)
        self._host_name = host_name
        self._known = known
        self._auth_fut: asyncio.Future[ev.Event] | None = None
        self._remote_forwards: dict[int, RemoteForwarder] = {}
        self.server_host_key: Any = None
        #: the server's host certificate, when a ``@cert-authority`` line vouched for it
        self.host_certificate: ssh_keys.Certificate | None = None
        self.banner: str | None = None

    def _more_handlers(self) -> None:
        for cls in (
            ev.AuthSucceeded,
            ev.AuthFailed,
            ev.AuthInfoRequested,
            ev.PasswordChangeRequested,
        ):
            self._handlers[cls] = self._on_auth_reply
        self._handlers[ev.AuthBannerReceived] = self._on_banner

    # -- host key and auth ---------------------------------------------------

    def _first_kex(self, e: ev.KexCompleted) -> None:
        key = host_key_from_blob(e.host_key_blob)
        self.server_host_key = key
        known = self._known
        if known is None:
            return
        try:
            self.host_certificate = check_host_key(known, self._host_name, key)
        except SSHException as exc:
            self._error = exc
            raise

    def _connection_lost(self, exc: Exception | None) -> None:
        super()._connection_lost(exc)
        # a server that hangs up while we wait for its answer to a login
        # attempt must not leave that wait to the auth timeout
        fut = self._auth_fut
        if fut is not None and not fut.done():
            fut.set_exception(self._error or ConnectionLost("connection closed"))
            fut.exception()

    def _on_banner(self, e: ev.AuthBannerReceived) -> None:
        self.banner = e.message

    def _on_auth_reply(self, e: ev.Event) -> None:
        if isinstance(e, ev.AuthSucceeded):
            self.username = e.username
        fut = self._auth_fut
        if fut is not None and not fut.done():
            fut.set_result(e)

    async def _auth_reply(self, timeout: float | None) -> ev.Event:
        fut = self._auth_fut
        assert fut is not None
        self._pump.flush_soon()
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            raise AuthenticationException("Authentication timeout.") from None
        finally:
            self._auth_fut = None

    def _new_auth(self) -> None:
        self._check_open()
        self._auth_fut = self._loop.create_future()

    async def _try_key(self, username: str, key: Any, remote: bool, timeout: float | None) -> ev.Event | None:
        """One publickey attempt; None when an agent would not sign (next key)."""
        self._new_auth()
        core = self._core
        if remote:
            # an agent signs over a socket: in the executor, the core untouched meanwhile
            req = core.auth_publickey_begin(username, key)
            try:
                sig = await self._loop.run_in_executor(None, key.sign_ssh_data, req.data, req.algorithm)
            except (SSHException, OSError):
                core.auth_publickey_cancel()
                self._auth_fut = None
                return None
            except BaseException:
                core.auth_publickey_cancel()
                raise
            self._check_open()
            core.auth_publickey_signature(sig)
        else:
            core.auth_publickey(username, key)
        return await self._auth_reply(timeout)

    async def wait_handshake(self, banner_timeout: float | None, kex_timeout: float | None) -> None:
        """Wait for the server's identification line, then for the first
        key exchange (its host key checked); ``SSHTimeout`` names the one
        that took too long. ``connect`` calls this, then ``authenticate``."""
        await _wait(self._version_fut, banner_timeout, "the server's SSH banner")
        await _wait(self._kex_fut, kex_timeout, "the key exchange")

    async def authenticate(
        self,
        username: str,
        password: str | None,
        keys: list[tuple[Any, bool]],
        timeout: float | None,
    ) -> None:
        """Log in as ``username``: each ``(key, signs remotely)`` of ``keys``
        in turn, then ``password`` (keyboard-interactive as a fallback),
        "none" when there is neither; ``timeout`` bounds each answer."""
        allowed: tuple[str, ...] | None = None
        tried = False
        for key, remote in keys:
            if allowed is not None and "publickey" not in allowed:
                break
            tried = True
            reply = await self._try_key(username, key, remote, timeout)
            if isinstance(reply, ev.AuthSucceeded):
                return
            if isinstance(reply, ev.AuthFailed):
                allowed = reply.allowed
        if password is not None:
            if allowed is None or "password" in allowed:
                tried = True
                self._new_auth()
                self._core.auth_password(username, password)
                reply = await self._auth_reply(timeout)
                if isinstance(reply, ev.AuthSucceeded):
                    return
                if isinstance(reply, ev.AuthFailed):
                    allowed = reply.allowed
                elif isinstance(reply, ev.PasswordChangeRequested):
                    raise AuthenticationException(f"server requires a password change: {reply.prompt}")
            if allowed is not None and "keyboard-interactive" in allowed:
                tried = True
                if await self._interactive_password(username, password, timeout):
                    return
        if not tried:
            self._new_auth()
            self._core.auth_none(username)
            reply = await self._auth_reply(timeout)
            if isinstance(reply, ev.AuthSucceeded):
                return
            if isinstance(reply, ev.AuthFailed):
                raise BadAuthenticationType("no authentication methods available", list(reply.allowed))
        raise AuthenticationException("Authentication failed.")

    async def _interactive_password(self, username: str, password: str, timeout: float | None) -> bool:
        self._new_auth()
        self._core.auth_interactive(username)
        while True:
            reply = await self._auth_reply(timeout)
            if isinstance(reply, ev.AuthSucceeded):
                return True
            if not isinstance(reply, ev.AuthInfoRequested):
                return False
            if len(reply.prompts) > 1:
                return False
            self._new_auth()
            self._core.auth_info_response([password] * len(reply.prompts))

    # -- sessions ----------------------------------------------------------------

    async def create_process(
        self,
        command: str | None = None,
        *,
        subsystem: str | None = None,
        term_type: str | None = None,
        term_size: tuple[int, int] = (80, 24),
        env: Mapping[str, str] | None = None,
    ) -> SSHClientProcess:
        """Open a session and start ``command`` (a shell when None, or
        ``subsystem``); ``term_type`` asks for a pty first, ``env`` sends env
        requests (the server may ignore them). ``ChannelOpenError`` or
        ``SSHException`` when the server refuses."""
        ch = await self.open_channel("session")
        try:
            for name, value in (env or {}).items():
                ch.request("env", ssh_string(name) + ssh_string(value), False)
            if term_type is not None:
                data = ssh_string(term_type) + b"".join(
                    int(v).to_bytes(4, "big") for v in (term_size[0], term_size[1], 0, 0)
                )
                fut = ch.request("pty-req", data + ssh_string(b"\x00"), True)
                assert fut is not None
                if not await fut:
                    raise SSHException("pty request refused")
            if subsystem is not None:
                fut = ch.request("subsystem", ssh_string(subsystem), True)
                what = f"subsystem {subsystem!r}"
            elif command is not None:
                fut = ch.request("exec", ssh_string(command), True)
                what = f"command {command!r}"
            else:
                fut = ch.request("shell", b"", True)
                what = "shell"
            assert fut is not None
            if not await fut:
                raise SSHException(f"server refused {what}")
        except BaseException:
            ch.close()
            raise
        return SSHClientProcess(ch, command, subsystem)

    async def start_subsystem(self, name: str) -> SSHClientProcess:
        """``create_process(subsystem=name)`` (the asyncio SFTP client starts "sftp" so)."""
        return await self.create_process(subsystem=name)

    async def run(
        self,
        command: str,
        *,
        input: bytes | str | None = None,
        timeout: float | None = None,
        check: bool = False,
        encoding: str | None = "utf-8",
        errors: str = "replace",
        env: Mapping[str, str] | None = None,
    ) -> RunResult:
        """Run ``command`` to completion with ``input`` as its stdin; returns
        a ``RunResult`` (``stdout``/``stderr`` decoded with ``encoding``,
        bytes when it is None). After ``timeout`` seconds the channel is
        closed and ``ProcessTimeout`` raised; ``check`` raises
        ``ProcessError`` on a non-zero exit. Cancelling closes the channel."""
        got: dict[str, list[bytes]] = {"out": [], "err": []}

        async def collect(reader: ChannelReader, into: list[bytes]) -> None:
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    return
                into.append(data)

        async def go() -> SSHClientProcess:
            proc = await self.create_process(command, env=env)
            try:
                if input is not None:
                    data = input.encode(encoding or "utf-8") if isinstance(input, str) else input
                    proc.stdin.write(data)
                proc.stdin.write_eof()
                await asyncio.gather(collect(proc.stdout, got["out"]), collect(proc.stderr, got["err"]))
                await proc.wait_closed()
            except BaseException:
                proc.close()
                raise
            return proc

        def decode(parts: list[bytes]) -> Any:
            data = b"".join(parts)
            return data.decode(encoding, errors) if encoding is not None else data

        task = asyncio.ensure_future(go())
        try:
            proc = await asyncio.wait_for(task, timeout)
        except asyncio.TimeoutError:
            raise ProcessTimeout(
                f"command {command!r} did not finish within {timeout} s", decode(got["out"]), decode(got["err"])
            ) from None
        result = RunResult(command, proc.exit_status, proc.exit_signal, decode(got["out"]), decode(got["err"]))
        if check and (result.exit_status != 0):
            raise ProcessError(result)
        return result

    # -- forwarding ------------------------------------------------------------------

    async def _direct_tcpip(self, host: str, port: int, orig_host: str = "127.0.0.1", orig_port: int = 0) -> SSHChannel:
        extra = ssh_string(host) + port.to_bytes(4, "big") + ssh_string(orig_host) + orig_port.to_bytes(4, "big")
        return await self.open_channel("direct-tcpip", extra)

    async def open_connection(self, host: str, port: int) -> tuple[ChannelReader, ChannelWriter]:
        """A TCP connection from the server to (host, port), as a
        (reader, writer) pair over a direct-tcpip channel."""
        ch = await self._direct_tcpip(host, port)
        return ch.stdout, ChannelWriter(ch)

    async def forward_local_port(
        self, listen_host: str, listen_port: int, dest_host: str, dest_port: int
    ) -> LocalForwarder:
        """Listen locally on (listen_host, listen_port; 0 picks a port, see
        ``.port``) and forward each connection to (dest_host, dest_port) as
        seen from the server."""
        self._check_open()

        async def open_channel(peer_host: str, peer_port: int) -> SSHChannel:
            return await self._direct_tcpip(dest_host, dest_port, peer_host, peer_port)

        forwarder = await listen_local(listen_host, listen_port, open_channel)
        self._listeners.append(forwarder)
        return forwarder

    async def forward_remote_port(
        self, listen_host: str, listen_port: int, dest_host: str, dest_port: int
    ) -> RemoteForwarder:
        """Ask the server to listen on (listen_host, listen_port; 0 lets it
        pick, see ``.port``) and forward each connection to (dest_host,
        dest_port) as seen from here. ``SSHException`` if it refuses."""
        ok, data = await self.global_request("tcpip-forward", ssh_string(listen_host) + listen_port.to_bytes(4, "big"))
        if not ok:
            raise SSHException(f"server refused to listen on {listen_host}:{listen_port}")
        port = parse_port_reply(data) if listen_port == 0 else listen_port
        fwd = RemoteForwarder(self, listen_host, port, dest_host, dest_port)
        self._remote_forwards[port] = fwd
        return fwd

    def cancel_remote_forward(self, fwd: RemoteForwarder) -> None:
        """Ask the server to stop listening for ``fwd`` (``fwd.close()`` calls this)."""
        self._remote_forwards.pop(fwd.port, None)
        if not self._pump.closed and not self._core.closed:
            self._core.global_request(
                "cancel-tcpip-forward", False, ssh_string(fwd.listen_host) + fwd.port.to_bytes(4, "big")
            )
            self._pump.flush_soon()

    def _on_open_requested(self, e: ev.ChannelOpenRequested) -> None:
        fwd = self._remote_forwards.get(e.dest[1]) if e.kind == "forwarded-tcpip" and e.dest else None
        if fwd is None:
            self._core.reject_channel(e.chanid, 1, "unexpected channel")
            return
        self._pump.hold()
        self._spawn(self._forwarded(e.chanid, fwd))

    async def _forwarded(self, chanid: int, fwd: RemoteForwarder) -> None:
        try:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(fwd.dest_host, fwd.dest_port), 10)
            except (OSError, asyncio.TimeoutError) as exc:
                if not self._pump.closed:
                    self._core.reject_channel(chanid, 2, f"connect failed: {exc}")
                return
            if self._pump.closed:
                writer.close()
                return
            ch = self._accept(chanid, "forwarded-tcpip")
        finally:
            self._pump.release()
        await bridge(ch, reader, writer)


def check_host_key(known: Any, host_name: str, key: Any) -> ssh_keys.Certificate | None:
    """Check the server's host ``key`` against ``known`` (a ``HostKeys``) for
    ``host_name`` (``name`` or ``[name]:port``) as OpenSSH's client does, with
    ``ssh_keys.verify_host_key``: ``@revoked`` keys (or CAs) are refused; a
    host certificate signed by a CA that a ``@cert-authority`` line trusts
    for the host must be valid for it (returned when it is); otherwise the
    plain key must be listed. Raises ``CertificateRevoked``, a
    ``CertificateNotValid``, ``BadHostKeyException`` or
    ``HostKeyNotVerifiable``."""
    verdict = ssh_keys.verify_host_key(known, host_name, key)
    status = verdict.status
    if status is ssh_keys.HostKeyStatus.KNOWN:
        return None
    if status is ssh_keys.HostKeyStatus.CERTIFIED:
        return verdict.certificate
    if verdict.error is not None:  # a revoked or invalid certificate
        raise verdict.error
    if status is ssh_keys.HostKeyStatus.REVOKED:
        raise BadHostKeyException(host_name, key, key)
    if status is ssh_keys.HostKeyStatus.MISMATCH:
        raise BadHostKeyException(host_name, key, verdict.expected)
    # as OpenSSH's StrictHostKeyChecking=yes: keys of other types do not vouch for this one
    raise HostKeyNotVerifiable(host_name, key)


class _Connecting:
    """What ``connect`` returns: await it, or use it as ``async with``."""

    def __init__(self, coro: Awaitable[SSHClientConnection]) -> None:
        self._coro = coro
        self._conn: SSHClientConnection | None = None

    def __await__(self) -> Generator[Any, None, SSHClientConnection]:
        return self._coro.__await__()

    async def __aenter__(self) -> SSHClientConnection:
        self._conn = await self._coro
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
            await self._conn.wait_closed()


def _known_hosts(known_hosts: Any) -> Any:
    if known_hosts is None:
        return None
    if isinstance(known_hosts, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(known_hosts))
        return ssh_keys.HostKeys(path) if os.path.exists(path) else ssh_keys.HostKeys()
    return known_hosts


def _load_key(path: str, passphrase: str | None) -> Any:
    """A private key file, with its ``-cert.pub`` beside it (or named
    instead of it) loaded as its certificate, as OpenSSH and paramiko do."""
    return ssh_keys.PKey.from_path(os.path.expanduser(path), passphrase)


def _given_keys(pkey: Any, key_filename: Any, passphrase: str | None) -> list[Any]:
    keys: list[Any] = []
    if pkey is not None:
        keys.append(pkey)
    if key_filename is not None:
        names = [key_filename] if isinstance(key_filename, (str, os.PathLike)) else list(key_filename)
        for name in names:
            keys.append(_load_key(os.fspath(name), passphrase))
    return keys


def _found_keys(passphrase: str | None) -> list[Any]:
    keys: list[Any] = []
    for base in _ID_FILES:
        path = os.path.expanduser(f"~/.ssh/{base}")
        if os.path.exists(path):
            try:
                keys.append(_load_key(path, passphrase))
            except (SSHException, ValueError, OSError):
                continue
    return keys


def _open_agent(factory: Callable[[], Any]) -> tuple[Any, list[Any]]:
    """The running agent (when ``SSH_AUTH_SOCK`` is set) and its keys, or (None, [])."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None, []
    agent = None
    try:
        agent = factory()
        return agent, list(agent.get_keys())
    except Exception:
        if agent is not None:
            agent.close()
        return None, []


async def _wait(fut: asyncio.Future[Any], timeout: float | None, what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(fut), timeout)
    except asyncio.TimeoutError:
        raise SSHTimeout(f"timed out waiting for {what}") from None


async def _connect(
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    pkey: Any,
    key_filename: Any,
    passphrase: str | None,
    known_hosts: Any,
    look_for_keys: bool,
    allow_agent: bool,
    timeout: float | None,
    auth_timeout: float | None,
    banner_timeout: float | None,
    handshake_timeout: float | None,
    disabled_algorithms: Mapping[str, Iterable[str]] | None,
    sock: Any,
    rekey_bytes: int | None,
    window_size: int,
    agent_factory: Callable[[], Any] | None,
    keepalive_interval: float,
    keepalive_count_max: int,
) -> SSHClientConnection:
    loop = asyncio.get_running_loop()
    prefs = preferences_without(disabled_algorithms)
    known = _known_hosts(known_hosts)
    host_name = host if port == 22 else f"[{host}]:{port}"
    if known is not None:
        entries = known.lookup(host_name)
        if entries:
            # ask for a host key type we can check first, as OpenSSH does
            have = set(entries.keys())
            first = tuple(a for a in prefs.key_types if key_type_of(a) in have)
            prefs.key_types = first + tuple(a for a in prefs.key_types if a not in first)
        if known.cert_authorities(host_name):
            # a CA vouches for this host: ask for its host certificate first
            plain = {key_type_of(a) for a in prefs.key_types}
            certs = tuple(a for a in CERT_HOST_KEY_ALGORITHMS if key_type_of(a) in plain)
            prefs.key_types = certs + tuple(a for a in prefs.key_types if a not in certs)
    core = build_core(
        "client",
        prefs,
        no_pubkeys=disabled_pubkeys(disabled_algorithms),
        rekey_bytes=rekey_bytes or REKEY_BYTES,
    )
    conn = SSHClientConnection(core, host_name, known, window_size=window_size)
    if keepalive_interval:
        conn.set_keepalive(keepalive_interval, keepalive_count_max)
    try:
        try:
            if sock is not None:
                await asyncio.wait_for(loop.create_connection(conn.protocol, sock=sock), timeout)
            else:
                await asyncio.wait_for(loop.create_connection(conn.protocol, host, port), timeout)
        except asyncio.TimeoutError:
            raise SSHTimeout(f"TCP connection to {host}:{port} timed out") from None
        await conn.wait_handshake(banner_timeout, handshake_timeout)
        user = username or _local_user()
        secret = passphrase if passphrase is not None else password
        keys = [(k, False) for k in _given_keys(pkey, key_filename, secret)]
        agent = None
        if allow_agent and agent_factory is not None:
            agent, agent_keys = await loop.run_in_executor(None, _open_agent, agent_factory)
            keys += [(k, True) for k in agent_keys]
        if look_for_keys:
            keys += [(k, False) for k in _found_keys(secret)]
        try:
            await conn.authenticate(user, password, keys, auth_timeout)
        finally:
            if agent is not None:
                agent.close()
    except BaseException:
        conn.close()
        await conn.wait_closed()
        raise
    return conn


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def connect(
    host: str,
    port: int = 22,
    *,
    username: str | None = None,
    password: str | None = None,
    pkey: Any = None,
    key_filename: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    passphrase: str | None = None,
    known_hosts: Any = DEFAULT_KNOWN_HOSTS,
    look_for_keys: bool = True,
    allow_agent: bool = True,
    timeout: float | None = None,
    auth_timeout: float | None = 30.0,
    banner_timeout: float | None = 15.0,
    handshake_timeout: float | None = 15.0,
    disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
    sock: Any = None,
    rekey_bytes: int | None = None,
    window_size: int = DEFAULT_WINDOW_SIZE,
    agent_factory: Callable[[], Any] | None = None,
    keepalive_interval: float = 0,
    keepalive_count_max: int = 3,
) -> _Connecting:
    """Connect and log in; ``await`` it or ``async with`` it.

    ``known_hosts`` is a path (default ``~/.ssh/known_hosts``), a
    ``HostKeys``, or None to skip host key checking. A host that is not in
    it is refused (``HostKeyNotVerifiable``), a different key raises
    ``BadHostKeyException``: OpenSSH's StrictHostKeyChecking=yes. Keys are
    tried in order: ``pkey``, ``key_filename``, agent keys
    (``allow_agent``), ``~/.ssh/id_*`` (``look_for_keys``); then ``password``
    (with keyboard-interactive as fallback). ``timeout`` bounds the TCP
    connect, ``banner_timeout`` the server's identification line,
    ``handshake_timeout`` the key exchange and ``auth_timeout`` each
    authentication reply (all raise ``SSHTimeout``, auth
    ``AuthenticationException``). ``sock`` is a connected socket to use.
    ``disabled_algorithms`` is as in paramiko (``ciphers``, ``macs``,
    ``keys``, ``kex``, ``pubkeys``). Agent keys need ``agent_factory``, a
    callable returning an agent with ``get_keys()`` and ``close()`` (this
    layer does not depend on ``ssh_agent``; ``paramiko.aio.connect`` passes
    ``ssh_agent.Agent``); they sign in the default executor.

    A key file's ``<name>-cert.pub`` beside it is used as its certificate
    (``key_filename`` may also name the certificate; a ``pkey`` with
    ``load_certificate`` done, or a certificate held in the agent, work
    too). ``known_hosts`` ``@cert-authority`` lines make the client ask for
    and accept a valid host certificate; ``@revoked`` keys and CAs are
    refused (``CertificateRevoked``). ``keepalive_interval`` /
    ``keepalive_count_max`` are OpenSSH's ``ServerAliveInterval`` /
    ``ServerAliveCountMax`` (see ``SSHConnection.set_keepalive``).
    """
    return _Connecting(
        _connect(
            host,
            port,
            username,
            password,
            pkey,
            key_filename,
            passphrase,
            known_hosts,
            look_for_keys,
            allow_agent,
            timeout,
            auth_timeout,
            banner_timeout,
            handshake_timeout,
            disabled_algorithms,
            sock,
            rekey_bytes,
            window_size,
            agent_factory,
            keepalive_interval,
            keepalive_count_max,
        )
    )


__all__ = [
    "ChannelClosedError",
    "ConnectionLost",
    "HostKeyNotVerifiable",
    "SSHClientConnection",
    "check_host_key",
    "connect",
]
