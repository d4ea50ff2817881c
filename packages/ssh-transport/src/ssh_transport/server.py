"""Server-side hooks: ``ServerInterface`` (what a server allows),
``SubsystemHandler`` (a thread per subsystem request) and ``InteractiveQuery``
(keyboard-interactive questions).

Every ``check_*`` hook denies by default, as paramiko's does; a server
overrides the ones it wants to allow.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ssh_keys import Certificate, SKSignature
from ssh_wire import Message, SSHException

from .cert_policy import UserCertificatePolicy
from .protocol.constants import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

if TYPE_CHECKING:
    from .channel import Channel
    from .transport import Transport

_log = logging.getLogger("paramiko.transport")


class InteractiveQuery:
    """A keyboard-interactive round: a title, instructions and prompts."""

    def __init__(self, name: str = "", instructions: str = "", *prompts: str | tuple[str, bool]) -> None:
        """Prompts are strings (echoed) or ``(prompt, echo)`` pairs."""
        self.name = name
        self.instructions = instructions
        self.prompts: list[tuple[str, bool]] = []
        for p in prompts:
            if isinstance(p, str):
                self.add_prompt(p)
            else:
                self.add_prompt(p[0], p[1])

    def add_prompt(self, prompt: str, echo: bool = True) -> None:
        """Add a question; ``echo`` says whether the answer may be shown as typed."""
        self.prompts.append((prompt, echo))


def security_key_refusal(
    signature: SKSignature, touch_required: bool = True, verify_required: bool = False
) -> str | None:
    """Why sshd would refuse a verified security-key signature under this
    policy (no touch while ``touch_required``, no PIN/biometrics while
    ``verify_required``), or None when the flags are enough."""
    if touch_required and not signature.user_present:
        return "user presence (authenticator touch) requirement not met"
    if verify_required and not signature.user_verified:
        return "user verification requirement not met"
    return None


class ServerInterface:
    """What an SSH server allows: override the hooks you need.

    Hooks run in the transport's thread; they must not block for long.
    """

    #: FIDO (sk-) keys: refuse a signature the token made without a touch,
    #: as sshd does; False is sshd's ``no-touch-required`` for every key
    security_key_touch_required: bool = True
    #: FIDO (sk-) keys: also require the token to have verified the user
    #: (PIN or biometrics), sshd's ``verify-required``
    security_key_verify_required: bool = False

    def check_channel_request(self, kind: str, chanid: int) -> int:
        """Allow a channel of type ``kind``? OPEN_SUCCEEDED (0) or a failure code."""
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username: str) -> str:
        """Comma-separated auth methods ``username`` may use."""
        return "password"

    def check_auth_none(self, username: str) -> int:
        """Let ``username`` in with no credentials? AUTH_SUCCESSFUL/PARTIALLY_SUCCESSFUL/FAILED."""
        return AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        """Is ``password`` right for ``username``? (compare with hmac.compare_digest)."""
        return AUTH_FAILED

    def check_auth_password_change(self, username: str, old_password: str, new_password: str) -> int:
        """The client asks to change its password (RFC 4252 section 8)."""
        return AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        """Would ``key`` let ``username`` in? (The signature is checked for you.)"""
        return AUTH_FAILED

    def check_auth_security_key(self, username: str, key: Any, signature: SKSignature) -> int:
        """Would the FIDO key ``key`` (``sk-ecdsa-sha2-nistp256@openssh.com``
        or ``sk-ssh-ed25519@openssh.com``) let ``username`` in, given what
        its token reported? The signature is verified already;
        ``signature.flags`` says whether the user was present (touch) and
        verified (PIN), ``signature.counter`` is the token's counter (a
        server may insist it grows, to notice a cloned token).

        The default applies ``security_key_touch_required`` and
        ``security_key_verify_required`` (sshd's defaults: touch required,
        verification not), then asks ``check_auth_publickey(username,
        key)``. Override it for per-key ``no-touch-required`` and
        ``verify-required``, as sshd reads them from authorized_keys.
        """
        reason = security_key_refusal(signature, self.security_key_touch_required, self.security_key_verify_required)
        if reason is not None:
            _log.info("%s key %s refused for %s: %s", key.get_name(), key.fingerprint, username, reason)
            return AUTH_FAILED
        return self.check_auth_publickey(username, key)

    def get_user_certificate_policy(self) -> UserCertificatePolicy | None:
        """The policy that judges user certificates (``UserCertificatePolicy``,
        sshd's ``TrustedUserCAKeys`` + ``AuthorizedPrincipalsFile``), or
        None (the default) to judge them in ``check_auth_publickey`` as
        paramiko does."""
        return None

    def check_auth_certificate(
        self, username: str, key: Any, certificate: Certificate, client_address: str | None = None
    ) -> int:
        """Would the certificate ``certificate`` (attached to ``key`` as its
        ``public_blob``) let ``username`` in from ``client_address``? Its
        CA signature and the request signature are already checked.

        The default asks ``get_user_certificate_policy()``; with no policy
        it asks ``check_auth_publickey(username, key)``, as paramiko does.
        Once a certificate has let a user in, the transport enforces its
        ``force-command`` and ``permit-*`` extensions whoever judged it.
        """
        policy = self.get_user_certificate_policy()
        if policy is None:
            return self.check_auth_publickey(username, key)
        try:
            policy.check(username, certificate, client_address=client_address)
        except SSHException as exc:
            _log.info("user certificate %s refused for %s: %s", certificate.key_id, username, exc)
            return AUTH_FAILED
        return AUTH_SUCCESSFUL

    def check_auth_interactive(self, username: str, submethods: str) -> int | InteractiveQuery:
        """Start keyboard-interactive: an ``InteractiveQuery`` to ask, or an AUTH_* result."""
        return AUTH_FAILED

    def check_auth_interactive_response(self, responses: list[str]) -> int | InteractiveQuery:
        """The answers to the last query: an AUTH_* result or another query."""
        return AUTH_FAILED

    def check_global_request(self, kind: str, msg: Message) -> bool | tuple[Any, ...] | list[Any]:
        """Allow a global request? True/False, or a tuple of values to send back."""
        return False

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        """Allow "tcpip-forward" (``ssh -R``)? The bound port, or False."""
        return False

    def cancel_port_forward_request(self, address: str, port: int) -> None:
        """The client cancels a port forward."""
        return None

    def check_channel_pty_request(
        self, channel: Channel, term: bytes, width: int, height: int, pixelwidth: int, pixelheight: int, modes: bytes
    ) -> bool:
        """Allow a pseudo-terminal on ``channel``?"""
        return False

    def check_channel_shell_request(self, channel: Channel) -> bool:
        """Allow a shell on ``channel``?"""
        return False

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        """Allow running ``command`` on ``channel``?

        When a forced command (a user certificate's ``force-command``, or
        ``command=`` on its ``AuthorizedPrincipalsFile`` line) replaces what
        the client asked for, ``command`` is the forced one and
        ``channel.get_transport().get_original_command(channel)`` gives the
        client's own (exec command or subsystem name; None for a shell):
        put it in the command's environment as ``SSH_ORIGINAL_COMMAND``, as
        sshd does."""
        return False

    def check_channel_subsystem_request(self, channel: Channel, name: str) -> bool:
        """Allow subsystem ``name``? By default: yes if a handler is registered
        with ``Transport.set_subsystem_handler``, which then starts in its own thread."""
        transport = channel.get_transport()
        handler_class, args, kwargs = transport._get_subsystem_handler(name)
        if handler_class is None:
            return False
        handler = handler_class(channel, name, self, *args, **kwargs)
        handler.start()
        return True

    def check_channel_window_change_request(
        self, channel: Channel, width: int, height: int, pixelwidth: int, pixelheight: int
    ) -> bool:
        """The client's terminal changed size."""
        return False

    def check_channel_x11_request(
        self, channel: Channel, single_connection: bool, auth_protocol: str, auth_cookie: bytes, screen_number: int
    ) -> bool:
        """Allow X11 forwarding on ``channel``?"""
        return False

    def check_channel_forward_agent_request(self, channel: Channel) -> bool:
        """Allow agent forwarding on ``channel``?"""
        return False

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        """Allow a "direct-tcpip" channel (``ssh -L``)? OPEN_SUCCEEDED or a failure code."""
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_env_request(self, channel: Channel, name: bytes, value: bytes) -> bool:
        """Allow setting environment variable ``name``?"""
        return False

    def check_auth_gssapi_with_mic(
        self, username: str, gss_authenticated: int = AUTH_FAILED, cc_file: Any = None
    ) -> int:
        """GSS-API user auth (older paramiko's hook). GSS-API is not
        supported, so it is never offered or called; kept so subclasses
        that call ``super()`` keep working."""
        return AUTH_FAILED

    def check_auth_gssapi_keyex(self, username: str, gss_authenticated: int = AUTH_FAILED, cc_file: Any = None) -> int:
        """GSS-API key exchange auth (older paramiko's hook; never called, see above)."""
        return AUTH_FAILED

    def enable_auth_gssapi(self) -> bool:
        """Whether to offer GSS-API auth: never (not supported)."""
        return False

    def get_banner(self) -> tuple[str | None, str | None]:
        """A (banner, language) to show before authentication, or (None, None)."""
        return (None, None)


class SubsystemHandler(threading.Thread):
    """Runs one subsystem (e.g. SFTP) on one channel, in its own thread.

    Register a subclass with ``Transport.set_subsystem_handler``; override
    ``start_subsystem``.
    """

    def __init__(self, channel: Channel, name: str, server: ServerInterface, *args: Any, **kwargs: Any) -> None:
        """Called by the transport for each request of subsystem ``name``."""
        super().__init__(name=f"subsystem-{name}-{channel.get_id()}", daemon=True)
        self.__channel = channel
        self.__transport = channel.get_transport()
        self.__name = name
        self.__server = server

    def get_server(self) -> ServerInterface:
        """The ``ServerInterface`` the transport was started with."""
        return self.__server

    def run(self) -> None:
        """Thread body: ``start_subsystem``, then ``finish_subsystem``."""
        log = logging.getLogger("paramiko.transport")
        try:
            self.start_subsystem(self.__name, self.__transport, self.__channel)
        except Exception:
            log.exception("subsystem %s failed", self.__name)
        try:
            self.finish_subsystem()
        except Exception:
            log.debug("finish_subsystem failed", exc_info=True)

    def start_subsystem(self, name: str, transport: Transport, channel: Channel) -> None:
        """Serve the subsystem until the client is done (runs in this thread)."""

    def finish_subsystem(self) -> None:
        """Clean up after ``start_subsystem`` returns (closes the channel)."""
        self.__channel.close()
