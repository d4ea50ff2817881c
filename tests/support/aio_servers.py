"""What the asyncio tests share: the server policies several of them use,
the ``aio.listen`` / ``aio.connect`` calls they would otherwise repeat, and
the digest they compare copied files with.

A test with a policy of its own subclasses one of these and adds only what
it checks (a refused request, a certificate policy, ...)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ssh_keys
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_SUCCEEDED, ServerInterface, aio
from support.sshd import SSHD

HOST = "127.0.0.1"


class SessionServer(ServerInterface):
    """Session channels open and exec requests run; who may log in is the
    subclass's choice."""

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        return True


class PasswordServer(SessionServer):
    """Password "pw", for any user."""

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        return AUTH_SUCCESSFUL if password == "pw" else AUTH_FAILED


class NoneAuthServer(SessionServer):
    """Anyone, without credentials (the "none" method)."""

    def get_allowed_auths(self, username: str) -> str:
        return "none"

    def check_auth_none(self, username: str) -> int:
        return AUTH_SUCCESSFUL


class KeyServer(SessionServer):
    """Public-key login with the one key ``allowed``, for any user."""

    def __init__(self, allowed: Any) -> None:
        self.allowed = allowed

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        return AUTH_SUCCESSFUL if key.asbytes() == self.allowed.asbytes() else AUTH_FAILED


async def listen_local(
    server_factory: Callable[[], ServerInterface],
    process_factory: Callable[[aio.SSHServerProcess], Any] | None = None,
    *,
    host_keys: Iterable[Any],
    **kw: Any,
) -> aio.SSHServer:
    """``aio.listen`` on a free port of 127.0.0.1 (``kw``: its other options)."""
    return await aio.listen(
        HOST, 0, host_keys=list(host_keys), server_factory=server_factory, process_factory=process_factory, **kw
    )


def known_hosts_for(port: int, key: Any, host: str = HOST) -> ssh_keys.HostKeys:
    """A ``known_hosts`` that lists ``key`` for ``[host]:port`` only."""
    known = ssh_keys.HostKeys()
    known.add(f"[{host}]:{port}", key.get_name(), key)
    return known


def connect_local(port: int, host_key: Any = None, *, host: str = HOST, **kw: Any) -> Any:
    """``aio.connect`` to ``host:port`` with nothing from ``~/.ssh`` or an
    agent; the server must show ``host_key`` (no host key check without
    one). ``kw``: credentials and other options (they override these)."""
    args: dict[str, Any] = {
        "known_hosts": None if host_key is None else known_hosts_for(port, host_key, host),
        "look_for_keys": False,
        "allow_agent": False,
    }
    args.update(kw)
    return aio.connect(host, port, **args)


def connect_sshd(sshd: SSHD, kind: str | None = "ed25519", **kw: Any) -> Any:
    """``aio.connect`` to the test ``sshd`` as its user, with its client key
    of type ``kind`` (None: no key file) and its ``known_hosts``, nothing
    from ``~/.ssh`` or an agent; ``kw`` overrides any of these."""
    args: dict[str, Any] = {
        "username": sshd.user,
        "known_hosts": str(sshd.known_hosts),
        "look_for_keys": False,
        "allow_agent": False,
    }
    if kind is not None:
        args["key_filename"] = str(sshd.client_keys[kind])
    args.update(kw)
    return aio.connect(sshd.host, sshd.port, **args)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a local file, to compare a copy with its source."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
