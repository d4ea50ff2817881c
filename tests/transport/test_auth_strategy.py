"""``ssh_transport.auth_strategy`` (published as ``paramiko.auth_strategy``)
against our own server: every source kind, failures collected into
``AuthFailure``, partial success, laziness of the password getter, and the
reprs/strings paramiko prints."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from ssh_transport import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    BadAuthenticationType,
    ServerInterface,
    Transport,
)
from ssh_transport.auth_strategy import (
    AuthFailure,
    AuthResult,
    AuthSource,
    AuthStrategy,
    InMemoryPrivateKey,
    NoneAuth,
    OnDiskPrivateKey,
    Password,
    PrivateKey,
    SourceResult,
)
from ssh_wire import AuthenticationException
from support.corepair import host_key

pytestmark = pytest.mark.timeout(60)

USER_KEY = host_key("ecdsa")


class Server(ServerInterface):
    """bob: password "pw" or USER_KEY (only a first step when ``partial``);
    nobody: the "none" method."""

    def __init__(self, partial: bool = False) -> None:
        self.partial = partial
        self.allowed = "publickey,password"
        self.seen: list[str] = []

    def get_allowed_auths(self, username: str) -> str:
        return self.allowed

    def check_auth_none(self, username: str) -> int:
        self.seen.append("none")
        return AUTH_SUCCESSFUL if username == "nobody" else AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        self.seen.append("password")
        return AUTH_SUCCESSFUL if username == "bob" and password == "pw" else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        self.seen.append("publickey")
        if username != "bob" or key != USER_KEY:
            return AUTH_FAILED
        if self.partial:
            self.allowed = "password"
            return AUTH_PARTIALLY_SUCCESSFUL
        return AUTH_SUCCESSFUL


@contextlib.contextmanager
def connected(server: Server) -> Iterator[Transport]:
    """A client transport after key exchange with a server running ``server``."""
    a, b = socket.socketpair()
    st = Transport(b)
    st.add_server_key(host_key("ed25519"))
    ct = Transport(a)

    def run() -> None:
        with contextlib.suppress(Exception):
            st.start_server(server=server)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        ct.start_client(timeout=20)
        th.join(20)
        yield ct
    finally:
        ct.close()
        st.close()


class Fixed(AuthStrategy):
    """A strategy that yields the sources it was given, counting how many
    were actually pulled (sources are produced lazily)."""

    def __init__(self, *sources: AuthSource) -> None:
        super().__init__(ssh_config={})
        self.sources = sources
        self.pulled = 0

    def get_sources(self) -> Iterator[AuthSource]:
        for source in self.sources:
            self.pulled += 1
            yield source


def test_password_source_logs_in() -> None:
    strategy = Fixed(Password("bob", lambda: "pw"))
    with connected(Server()) as t:
        result = strategy.authenticate(t)
        assert t.is_authenticated()
        assert t.get_username() == "bob"
    assert isinstance(result, AuthResult) and isinstance(result, list)
    assert result.strategy is strategy
    assert result == [SourceResult(strategy.sources[0], [])]
    assert str(result) == "Password(user='bob') -> success"


def test_in_memory_key_logs_in_and_stops_at_the_first_success() -> None:
    asked: list[str] = []

    def getter() -> str:
        asked.append("asked")
        return "pw"

    strategy = Fixed(InMemoryPrivateKey("bob", USER_KEY), Password("bob", getter))
    with connected(Server()) as t:
        result = strategy.authenticate(t)
        assert t.is_authenticated()
    assert len(result) == 1
    assert result[0].source is strategy.sources[0]
    assert result[0].result == []
    assert asked == []  # the password was never needed, so never fetched
    assert strategy.pulled == 1


def test_on_disk_key_logs_in(tmp_path: Path) -> None:
    path = tmp_path / "id_ecdsa"
    USER_KEY.write_private_key_file(str(path))
    key = ssh_keys.PKey.from_path(path)
    source = OnDiskPrivateKey(username="bob", source="ssh-config", path=path, pkey=key)
    with connected(Server()) as t:
        Fixed(source).authenticate(t)
        assert t.is_authenticated()
    assert repr(source) == f"OnDiskPrivateKey(key={key!r}, source='ssh-config', path={str(path)!r})"


def test_on_disk_key_source_must_be_known() -> None:
    with pytest.raises(ValueError, match="source argument must be one of"):
        OnDiskPrivateKey(username="bob", source="somewhere", path="/x", pkey=USER_KEY)


def test_none_auth() -> None:
    server = Server()
    with connected(server) as t:
        result = Fixed(NoneAuth("nobody")).authenticate(t)
        assert t.is_authenticated()
    assert server.seen == ["none"]
    assert str(result) == "NoneAuth() -> success"


def test_failures_are_collected_then_success() -> None:
    wrong = Password("bob", lambda: "nope")
    none = NoneAuth("bob")
    right = Password("bob", lambda: "pw")
    with connected(Server()) as t:
        result = Fixed(wrong, none, right).authenticate(t)
        assert t.is_authenticated()
    assert [r.source for r in result] == [wrong, none, right]
    assert isinstance(result[0].result, AuthenticationException)
    assert isinstance(result[1].result, BadAuthenticationType)
    assert result[2].result == []


def test_every_source_failing_raises_auth_failure_with_all_results() -> None:
    stranger = ssh_keys.Ed25519Key.generate()

    def broken_getter() -> str:
        raise RuntimeError("secrets store unreachable")

    sources = (
        InMemoryPrivateKey("bob", stranger),
        Password("bob", lambda: "wrong"),
        Password("bob", broken_getter),
    )
    strategy = Fixed(*sources)
    with connected(Server()) as t:
        with pytest.raises(AuthFailure) as info:
            strategy.authenticate(t)
        assert not t.is_authenticated()
    failure = info.value
    assert isinstance(failure, AuthenticationException)
    assert failure.result.strategy is strategy
    assert [r.source for r in failure.result] == list(sources)
    assert isinstance(failure.result[0].result, AuthenticationException)
    assert isinstance(failure.result[1].result, AuthenticationException)
    assert isinstance(failure.result[2].result, RuntimeError)
    text = str(failure)
    assert text.startswith("\n")
    lines = text[1:].split("\n")
    assert lines[0] == f"InMemoryPrivateKey(pkey={stranger!r}) -> Authentication failed."
    assert lines[1] == "Password(user='bob') -> Authentication failed."
    assert lines[2] == "Password(user='bob') -> secrets store unreachable"


def test_no_sources_at_all_is_a_failure() -> None:
    with connected(Server()) as t:
        with pytest.raises(AuthFailure) as info:
            Fixed().authenticate(t)
    assert list(info.value.result) == []
    assert str(info.value) == "\n"


def test_partial_success_goes_on_to_the_next_source() -> None:
    server = Server(partial=True)
    key = InMemoryPrivateKey("bob", USER_KEY)
    password = Password("bob", lambda: "pw")
    with connected(server) as t:
        result = Fixed(key, password).authenticate(t)
        assert t.is_authenticated()
    assert server.seen == ["publickey", "password"]
    assert result[0].result == ["password"]
    assert result[1].result == []
    assert str(result) == f"{key!r} -> ['password']\nPassword(user='bob') -> success"


def test_partial_success_alone_is_a_failure() -> None:
    with connected(Server(partial=True)) as t:
        with pytest.raises(AuthFailure) as info:
            Fixed(InMemoryPrivateKey("bob", USER_KEY)).authenticate(t)
        assert not t.is_authenticated()
    assert info.value.result[0].result == ["password"]


def test_reprs_match_paramiko() -> None:
    assert repr(AuthSource(username="bob")) == "AuthSource()"
    assert repr(NoneAuth("bob")) == "NoneAuth()"
    assert repr(PrivateKey("bob")) == "PrivateKey()"
    assert repr(Password(username="bob", password_getter=lambda: "x")) == "Password(user='bob')"
    assert repr(InMemoryPrivateKey("bob", USER_KEY)) == f"InMemoryPrivateKey(pkey={USER_KEY!r})"
    assert repr(SourceResult(NoneAuth("a"), [])) == "SourceResult(source=NoneAuth(), result=[])"


def test_base_classes_must_be_filled_in() -> None:
    with pytest.raises(NotImplementedError):
        AuthSource("bob").authenticate(None)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        list(AuthStrategy(ssh_config={}).get_sources())


def test_auth_result_is_a_plain_list_with_a_strategy() -> None:
    strategy = AuthStrategy(ssh_config={"user": "bob"})
    assert strategy.ssh_config == {"user": "bob"}
    result = AuthResult(strategy, [SourceResult(NoneAuth("a"), ["password"])])
    assert result.strategy is strategy
    assert len(result) == 1
    assert str(result) == "NoneAuth() -> ['password']"
    assert repr(result) == "[SourceResult(source=NoneAuth(), result=['password'])]"
    failure = AuthFailure(result=result)
    assert failure.result is result
