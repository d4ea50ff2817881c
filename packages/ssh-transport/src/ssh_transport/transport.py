"""``Transport``: the threaded driver around the protocol core, and the
paramiko-compatible public API (client and server).

A ``Transport`` is itself a ``threading.Thread``, as paramiko's is: its
``run()`` is the reader loop, started once by ``start_client``/``start_server``
(``is_alive()``, ``join()``, ``daemon``, ``name`` and ``stop_thread()`` work as
code written for paramiko expects). The socket's reading and writing are
one composed object, the ``SocketPump`` (socket_pump.py): the reader loop
feeds bytes to ``SSHProtocol``, and the transport turns the core's events
into state that blocking API calls wait for (each on a condition of the one
transport lock). Writes are ordered by the core and go out through the
pump's ``flush``, which any thread may call.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ssh_keys import Certificate, SKSignature
from ssh_wire import (
    DISCONNECT_BY_APPLICATION,
    AuthenticationException,
    BadAuthenticationType,
    ChannelException,
    IncompatiblePeer,
    Message,
    SSHException,
    format_binary,
)

from .cert_policy import PrincipalLine
from .channel import Channel
from .channel_host import ThreadedChannelHost
from .channel_table import AgentHandler, ChannelTable, X11Handler
from .client_auth import ClientAuth, InteractiveHandler, ask_on_terminal
from .core_setup import Moduli, build_core, disabled_pubkeys, load_moduli, preferences_without
from .global_requests import GlobalRequests
from .keepalive import Keepalive
from .ping import Pinger
from .protocol import events as ev
from .protocol.ciphers import CIPHERS
from .protocol.constants import (
    DEFAULT_MAX_PACKET_SIZE,
    DEFAULT_WINDOW_SIZE,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from .protocol.core import REKEY_BYTES, SSHProtocol
from .protocol.negotiation import host_key_from_blob, key_type_of
from .security import SecurityOptions
from .server import ServerInterface
from .server_side import ServerSide
from .session_events import SessionEvents
from .socket_pump import SocketPump
from .start_deadlines import StartDeadlines


def _split_address(target: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(target, str):
        host, _, port_text = target.rpartition(":")
        if not host:
            host, port_text = target, "22"
        try:
            port = int(port_text)
        except ValueError as exc:
            raise SSHException(f"bad address {target!r}") from exc
        return host, port
    return target[0], int(target[1])


def _connect(host: str, port: int) -> socket.socket:
    """A TCP connection for ``Transport((host, port))``. As in paramiko, a name
    that does not resolve raises ``socket.gaierror`` (sshtunnel tells the two
    apart) and a failed connection ``SSHException``."""
    try:
        return socket.create_connection((host, port))
    except socket.gaierror:
        raise
    except OSError as exc:
        raise SSHException(f"Unable to connect to {host}: {exc}") from exc


def _no_gss(what: str, requested: bool) -> None:
    """GSS-API (Kerberos) is not implemented: accept False, refuse True loudly."""
    if requested:
        raise SSHException(f"{what}=True: GSS-API (Kerberos) authentication and key exchange are not supported")


class Transport(threading.Thread):
    """An SSH session over a socket: negotiates encryption, authenticates, and
    multiplexes channels. Works as a client (``start_client``/``connect``) or a
    server (``add_server_key`` + ``start_server``).

    It is the thread that reads the socket (a daemon thread, started once by
    ``start_client``/``start_server``), as paramiko's ``Transport`` is."""

    _modulus_pack: Moduli | None = None

    def __init__(
        self,
        sock: Any,
        default_window_size: int = DEFAULT_WINDOW_SIZE,
        default_max_packet_size: int = DEFAULT_MAX_PACKET_SIZE,
        disabled_algorithms: dict[str, Any] | None = None,
        server_sig_algs: bool = True,
        strict_kex: bool = True,
        packetizer_class: Any = None,
        *,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
    ) -> None:
        """Wrap ``sock`` (a socket or socket-like object), or connect to
        ``(host, port)`` / ``"host:port"``.

        ``disabled_algorithms`` maps a category ("ciphers", "macs", "keys",
        "kex", "compression", "pubkeys") to names never to offer or accept.
        ``strict_kex=False`` stops offering strict kex (the Terrapin
        counter-measure, on only when both sides offer it); keep the default
        unless a peer breaks on it. ``server_sig_algs=False`` makes a server
        skip the EXT_INFO message that lists its signature algorithms.

        The packet layer is this library's own protocol core, so
        ``packetizer_class`` can only be None; GSS-API is not supported, so
        ``gss_kex`` (accepted for code written for older paramiko) can only
        be False. Anything else raises ``SSHException``."""
        _no_gss("gss_kex", gss_kex)
        if packetizer_class is not None:
            raise SSHException("packetizer_class is not supported: packets are handled by the protocol core")
        self.hostname: str | None = None
        if isinstance(sock, (str, tuple)):
            host, port = _split_address(sock)
            self.hostname = host
            sock = _connect(host, port)
        threading.Thread.__init__(self)
        self.daemon = True
        self.sock = sock
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.default_window_size = default_window_size
        self.default_max_packet_size = default_max_packet_size
        self.advertise_strict_kex = strict_kex
        self.server_sig_algs = server_sig_algs
        # set by the first key exchange: whether both sides used strict kex
        self.agreed_on_strict_kex = False
        self.local_version = "SSH-2.0-ssh_transport_0.1.0"
        self.remote_version = ""
        self.banner_timeout: float | None = 15.0
        self.handshake_timeout = 30.0
        self.auth_timeout: float | None = 30.0
        # server: seconds a client has to authenticate before we hang up
        # (OpenSSH's LoginGraceTime); None waits forever
        self.login_grace_time: float | None = 120.0
        # the banner and login-grace timers (start_deadlines.py)
        self._deadlines = StartDeadlines()
        self.channel_timeout = 3600.0
        self._rekey_bytes = REKEY_BYTES
        self._rekey_interval = 3600.0
        self.logger = logging.getLogger("paramiko.transport")
        self.active = False
        self.server_mode = False
        self.server_object: ServerInterface | None = None
        self.server_extensions: dict[str, bytes] = {}
        self.banner: str | None = None
        self.disabled_algorithms: dict[str, Any] = dict(disabled_algorithms or {})
        self._prefs = preferences_without(disabled_algorithms)
        self._disabled_pubkeys = disabled_pubkeys(disabled_algorithms)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._core: SSHProtocol | None = None
        # the reader thread once started: this transport itself
        self._thread: threading.Thread | None = None
        self._server_keys: dict[str, Any] = {}
        self._expected_key_type: str | None = None
        self._subsystems: dict[str, tuple[type, tuple[Any, ...], dict[str, Any]]] = {}
        self._hexdump = False
        self._closing = False
        # The parts, each an object with its own state (see the README's
        # "Two drivers"): the socket's reading and writing; the channels and
        # the host interface they see; global requests; client auth;
        # keepalives; ping; the router of the core's events; on a server,
        # the server side (made by start_server).
        self._pump = SocketPump(sock, self._lock, self._shutdown, self.logger)
        self._channel_host = ThreadedChannelHost(self._pump)
        self._channels = ChannelTable(self, self._channel_host, self._pump, self._cond, self._dispatch)
        self._globals = GlobalRequests(self._pump, self._cond, self._saved_exception)
        self._auth = ClientAuth(self._pump, self._cond, self._saved_exception, lambda: self.auth_timeout)
        self._keepalive = Keepalive(
            self._pump, self._globals.expect_reply, lambda error: self._shutdown(error, flush=False)
        )
        self._pinger = Pinger(self._pump, self._cond, self._saved_exception)
        self._events = SessionEvents(
            self,
            self._pump,
            self._cond,
            self._channels,
            self._auth,
            self._pinger,
            self._globals,
            self._deadlines.banner_received,
        )
        self._server: ServerSide | None = None

    def __repr__(self) -> str:
        out = f"<paramiko.Transport at {hex(id(self) & 0xFFFFFFFF)}"
        if not self.active:
            return out + " (unconnected)>"
        cipher = self.local_cipher
        if cipher:
            spec = CIPHERS.get(cipher)
            bits = f", {spec.key_bits} bits" if spec is not None else ""
            out += f" (cipher {cipher}{bits})"
        if self.is_authenticated():
            out += f" (active; {len(self._channels)} open channel(s))"
        elif self.initial_kex_done:
            out += " (connected; awaiting auth)"
        else:
            out += " (connecting)"
        return out + ">"

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread ----------------------------------------------------------

    def run(self) -> None:
        """The reader loop (the thread's body; started by ``start_client`` or
        ``start_server``, not to be called directly). Returns when the
        session ends."""
        if self._core is None:
            return  # started by hand without a session: nothing to read
        self._pump.run()

    def stop_thread(self) -> None:
        """End the session at once, without a DISCONNECT message, and wait
        for the reader thread to finish (unless called from it)."""
        self._shutdown(None, flush=False)
        self._join_reader()

    def _flush(self, deadline: float | None = None) -> None:
        """Write what the core queued (see ``SocketPump.flush``)."""
        self._pump.flush(deadline)

    def _wait_cond(self, timeout: float | None = None) -> bool:
        """(Lock held.) Wait on the transport condition with a thread reading
        the socket (a parked reader thread is brought back)."""
        self._pump.wake_reader()
        return self._cond.wait(timeout)

    def _join_reader(self) -> None:
        """Wait for the reader thread, unless this thread is the reader or
        holds the socket for it (it would wait for itself)."""
        if self.ident is None or self is threading.current_thread():
            return
        if self._pump.in_reading_thread():
            return
        self.join(10)

    # -- configuration -----------------------------------------------------

    @property
    def rekey_bytes(self) -> int:
        """Start a new key exchange after this many bytes either way (1 GiB)."""
        return self._rekey_bytes

    @rekey_bytes.setter
    def rekey_bytes(self, value: int) -> None:
        self._rekey_bytes = int(value)
        if self._core is not None:
            self._core.rekey_bytes = int(value)

    @property
    def rekey_interval(self) -> float:
        """Start a new key exchange after this many seconds (one hour)."""
        return self._rekey_interval

    @rekey_interval.setter
    def rekey_interval(self, value: float) -> None:
        self._rekey_interval = float(value)
        if self._core is not None:
            self._core.rekey_interval = float(value)

    def get_security_options(self) -> SecurityOptions:
        """The algorithm preferences of this transport (editable before start)."""
        return SecurityOptions(self)

    @property
    def preferred_ciphers(self) -> tuple[str, ...]:
        """The ciphers offered, best first (after ``disabled_algorithms``)."""
        return self._prefs.ciphers

    @property
    def preferred_macs(self) -> tuple[str, ...]:
        """The MACs offered, best first."""
        return self._prefs.digests

    @property
    def preferred_keys(self) -> tuple[str, ...]:
        """The host key algorithms offered, best first."""
        return self._prefs.key_types

    @property
    def preferred_pubkeys(self) -> tuple[str, ...]:
        """The user-key signature algorithms accepted (server) or used (client)."""
        return tuple(a for a in self._prefs.key_types if a not in self._disabled_pubkeys)

    @property
    def preferred_kex(self) -> tuple[str, ...]:
        """The key exchanges offered, best first."""
        return self._prefs.kex

    @property
    def preferred_compression(self) -> tuple[str, ...]:
        """The compression algorithms offered, best first."""
        return self._prefs.compression

    def use_compression(self, compress: bool = True) -> None:
        """Offer zlib compression (zlib@openssh.com, after auth, then zlib)."""
        self._prefs.compression = ("zlib@openssh.com", "zlib", "none") if compress else ("none",)

    def set_log_channel(self, name: str) -> None:
        """Log under logger ``name`` (default "paramiko.transport")."""
        self.logger = logging.getLogger(name)
        self._pump.logger = self.logger

    def get_log_channel(self) -> str:
        """The logger name in use."""
        return self.logger.name

    def set_hexdump(self, hexdump: bool) -> None:
        """Log every packet payload as a hexdump (DEBUG level)."""
        self._hexdump = bool(hexdump)
        if self._core is not None:
            self._core.trace = self._trace if hexdump else None

    def get_hexdump(self) -> bool:
        """Whether packets are hexdumped to the log."""
        return self._hexdump

    def add_server_key(self, key: Any) -> None:
        """Server: add a host key (one per type; the client's preference picks)."""
        self._server_keys[key.get_name()] = key

    def get_server_key(self) -> Any:
        """Server: the host key negotiated for this session (or any, before)."""
        alg = self._events.host_key_algorithm
        if alg:
            key = self._server_keys.get(key_type_of(alg))
            if key is not None:
                return key
        return next(iter(self._server_keys.values()), None)

    @staticmethod
    def load_server_moduli(filename: str | None = None) -> bool:
        """Server: load DH group-exchange primes (``/etc/ssh/moduli`` format)."""
        names = [filename] if filename else ["/etc/ssh/moduli", "/usr/local/etc/moduli"]
        for name in names:
            try:
                pack = load_moduli(name)
            except (OSError, SSHException):
                continue
            if pack:
                Transport._modulus_pack = pack
                return True
        return False

    def set_subsystem_handler(self, name: str, handler: type, *args: Any, **kwargs: Any) -> None:
        """Server: run ``handler(channel, name, server, *args, **kwargs)`` (a
        ``SubsystemHandler``) in its own thread for each request of ``name``."""
        with self._lock:
            self._subsystems[name] = (handler, args, kwargs)

    def _get_subsystem_handler(self, name: str) -> tuple[type | None, tuple[Any, ...], dict[str, Any]]:
        with self._lock:
            return self._subsystems.get(name, (None, (), {}))

    # -- state ---------------------------------------------------------------

    def is_active(self) -> bool:
        """Whether the session is open."""
        return self.active

    @property
    def initial_kex_done(self) -> bool:
        """Whether the first key exchange has completed."""
        return self._events.kex_count > 0

    @property
    def session_id(self) -> bytes | None:
        """The exchange hash of the first key exchange (None before it)."""
        core = self._core
        return core.session_id if core is not None else None

    @property
    def host_key(self) -> Any:
        """Client: the server's host key once negotiated (else None)."""
        if self._events.host_key_blob is None:
            return None
        return host_key_from_blob(self._events.host_key_blob)

    def is_authenticated(self) -> bool:
        """Whether user authentication has succeeded."""
        core = self._core
        return self.active and core is not None and core.authenticated

    def get_username(self) -> str | None:
        """The user we authenticated as (client) or who authenticated (server)."""
        return self._events.username

    def get_exception(self) -> Exception | None:
        """The error that ended negotiation/auth, cleared when read."""
        with self._lock:
            return self._events.take_error() or self._auth.take_background_error()

    def _saved_exception(self) -> Exception | None:
        """Why the session ended: the recorded error (until ``get_exception``
        takes it), else a keepalive timeout, which stays."""
        return self._events.error or self._keepalive.peer_lost

    def _negotiated(self, what: str, outgoing: bool) -> str:
        """A negotiated algorithm ("cipher", "mac") for one direction."""
        core = self._core
        n = core.negotiated if core is not None else None
        if n is None:
            return ""
        client_to_server = outgoing != self.server_mode
        value = getattr(n, f"{what}_{'cs' if client_to_server else 'sc'}")
        return str(value or "")

    @property
    def local_cipher(self) -> str:
        """The cipher we send with ("" before negotiation)."""
        return self._negotiated("cipher", True)

    @property
    def remote_cipher(self) -> str:
        """The cipher the peer sends with."""
        return self._negotiated("cipher", False)

    @property
    def local_mac(self) -> str:
        """The MAC we send with ("" for AEAD ciphers)."""
        return self._negotiated("mac", True)

    @property
    def remote_mac(self) -> str:
        """The MAC the peer sends with."""
        return self._negotiated("mac", False)

    @property
    def host_key_type(self) -> str:
        """The negotiated host key (signature) algorithm."""
        core = self._core
        n = core.negotiated if core is not None else None
        return n.host_key if n is not None else ""

    def get_banner(self) -> bytes | None:
        """The server's pre-auth banner (USERAUTH_BANNER), if one was sent."""
        return self.banner.encode("utf-8") if self.banner is not None else None

    def get_remote_server_key(self) -> Any:
        """The server's host key (client; after negotiation)."""
        if not self.active or self._events.host_key_blob is None:
            raise SSHException("No existing session")
        return host_key_from_blob(self._events.host_key_blob)

    def getpeername(self) -> Any:
        """The address of the remote end (as ``socket.getpeername``)."""
        gp = getattr(self.sock, "getpeername", None)
        return gp() if gp else ("unknown", 0)

    # -- starting ----------------------------------------------------------------

    def start_client(self, event: threading.Event | None = None, timeout: float | None = None) -> None:
        """Negotiate a session as the client. Blocks until done (raising
        ``SSHException`` on failure) unless ``event`` is given, which is set
        when negotiation ends either way."""
        self._begin("client", event, timeout)

    def start_server(self, event: threading.Event | None = None, server: ServerInterface | None = None) -> None:
        """Negotiate as the server with the host keys added; ``server`` decides
        on auth and channels. Blocks like ``start_client``."""
        if not self._server_keys:
            raise SSHException("No server host keys (add_server_key)")
        if self._core is not None or self.ident is not None:
            raise RuntimeError("threads can only be started once")
        self.server_mode = True
        self.server_object = server if server is not None else ServerInterface()
        self._server = ServerSide(
            self,
            self._pump,
            self._cond,
            self._channels,
            self._server_keys.values,
            lambda: self._events.host_key_algorithm,
            self._logged_in,
        )
        self._events.server = self._server
        self._globals.answer = self._server.global_request
        self._deadlines.expect_login(self.login_grace_time, self._login_grace_expired)
        self._begin("server", event, None)

    def _logged_in(self, username: str) -> None:
        """(Lock held.) Server: ``username`` has authenticated; no hang-up is due."""
        self._events.username = username
        self._deadlines.logged_in()

    def _login_grace_expired(self) -> None:
        """Hang up on a client that has not authenticated in time."""
        core = self._core
        if not self.active or core is None or core.authenticated:
            return
        self.logger.info("login grace time (%s s) expired before authentication", self.login_grace_time)
        with self._lock:
            core.disconnect(DISCONNECT_BY_APPLICATION, "login grace time exceeded")
        self._shutdown(SSHException("login grace time exceeded before authentication"), flush=True)

    def _begin(self, role: str, event: threading.Event | None, timeout: float | None) -> None:
        if self._core is not None or self.ident is not None:
            # as paramiko (whose Transport is a Thread too): one start only
            raise RuntimeError("threads can only be started once")
        core = build_core(
            role,
            self._prefs,
            no_pubkeys=self._disabled_pubkeys,
            host_keys=self._server_keys,
            local_version=self.local_version.encode("ascii"),
            moduli=Transport._modulus_pack,
            expected_host_key_type=self._expected_key_type,
            rekey_bytes=self._rekey_bytes,
            rekey_interval=self._rekey_interval,
            strict_kex=self.advertise_strict_kex,
            server_sig_algs=self.server_sig_algs,
        )
        if self._hexdump:
            core.trace = self._trace
        self._core = core
        self._events.kex_event = event
        self.active = True
        self._deadlines.expect_banner(self.banner_timeout, self._banner_expired)
        self._pump.start(core, self._channels.process_events, self._events.dispatch)
        with self._lock:
            core.start()
            self._keepalive.start()
        self._thread = self
        self.start()
        self._flush()
        if event is not None:
            return
        limit = timeout if timeout is not None else self.handshake_timeout
        if not self._events.kex_done.wait(limit) or not self.active:
            exc = self._events.error
            if self.active:
                self.close()
                raise SSHException("Negotiation timed out")
            raise exc if exc is not None else SSHException("Negotiation failed.")

    def _banner_expired(self) -> None:
        """No identification line in time: end the session."""
        core = self._core
        if not self.active or core is None or core.remote_version is not None:
            return
        self.logger.info("no SSH protocol banner within %s s", self.banner_timeout)
        self._shutdown(SSHException("Error reading SSH protocol banner"), flush=False)

    def connect(
        self,
        hostkey: Any = None,
        username: str = "",
        password: str | None = None,
        pkey: Any = None,
        gss_host: str | None = None,
        gss_auth: bool = False,
        gss_kex: bool = False,
        gss_deleg_creds: bool = True,
        gss_trust_dns: bool = True,
    ) -> None:
        """Negotiate, check the server's host key against ``hostkey`` (if
        given; a mismatch closes the session and raises ``SSHException``),
        then authenticate with ``pkey`` or ``password`` (if given).

        The ``gss_*`` arguments of older paramiko are accepted; GSS-API is
        not supported, so ``gss_auth``/``gss_kex`` must stay False."""
        _no_gss("gss_auth", gss_auth)
        _no_gss("gss_kex", gss_kex)
        if hostkey is not None:
            self._expected_key_type = hostkey.get_name()
        self.start_client()
        if hostkey is not None:
            key = self.get_remote_server_key()
            if key.get_name() != hostkey.get_name() or key.asbytes() != hostkey.asbytes():
                self.close()
                raise SSHException("Bad host key from server")
        if not username:
            import getpass

            username = getpass.getuser()
        if pkey is not None or password is not None:
            if pkey is not None:
                self.auth_publickey(username, pkey)
            else:
                assert password is not None
                self.auth_password(username, password)

    # -- liveness (keepalive.py, ping.py) --------------------------------------------

    def set_keepalive(self, interval: float, max_missed: int = 3) -> None:
        """Notice a peer that has gone silent, and keep idle NAT mappings open.

        Once authenticated, whenever nothing has been received for
        ``interval`` seconds (0: never), send a ``keepalive@openssh.com``
        global request that wants a reply (any answer, even a refusal, and
        any other packet proves the peer alive), as OpenSSH's
        ``ServerAliveInterval``. When ``max_missed`` such probes in a row go
        unanswered for ``interval`` seconds each (``ServerAliveCountMax``,
        default 3), the session is dropped: a peer silent for between
        ``interval * max_missed`` and ``interval * (max_missed + 1)`` seconds
        is gone, and threads waiting on the transport get an
        ``SSHException`` saying so. ``max_missed=0`` keeps paramiko's
        behaviour: a ``keepalive@lag.net`` request that wants no reply after
        ``interval`` seconds without sending, and no check of the peer.
        May be called before the session starts (it takes effect then)."""
        self._keepalive.configure(interval, max_missed)

    def ping_supported(self) -> bool:
        """Whether the peer advertised ``ping@openssh.com`` (OpenSSH 9.5+
        servers do; our server does). Clients do not advertise it, so a
        server usually cannot ping."""
        return self._pinger.supported()

    def ping(self, timeout: float | None = 10.0) -> float:
        """Send a ``ping@openssh.com`` PING and wait for its PONG; returns
        the round trip in seconds. Only after authentication, to a peer that
        advertised the extension (``ping_supported()``); ``SSHException``
        otherwise, when the transport closes, or when no answer comes within
        ``timeout`` seconds (None: wait as long as the transport lives). The
        peer does not answer during a key exchange, so a rekey may delay it.
        """
        return self._pinger.ping(timeout)

    # -- client authentication (client_auth.py) ------------------------------------

    def get_session_binding(self) -> tuple[bytes, bytes, bytes] | None:
        """(server host key blob, session id, the host key's signature over
        the session id) from the first key exchange, as an agent's
        ``session-bind@openssh.com`` takes them; None before the exchange."""
        return self._auth.session_binding()

    def auth_none(self, username: str) -> list[str]:
        """Try to log in with no credentials; usually raises
        ``BadAuthenticationType`` whose ``allowed_types`` lists what the server wants."""
        return self._auth.none(username)

    def auth_password(
        self, username: str, password: str | bytes, event: threading.Event | None = None, fallback: bool = True
    ) -> list[str]:
        """Log in with a password. Returns ``[]`` on success, or the methods
        still needed after a partial success. With ``fallback``, a server that
        only offers keyboard-interactive is answered with the password.

        With ``event``, returns at once and sets ``event`` when done (check
        ``is_authenticated()`` / ``get_exception()``).
        """
        if event is not None:
            return self._auth.in_background(event, lambda: self._auth.password(username, password, fallback))
        return self._auth.password(username, password, fallback)

    def auth_publickey(self, username: str, key: Any, event: threading.Event | None = None) -> list[str]:
        """Log in with a private key (a ``PKey`` or an agent key). RSA keys
        sign with rsa-sha2-512/256 as the server's server-sig-algs allows."""
        if event is not None:
            return self._auth.in_background(event, lambda: self._auth.publickey(username, key))
        return self._auth.publickey(username, key)

    def auth_interactive(self, username: str, handler: InteractiveHandler, submethods: str = "") -> list[str]:
        """Keyboard-interactive login: ``handler(title, instructions, prompts)``
        gets a list of ``(prompt, echo)`` and returns the answers; it may be
        called several times."""
        return self._auth.interactive(username, handler, submethods)

    def auth_interactive_dumb(
        self, username: str, handler: InteractiveHandler | None = None, submethods: str = ""
    ) -> list[str]:
        """Keyboard-interactive on the terminal: print each prompt, read answers."""
        return self.auth_interactive(username, handler or ask_on_terminal, submethods)

    # -- server: what the login brought (server_side.py) ------------------------------

    #: server: announce every host key after a login (``hostkeys-00@openssh.com``),
    #: so that clients with ``UpdateHostKeys`` learn new ones, as sshd does;
    #: set False before ``start_server`` to keep them to yourself
    announce_host_keys: bool = True

    @property
    def announced_host_keys(self) -> list[bytes] | None:
        """Client: the host key blobs the server announced after login
        (``hostkeys-00@openssh.com``, OpenSSH's UpdateHostKeys), or None."""
        return self._globals.announced_host_keys

    def get_security_key_signature(self) -> SKSignature | None:
        """Server: the security-key signature of the FIDO key that last let
        the client in (its ``flags`` and ``counter``), or None when no
        sk key did; for logging and counter checks after login."""
        return self._server.policy.security_key_signature if self._server is not None else None

    def get_user_certificate(self) -> Certificate | None:
        """Server: the user certificate the client logged in with (None when
        it used none). Its ``force-command`` replaces every command, shell
        and subsystem the client asks for, and a request its ``permit-*``
        extensions do not allow (pty, X11, agent or port forwarding) is
        refused, as sshd does."""
        return self._server.policy.user_certificate if self._server is not None else None

    def get_user_principal_line(self) -> PrincipalLine | None:
        """Server: the ``AuthorizedPrincipalsFile`` line (with its options)
        that let the user's certificate in, or None."""
        return self._server.policy.principal_line if self._server is not None else None

    def get_original_command(self, channel: Channel) -> bytes | None:
        """Server: what the client asked ``channel`` to run when a forced
        command replaced it (its exec command, or its subsystem's name), for
        ``SSH_ORIGINAL_COMMAND``, as sshd sets it; None otherwise."""
        original: bytes | None = getattr(channel, "original_command", None)
        return original

    # -- closing -----------------------------------------------------------------------

    def _dispatch(self, e: ev.Event) -> None:
        """Route one event that is not channel data (session_events.py)."""
        self._events.dispatch(e)

    def _trace(self, direction: str, payload: bytes) -> None:
        for line in format_binary(payload, f"{direction}: "):
            self.logger.debug(line)

    def _shutdown(self, error: Exception | None, flush: bool = False, shutdown_socket: bool = True) -> None:
        """End the session (any thread, any number of times): record why,
        close every channel, fail every wait, and close the socket (writing
        what is queued first if ``flush``)."""
        self._deadlines.cancel()
        with self._lock:
            first = not self._closing
            self._closing = True
            if error is not None:
                self._events.record_error(error)
            self.active = False
            chans = self._channels.close_all(self._keepalive.peer_lost)
            self._globals.fail_all()
            self._pump.stop()
            self._cond.notify_all()
            self._keepalive.stop()
        self._channels.notify_closed(chans)
        if not first:
            return
        self._events.release_kex_waiters()
        self._pump.close_socket(flush, shutdown_socket)

    def atfork(self) -> None:
        """In a forked child: drop this transport without telling the peer
        (the parent still owns the session)."""
        self._shutdown(None, flush=False, shutdown_socket=False)

    def close(self) -> None:
        """End the session: closes every channel and wakes every waiter."""
        core = self._core
        if core is not None and self.active:
            with self._lock:
                core.disconnect(DISCONNECT_BY_APPLICATION, "")
        self._shutdown(None, flush=True)
        self._join_reader()

    # -- channels --------------------------------------------------------------------

    def open_session(
        self, window_size: int | None = None, max_packet_size: int | None = None, timeout: float | None = None
    ) -> Channel:
        """Open a "session" channel (for exec, shell or a subsystem)."""
        return self.open_channel("session", window_size=window_size, max_packet_size=max_packet_size, timeout=timeout)

    def open_channel(
        self,
        kind: str,
        dest_addr: tuple[str, int] | None = None,
        src_addr: tuple[str, int] | None = None,
        window_size: int | None = None,
        max_packet_size: int | None = None,
        timeout: float | None = None,
    ) -> Channel:
        """Open a channel of ``kind``; "direct-tcpip"/"forwarded-tcpip" take
        ``dest_addr`` and ``src_addr`` (host, port) pairs. Raises
        ``ChannelException`` if the peer refuses, ``SSHException`` if the
        session ends."""
        extra = b""
        if kind in ("direct-tcpip", "forwarded-tcpip"):
            if dest_addr is None or src_addr is None:
                raise SSHException(f"{kind} needs dest_addr and src_addr")
            m = Message().add_string(dest_addr[0]).add_int(dest_addr[1])
            m.add_string(src_addr[0]).add_int(src_addr[1])
            extra = m.asbytes()
        elif kind == "x11" and src_addr is not None:
            extra = Message().add_string(src_addr[0]).add_int(src_addr[1]).asbytes()
        window = window_size or self.default_window_size
        packet = max_packet_size or self.default_max_packet_size
        deadline = time.monotonic() + (timeout if timeout is not None else self.channel_timeout)
        return self._channels.open(kind, extra, window, packet, deadline, self._saved_exception)

    def open_forwarded_tcpip_channel(self, src_addr: tuple[str, int], dest_addr: tuple[str, int]) -> Channel:
        """Server: open a "forwarded-tcpip" channel for a connection that
        arrived on a port the client asked us to forward."""
        return self.open_channel("forwarded-tcpip", dest_addr, src_addr)

    def open_x11_channel(self, src_addr: tuple[str, int] | None = None) -> Channel:
        """Server: open an "x11" channel to the client, from ``src_addr``."""
        return self.open_channel("x11", src_addr=src_addr or ("", 0))

    def open_forward_agent_channel(self) -> Channel:
        """Server: open an "auth-agent@openssh.com" channel to a client that
        asked for agent forwarding."""
        return self.open_channel("auth-agent@openssh.com")

    def set_x11_handler(self, handler: X11Handler | None) -> X11Handler | None:
        """Client: accept "x11" channels from the server (after
        ``Channel.request_x11``) and give each to ``handler(channel,
        (origin_host, origin_port))``, or to ``accept`` when ``handler`` is
        None. Returns the previous handler (None if x11 channels were refused)."""
        with self._lock:
            previous = self._channels.x11_handler
            self._channels.x11_handler = handler if handler is not None else self._queue_x11
        return previous

    def clear_x11_handler(self) -> None:
        """Client: refuse "x11" channels from the server again."""
        with self._lock:
            self._channels.x11_handler = None

    def set_forward_agent_handler(self, handler: AgentHandler | None) -> None:
        """Client: accept "auth-agent@openssh.com" channels from the server
        (after ``Channel.request_forward_agent``) and give each to
        ``handler(channel)``, or to ``accept`` when ``handler`` is None."""
        with self._lock:
            self._channels.agent_handler = handler if handler is not None else self._channels.queue_incoming

    def _queue_x11(self, chan: Channel, origin: tuple[str, int]) -> None:
        """The default x11 handler: hand the channel to ``accept``."""
        self._channels.queue_incoming(chan)

    def accept(self, timeout: float | None = None) -> Channel | None:
        """Server: the next channel the client opened (None on timeout or
        close). Raises ``SSHException`` when the session was dropped because
        the peer stopped answering keepalives (see ``set_keepalive``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                chan = self._channels.next_incoming()
                if chan is not None:
                    return chan
                if not self.active:
                    if self._keepalive.peer_lost is not None:
                        raise self._keepalive.peer_lost.with_traceback(None)
                    return None
                if deadline is None:
                    self._wait_cond()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._wait_cond(remaining)

    # -- global requests, forwarding, misc -------------------------------------------

    def global_request(
        self, kind: str, data: Any = None, wait: bool = True, timeout: float | None = None
    ) -> Message | bool | None:
        """Send a global request. ``data`` is a tuple of values to encode.
        With ``wait``, returns the reply data as a ``Message`` on success or
        None on failure (or when no reply came within ``timeout`` seconds, or
        the session ended); without it, returns at once."""
        return self._globals.send(kind, data, wait, timeout)

    def request_port_forward(
        self,
        address: str,
        port: int,
        handler: Callable[[Channel, tuple[str, int], tuple[str, int]], None] | None = None,
    ) -> int:
        """Client: ask the server to listen on ``address``:``port`` and forward
        connections back as channels (to ``handler``, or to ``accept``).
        Returns the bound port."""
        response = self.global_request("tcpip-forward", (address, port), wait=True)
        if not isinstance(response, Message):
            raise SSHException("TCP forwarding request denied")
        if port == 0:
            port = Message(response.asbytes(), strict=True).get_int()
        self._channels.forward_handler = handler if handler is not None else self._queue_forwarded
        return port

    def _queue_forwarded(self, chan: Channel, origin: tuple[str, int], dest: tuple[str, int]) -> None:
        """The default forward handler: hand the channel to ``accept``."""
        self._channels.queue_incoming(chan)

    def cancel_port_forward(self, address: str, port: int) -> None:
        """Client: stop a forward set up by ``request_port_forward``."""
        if not self.active:
            return
        self._channels.forward_handler = None
        self.global_request("cancel-tcpip-forward", (address, port), wait=True)

    def renegotiate_keys(self) -> None:
        """Start a new key exchange now and wait until it completes."""
        with self._lock:
            core = self._core
            if core is None or not self.active:
                raise SSHException("SSH session not active")
            before = self._events.kex_count
            core.start_rekey()
        self._flush()
        deadline = time.monotonic() + self.handshake_timeout
        with self._lock:
            outcome = self._pump.wait_until(self._cond, lambda: self._events.kex_count != before, deadline)
            if outcome == "closed":
                raise self._saved_exception() or SSHException("Negotiation failed.")
            if outcome == "timeout":
                raise SSHException("Key renegotiation timed out")

    def send_ignore(self, byte_count: int | None = None) -> None:
        """Send an IGNORE packet of random bytes (10-41 by default), against traffic analysis."""
        if byte_count is None:
            byte_count = 10 + os.urandom(1)[0] % 32
        with self._lock:
            core = self._core
            if core is None or not self.active:
                raise SSHException("SSH session not active")
            core.send_ignore(os.urandom(byte_count))
        self._flush()

    def open_sftp_client(self) -> Any:
        """An SFTP client on a new channel (needs the ssh-sftp layer)."""
        sftp = importlib.import_module("ssh_sftp")
        return sftp.SFTPClient.from_transport(self)


# paramiko.transport.ServiceRequestingTransport (paramiko 3.2+) lives here too;
# its module imports Transport, so it comes last
from .service_transport import ServiceRequestingTransport  # noqa: E402

__all__ = [
    "OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED",
    "OPEN_SUCCEEDED",
    "AuthenticationException",
    "BadAuthenticationType",
    "Channel",
    "ChannelException",
    "IncompatiblePeer",
    "SSHException",
    "SecurityOptions",
    "ServerInterface",
    "ServiceRequestingTransport",
    "Transport",
    "load_moduli",
]
