"""Server-side security policy shared by the threaded and asyncio servers.

Both drivers ask a ``ServerInterface`` the same questions and must judge the
answers the same way: user certificates (``check_auth_certificate``, the
principals line that let one in, ``force-command``, ``permit-*``
extensions), FIDO ``sk-`` key flags, and OpenSSH's host key rotation
(``hostkeys-00`` / ``hostkeys-prove-00``). The logic lives here, free of
I/O and locks, so that ``server_side.ServerSide`` (threads) and
``aio.server.SSHServerConnection`` (asyncio) call one implementation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from ssh_keys import Certificate, SKKey, SKSignature
from ssh_wire import Message, SSHException

from .cert_policy import PrincipalLine, UserCertificatePolicy
from .protocol import events as ev
from .protocol.constants import AUTH_FAILED, AUTH_PARTIALLY_SUCCESSFUL, AUTH_SUCCESSFUL
from .protocol.negotiation import has_certificate, key_type_of, signature_algorithm_of
from .server import security_key_refusal

#: the certificate extension that allows port forwarding (PROTOCOL.certkeys)
PERMIT_PORT_FORWARDING = "permit-port-forwarding"
#: OpenSSH's host key rotation (PROTOCOL 2.5): after a login the server
#: announces all its host keys; a client may ask it to prove it holds them
HOSTKEYS_ANNOUNCE = "hostkeys-00@openssh.com"
#: the global request by which a client asks the server to prove it holds
#: announced host keys (answered by ``prove_host_keys``)
HOSTKEYS_PROVE = "hostkeys-prove-00@openssh.com"
#: the certificate extension each channel request needs (PROTOCOL.certkeys)
EXTENSION_FOR = {
    "pty-req": "permit-pty",
    "x11-req": "permit-X11-forwarding",
    "auth-agent-req@openssh.com": "permit-agent-forwarding",
}
_ACCEPTED = (AUTH_SUCCESSFUL, AUTH_PARTIALLY_SUCCESSFUL)


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


def certificate_of(key: Any) -> Certificate | None:
    """The certificate attached to a request's key (already checked by the
    core: parsed, CA signature verified), or None."""
    if key is None or not has_certificate(key):
        return None
    return Certificate.from_key(key, verify=False)


def plain_host_keys(keys: Iterable[Any]) -> list[Any]:
    """Each distinct host key once, without its certificate (a certificate
    is vouched for by its CA; rotation concerns the plain keys)."""
    seen: dict[bytes, Any] = {}
    for key in keys:
        seen.setdefault(key.asbytes(), key)
    return list(seen.values())


def host_keys_announcement(keys: Iterable[Any]) -> bytes:
    """The body of a ``hostkeys-00@openssh.com`` request: every plain host
    key blob (empty when there are none)."""
    return b"".join(Message().add_string(k.asbytes()).asbytes() for k in plain_host_keys(keys))


def prove_host_keys(
    session_id: bytes | None,
    keys: Iterable[Any],
    negotiated: str,
    data: bytes,
    logger: logging.Logger,
) -> tuple[bool, bytes]:
    """Answer ``hostkeys-prove-00@openssh.com``: a signature per requested
    key, in order, over ``host_key_proof_data``; refused as a whole when
    one is not ours. RSA signs with the algorithm negotiated for the
    session (``negotiated``) when that is RSA, else rsa-sha2-512, as sshd does."""
    if session_id is None:
        return False, b""
    try:
        blobs = read_key_blobs(data)
    except SSHException:
        return False, b""
    ours = {k.asbytes(): k for k in plain_host_keys(keys)}
    rsa_alg = signature_algorithm_of(negotiated) if key_type_of(negotiated) == "ssh-rsa" else "rsa-sha2-512"
    reply = Message()
    for blob in blobs:
        key = ours.get(blob)
        if key is None:
            logger.info("hostkeys-prove-00: asked for a key we do not hold")
            return False, b""
        alg = rsa_alg if key.get_name() == "ssh-rsa" else None
        try:
            sig = key.sign_ssh_data(host_key_proof_data(session_id, blob), alg)
        except SSHException:
            logger.exception("hostkeys-prove-00: cannot sign with a %s host key", key.get_name())
            return False, b""
        reply.add_string(sig.asbytes())
    return True, reply.asbytes()


class ServerPolicy:
    """One connection's view of its ``ServerInterface``: how hooks are
    called (an exception counts as a refusal), what publickey auth with a
    certificate or FIDO key decides, and what the login then permits.

    ``server`` returns the current server object (the threaded transport
    gets its one at ``start_server``). Hook answers are passed in rather
    than fetched where a driver may need to await them first
    (``publickey_check`` gives the hook's raw answer, ``publickey_finish``
    judges it), so a coroutine hook works on asyncio.
    """

    def __init__(self, server: Callable[[], Any], logger: logging.Logger) -> None:
        self._server = server
        self.logger = logger
        #: the user certificate the client logged in with, if any
        self.user_certificate: Certificate | None = None
        #: the principals line that let that certificate in, if any
        self.principal_line: PrincipalLine | None = None
        #: the FIDO signature of the key that let the client in, if any
        self.security_key_signature: SKSignature | None = None

    @property
    def server(self) -> Any:
        """The server object consulted (a ``ServerInterface``, or None)."""
        return self._server()

    def hook(self, name: str, default: Any, *args: Any) -> Any:
        """Call a server hook; a missing one or an exception gives ``default``."""
        server = self._server()
        fn = getattr(server, name, None) if server is not None else None
        if fn is None:
            return default
        try:
            return fn(*args)
        except Exception:
            self.logger.exception("server hook %s failed", name)
            return default

    def allowed_auths(self, username: str) -> list[str]:
        """The methods ``get_allowed_auths`` lists for ``username``."""
        text = self.hook("get_allowed_auths", "password", username) or ""
        return [a.strip() for a in str(text).split(",") if a.strip()]

    def auth_answer(
        self, e: ev.AuthRequested, sk_signature: SKSignature | None, client_address: Callable[[], str | None]
    ) -> Any:
        """The server hook's answer to login request ``e`` (maybe an
        awaitable, on asyncio): "none" is always asked, a method
        ``get_allowed_auths`` does not list fails, and for "publickey" this
        is ``publickey_check``'s answer, still to go through
        ``publickey_finish``. ``client_address`` is called only for a key."""
        if e.method == "none":
            return self.hook("check_auth_none", AUTH_FAILED, e.username)
        if e.method not in self.allowed_auths(e.username):
            return AUTH_FAILED
        if e.method == "password":
            if e.new_password is not None:
                return self.hook("check_auth_password_change", AUTH_FAILED, e.username, e.password, e.new_password)
            return self.hook("check_auth_password", AUTH_FAILED, e.username, e.password)
        if e.method == "publickey":
            address = client_address() if e.key is not None else None
            return self.publickey_check(e.username, e.key, e.signed, sk_signature, address)
        if e.method == "keyboard-interactive":
            return self.hook("check_auth_interactive", AUTH_FAILED, e.username, e.submethods)
        return AUTH_FAILED

    # -- publickey -------------------------------------------------------------

    def publickey_check(
        self, username: str, key: Any, signed: bool, sk_signature: SKSignature | None, address: str | None
    ) -> Any:
        """The server hook's answer to a publickey request (maybe an
        awaitable, on asyncio): ``check_auth_certificate`` for a certified
        key (with the client's ``address`` for ``source-address``),
        ``check_auth_security_key`` for a signed FIDO key, else
        ``check_auth_publickey``. Pass it to ``publickey_finish``."""
        server = self._server()
        cert = certificate_of(key)
        if cert is not None:
            if getattr(server, "check_auth_certificate", None) is None:
                # a server object that is not a ServerInterface: paramiko's call
                return self.hook("check_auth_publickey", AUTH_FAILED, username, key)
            return self.hook("check_auth_certificate", AUTH_FAILED, username, key, cert, address)
        if key is None:
            return AUTH_FAILED
        if signed and isinstance(key, SKKey):
            if sk_signature is None:
                return AUTH_FAILED
            if getattr(server, "check_auth_security_key", None) is None:
                reason = security_key_refusal(sk_signature)
                if reason is not None:
                    self.logger.info("%s key refused for %s: %s", key.get_name(), username, reason)
                    return AUTH_FAILED
                return self.hook("check_auth_publickey", AUTH_FAILED, username, key)
            return self.hook("check_auth_security_key", AUTH_FAILED, username, key, sk_signature)
        return self.hook("check_auth_publickey", AUTH_FAILED, username, key)

    def publickey_finish(
        self, result: Any, username: str, key: Any, signed: bool, sk_signature: SKSignature | None
    ) -> Any:
        """Judge the hook's ``result`` for a publickey request and remember
        what a signed, accepted one brings (certificate, principals line,
        FIDO signature). A certificate whose FIDO key's flags do not do, or
        whose certificate and principals line force different commands, is
        refused, as sshd does."""
        cert = certificate_of(key)
        if cert is None:
            if signed and isinstance(key, SKKey) and sk_signature is not None and result in _ACCEPTED:
                self.security_key_signature = sk_signature
            return result
        if signed and isinstance(key, SKKey) and result in _ACCEPTED:
            result = self._certified_security_key(username, cert, sk_signature, result)
        if signed and result in _ACCEPTED:
            line = self.principal_line_for(username, cert)
            forced = (line.command if line is not None else None, cert.force_command)
            if None not in forced and forced[0] != forced[1]:
                self.logger.info("certificate and principals line force different commands: refused")
                return AUTH_FAILED
            self.user_certificate = cert
            self.principal_line = line
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
        server = self._server()
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
        self.security_key_signature = signature
        return result

    def principal_line_for(self, username: str, cert: Certificate) -> PrincipalLine | None:
        """The ``AuthorizedPrincipalsFile`` line that let ``cert`` in (its
        options apply to the session), when the server's policy has one."""
        policy = self.hook("get_user_certificate_policy", None)
        if not isinstance(policy, UserCertificatePolicy):
            return None
        try:
            return policy.matching_line(username, cert)
        except Exception:
            self.logger.exception("reading the principals of %s failed", username)
            return None

    # -- what the login permits ------------------------------------------------

    def certificate_permits(self, extension: str) -> bool:
        """Whether the login certificate (if any) grants ``extension`` and
        its principals line (``no-pty``, ``restrict`` ...) does not take it away."""
        cert = self.user_certificate
        if cert is None:
            return True
        line = self.principal_line
        return extension in cert.extensions and (line is None or extension not in line.denied)

    def forced_command(self) -> str | None:
        """The command that replaces whatever the client asks to run: the
        certificate's ``force-command`` or its principals line's ``command=``."""
        cert = self.user_certificate
        if cert is not None and cert.force_command is not None:
            return cert.force_command
        line = self.principal_line
        return line.command if line is not None else None

    def request_permitted(self, kind: str) -> bool:
        """Whether the login allows a channel request of ``kind`` (pty, X11,
        agent forwarding need their ``permit-*`` extension)."""
        needed = EXTENSION_FOR.get(kind)
        if needed is not None and not self.certificate_permits(needed):
            self.logger.info("%s refused: the login certificate does not grant %s", kind, needed)
            return False
        return True


def original_command(kind: str, args: tuple[Any, ...] | list[Any]) -> bytes | None:
    """What the client asked to run with an exec/shell/subsystem request
    (exec: its command, subsystem: its name, shell: None), as bytes for
    ``SSH_ORIGINAL_COMMAND`` when a forced command replaces it."""
    value = args[0] if kind != "shell" and args else None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None


__all__ = [
    "EXTENSION_FOR",
    "HOSTKEYS_ANNOUNCE",
    "HOSTKEYS_PROVE",
    "PERMIT_PORT_FORWARDING",
    "ServerPolicy",
    "certificate_of",
    "host_key_proof_data",
    "host_keys_announcement",
    "original_command",
    "plain_host_keys",
    "prove_host_keys",
    "read_key_blobs",
]
