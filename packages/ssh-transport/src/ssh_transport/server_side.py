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

from ssh_keys import Certificate, SKKey, SKSignature
from ssh_wire import Message, SSHException

from .cert_policy import PrincipalLine, UserCertificatePolicy
from .channel import Channel
from .protocol import events as ev
from .protocol.constants import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_FAILED_UNKNOWN_CHANNEL_TYPE,
    OPEN_SUCCEEDED,
)
from .protocol.negotiation import has_certificate, key_type_of, signature_algorithm_of
from .server import InteractiveQuery, ServerInterface, security_key_refusal

if TYPE_CHECKING:
    from .protocol.core import SSHProtocol


PERMIT_PORT_FORWARDING = "permit-port-forwarding"
#: OpenSSH's host key rotation (PROTOCOL 2.5): after a login the server
#: announces all its host keys; a client may ask it to prove it holds them
HOSTKEYS_ANNOUNCE = "hostkeys-00@openssh.com"
HOSTKEYS_PROVE = "hostkeys-prove-00@openssh.com"
# the certificate extension each channel request needs (PROTOCOL.certkeys)
_EXTENSION_FOR = {
    "pty-req": "permit-pty",
    "x11-req": "permit-X11-forwarding",
    "auth-agent-req@openssh.com": "permit-agent-forwarding",
}


def host_key_proof_data(session_id: bytes, key_blob: bytes) -> bytes:
    """What a server signs with a host key to answer ``hostkeys-prove-00``:
    the request name, the session id and the key blob (PROTOCOL 2.5), so a
    proof is bound to this session and this key."""
    return Message().add_string(HOSTKEYS_PROVE).add_string(session_id).add_string(key_blob).asbytes()


def read_key_blobs(data: bytes) -> list[bytes]:
    """The strings of a ``hostkeys-00`` / ``hostkeys-prove-00`` body (one
    key blob or signature each, to its end); ``SSHException`` when malformed."""
    m = Message(data, strict=True)
    blobs: list[bytes] = []
    while m.remaining():
        blobs.append(m.get_string())
    return blobs


def _certificate_of(key: Any) -> Certificate | None:
    """The certificate attached to a request's key (already checked by the
    core: parsed, CA signature verified), or None."""
    if key is None or not has_certificate(key):
        return None
    return Certificate.from_key(key, verify=False)


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

    def _hook(self, name: str, default: Any, *args: Any) -> Any:
        """Call a server hook; an exception from it counts as a refusal."""
        server = self.server_object
        fn = getattr(server, name, None) if server is not None else None
        if fn is None:
            return default
        try:
            return fn(*args)
        except Exception:
            self.logger.exception("server hook %s failed", name)
            return default

    def _allowed_auths(self, username: str) -> list[str]:
        text = self._hook("get_allowed_auths", "password", username) or ""
        return [a.strip() for a in str(text).split(",") if a.strip()]

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
        allowed = self._allowed_auths(e.username)
        result: Any = AUTH_FAILED
        if e.method == "none":
            result = self._hook("check_auth_none", AUTH_FAILED, e.username)
        elif e.method not in allowed:
            result = AUTH_FAILED
        elif e.method == "password":
            if e.new_password is not None:
                result = self._hook("check_auth_password_change", AUTH_FAILED, e.username, e.password, e.new_password)
            else:
                result = self._hook("check_auth_password", AUTH_FAILED, e.username, e.password)
        elif e.method == "publickey":
            cert = _certificate_of(e.key)
            if cert is not None:
                address = self._client_address()
                if getattr(self.server_object, "check_auth_certificate", None) is None:
                    # a server object that is not a ServerInterface: paramiko's call
                    result = self._hook("check_auth_publickey", AUTH_FAILED, e.username, e.key)
                else:
                    result = self._hook("check_auth_certificate", AUTH_FAILED, e.username, e.key, cert, address)
                if e.signed and isinstance(e.key, SKKey) and result in (AUTH_SUCCESSFUL, AUTH_PARTIALLY_SUCCESSFUL):
                    sk_signature = core.server_auth.sk_signature if core.server_auth is not None else None
                    result = self._certified_security_key(e.username, cert, sk_signature, result)
                if e.signed and result in (AUTH_SUCCESSFUL, AUTH_PARTIALLY_SUCCESSFUL):
                    line = self._principal_line(e.username, cert)
                    forced = (line.command if line is not None else None, cert.force_command)
                    if None not in forced and forced[0] != forced[1]:
                        self.logger.info("certificate and principals line force different commands: refused")
                        result = AUTH_FAILED
                    if result != AUTH_FAILED:
                        self._user_certificate = cert
                        self._user_principal_line = line
            elif e.key is not None and e.signed and isinstance(e.key, SKKey):
                sk_signature = core.server_auth.sk_signature if core.server_auth is not None else None
                result = self._security_key_auth(e.username, e.key, sk_signature)
            elif e.key is not None:
                result = self._hook("check_auth_publickey", AUTH_FAILED, e.username, e.key)
        elif e.method == "keyboard-interactive":
            result = self._hook("check_auth_interactive", AUTH_FAILED, e.username, e.submethods)
        self._answer_auth(result, self._allowed_auths(e.username), e.username)

    _user_certificate: Certificate | None = None
    _user_principal_line: PrincipalLine | None = None
    _security_key_signature: SKSignature | None = None
    #: server: announce every host key after a login (``hostkeys-00@openssh.com``),
    #: so that clients with ``UpdateHostKeys`` learn new ones, as sshd does;
    #: set False before ``start_server`` to keep them to yourself
    announce_host_keys: bool = True
    _host_keys_announced = False

    def _plain_host_keys(self) -> list[Any]:
        """Each distinct host key once, without its certificate (a certificate
        is vouched for by its CA; rotation concerns the plain keys)."""
        seen: dict[bytes, Any] = {}
        for key in self._server_keys.values():
            seen.setdefault(key.asbytes(), key)
        return list(seen.values())

    def _announce_host_keys(self) -> None:
        """(Lock held.) Send ``hostkeys-00@openssh.com`` once, after the login."""
        core = self._core
        if core is None or self._host_keys_announced or not self.announce_host_keys:
            return
        self._host_keys_announced = True
        keys = self._plain_host_keys()
        if keys:
            body = b"".join(Message().add_string(k.asbytes()).asbytes() for k in keys)
            core.global_request(HOSTKEYS_ANNOUNCE, False, body)

    def _prove_host_keys(self, data: bytes) -> tuple[bool, bytes]:
        """Answer ``hostkeys-prove-00@openssh.com``: a signature per requested
        key, in order, over ``host_key_proof_data``; refused as a whole when
        one is not ours. RSA signs with the algorithm negotiated for the
        session when that is RSA, else rsa-sha2-512, as sshd does."""
        core = self._core
        session_id = core.session_id if core is not None else None
        if session_id is None:
            return False, b""
        try:
            blobs = read_key_blobs(data)
        except SSHException:
            return False, b""
        ours = {k.asbytes(): k for k in self._plain_host_keys()}
        negotiated = self._host_key_alg or ""
        rsa_alg = signature_algorithm_of(negotiated) if key_type_of(negotiated) == "ssh-rsa" else "rsa-sha2-512"
        reply = Message()
        for blob in blobs:
            key = ours.get(blob)
            if key is None:
                self.logger.info("hostkeys-prove-00: asked for a key we do not hold")
                return False, b""
            alg = rsa_alg if key.get_name() == "ssh-rsa" else None
            try:
                sig = key.sign_ssh_data(host_key_proof_data(session_id, blob), alg)
            except SSHException:
                self.logger.exception("hostkeys-prove-00: cannot sign with a %s host key", key.get_name())
                return False, b""
            reply.add_string(sig.asbytes())
        return True, reply.asbytes()

    def _security_key_auth(self, username: str, key: SKKey, signature: SKSignature | None) -> Any:
        """A signed request with a FIDO key: the server's
        ``check_auth_security_key`` judges the token's flags (a server
        object without it gets sshd's default: a touch is required)."""
        if signature is None:
            return AUTH_FAILED
        if getattr(self.server_object, "check_auth_security_key", None) is None:
            reason = security_key_refusal(signature)
            if reason is not None:
                self.logger.info("%s key refused for %s: %s", key.get_name(), username, reason)
                return AUTH_FAILED
            result = self._hook("check_auth_publickey", AUTH_FAILED, username, key)
        else:
            result = self._hook("check_auth_security_key", AUTH_FAILED, username, key, signature)
        if result in (AUTH_SUCCESSFUL, AUTH_PARTIALLY_SUCCESSFUL):
            self._security_key_signature = signature
        return result

    def _certified_security_key(
        self, username: str, cert: Certificate, signature: SKSignature | None, result: Any
    ) -> Any:
        """A certificate for a FIDO key that its policy accepted: the token's
        flags must still do, as sshd checks them: a touch unless the
        certificate grants ``no-touch-required`` (or the server does not
        require one), user verification when it has the ``verify-required``
        critical option (or the server requires it)."""
        if signature is None:
            return AUTH_FAILED
        server = self.server_object
        touch = (
            bool(getattr(server, "security_key_touch_required", True)) and "no-touch-required" not in cert.extensions
        )
        verify = bool(getattr(server, "security_key_verify_required", False)) or (
            "verify-required" in cert.critical_options
        )
        reason = security_key_refusal(signature, touch, verify)
        if reason is not None:
            self.logger.info("certificate %s refused for %s: %s", cert.key_id, username, reason)
            return AUTH_FAILED
        self._security_key_signature = signature
        return result

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

    def _principal_line(self, username: str, cert: Certificate) -> PrincipalLine | None:
        """The ``AuthorizedPrincipalsFile`` line that let ``cert`` in (its
        options apply to the session), when the server's policy has one."""
        policy = self._hook("get_user_certificate_policy", None)
        if not isinstance(policy, UserCertificatePolicy):
            return None
        try:
            return policy.matching_line(username, cert)
        except Exception:
            self.logger.exception("reading the principals of %s failed", username)
            return None

    def get_user_principal_line(self) -> PrincipalLine | None:
        """Server: the ``AuthorizedPrincipalsFile`` line (with its options)
        that let the user's certificate in, or None."""
        return self._user_principal_line

    def _certificate_permits(self, extension: str) -> bool:
        """Whether the login certificate (if any) grants ``extension`` and
        its principals line (``no-pty``, ``restrict`` ...) does not take it away."""
        cert = self._user_certificate
        if cert is None:
            return True
        line = self._user_principal_line
        return extension in cert.extensions and (line is None or extension not in line.denied)

    def _forced_command(self) -> str | None:
        """The command that replaces whatever the client asks to run: the
        certificate's ``force-command`` or its principals line's ``command=``."""
        cert = self._user_certificate
        if cert is not None and cert.force_command is not None:
            return cert.force_command
        line = self._user_principal_line
        return line.command if line is not None else None

    def get_original_command(self, channel: Channel) -> bytes | None:
        """Server: what the client asked ``channel`` to run when a forced
        command replaced it (its exec command, or its subsystem's name), for
        ``SSH_ORIGINAL_COMMAND``, as sshd sets it; None otherwise."""
        original: bytes | None = getattr(channel, "_original_command", None)
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
            original = a[0] if kind != "shell" and a else None
            chan._original_command = original.encode("utf-8") if isinstance(original, str) else original  # type: ignore[attr-defined]
            return bool(self._hook("check_channel_exec_request", False, chan, forced.encode("utf-8")))
        needed = _EXTENSION_FOR.get(kind)
        if needed is not None and not self._certificate_permits(needed):
            self.logger.info("%s refused: the login certificate does not grant %s", kind, needed)
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
