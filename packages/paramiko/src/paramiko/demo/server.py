"""A real SSH server on 127.0.0.1 built on this library.

Exec and shell run as the current user; SFTP is rooted at ``--root`` through
the local-directory interface. The host key is generated once into a state
folder. Clients get in with a key from the user's ``~/.ssh/authorized_keys``
or with a one-time password printed at start-up, or with a user certificate
signed by a CA of ``--trusted-user-ca-keys`` (``--host-certificate`` makes it
present its host key's certificate). OpenSSH's ``ssh`` and ``sftp`` work
against it.
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import os
import secrets
import socket
import sys
from pathlib import Path

from ssh_keys import Certificate, Ed25519Key, PKey, key_from_line
from ssh_sftp import LocalSFTPServerInterface, SFTPServer
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport
from ssh_transport.admission import ConnectionLimits, parse_max_startups
from ssh_transport.cert_policy import UserCertificatePolicy
from ssh_transport.channel import Channel
from ssh_transport.hardened import HardenedUnavailable, harden, hardened_preferences
from ssh_transport.listener import Connection, Listener
from ssh_wire import SSHException

from .loop import SessionLoop
from .session import Session


def default_state_dir() -> Path:
    """Where the demo keeps its host key between runs."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "paramiko-demo"


def load_or_create_host_key(state_dir: Path) -> PKey:
    """The demo's ed25519 host key, generated on first use (file mode 0600)."""
    path = state_dir / "host_ed25519_key"
    if path.exists():
        return Ed25519Key.from_private_key_file(str(path))
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519Key.generate()
    key.write_private_key_file(str(path))
    return key


def load_authorized_keys(path: Path) -> list[PKey]:
    """The keys of an authorized_keys file; unreadable lines are skipped."""
    keys: list[PKey] = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return keys
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                keys.append(key_from_line(line))
            except SSHException:
                continue
    return keys


class DemoServer(ServerInterface):
    """Decides who gets in and what sessions may do, for one connection."""

    def __init__(
        self, user: str, password: str, authorized: list[PKey], cert_policy: UserCertificatePolicy | None = None
    ) -> None:
        self.user = user
        self.password = password
        self.authorized = authorized
        self.cert_policy = cert_policy
        self.ptys: dict[int, tuple[str, int, int]] = {}
        #: runs this connection's sessions, in the thread of ``serve_connection``
        self.sessions = SessionLoop()
        self._shells: dict[int, Session] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.user and hmac.compare_digest(password.encode(), self.password.encode())
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: PKey) -> int:
        ok = username == self.user and any(key == k for k in self.authorized)
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def get_user_certificate_policy(self) -> UserCertificatePolicy | None:
        return self.cert_policy

    def check_auth_certificate(
        self, username: str, key: PKey, certificate: Certificate, client_address: str | None = None
    ) -> int:
        # sessions run as the current user: only that name may log in
        if username != self.user:
            return AUTH_FAILED
        return super().check_auth_certificate(username, key, certificate, client_address)

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else super().check_channel_request(kind, chanid)

    def check_channel_pty_request(
        self, channel: Channel, term: bytes, width: int, height: int, pixelwidth: int, pixelheight: int, modes: bytes
    ) -> bool:
        self.ptys[channel.get_id()] = (
            term.decode(errors="replace") if isinstance(term, bytes) else term,
            width,
            height,
        )
        return True

    def check_channel_window_change_request(
        self, channel: Channel, width: int, height: int, pixelwidth: int, pixelheight: int
    ) -> bool:
        term = self.ptys.get(channel.get_id(), ("xterm", width, height))[0]
        self.ptys[channel.get_id()] = (term, width, height)
        shell = self._shells.get(channel.get_id())
        if shell is not None:
            if shell.over:
                del self._shells[channel.get_id()]
            else:
                shell.resize(width, height)
        return True

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        return True

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        cmd = command.decode("utf-8", "replace") if isinstance(command, bytes) else command
        env: dict[str, str] = {}
        original = channel.get_transport().get_original_command(channel)
        if original is not None:  # a forced command replaced what the client asked for
            env["SSH_ORIGINAL_COMMAND"] = original.decode("utf-8", "replace")
        self.sessions.start(Session(channel, cmd, env))
        return True

    def check_channel_shell_request(self, channel: Channel) -> bool:
        pty = self.ptys.get(channel.get_id())
        session = Session(channel, None, pty_info=pty)
        if pty is not None:
            self._shells[channel.get_id()] = session
        self.sessions.start(session)
        return True


def serve_connection(
    sock: socket.socket,
    host_key: PKey,
    server: DemoServer,
    root: Path,
    connection: Connection | None = None,
    hardened: bool = False,
) -> None:
    """Run one client connection until it closes (``connection``: its place
    in the listener's limits, which follow the transport's login;
    ``hardened``: offer only ``ssh_transport.hardened``'s algorithms)."""
    transport = Transport(sock)
    if hardened:
        harden(transport.get_security_options())
    if connection is not None:
        connection.watch(transport)
    transport.add_server_key(host_key)
    transport.set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root=str(root))
    try:
        transport.start_server(server=server)
    except (SSHException, OSError, EOFError):
        transport.close()
        return
    # this thread runs the connection's commands until the client leaves
    server.sessions.run(transport)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The server demo's command-line options."""
    parser.add_argument("--root", default=".", help="directory SFTP serves as / (default: .)")
    parser.add_argument("--port", type=int, default=2222, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--state", type=Path, default=None, help="folder for the host key")
    parser.add_argument("--password", default=None, help="password to accept (default: a new one-time password)")
    parser.add_argument(
        "--authorized-keys",
        type=Path,
        default=Path.home() / ".ssh" / "authorized_keys",
        help="public keys that may log in (default: ~/.ssh/authorized_keys)",
    )
    parser.add_argument(
        "--trusted-user-ca-keys",
        type=Path,
        default=None,
        metavar="FILE",
        help="as sshd's TrustedUserCAKeys: user certificates signed by these CA keys (one a line) may log in "
        "when they name the current user as a principal",
    )
    parser.add_argument(
        "--authorized-principals-file",
        default=None,
        metavar="PATTERN",
        help="as sshd's AuthorizedPrincipalsFile (%%u: user, %%h: home): the certificate principals that may "
        "log in, one a line, with authorized_keys options (command=, from=, no-pty, restrict ...)",
    )
    parser.add_argument(
        "--host-certificate",
        type=Path,
        default=None,
        metavar="FILE",
        help="as sshd's HostCertificate: the host key's certificate (-cert.pub), offered to clients",
    )
    parser.add_argument(
        "--hardened",
        action="store_true",
        help="offer only the hardened algorithm preset (post-quantum kex, no NIST curves, no SHA-1, "
        "encrypt-then-MAC only): clients need ML-KEM (OpenSSH 9.9+)",
    )
    limits = ConnectionLimits()
    parser.add_argument(
        "--max-startups",
        type=parse_max_startups,
        default=limits.max_startups,
        metavar="START:RATE:FULL",
        help="as sshd's MaxStartups: with START unauthenticated connections, drop new ones with RATE%% "
        "probability, rising to 100%% at FULL; a single N is a hard limit (default: 10:30:100)",
    )
    parser.add_argument(
        "--per-source-max-startups",
        type=_positive_int,
        default=None,
        metavar="N",
        help="unauthenticated connections one client address may hold (default: no per-address share)",
    )
    parser.add_argument(
        "--max-sessions-per-source",
        type=_positive_int,
        default=None,
        metavar="N",
        help="connections one client address may hold, logged in or not (default: unlimited)",
    )
    parser.add_argument(
        "--login-grace-time",
        type=float,
        default=limits.login_grace_time,
        metavar="SECONDS",
        help="hang up on a client not logged in after this long; 0 waits forever (default: 120)",
    )


def _positive_int(text: str) -> int:
    """A command-line count of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def connection_limits(args: argparse.Namespace) -> ConnectionLimits:
    """The listener's limits from the command line."""
    return ConnectionLimits(
        max_startups=args.max_startups,
        per_source_max_startups=args.per_source_max_startups,
        max_connections_per_source=args.max_sessions_per_source,
        login_grace_time=args.login_grace_time or None,
    )


def run(args: argparse.Namespace) -> int:
    """Listen on 127.0.0.1 and serve clients until interrupted."""
    host_key = load_or_create_host_key(args.state or default_state_dir())
    user = getpass.getuser()
    password = args.password or secrets.token_urlsafe(12)
    authorized = load_authorized_keys(args.authorized_keys)
    if args.host_certificate is not None:
        host_key.load_certificate(str(args.host_certificate))  # refused unless it certifies this key
    cert_policy = None
    if args.trusted_user_ca_keys is not None:
        cert_policy = UserCertificatePolicy.from_files(args.trusted_user_ca_keys, args.authorized_principals_file)
    if args.hardened:
        try:
            hardened_preferences()  # refuse to start when the preset cannot be offered here
        except HardenedUnavailable as exc:
            print(f"--hardened: {exc}", file=sys.stderr, flush=True)
            return 2
    root = Path(args.root).resolve()
    listener = socket.create_server(("127.0.0.1", args.port))
    port = listener.getsockname()[1]

    def handle(conn: Connection) -> None:
        server = DemoServer(user, password, authorized, cert_policy)
        serve_connection(conn.sock, host_key, server, root, conn, hardened=args.hardened)

    accept_loop = Listener(listener, handle, connection_limits(args))
    print(f"listening on 127.0.0.1:{port}", flush=True)
    print(f"host key {host_key.get_name()} {host_key.fingerprint}", flush=True)
    print(f"user {user}, one-time password: {password}", flush=True)
    print(f"sftp root {root}", flush=True)
    print(f"try: ssh -p {port} {user}@127.0.0.1    sftp -P {port} {user}@127.0.0.1", flush=True)
    try:
        accept_loop.serve_forever()  # survives running out of descriptors
    except KeyboardInterrupt:
        return 0
    finally:
        accept_loop.shutdown()
        listener.close()
    return 0
