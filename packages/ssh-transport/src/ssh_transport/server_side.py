"""Server-role event handling for ``Transport`` (a mixin): asks the
``ServerInterface`` and feeds its decisions back into the protocol core.

These run in the transport's reader thread, outside the transport lock, so
hooks may use channels freely.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from ssh_keys import Certificate, SKSignature
from ssh_wire import Message

from .cert_policy import PrincipalLine
from .channel import Channel
from .protocol import events as ev
from .protocol.constants import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
    OPEN_SUCCEEDED,
)
from .server import InteractiveQuery, ServerInterface
from .server_policy import (
    HOSTKEYS_ANNOUNCE,
    HOSTKEYS_PROVE,
    PERMIT_PORT_FORWARDING,
    ServerPolicy,
    host_key_proof_data,
    host_keys_announcement,
    original_command,
    plain_host_keys,
    prove_host_keys,
    read_key_blobs,
)

if TYPE_CHECKING:
    from .protocol.core import SSHProtocol

# re-exported: they used to live here (the policy is shared with the asyncio server)
__all__ = [
    "HOSTKEYS_ANNOUNCE",
    "HOSTKEYS_PROVE",
    "PERMIT_PORT_FORWARDING",
    "ServerSideMixin",
    "host_key_proof_data",
    "read_key_blobs",
]


class ServerSideMixin:
    """Turns server-role events into ``ServerInterface`` calls."""

    _lock: Any
    _cond: threading.Condition
    _core: SSHProtocol | None
    _channels: dict[int, Channel]
    _accept_queue: deque[Channel]
    server_object: ServerInterface | None
    logger: logging.Logger
    _banner_done: bool
    _username: str | None
    _server_keys: dict[str, Any]
    _host_key_alg: str
    default_window_size: int
    default_max_packet_size: int

    if TYPE_CHECKING:

        def _flush(self) -> None:  # provided by Transport
            raise NotImplementedError

        def _stop_grace_timer(self) -> None:  # provided by the driver
            raise NotImplementedError

    if TYPE_CHECKING:

        def _new_channel(self, chanid: int) -> Channel:  # provided by Transport
            raise NotImplementedError

        def getpeername(self) -> Any:  # provided by Transport
            raise NotImplementedError

    @property
    def _server_policy(self) -> ServerPolicy:
        """The shared server policy (``server_policy.ServerPolicy``) of this
        transport, made on first use; it consults ``server_object``."""
        policy: ServerPolicy | None = self.__dict__.get("_policy_obj")
        if policy is None:
            policy = ServerPolicy(lambda: self.server_object, self.logger)
            self.__dict__["_policy_obj"] = policy
        return policy

    def _hook(self, name: str, default: Any, *args: Any) -> Any:
        """Call a server hook; an exception from it counts as a refusal."""
        return self._server_policy.hook(name, default, *args)

    def _allowed_auths(self, username: str) -> list[str]:
        return self._server_policy.allowed_auths(username)

    def _server_auth_requested(self, e: ev.AuthRequested) -> None:
        core = self._core
        assert core is not None
        if e.hostbound:
            self.logger.debug("auth request for %s: publickey-hostbound-v00@openssh.com", e.username)
        if not self._banner_done:
            self._banner_done = True
            banner = self._hook("get_banner", (None, None))
            if banner and banner[0]:
                with self._lock:
                    core.send_auth_banner(banner[0], banner[1] or "")
        policy = self._server_policy
        sk_signature = core.server_auth.sk_signature if core.server_auth is not None else None
        result = policy.auth_answer(e, sk_signature, self._client_address)
        if e.method == "publickey":
            result = policy.publickey_finish(result, e.username, e.key, e.signed, sk_signature)
        self._answer_auth(result, self._allowed_auths(e.username), e.username)

    @property
    def _user_certificate(self) -> Certificate | None:
        return self._server_policy.user_certificate

    @property
    def _user_principal_line(self) -> PrincipalLine | None:
        return self._server_policy.principal_line

    @property
    def _security_key_signature(self) -> SKSignature | None:
        return self._server_policy.security_key_signature

    #: server: announce every host key after a login (``hostkeys-00@openssh.com``),
    #: so that clients with ``UpdateHostKeys`` learn new ones, as sshd does;
    #: set False before ``start_server`` to keep them to yourself
    announce_host_keys: bool = True
    _host_keys_announced = False

    def _plain_host_keys(self) -> list[Any]:
        """Each distinct host key once, without its certificate."""
        return plain_host_keys(self._server_keys.values())

    def _announce_host_keys(self) -> None:
        """(Lock held.) Send ``hostkeys-00@openssh.com`` once, after the login."""
        core = self._core
        if core is None or self._host_keys_announced or not self.announce_host_keys:
            return
        self._host_keys_announced = True
        body = host_keys_announcement(self._plain_host_keys())
        if body:
            core.global_request(HOSTKEYS_ANNOUNCE, False, body)

    def _prove_host_keys(self, data: bytes) -> tuple[bool, bytes]:
        """Answer ``hostkeys-prove-00@openssh.com`` (see ``server_policy.prove_host_keys``)."""
        core = self._core
        session_id = core.session_id if core is not None else None
        return prove_host_keys(session_id, self._plain_host_keys(), self._host_key_alg or "", data, self.logger)

    def get_security_key_signature(self) -> SKSignature | None:
        """Server: the security-key signature of the FIDO key that last let
        the client in (its ``flags`` and ``counter``), or None when no
        sk key did; for logging and counter checks after login."""
        return self._security_key_signature

    def get_user_certificate(self) -> Certificate | None:
        """Server: the user certificate the client logged in with (None when
        it used none). Its ``force-command`` replaces every command, shell
        and subsystem the client asks for, and a request its ``permit-*``
        extensions do not allow (pty, X11, agent or port forwarding) is
        refused, as sshd does."""
        return self._user_certificate

    def _client_address(self) -> str | None:
        """The client's IP address (for ``source-address``), if it has one."""
        try:
            peer = self.getpeername()
        except OSError:
            return None
        if isinstance(peer, tuple) and peer and isinstance(peer[0], str) and peer[0]:
            return peer[0]
        return None

    def get_user_principal_line(self) -> PrincipalLine | None:
        """Server: the ``AuthorizedPrincipalsFile`` line (with its options)
        that let the user's certificate in, or None."""
        return self._user_principal_line

    def _certificate_permits(self, extension: str) -> bool:
        return self._server_policy.certificate_permits(extension)

    def _forced_command(self) -> str | None:
        return self._server_policy.forced_command()

    def get_original_command(self, channel: Channel) -> bytes | None:
        """Server: what the client asked ``channel`` to run when a forced
        command replaced it (its exec command, or its subsystem's name), for
        ``SSH_ORIGINAL_COMMAND``, as sshd sets it; None otherwise."""
        original: bytes | None = getattr(channel, "original_command", None)
        return original

    def _server_auth_info(self, e: ev.AuthInfoResponded) -> None:
        result = self._hook("check_auth_interactive_response", AUTH_FAILED, list(e.responses))
        self._answer_auth(result, self._allowed_auths(e.username), e.username)

    def _answer_auth(self, result: Any, allowed: list[str], username: str) -> None:
        core = self._core
        assert core is not None
        with self._lock:
            if isinstance(result, InteractiveQuery):
                core.auth_info_request(result.name, result.instructions, result.prompts)
            else:
                if not isinstance(result, int) or result not in (0, 1, 2):
                    result = AUTH_FAILED
                core.auth_result(result, allowed)
                if result == AUTH_SUCCESSFUL and core.authenticated:
                    self._username = username
                    self._announce_host_keys()
                    self._cond.notify_all()
        self._flush()
        if self._username is not None:
            self._stop_grace_timer()

    def _server_channel_open(self, e: ev.ChannelOpenRequested) -> None:
        core = self._core
        assert core is not None
        if e.kind == "direct-tcpip" and not self._certificate_permits(PERMIT_PORT_FORWARDING):
            code = OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        elif e.kind == "direct-tcpip" and e.dest is not None and e.origin is not None:
            code = self._hook(
                "check_channel_direct_tcpip_request",
                OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
                e.chanid,
                e.origin,
                e.dest,
            )
        elif e.kind in ("session", "x11", "forwarded-tcpip", "auth-agent@openssh.com", "direct-tcpip"):
            code = self._hook("check_channel_request", OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, e.kind, e.chanid)
        else:
            code = self._hook("check_channel_request", OPEN_FAILED_UNKNOWN_CHANNEL_TYPE, e.kind, e.chanid)
        self._finish_open(e, code, queue=True)

    def _finish_open(self, e: ev.ChannelOpenRequested, code: Any, queue: bool) -> Channel | None:
        core = self._core
        assert core is not None
        with self._lock:
            if code != OPEN_SUCCEEDED:
                core.reject_channel(e.chanid, int(code) if isinstance(code, int) else 1, "")
                chan = None
            else:
                chan = self._new_channel(e.chanid)
                chan.kind = e.kind
                chan.origin_addr = e.origin
                chan.active = True
                core.accept_channel(e.chanid, self.default_window_size, self.default_max_packet_size)
                if queue:
                    self._accept_queue.append(chan)
                    self._cond.notify_all()
        self._flush()
        return chan

    def _server_channel_request(self, chan: Channel | None, e: ev.ChannelRequestReceived) -> bool:
        if chan is None:
            return False
        a = e.args
        kind = e.kind
        forced = self._forced_command()
        if forced is not None and kind in ("exec", "shell", "subsystem"):
            self.logger.info("a forced command replaces the client's %s request", kind)
            chan.original_command = original_command(kind, a)
            return bool(self._hook("check_channel_exec_request", False, chan, forced.encode("utf-8")))
        if not self._server_policy.request_permitted(kind):
            return False
        if kind == "exec":
            return bool(self._hook("check_channel_exec_request", False, chan, a[0]))
        if kind == "shell":
            return bool(self._hook("check_channel_shell_request", False, chan))
        if kind == "subsystem":
            return bool(self._hook("check_channel_subsystem_request", False, chan, a[0]))
        if kind == "pty-req":
            # the terminal name and modes arrive as bytes, as paramiko hands them over
            return bool(self._hook("check_channel_pty_request", False, chan, *a))
        if kind == "window-change":
            return bool(self._hook("check_channel_window_change_request", False, chan, *a))
        if kind == "env":
            return bool(self._hook("check_channel_env_request", False, chan, *a))
        if kind == "x11-req":
            return bool(self._hook("check_channel_x11_request", False, chan, *a))
        if kind == "auth-agent-req@openssh.com":
            return bool(self._hook("check_channel_forward_agent_request", False, chan))
        return False

    def _server_global_request(self, e: ev.GlobalRequestReceived) -> tuple[bool, bytes]:
        m = Message(e.data, strict=True)
        if e.name == "tcpip-forward" and not self._certificate_permits(PERMIT_PORT_FORWARDING):
            return False, b""
        if e.name == "tcpip-forward":
            address = m.get_text()
            port = m.get_int()
            bound = self._hook("check_port_forward_request", False, address, port)
            if bound is False or bound is None:
                return False, b""
            return True, (Message().add_int(int(bound)).asbytes() if port == 0 else b"")
        if e.name == HOSTKEYS_PROVE:
            return self._prove_host_keys(e.data)
        if e.name == "cancel-tcpip-forward":
            address = m.get_text()
            port = m.get_int()
            self._hook("cancel_port_forward_request", None, address, port)
            return True, b""
        ok = self._hook("check_global_request", False, e.name, m)
        if isinstance(ok, (tuple, list)):
            return True, Message().add(*ok).asbytes()
        return bool(ok), b""
