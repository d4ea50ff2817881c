"""``ClientAuth``: the client side of user authentication for ``Transport``.

Each method sends one request through the protocol core and waits (with the
transport's ``auth_timeout``) for the reply the reader thread hands to
``on_reply``. ``Transport.auth_*`` are thin calls into one ``ClientAuth``.

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
    from .socket_pump import SocketPump

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


class ClientAuth:
    """Logs a client transport in: ``none``, ``password``, ``publickey``,
    ``interactive``. The transport's lock and condition guard the reply."""

    def __init__(
        self,
        pump: SocketPump,
        cond: threading.Condition,
        why_down: Callable[[], Exception | None],
        timeout: Callable[[], float | None],
    ) -> None:
        """Authenticate on the session ``pump`` drives. ``cond`` is the
        transport's condition (woken by replies and at shutdown),
        ``why_down()`` the error that ended the session, ``timeout()`` the
        transport's current ``auth_timeout``."""
        self._pump = pump
        self._lock = pump.lock
        self._cond = cond
        self._why_down = why_down
        self._timeout = timeout
        self._reply: ev.Event | None = None
        self._background_error: Exception | None = None

    # -- driven by the reader thread ---------------------------------------------

    def on_reply(self, e: ev.Event) -> None:
        """(Lock held.) The server answered an auth request."""
        self._reply = e
        self._cond.notify_all()

    def take_background_error(self) -> Exception | None:
        """(Lock held.) The error of an auth run with an ``event``, once."""
        error, self._background_error = self._background_error, None
        return error

    # -- waiting ----------------------------------------------------------------------

    def _core(self) -> SSHProtocol:
        """(Lock held.) The core of a live client session, or raise."""
        core = self._pump.core
        if core is None or not self._pump.running:
            raise self._why_down() or SSHException("No existing session")
        if core.role != "client":
            raise SSHException("authentication is for clients")
        return core

    def _wait_until(self, done: Callable[[], bool], deadline: float | None) -> None:
        """(Lock held.) Wait, with a thread reading the socket, until
        ``done()``; ``AuthenticationException`` past ``deadline``, the
        session's error if it ends first."""
        outcome = self._pump.wait_until(self._cond, done, deadline)
        if outcome == "closed":
            raise self._why_down() or SSHException("Authentication failed: transport closed")
        if outcome == "timeout":
            raise AuthenticationException("Authentication timeout.")

    def _deadline(self) -> float | None:
        """When a wait for the server's answer that starts now gives up
        (``auth_timeout``; None waits for ever, as in paramiko)."""
        timeout = self._timeout()
        return None if timeout is None else time.monotonic() + timeout

    def _send(self, send: Callable[[SSHProtocol], None]) -> None:
        with self._lock:
            core = self._core()
            self._reply = None
            send(core)
        self._pump.flush(self._deadline())

    def session_binding(self) -> tuple[bytes, bytes, bytes] | None:
        """(server host key blob, session id, the host key's signature over
        the session id) from the first key exchange, as an agent's
        ``session-bind@openssh.com`` takes them; None before the exchange."""
        with self._lock:
            core = self._pump.core
            return None if core is None else core.session_binding

    def _await_service(self) -> None:
        """Ask for the ssh-userauth service and wait for it: the server's
        EXT_INFO comes before SERVICE_ACCEPT, so what it offers
        (server-sig-algs, publickey-hostbound) is known before we sign."""
        with self._lock:
            core = self._core()
            if core.auth_service_accepted:
                return
            core.auth_request_service()
        deadline = self._deadline()
        self._pump.flush(deadline)
        with self._lock:
            self._wait_until(lambda: core.auth_service_accepted, deadline)

    def _bind_agent(self, key: Any) -> None:
        """Bind the agent holding ``key`` (if it is an agent key) to this
        session before it signs (PROTOCOL.agent session-bind@openssh.com);
        an agent that refuses or does not know the extension is used as is."""
        bind = getattr(getattr(key, "agent", None), "session_bind", None)
        if bind is None:
            return
        binding = self.session_binding()
        if binding is None:
            return
        try:
            if not bind(*binding, False):
                _log.debug("the agent did not accept session-bind@openssh.com; using it unbound")
        except SSHException as exc:
            _log.debug("session-bind@openssh.com failed: %s", exc)

    def _wait_reply(self) -> ev.Event:
        deadline = self._deadline()
        with self._lock:
            self._wait_until(lambda: self._reply is not None, deadline)
            reply, self._reply = self._reply, None
            assert reply is not None
            return reply

    @staticmethod
    def _conclude(method: str, reply: ev.Event) -> list[str]:
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

    def in_background(self, event: threading.Event, fn: Callable[[], list[str]]) -> list[str]:
        """Run ``fn`` in a thread and set ``event`` when it ends; its error
        is kept for ``take_background_error`` (paramiko's ``event=`` form)."""

        def run() -> None:
            try:
                fn()
            except Exception as exc:
                with self._lock:
                    self._background_error = exc
            finally:
                event.set()

        threading.Thread(target=run, name="ssh-auth", daemon=True).start()
        return []

    # -- the methods ------------------------------------------------------------------

    def none(self, username: str) -> list[str]:
        """The "none" method (see ``Transport.auth_none``)."""
        self._send(lambda core: core.auth_none(username))
        return self._conclude("none", self._wait_reply())

    def password(self, username: str, password: str | bytes, fallback: bool = True) -> list[str]:
        """The "password" method, answered through keyboard-interactive with
        ``fallback`` (see ``Transport.auth_password``)."""
        pw = password.decode("utf-8") if isinstance(password, (bytes, bytearray)) else password
        self._send(lambda core: core.auth_password(username, pw))
        try:
            return self._conclude("password", self._wait_reply())
        except BadAuthenticationType as exc:
            if not fallback or "keyboard-interactive" not in exc.allowed_types:
                raise

            def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
                if len(prompts) > 1:
                    raise SSHException("Fallback authentication failed.")
                return [pw] * len(prompts)

            try:
                return self.interactive(username, answer)
            except SSHException:
                raise exc from None

    def publickey(self, username: str, key: Any) -> list[str]:
        """The "publickey" method, signed here without the lock (an agent or
        a token may be slow; see ``Transport.auth_publickey``)."""
        self._await_service()
        self._bind_agent(key)
        with self._lock:
            core = self._core()
            req = core.auth_publickey_begin(username, key)
        try:
            signature = _sign(key, req.data, req.algorithm)
        except BaseException:
            with self._lock:
                core.auth_publickey_cancel()
            raise
        self._send(lambda core: core.auth_publickey_signature(signature))
        return self._conclude("publickey", self._wait_reply())

    def interactive(self, username: str, handler: InteractiveHandler, submethods: str = "") -> list[str]:
        """The "keyboard-interactive" method (see ``Transport.auth_interactive``)."""
        self._send(lambda core: core.auth_interactive(username, submethods))
        while True:
            reply = self._wait_reply()
            if not isinstance(reply, ev.AuthInfoRequested):
                return self._conclude("keyboard-interactive", reply)
            answers = [str(a) for a in handler(reply.name, reply.instructions, list(reply.prompts))]
            if len(answers) != len(reply.prompts):
                raise AuthenticationException("handler gave the wrong number of answers")
            self._send(lambda core, answers=answers: core.auth_info_response(answers))  # type: ignore[misc]


def ask_on_terminal(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
    """A keyboard-interactive handler that prints each prompt and reads the
    answer from the terminal (echoed or not, as the server asks)."""
    import getpass

    if title:
        print(title)
    if instructions:
        print(instructions)
    return [input(p) if echo else getpass.getpass(p) for p, echo in prompts]


__all__ = ["ClientAuth", "InteractiveHandler", "ask_on_terminal"]
