"""Client-side authentication methods of ``Transport`` (a mixin).

Each method sends one request through the protocol core and waits (with the
transport's ``auth_timeout``) for the reply the reader thread stores.

Public-key requests are signed here, between the core's
``auth_publickey_begin`` and ``auth_publickey_signature`` and without the
transport lock, so an agent or a security key may take its time. Before an
agent key signs, the agent connection is bound to this session with
``session-bind@openssh.com`` (agents that do not know it are used anyway).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ssh_wire import (
    AuthenticationException,
    BadAuthenticationType,
    SSHException,
    get_logger,
)

from .protocol import events as ev

if TYPE_CHECKING:
    from .protocol.core import SSHProtocol

InteractiveHandler = Callable[[str, str, list[tuple[str, bool]]], Sequence[str]]

_log = get_logger("ssh_transport.client_auth")


def _sign(key: Any, data: bytes, algorithm: str) -> bytes:
    """``key``'s signature blob over ``data`` (keys without an algorithm
    argument, as paramiko 1.x had them, sign with their default)."""
    try:
        sig = key.sign_ssh_data(data, algorithm)
    except TypeError:
        sig = key.sign_ssh_data(data)
    return bytes(sig.asbytes() if hasattr(sig, "asbytes") else sig)


class ClientAuthMixin:
    """``auth_none``, ``auth_password``, ``auth_publickey``, ``auth_interactive``."""

    _lock: Any
    _cond: threading.Condition
    _core: SSHProtocol | None
    _auth_reply: ev.Event | None
    auth_timeout: float | None
    active: bool

    if TYPE_CHECKING:

        def _flush(self, deadline: float | None = None) -> None:  # provided by Transport
            raise NotImplementedError

    if TYPE_CHECKING:

        def _saved_exception(self) -> Exception | None:  # provided by Transport
            raise NotImplementedError

        def _wait_cond(self, timeout: float | None = None) -> bool:  # provided by Transport
            raise NotImplementedError

    def _send_auth(self, send: Callable[[SSHProtocol], None]) -> None:
        with self._lock:
            core = self._core
            if core is None or not self.active:
                raise self._saved_exception() or SSHException("No existing session")
            if core.role != "client":
                raise SSHException("authentication is for clients")
            self._auth_reply = None
            send(core)
        self._flush(self._auth_deadline())

    def get_session_binding(self) -> tuple[bytes, bytes, bytes] | None:
        """(server host key blob, session id, the host key's signature over
        the session id) from the first key exchange, as an agent's
        ``session-bind@openssh.com`` takes them; None before the exchange."""
        with self._lock:
            core = self._core
            return None if core is None else core.session_binding

    def _on_ServiceAccepted(self, e: ev.ServiceAccepted) -> None:
        with self._lock:
            self._cond.notify_all()

    def _await_auth_service(self) -> None:
        """Ask for the ssh-userauth service and wait for it: the server's
        EXT_INFO comes before SERVICE_ACCEPT, so what it offers
        (server-sig-algs, publickey-hostbound) is known before we sign."""
        with self._lock:
            core = self._core
            if core is None or not self.active:
                raise self._saved_exception() or SSHException("No existing session")
            if core.role != "client":
                raise SSHException("authentication is for clients")
            if core.auth_service_accepted:
                return
            core.auth_request_service()
        deadline = self._auth_deadline()
        self._flush(deadline)
        with self._lock:
            while not core.auth_service_accepted:
                if not self.active:
                    raise self._saved_exception() or SSHException("Authentication failed: transport closed")
                if deadline is None:
                    self._wait_cond()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AuthenticationException("Authentication timeout.")
                self._wait_cond(remaining)

    def _bind_agent(self, key: Any) -> None:
        """Bind the agent holding ``key`` (if it is an agent key) to this
        session before it signs (PROTOCOL.agent session-bind@openssh.com);
        an agent that refuses or does not know the extension is used as is."""
        bind = getattr(getattr(key, "agent", None), "session_bind", None)
        if bind is None:
            return
        binding = self.get_session_binding()
        if binding is None:
            return
        try:
            if not bind(*binding, False):
                _log.debug("the agent did not accept session-bind@openssh.com; using it unbound")
        except SSHException as exc:
            _log.debug("session-bind@openssh.com failed: %s", exc)

    def _auth_deadline(self) -> float | None:
        """When a wait for the server's answer that starts now gives up
        (``auth_timeout``; None waits for ever, as in paramiko)."""
        timeout = self.auth_timeout
        return None if timeout is None else time.monotonic() + timeout

    def _wait_auth_reply(self) -> ev.Event:
        deadline = self._auth_deadline()
        with self._lock:
            while self._auth_reply is None:
                if not self.active:
                    raise self._saved_exception() or SSHException("Authentication failed: transport closed")
                if deadline is None:
                    self._wait_cond()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AuthenticationException("Authentication timeout.")
                self._wait_cond(remaining)
            reply, self._auth_reply = self._auth_reply, None
            return reply

    def _conclude(self, method: str, reply: ev.Event) -> list[str]:
        if isinstance(reply, ev.AuthSucceeded):
            return []
        if isinstance(reply, ev.AuthFailed):
            if reply.partial:
                return list(reply.allowed)
            if method not in reply.allowed:
                raise BadAuthenticationType("Bad authentication type", list(reply.allowed))
            raise AuthenticationException("Authentication failed.")
        if isinstance(reply, ev.PasswordChangeRequested):
            raise AuthenticationException(f"Server requires a password change: {reply.prompt}")
        raise SSHException(f"unexpected authentication reply {type(reply).__name__}")

    def _in_background(self, event: threading.Event, fn: Callable[[], list[str]]) -> list[str]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:
                self._auth_exception = exc
            finally:
                event.set()

        threading.Thread(target=run, name="ssh-auth", daemon=True).start()
        return []

    _auth_exception: Exception | None = None

    def auth_none(self, username: str) -> list[str]:
        """Try to log in with no credentials; usually raises
        ``BadAuthenticationType`` whose ``allowed_types`` lists what the server wants."""
        self._send_auth(lambda core: core.auth_none(username))
        return self._conclude("none", self._wait_auth_reply())

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
            return self._in_background(event, lambda: self.auth_password(username, password, None, fallback))
        pw = password.decode("utf-8") if isinstance(password, (bytes, bytearray)) else password
        self._send_auth(lambda core: core.auth_password(username, pw))
        try:
            return self._conclude("password", self._wait_auth_reply())
        except BadAuthenticationType as exc:
            if not fallback or "keyboard-interactive" not in exc.allowed_types:
                raise

            def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
                if len(prompts) > 1:
                    raise SSHException("Fallback authentication failed.")
                return [pw] * len(prompts)

            try:
                return self.auth_interactive(username, answer)
            except SSHException:
                raise exc from None

    def auth_publickey(self, username: str, key: Any, event: threading.Event | None = None) -> list[str]:
        """Log in with a private key (a ``PKey`` or an agent key). RSA keys
        sign with rsa-sha2-512/256 as the server's server-sig-algs allows."""
        if event is not None:
            return self._in_background(event, lambda: self.auth_publickey(username, key))
        self._await_auth_service()
        self._bind_agent(key)
        with self._lock:
            core = self._core
            if core is None or not self.active:
                raise self._saved_exception() or SSHException("No existing session")
            req = core.auth_publickey_begin(username, key)
        try:
            signature = _sign(key, req.data, req.algorithm)  # no lock: an agent or a token may be slow
        except BaseException:
            with self._lock:
                core.auth_publickey_cancel()
            raise
        self._send_auth(lambda core: core.auth_publickey_signature(signature))
        return self._conclude("publickey", self._wait_auth_reply())

    def auth_interactive(self, username: str, handler: InteractiveHandler, submethods: str = "") -> list[str]:
        """Keyboard-interactive login: ``handler(title, instructions, prompts)``
        gets a list of ``(prompt, echo)`` and returns the answers; it may be
        called several times."""
        self._send_auth(lambda core: core.auth_interactive(username, submethods))
        while True:
            reply = self._wait_auth_reply()
            if not isinstance(reply, ev.AuthInfoRequested):
                return self._conclude("keyboard-interactive", reply)
            answers = [str(a) for a in handler(reply.name, reply.instructions, list(reply.prompts))]
            if len(answers) != len(reply.prompts):
                raise AuthenticationException("handler gave the wrong number of answers")
            self._send_auth(lambda core, answers=answers: core.auth_info_response(answers))  # type: ignore[misc]

    def auth_interactive_dumb(
        self, username: str, handler: InteractiveHandler | None = None, submethods: str = ""
    ) -> list[str]:
        """Keyboard-interactive on the terminal: print each prompt, read answers."""
        import getpass

        def ask(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
            if title:
                print(title)
            if instructions:
                print(instructions)
            return [input(p) if echo else getpass.getpass(p) for p, echo in prompts]

        return self.auth_interactive(username, handler or ask, submethods)


__all__ = ["ClientAuthMixin"]
