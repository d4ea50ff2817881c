"""``SSHClient``: the high-level client most programs use.

Connect (TCP or any socket-like object such as ``ProxyCommand``), check the
server's host key against known_hosts (``[host]:port`` for ports other than
22), authenticate (an explicit key, key files, the SSH agent, ``~/.ssh/id_*``,
a password, keyboard-interactive), then run commands, open shells and SFTP
sessions. Unknown host keys go to a ``MissingHostKeyPolicy``: ``RejectPolicy``
(the default), ``AutoAddPolicy`` or ``WarningPolicy`` (defined, with the
host-key checking, in ``paramiko.host_key_check``).
"""

from __future__ import annotations

import copy
import errno
import getpass
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ssh_keys import HostKeys, HostKeyStatus, PKey, load_private_key_file
from ssh_transport.channel import Channel, ChannelFile, ChannelStderrFile, ChannelStdinFile
from ssh_transport.config import SSHConfig, SSHConfigDict
from ssh_transport.protocol.negotiation import has_certificate
from ssh_wire import AuthenticationException, BadAuthenticationType, NoValidConnectionsError, SSHException

from .host_key_check import (
    SSH_PORT,
    AutoAddPolicy,
    MissingHostKeyPolicy,
    RejectPolicy,
    WarningPolicy,
    check_server_key,
    hex_fingerprint,
    known_host_name,
    learn_host_keys,
    prefer_checkable_key_types,
    write_known_hosts,
)

if TYPE_CHECKING:
    from ssh_transport.transport import Transport

__all__ = ["AutoAddPolicy", "MissingHostKeyPolicy", "RejectPolicy", "SSHClient", "WarningPolicy"]

_TWO_FACTOR = frozenset({"password", "keyboard-interactive"})
# The default identity files, in the order they are tried.
_DEFAULT_KEY_NAMES = ("id_rsa", "id_ecdsa", "id_ed25519", "id_dsa")
_C = TypeVar("_C", bound="SSHClient")


class _TransportFactory(Protocol):
    """What ``connect(transport_factory=...)`` is called with, as in paramiko:
    the socket, and ``disabled_algorithms`` as a keyword (None when not given)."""

    def __call__(self, sock: Any, *, disabled_algorithms: Any) -> Any:
        """Build a transport over ``sock``."""


class _AuthStrategy(Protocol):
    """What ``connect(auth_strategy=...)`` needs (``paramiko.auth_strategy.AuthStrategy``)."""

    def authenticate(self, transport: Any) -> Any:
        """Log in on ``transport``, raising on failure."""


def _granted(chan: Channel, ok: bool, what: str) -> None:
    """Raise (as paramiko does) when the server refused a channel request."""
    if not ok:
        raise SSHException(f"Channel request failed: {what} refused by the server")


def _without_certificate(key: Any) -> PKey | None:
    """A copy of a private key with a certificate attached, without it (None
    for a key without one, or one this process cannot copy, as agent keys:
    the agent lists the plain key itself)."""
    if not has_certificate(key) or not isinstance(key, PKey) or not key.can_sign():
        return None
    try:
        plain = copy.copy(key)
    except Exception:
        return None
    plain.public_blob = None
    return plain


class SSHClient:
    """A session with one SSH server: connect, authenticate, then
    ``exec_command``, ``invoke_shell`` or ``open_sftp``.

    Usable as a context manager (``close`` at the end).
    """

    def __init__(self) -> None:
        """A client with no host keys and the ``RejectPolicy``."""
        self._system_host_keys = HostKeys()
        self._host_keys = HostKeys()
        self._host_keys_filename: str | None = None
        self._log_channel: str | None = None
        self._policy: MissingHostKeyPolicy = RejectPolicy()
        self._transport: Transport | None = None
        self._agent: Any = None
        self._ssh_config: SSHConfig | None = None
        # the session's host key matched a key of the client's own known_hosts
        self._host_key_known = False

    def __enter__(self: _C) -> _C:
        """Use in a ``with`` block; the client is closed at the end."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the client."""
        self.close()

    # -- host keys --------------------------------------------------------------

    def load_system_host_keys(self, filename: str | os.PathLike[str] | None = None) -> None:
        """Load known host keys that are read but never written back. With no
        ``filename``, ``~/.ssh/known_hosts`` is tried (silently skipped if
        unreadable).

        :raises IOError: if an explicitly named file cannot be read.
        """
        if filename is None:
            default = os.path.expanduser("~/.ssh/known_hosts")
            try:
                self._system_host_keys.load(default)
            except OSError:
                pass
            return
        self._system_host_keys.load(filename)

    def load_host_keys(self, filename: str | os.PathLike[str]) -> None:
        """Load host keys from ``filename`` and remember it: keys added later
        (``AutoAddPolicy``) are saved back there.

        :raises IOError: if the file cannot be read.
        """
        self._host_keys_filename = os.fspath(filename)
        self._host_keys.load(filename)

    def save_host_keys(self, filename: str | os.PathLike[str]) -> None:
        """Write the (non-system) host keys to ``filename`` in known_hosts
        format, merging in entries added to the loaded file meanwhile."""
        path = os.fspath(filename)
        if self._host_keys_filename is not None and os.path.exists(self._host_keys_filename):
            self._host_keys.load(self._host_keys_filename)
        write_known_hosts(path, self._host_keys)

    def get_host_keys(self) -> HostKeys:
        """The client's own (writable) host keys."""
        return self._host_keys

    def remember_host_key(self, hostname: str, key: PKey) -> None:
        """Add ``key`` for ``hostname`` to the client's own host keys and save
        them to the file given to ``load_host_keys`` (if any): what
        ``AutoAddPolicy`` does, public so that custom policies can do it too."""
        self._host_keys.add(hostname, key.get_name(), key)
        if self._host_keys_filename is not None:
            self.save_host_keys(self._host_keys_filename)

    def load_ssh_config(self, config: SSHConfig | str | os.PathLike[str] | None = None) -> SSHConfig:
        """Follow an ssh_config in ``connect``: ``ServerAliveInterval``,
        ``ServerAliveCountMax`` and ``UpdateHostKeys`` of the host's
        section apply unless ``connect`` is given them. ``config`` is an
        ``SSHConfig`` (as Fabric holds one), a file name, or None for
        ``~/.ssh/config`` (none when missing). Returns the config in use.

        :raises IOError: if a named file cannot be read.
        """
        if config is None:
            path = os.path.expanduser("~/.ssh/config")
            config = SSHConfig.from_path(path) if os.path.isfile(path) else SSHConfig()
        elif not isinstance(config, SSHConfig):
            config = SSHConfig.from_path(config)
        self._ssh_config = config
        return config

    def _host_config(self, hostname: str) -> SSHConfigDict | dict[str, Any]:
        """The ssh_config options for ``hostname`` (none without a config)."""
        return self._ssh_config.lookup(hostname) if self._ssh_config is not None else {}

    def set_log_channel(self, name: str) -> None:
        """Log the transport under logger ``name``."""
        self._log_channel = name

    def get_log_channel(self) -> str:
        """The logger name the client logs under (``paramiko.client`` unless set)."""
        return self._log_channel or "paramiko.client"

    def set_missing_host_key_policy(self, policy: MissingHostKeyPolicy | type[MissingHostKeyPolicy]) -> None:
        """Decide what happens with unknown servers; a policy class is
        instantiated for you."""
        if isinstance(policy, type):
            policy = policy()
        self._policy = policy

    # -- connecting --------------------------------------------------------------

    def connect(
        self,
        hostname: str,
        port: int = SSH_PORT,
        username: str | None = None,
        password: str | None = None,
        pkey: PKey | None = None,
        key_filename: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        timeout: float | None = None,
        allow_agent: bool = True,
        look_for_keys: bool = True,
        compress: bool = False,
        sock: Any = None,
        banner_timeout: float | None = None,
        auth_timeout: float | None = None,
        channel_timeout: float | None = None,
        passphrase: str | None = None,
        disabled_algorithms: Mapping[str, Iterable[str]] | None = None,
        transport_factory: _TransportFactory | None = None,
        auth_strategy: _AuthStrategy | None = None,
        *,
        gss_auth: bool = False,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
        gss_host: str | None = None,
        gss_trust_dns: bool = True,
        keepalive_interval: float | None = None,
        keepalive_count_max: int | None = None,
        update_host_keys: bool | None = None,
    ) -> Any:
        """Connect and authenticate to ``hostname``.

        The host key is checked against the system and client host keys
        (``[hostname]:port`` when ``port`` is not 22) before authenticating:
        a different key raises ``BadHostKeyException``, an unknown one goes to
        the missing-host-key policy. Authentication tries, in order: ``pkey``,
        ``key_filename``, agent keys (``allow_agent``), ``~/.ssh/id_*``
        (``look_for_keys``), then ``password`` (with keyboard-interactive as
        fallback). ``passphrase`` decrypts key files (``password`` is used if
        it is None). ``sock`` replaces the TCP connection (a socket, a
        ``Channel`` or a ``ProxyCommand``).

        ``auth_strategy`` (a ``paramiko.auth_strategy.AuthStrategy``) takes
        over the whole login, as in paramiko 3.2+: ``username``,
        ``password``, ``pkey``, ``key_filename``, ``allow_agent``,
        ``look_for_keys`` and ``passphrase`` are then ignored, and its
        ``AuthResult`` is returned (otherwise None). ``transport_factory`` is
        called as ``transport_factory(sock,
        disabled_algorithms=disabled_algorithms)`` instead of ``Transport``.
        ``channel_timeout`` bounds waiting for channels to open.

        ``keepalive_interval`` and ``keepalive_count_max`` (keyword only; not
        in paramiko) are OpenSSH's ``ServerAliveInterval`` and
        ``ServerAliveCountMax``: once logged in, a server that has sent
        nothing for ``keepalive_interval`` seconds is asked for a reply, and
        after ``keepalive_count_max`` unanswered requests the session is
        dropped (see ``Transport.set_keepalive``; the count defaults to 3).
        When they are not given, the ``ServerAliveInterval`` and
        ``ServerAliveCountMax`` of a config given to ``load_ssh_config``
        apply; with neither, no keepalives are sent.

        ``update_host_keys`` (keyword only; OpenSSH's ``UpdateHostKeys``,
        off by default, else taken from ``load_ssh_config``'s
        ``UpdateHostKeys yes``; ``ask`` counts as no): when the server's key
        matched a key of the client's own known_hosts (``load_host_keys``),
        the other host keys the server announces (``hostkeys-00@openssh.com``)
        are proven by the server (``hostkeys-prove-00@openssh.com``) and
        added, and keys of lines written for this host alone that the server
        no longer has are dropped; the file given to ``load_host_keys`` is
        rewritten. A bad proof changes nothing.

        The GSS-API keywords of paramiko before 4.0 are accepted (keyword
        only) so older code still runs; GSS-API itself is not supported, so
        ``gss_auth`` only leaves the other methods to do the work and
        ``gss_kex=True`` is refused by the transport.

        :raises BadHostKeyException: the server's key does not match.
        :raises AuthenticationException: authentication failed.
        :raises NoValidConnectionsError: no address of ``hostname`` answered.
        :raises SSHException: any other SSH failure.
        :raises socket.error: a network error while connecting.
        """
        cfg = self._host_config(hostname)
        if keepalive_interval is None and cfg.get("serveraliveinterval"):
            keepalive_interval = float(str(cfg["serveraliveinterval"]))
        if keepalive_count_max is None:
            keepalive_count_max = int(str(cfg.get("serveralivecountmax", 3)))
        if update_host_keys is None:
            update_host_keys = str(cfg.get("updatehostkeys", "no")).lower() == "yes"
        own_sock = sock is None
        if sock is None:
            sock = self._open_socket(hostname, port, timeout)
        factory: Any = transport_factory
        if factory is None:
            from ssh_transport.transport import Transport

            factory = Transport
        algorithms = {k: list(v) for k, v in disabled_algorithms.items()} if disabled_algorithms is not None else None
        extra: dict[str, Any] = {}
        if gss_kex:  # only asked of our Transport, which refuses it clearly
            extra = {"gss_kex": gss_kex, "gss_deleg_creds": gss_deleg_creds}
        try:
            t = factory(sock, disabled_algorithms=algorithms, **extra)
        except BaseException:
            if own_sock:
                sock.close()
            raise
        self._transport = t
        try:
            if keepalive_interval:
                # before negotiating: it starts with the session
                t.set_keepalive(keepalive_interval, keepalive_count_max)
            self._negotiate(t, hostname, port, timeout, compress, banner_timeout, auth_timeout, channel_timeout)
            if auth_strategy is not None:
                result = auth_strategy.authenticate(transport=t)
                if update_host_keys:
                    self._update_host_keys(t, hostname, port, timeout)
                return result
            if username is None:
                username = getpass.getuser()
            if key_filename is None:
                key_filenames: list[str] = []
            elif isinstance(key_filename, (str, os.PathLike)):
                key_filenames = [os.fspath(key_filename)]
            else:
                key_filenames = [os.fspath(k) for k in key_filename]
            self._auth(username, password, pkey, key_filenames, allow_agent, look_for_keys, passphrase)
            if update_host_keys:
                self._update_host_keys(t, hostname, port, timeout)
        except BaseException:
            self.close()
            raise
        return None

    def _open_socket(self, hostname: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to the first address of ``hostname`` that accepts.

        Every address is tried; refusals are collected and reported together
        (``NoValidConnectionsError``), other errors are raised at once.
        """
        infos = socket.getaddrinfo(hostname, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
        errors: dict[tuple[Any, ...], BaseException] = {}
        seen: set[tuple[Any, ...]] = set()
        candidates = []
        for family, _, _, _, addr in infos:
            if addr not in seen:
                seen.add(addr)
                candidates.append((family, addr))
        for family, addr in candidates:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                if exc.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                    raise
                errors[tuple(addr)] = exc
                continue
            # ``timeout`` is for the TCP connect; the transport times its own waits
            sock.settimeout(None)
            return sock
        raise NoValidConnectionsError(errors)

    def _negotiate(
        self,
        t: Any,
        hostname: str,
        port: int,
        timeout: float | None,
        compress: bool,
        banner_timeout: float | None,
        auth_timeout: float | None,
        channel_timeout: float | None,
    ) -> None:
        """Set the transport up, run key exchange and check the host key."""
        if self._log_channel is not None:
            t.set_log_channel(self._log_channel)
        t.use_compression(compress=compress)
        if banner_timeout is not None:
            t.banner_timeout = banner_timeout
        if auth_timeout is not None:
            t.auth_timeout = auth_timeout
        if channel_timeout is not None:
            t.channel_timeout = channel_timeout
        known = (self._system_host_keys, self._host_keys)
        prefer_checkable_key_types(t, known, known_host_name(hostname, port))
        self._host_key_known = False
        t.start_client(timeout=timeout)
        server_key = t.get_remote_server_key()
        verdict = check_server_key(self, known, self._policy, hostname, port, server_key)
        # UpdateHostKeys only trusts the client's own file, as OpenSSH
        self._host_key_known = verdict.status is HostKeyStatus.KNOWN and self._host_keys.check(
            verdict.hostname, server_key
        )

    def _update_host_keys(self, t: Any, hostname: str, port: int, timeout: float | None) -> None:
        """OpenSSH's ``UpdateHostKeys yes`` (see ``connect``), for a server
        whose key the client's own known_hosts listed."""
        name = known_host_name(hostname, port)
        if not self._host_key_known:
            self._log(logging.DEBUG, f"Host key of {name} not verified by known_hosts: not updating its keys")
            return
        known = (self._system_host_keys, self._host_keys)
        log = logging.getLogger(self.get_log_channel())
        learn_host_keys(t, name, self._host_keys, known, self._host_keys_filename, timeout, log)

    # -- authentication ------------------------------------------------------------

    def _candidate_keys(
        self,
        pkey: PKey | None,
        key_filenames: list[str],
        allow_agent: bool,
        look_for_keys: bool,
        passphrase: str | None,
        errors: list[Exception],
    ) -> Iterator[tuple[str, Any]]:
        """The keys to offer, in paramiko's order, loaded lazily; a file that
        cannot be loaded is recorded in ``errors`` and skipped."""
        if pkey is not None:
            yield "explicit key", pkey
        for filename in key_filenames:
            key = self._load_key(filename, passphrase, errors)
            if key is not None:
                yield filename, key
        if allow_agent:
            if self._agent is None:
                try:
                    from ssh_agent import Agent

                    self._agent = Agent()
                except (ImportError, OSError, SSHException) as exc:
                    self._log(logging.DEBUG, f"No SSH agent: {exc}")
            if self._agent is not None:
                try:
                    agent_keys = list(self._agent.get_keys())
                except (OSError, SSHException) as exc:
                    self._log(logging.DEBUG, f"SSH agent failed: {exc}")
                    agent_keys = []
                for key in agent_keys:
                    yield f"agent key {hex_fingerprint(key)}", key
        if look_for_keys:
            for name in _DEFAULT_KEY_NAMES:
                for directory in ("~/.ssh", "~/ssh"):
                    path = os.path.expanduser(f"{directory}/{name}")
                    if os.path.isfile(path):
                        key = self._load_key(path, passphrase, errors)
                        if key is not None:
                            yield path, key

    def _load_key(self, filename: str, passphrase: str | None, errors: list[Exception]) -> PKey | None:
        """A private key from ``filename`` (with a ``-cert.pub`` beside it
        loaded as its certificate when supported), or None."""
        cert = f"{filename}-cert.pub"
        if filename.endswith("-cert.pub"):
            # the certificate named instead of its key, as paramiko allows
            filename, cert = filename[: -len("-cert.pub")], filename
        try:
            key = load_private_key_file(filename, passphrase)
        except (OSError, SSHException, ValueError) as exc:
            self._log(logging.DEBUG, f"Cannot use key file {filename}: {exc}")
            errors.append(exc if not isinstance(exc, ValueError) else SSHException(str(exc)))
            return None
        load_cert = getattr(key, "load_certificate", None)
        if load_cert is not None and os.path.isfile(cert):
            try:
                load_cert(cert)
            except (OSError, SSHException, ValueError) as exc:
                self._log(logging.DEBUG, f"Cannot use certificate {cert}: {exc}")
        return key

    def _auth(
        self,
        username: str,
        password: str | None,
        pkey: PKey | None,
        key_filenames: list[str],
        allow_agent: bool,
        look_for_keys: bool,
        passphrase: str | None,
    ) -> None:
        """Try each authentication source in turn until the server lets us in.

        A key that is accepted with more methods required (partial success)
        moves on to the password / keyboard-interactive step.
        """
        t = self._transport
        assert t is not None
        errors: list[Exception] = []
        if passphrase is None and password is not None:
            passphrase = password
        remaining: set[str] = set()
        for label, key in self._candidate_keys(pkey, key_filenames, allow_agent, look_for_keys, passphrase, errors):
            try:
                self._log(logging.DEBUG, f"Trying {label} ({key.get_name()})")
                remaining = set(t.auth_publickey(username, key))
            except SSHException as exc:
                errors.append(exc)
                plain = _without_certificate(key)
                if plain is None or isinstance(exc, BadAuthenticationType) or not t.is_active():
                    continue
                # as OpenSSH: a refused certificate, then the key on its own
                # (it may be in authorized_keys while the CA is not trusted)
                try:
                    self._log(logging.DEBUG, f"Certificate of {label} refused; trying the plain key")
                    remaining = set(t.auth_publickey(username, plain))
                except SSHException as exc2:
                    errors.append(exc2)
                    continue
            if not remaining:
                return
            if remaining & _TWO_FACTOR:
                break
        if password is not None:
            try:
                t.auth_password(username, password)
                return
            except SSHException as exc:
                errors.append(exc)
        elif remaining & _TWO_FACTOR:
            try:
                t.auth_interactive_dumb(username)
                return
            except SSHException as exc:
                errors.append(exc)
            except EOFError:  # no terminal to answer the prompts on
                errors.append(AuthenticationException("keyboard-interactive needs a terminal"))
        if errors:
            raise errors[-1]
        raise SSHException("No authentication methods available")

    # -- using the session ---------------------------------------------------------

    def get_transport(self) -> Transport | None:
        """The underlying ``Transport`` (None before ``connect``/after ``close``)."""
        return self._transport

    def _active_transport(self) -> Transport:
        t = self._transport
        if t is None or not t.is_active():
            raise SSHException("SSH session not active")
        return t

    def exec_command(
        self,
        command: str | bytes,
        bufsize: int = -1,
        timeout: float | None = None,
        get_pty: bool = False,
        environment: Mapping[str, str] | None = None,
    ) -> tuple[ChannelStdinFile, ChannelFile, ChannelStderrFile]:
        """Run ``command`` on the server in a new channel.

        Returns ``(stdin, stdout, stderr)`` files (``stdout.channel`` gives
        the channel, e.g. for ``recv_exit_status()``). ``timeout`` applies to
        opening the channel and to every read/write on it; ``environment`` is
        sent as env requests (the server may ignore them).

        :raises SSHException: the server refused the channel or the command.
        """
        chan = self._active_transport().open_session(timeout=timeout)
        try:
            chan.settimeout(timeout)
            if get_pty:
                _granted(chan, chan.get_pty(), "pty-req")
            if environment:
                chan.update_environment(dict(environment))
            _granted(chan, chan.exec_command(command), "exec")
        except BaseException:
            chan.close()
            raise
        stdin = chan.makefile_stdin("wb", bufsize)
        stdout = chan.makefile("r", bufsize)
        stderr = chan.makefile_stderr("r", bufsize)
        return stdin, stdout, stderr

    def invoke_shell(
        self,
        term: str = "vt100",
        width: int = 80,
        height: int = 24,
        width_pixels: int = 0,
        height_pixels: int = 0,
        environment: Mapping[str, str] | None = None,
    ) -> Channel:
        """Start an interactive shell on a pseudo-terminal; returns the channel.

        :raises SSHException: the server refused the channel or the shell.
        """
        chan = self._active_transport().open_session()
        try:
            _granted(chan, chan.get_pty(term, width, height, width_pixels, height_pixels), "pty-req")
            if environment:
                chan.update_environment(dict(environment))
            _granted(chan, chan.invoke_shell(), "shell")
        except BaseException:
            chan.close()
            raise
        return chan

    def open_sftp(self) -> Any:
        """An ``SFTPClient`` on a new channel of this session."""
        return self._active_transport().open_sftp_client()

    def close(self) -> None:
        """Close the session and the agent connection (safe to call twice)."""
        t, self._transport = self._transport, None
        if t is not None:
            t.close()
        agent, self._agent = self._agent, None
        if agent is not None:
            try:
                agent.close()
            except (OSError, SSHException):
                pass

    def _log(self, level: int, msg: str) -> None:
        """Log through the transport's logger (or the client's channel)."""
        logging.getLogger(self.get_log_channel()).log(level, msg)
