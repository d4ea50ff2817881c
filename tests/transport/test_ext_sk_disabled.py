"""``disabled_algorithms={"pubkeys": [...]}`` can name a FIDO (sk-) algorithm
alone: it leaves server-sig-algs and is refused in user authentication,
while its curve's plain algorithm and the other sk algorithm stay."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ssh_keys import Ed25519Key
from ssh_transport import AUTH_FAILED, AUTH_SUCCESSFUL, AuthenticationException, ServerInterface, Transport
from support.polling import wait_until
from support.sktoken import SoftToken

pytestmark = pytest.mark.timeout(60)

ECDSA_SK = "sk-ecdsa-sha2-nistp256@openssh.com"
ED25519_SK = "sk-ssh-ed25519@openssh.com"
DISABLED = {"pubkeys": [ED25519_SK]}


class TokenKey:
    """A client key that signs on a software token directly."""

    public_blob = None

    def __init__(self, token: SoftToken) -> None:
        self.token = token

    def get_name(self) -> str:
        return self.token.public_key.get_name()

    def asbytes(self) -> bytes:
        return self.token.public_key.asbytes()

    @property
    def signature_algorithms(self) -> tuple[str, ...]:
        return (self.get_name(),)

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> bytes:
        return self.token.sign(data)


class KeyServer(ServerInterface):
    def __init__(self, keys: list[Any]) -> None:
        self.keys = keys

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: Any) -> int:
        return AUTH_SUCCESSFUL if any(key.asbytes() == k.asbytes() for k in self.keys) else AUTH_FAILED


@pytest.fixture
def pair() -> Iterator[Any]:
    made: list[Transport] = []

    def connect(token: SoftToken, client_disabled: Any = None) -> tuple[Transport, Transport]:
        a, b = socket.socketpair()
        server = Transport(a, disabled_algorithms=DISABLED)
        server.add_server_key(Ed25519Key.generate())
        client = Transport(b, disabled_algorithms=client_disabled)
        made.extend([server, client])
        started = threading.Thread(target=server.start_server, kwargs={"server": KeyServer([token.public_key])})
        started.start()
        client.start_client(timeout=10)
        started.join(10)
        return server, client

    yield connect
    for t in made:
        t.close()


def _sig_algs(client: Transport) -> list[str]:
    assert wait_until(lambda: "server-sig-algs" in client.server_extensions)  # EXT_INFO follows NEWKEYS
    return client.server_extensions["server-sig-algs"].decode().split(",")


def test_server_drops_only_the_named_sk_algorithm(pair: Any) -> None:
    _, client = pair(SoftToken("ed25519"))
    algs = _sig_algs(client)
    assert ED25519_SK not in algs
    assert "ssh-ed25519" in algs and ECDSA_SK in algs


def test_server_refuses_the_disabled_sk_algorithm(pair: Any) -> None:
    token = SoftToken("ed25519")
    _, client = pair(token)
    with pytest.raises(AuthenticationException):
        client.auth_publickey("alice", TokenKey(token))


def test_server_still_takes_the_other_sk_algorithm(pair: Any) -> None:
    token = SoftToken("ecdsa")
    _, client = pair(token)
    assert client.auth_publickey("alice", TokenKey(token)) == []
    assert client.is_authenticated()


def test_client_drops_only_the_named_sk_algorithm(pair: Any) -> None:
    _, client = pair(SoftToken("ecdsa"), DISABLED)
    assert client._core is not None and client._core.client_auth is not None
    allowed = client._core.client_auth.allowed_algorithms
    assert ED25519_SK not in allowed
    assert "ssh-ed25519" in allowed and ECDSA_SK in allowed
