"""FIDO ``sk-`` keys on the asyncio server: the asyncio client signs through
an agent driving a software token (support.sktoken), the server judges the
token's flags with the policy shared with the threaded server
(``server_policy.ServerPolicy``): a touch is required by default,
``check_auth_security_key`` sees flags and counter, and the signature that
let the client in is kept (``get_security_key_signature``)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paramiko import aio as paramiko_aio
from ssh_keys import SK_USER_PRESENCE_REQD, Ed25519Key, SKSignature
from ssh_transport import AuthenticationException, aio
from support.aio_servers import KeyServer, listen_local
from support.sktoken import SoftToken, sk_agent

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sk") as d:
        yield Path(d)


class SKServer(KeyServer):
    """Lets in the token's key; records what ``check_auth_security_key`` saw."""

    def __init__(self, authorized: Any, seen: list[tuple[int, int]], verify: bool = False) -> None:
        super().__init__(authorized)
        self.seen = seen
        self.security_key_verify_required = verify

    def check_auth_security_key(self, username: str, key: Any, signature: SKSignature) -> int:
        self.seen.append((signature.flags, signature.counter))
        return super().check_auth_security_key(username, key, signature)


async def counter(proc: aio.SSHServerProcess) -> int:
    conn = proc.connection
    assert isinstance(conn, aio.SSHServerConnection)
    sig = conn.get_security_key_signature()
    proc.stdout.write(f"{sig.counter if sig else None}".encode())
    return 0


def login(token: SoftToken, workdir: Path, monkeypatch: pytest.MonkeyPatch, verify: bool = False) -> Any:
    """Log in with ``token`` through the agent; the command's output, or None
    when refused, and what the server's hook saw."""
    seen: list[tuple[int, int]] = []

    async def main() -> str | None:
        async with await listen_local(
            lambda: SKServer(token.public_key, seen, verify), counter, host_keys=[Ed25519Key.generate()]
        ) as server:
            try:
                async with paramiko_aio.connect(
                    "127.0.0.1", server.port, username="alice", known_hosts=None, look_for_keys=False
                ) as conn:
                    return str((await conn.run("x")).stdout)
            except AuthenticationException:
                return None

    with sk_agent(workdir, [token]) as agent:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(agent.path))
        return asyncio.run(asyncio.wait_for(main(), 45)), seen


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_aio_server_accepts_a_touched_sk_key(kind: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = SoftToken(kind)
    out, seen = login(token, workdir, monkeypatch)
    assert out == "1"
    assert seen == [(SK_USER_PRESENCE_REQD, 1)]


def test_aio_server_refuses_an_untouched_sk_key(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, seen = login(SoftToken("ecdsa", flags=0), workdir, monkeypatch)
    assert out is None
    assert seen == [(0, 1)]


def test_aio_server_requires_verification_when_asked(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = login(SoftToken("ed25519"), workdir, monkeypatch, verify=True)
    assert out is None
