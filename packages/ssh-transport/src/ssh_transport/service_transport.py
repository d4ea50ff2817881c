"""``ServiceRequestingTransport``: the ``Transport`` paramiko 3.2+ hands to
``SSHClient(transport_factory=...)`` and its auth strategies."""

from __future__ import annotations

from typing import Any

from ssh_wire import SSHException

from .client_auth import InteractiveHandler
from .transport import Transport


class ServiceRequestingTransport(Transport):
    """The ``Transport`` paramiko 3.2+ offers for ``SSHClient(transport_factory=...)``
    and auth strategies: it asks for the "ssh-userauth" service before the
    first auth request. Ours always does (the protocol core sends the
    SERVICE_REQUEST and waits for SERVICE_ACCEPT), so what differs is only
    the surface: the ``auth_*`` methods take no ``event`` (they always
    block), and ``ensure_session`` checks that a session is up to
    authenticate on."""

    def ensure_session(self) -> None:
        """Raise ``SSHException`` unless the session is open and its first
        key exchange is done (authenticating needs both)."""
        if not self.active or not self.initial_kex_done:
            raise SSHException("No existing session")

    def auth_none(self, username: str) -> list[str]:
        """As ``Transport.auth_none``, after ``ensure_session``."""
        self.ensure_session()
        return super().auth_none(username)

    def auth_password(  # type: ignore[override]
        self, username: str, password: str | bytes, fallback: bool = True
    ) -> list[str]:
        """As ``Transport.auth_password`` (blocking; no ``event``)."""
        self.ensure_session()
        return super().auth_password(username, password, None, fallback)

    def auth_publickey(self, username: str, key: Any) -> list[str]:  # type: ignore[override]
        """As ``Transport.auth_publickey`` (blocking; no ``event``)."""
        self.ensure_session()
        return super().auth_publickey(username, key)

    def auth_interactive(self, username: str, handler: InteractiveHandler, submethods: str = "") -> list[str]:
        """As ``Transport.auth_interactive``, after ``ensure_session``."""
        self.ensure_session()
        return super().auth_interactive(username, handler, submethods)

    def auth_interactive_dumb(
        self, username: str, handler: InteractiveHandler | None = None, submethods: str = ""
    ) -> list[str]:
        """As ``Transport.auth_interactive_dumb``, after ``ensure_session``."""
        self.ensure_session()
        return super().auth_interactive_dumb(username, handler, submethods)


__all__ = ["ServiceRequestingTransport"]
