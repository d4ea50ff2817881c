"""Pluggable client authentication (paramiko 3.2+'s ``paramiko.auth_strategy``).

An ``AuthStrategy`` yields ``AuthSource`` objects (a password getter, a key in
memory or loaded from disk, "none") in the order they should be tried;
``authenticate(transport)`` tries them one by one until the server lets us in
and returns an ``AuthResult`` listing every attempt, or raises ``AuthFailure``
carrying that list. ``SSHClient.connect(auth_strategy=...)`` hands the whole
login to a strategy; Fabric's ``OpenSSHAuthStrategy`` is a subclass.

The reprs of sources and the text of results match paramiko's, because
programs (Fabric among them) log them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

from ssh_wire import AuthenticationException, get_logger

__all__ = [
    "AuthFailure",
    "AuthResult",
    "AuthSource",
    "AuthStrategy",
    "InMemoryPrivateKey",
    "NoneAuth",
    "OnDiskPrivateKey",
    "Password",
    "PrivateKey",
    "SourceResult",
]

# Where an ``OnDiskPrivateKey`` may say its path came from (paramiko's set).
_KEY_SOURCES = ("ssh-config", "python-config", "implicit-home")


class AuthTransport(Protocol):
    """The part of a client ``Transport`` that sources and strategies use."""

    def auth_none(self, username: str) -> list[str]:
        """Try the "none" method."""
        ...

    def auth_password(self, username: str, password: str) -> list[str]:
        """Try a password."""
        ...

    def auth_publickey(self, username: str, key: Any) -> list[str]:
        """Try a private key."""
        ...

    def is_authenticated(self) -> bool:
        """Whether the server has let us in."""
        ...


class AuthSource:
    """One way of proving who we are, for ``username``.

    Subclasses implement ``authenticate``; every subclass takes at least a
    ``username`` keyword argument.
    """

    def __init__(self, username: str) -> None:
        """Remember who this source logs in as."""
        self.username = username

    def _repr(self, **fields: Any) -> str:
        """``ClassName(k=v!r, ...)``: the form paramiko logs sources in."""
        inner = ", ".join(f"{name}={value!r}" for name, value in fields.items())
        return f"{type(self).__name__}({inner})"

    def __repr__(self) -> str:
        return self._repr()

    def authenticate(self, transport: AuthTransport) -> list[str]:
        """Try this source on ``transport``: returns the methods still needed
        (``[]`` once logged in) or raises an ``SSHException``."""
        raise NotImplementedError


class NoneAuth(AuthSource):
    """The "none" method (RFC 4252 section 5.2): a server that needs nothing
    else lets us in; others answer with the methods they accept."""

    def authenticate(self, transport: AuthTransport) -> list[str]:
        """Send a "none" request."""
        return transport.auth_none(self.username)


class Password(AuthSource):
    """Password login, with the password fetched only when it is needed.

    ``password_getter`` is called with no arguments at authentication time
    (a prompt, a secrets-store lookup, or ``lambda: known_value``), so nobody
    is asked for a password a key already made unnecessary.
    """

    def __init__(self, username: str, password_getter: Callable[[], str]) -> None:
        """Log in as ``username`` with whatever ``password_getter()`` returns."""
        super().__init__(username=username)
        self.password_getter = password_getter

    def __repr__(self) -> str:
        return self._repr(user=self.username)

    def authenticate(self, transport: AuthTransport) -> list[str]:
        """Fetch the password and send it."""
        return transport.auth_password(self.username, self.password_getter())


class PrivateKey(AuthSource):
    """Public-key login with ``self.pkey``, which subclasses must have set (to
    a key that can sign: decrypted, or held by an agent) before
    ``authenticate`` runs."""

    pkey: Any

    def authenticate(self, transport: AuthTransport) -> list[str]:
        """Offer ``self.pkey`` and sign with it."""
        return transport.auth_publickey(self.username, self.pkey)


def _held_by_agent(key: Any) -> bool:
    """Whether ``key`` is an ssh-agent key (shown as ``[agent]`` in reprs).

    ssh_agent sits above this layer and is not imported here; an agent key
    can only exist once its module has been loaded, so looking it up in
    ``sys.modules`` answers exactly without importing it.
    """
    module = sys.modules.get("ssh_agent.agent")
    agent_key = getattr(module, "AgentKey", None) if module is not None else None
    return agent_key is not None and isinstance(key, agent_key)


class InMemoryPrivateKey(PrivateKey):
    """A key that is already usable: loaded and decrypted, or an agent's."""

    def __init__(self, username: str, pkey: Any) -> None:
        """Log in as ``username`` with ``pkey``."""
        super().__init__(username=username)
        self.pkey = pkey

    def __repr__(self) -> str:
        text = self._repr(pkey=self.pkey)
        return f"{text} [agent]" if _held_by_agent(self.pkey) else text


class OnDiskPrivateKey(PrivateKey):
    """A key loaded from a file, remembering where its path came from.

    ``source`` is one of ``"ssh-config"``, ``"python-config"`` or
    ``"implicit-home"`` (``ValueError`` otherwise); ``path`` and ``source``
    only make logs and results readable.
    """

    def __init__(self, username: str, source: str, path: str | os.PathLike[str], pkey: Any) -> None:
        """Log in as ``username`` with ``pkey``, read from ``path``."""
        super().__init__(username=username)
        if source not in _KEY_SOURCES:
            raise ValueError(f"source argument must be one of: {_KEY_SOURCES!r}")
        self.source = source
        self.path = path
        self.pkey = pkey

    def __repr__(self) -> str:
        return self._repr(key=self.pkey, source=self.source, path=str(self.path))


class SourceResult(NamedTuple):
    """One attempt: the source tried and what came of it (the list of methods
    still needed, ``[]`` meaning success, or the exception it raised)."""

    source: AuthSource
    result: Any


class AuthResult(list[SourceResult]):
    """Every attempt of one ``AuthStrategy.authenticate`` run, in order.

    A list of ``SourceResult``; ``strategy`` is the strategy that ran.
    ``str()`` gives one line per attempt, ``source -> result``, with an empty
    result written as ``success``.
    """

    def __init__(self, strategy: AuthStrategy | None, *args: Any, **kwargs: Any) -> None:
        """An (initially empty, unless items are given) record for ``strategy``."""
        self.strategy = strategy
        super().__init__(*args, **kwargs)

    def __str__(self) -> str:
        return "\n".join(f"{item.source} -> {item.result or 'success'}" for item in self)


class AuthFailure(AuthenticationException):
    """No source got us in; ``result`` (an ``AuthResult``) says what each
    attempt gave. An ``AuthenticationException``, so existing handlers catch it."""

    def __init__(self, result: AuthResult) -> None:
        """Wrap the failed run's ``result``."""
        super().__init__(result)
        self.result = result

    def __str__(self) -> str:
        return "\n" + str(self.result)


class AuthStrategy:
    """An ordered plan of authentication attempts.

    Subclasses take at least an ``ssh_config`` keyword argument (the host's
    ssh_config settings, e.g. from ``SSHConfig.lookup``) and override
    ``get_sources``; ``authenticate`` rarely needs changing.
    """

    def __init__(self, ssh_config: Any) -> None:
        """Keep ``ssh_config`` for ``get_sources`` to consult."""
        self.ssh_config = ssh_config
        self.log = get_logger("paramiko.auth_strategy")

    def get_sources(self) -> Iterator[AuthSource]:
        """The sources to try, best first (a generator, so later sources can
        be prepared lazily)."""
        raise NotImplementedError

    def authenticate(self, transport: AuthTransport) -> AuthResult:
        """Try each source until the server lets us in.

        A source that raises is recorded and the next one tried. A partial
        success (the server wants a further method, as in key-then-password
        two-factor setups) is recorded and the remaining sources are tried
        for the next step; paramiko stops there and leaves the transport
        unauthenticated. Returns the ``AuthResult``.

        :raises AuthFailure: no source completed the login.
        """
        overall = AuthResult(strategy=self)
        for source in self.get_sources():
            self.log.debug("Trying %s", source)
            try:
                result: Any = source.authenticate(transport)
            except Exception as exc:
                result = exc
                self.log.info("Authentication via %s failed with %s", source, type(exc).__name__)
            overall.append(SourceResult(source, result))
            if isinstance(result, Exception):
                continue
            if not result or transport.is_authenticated():
                return overall
            self.log.info("Authentication via %s partially succeeded; the server also wants %s", source, result)
        raise AuthFailure(result=overall)
