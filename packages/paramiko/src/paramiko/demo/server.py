"""A real SSH server on 127.0.0.1 built on this library.

Exec and shell run as the current user; SFTP is rooted at ``--root`` through
the local-directory interface. The host key is generated once into a state
folder. Clients get in with a key from the user's ``~/.ssh/authorized_keys``
or with a one-time password printed at start-up. OpenSSH's ``ssh`` and
``sftp`` work against it.
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import os
import secrets
import socket
import threading
from pathlib import Path

from ssh_keys import Ed25519Key, PKey, key_from_line
from ssh_sftp import LocalSFTPServerInterface, SFTPServer
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, Transport
from ssh_transport.channel import Channel
from ssh_wire import SSHException

from .session import run_exec, run_shell


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

    def __init__(self, user: str, password: str, authorized: list[PKey]) -> None:
        self.user = user
        self.password = password
        self.authorized = authorized
        self.ptys: dict[int, tuple[str, int, int]] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.user and hmac.compare_digest(password.encode(), self.password.encode())
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: PKey) -> int:
        ok = username == self.user and any(key == k for k in self.authorized)
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

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
        resize = getattr(channel, "_demo_resize", None)
        if callable(resize):
            resize(width, height)
        return True

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        return True

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        cmd = command.decode("utf-8", "replace") if isinstance(command, bytes) else command
        threading.Thread(target=run_exec, args=(channel, cmd), daemon=True).start()
        return True

    def check_channel_shell_request(self, channel: Channel) -> bool:
        pty = self.ptys.get(channel.get_id())
        threading.Thread(target=run_shell, args=(channel, pty), daemon=True).start()
        return True


def serve_connection(sock: socket.socket, host_key: PKey, server: DemoServer, root: Path) -> None:
    """Run one client connection until it closes."""
    transport = Transport(sock)
    transport.add_server_key(host_key)
    transport.set_subsystem_handler("sftp", SFTPServer, LocalSFTPServerInterface, root=str(root))
    try:
        transport.start_server(server=server)
    except SSHException:
        transport.close()
        return
    while transport.is_active():
        channel = transport.accept(timeout=1.0)
        if channel is None:
            continue


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


def run(args: argparse.Namespace) -> int:
    """Listen on 127.0.0.1 and serve clients until interrupted."""
    host_key = load_or_create_host_key(args.state or default_state_dir())
    user = getpass.getuser()
    password = args.password or secrets.token_urlsafe(12)
    authorized = load_authorized_keys(args.authorized_keys)
    root = Path(args.root).resolve()
    listener = socket.create_server(("127.0.0.1", args.port))
    port = listener.getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    print(f"host key {host_key.get_name()} {host_key.fingerprint}", flush=True)
    print(f"user {user}, one-time password: {password}", flush=True)
    print(f"sftp root {root}", flush=True)
    print(f"try: ssh -p {port} {user}@127.0.0.1    sftp -P {port} {user}@127.0.0.1", flush=True)
    try:
        while True:
            sock, _addr = listener.accept()
            server = DemoServer(user, password, authorized)
            threading.Thread(target=serve_connection, args=(sock, host_key, server, root), daemon=True).start()
    except KeyboardInterrupt:
        return 0
    finally:
        listener.close()
