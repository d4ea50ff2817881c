"""User authentication (RFC 4252, RFC 4256 keyboard-interactive, RFC 8308
server-sig-algs): the client's and the server's state, without I/O.

Both classes talk to the core through a tiny interface: ``send(payload)``,
``emit(event)`` and ``session_id``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Protocol

from ssh_keys import SKKey, SKSignature, SKSignatureError
from ssh_keys.certs import cert_type_for
from ssh_wire import (
    DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
    DISCONNECT_SERVICE_NOT_AVAILABLE,
    Message,
    ProtocolError,
    SSHException,
)

from . import events as ev
from .constants import (
    AUTH_FAILED,
    AUTH_PARTIALLY_SUCCESSFUL,
    AUTH_SUCCESSFUL,
    MSG_SERVICE_ACCEPT,
    MSG_SERVICE_REQUEST,
    MSG_USERAUTH_BANNER,
    MSG_USERAUTH_FAILURE,
    MSG_USERAUTH_INFO_REQUEST,
    MSG_USERAUTH_INFO_RESPONSE,
    MSG_USERAUTH_REQUEST,
    MSG_USERAUTH_SUCCESS,
)
from .negotiation import (
    algorithms_for_key_type,
    certificate_algorithm,
    certificate_blob,
    has_certificate,
    host_key_from_blob,
    is_certificate_algorithm,
    key_type_of,
    signature_algorithm_of,
    with_security_key_algorithms,
)

SERVICE_USERAUTH = "ssh-userauth"
#: OpenSSH's host-bound publickey method (PROTOCOL section 2.5) and the
#: EXT_INFO name a server advertises it under (value "0")
HOSTBOUND_METHOD = "publickey-hostbound-v00@openssh.com"
HOSTBOUND_EXTENSION = "publickey-hostbound@openssh.com"
SERVICE_CONNECTION = "ssh-connection"
MAX_PROMPTS = 64
MAX_NAME = 1024


class AuthHost(Protocol):
    """What the auth state machines need from the core."""

    @property
    def session_id(self) -> bytes | None:
        """H of the first key exchange."""

    def send(self, payload: bytes) -> None:
        """Queue a payload for sending."""

    def emit(self, event: ev.Event) -> None:
        """Deliver an event to the driver."""


def signature_algorithm(key: Any, server_sig_algs: list[str] | None, allowed: tuple[str, ...]) -> str:
    """The algorithm to sign a publickey request with.

    RSA keys use rsa-sha2-512/256 when the server lists them in server-sig-algs
    (or, with no ext-info, rsa-sha2-512 as OpenSSH servers since 7.2 accept);
    SHA-1 ``ssh-rsa`` only when allowed and nothing better is.
    """
    algs = getattr(key, "signature_algorithms", None)
    if not algs:
        algs = algorithms_for_key_type(key_type_of(key.get_name())) or (key_type_of(key.get_name()),)
    usable = [a for a in algs if a in allowed]
    if server_sig_algs is not None:
        listed = [a for a in usable if a in server_sig_algs]
        if listed:
            return listed[0]
    if usable:
        return usable[0]
    return str(algs[0])


def publickey_blob(key: Any) -> tuple[bytes, bool]:
    """The blob a publickey request carries for ``key`` and whether it is a
    certificate: the certificate loaded on a ``PKey`` (``public_blob``), an
    agent identity that is itself a certificate, or the plain public key."""
    if has_certificate(key):
        return certificate_blob(key), True
    return bytes(key.asbytes()), is_certificate_algorithm(str(key.get_name()))


def signed_data(
    session_id: bytes,
    username: str,
    service: str,
    algorithm: str,
    blob: bytes,
    host_key: bytes | None = None,
) -> bytes:
    """The data a publickey request signs (RFC 4252 section 7); with
    ``host_key``, the host-bound form (OpenSSH PROTOCOL 2.5), which also
    covers the server host key the client saw in the first key exchange."""
    m = Message()
    m.add_string(session_id)
    m.add_byte(MSG_USERAUTH_REQUEST)
    m.add_string(username)
    m.add_string(service)
    m.add_string("publickey" if host_key is None else HOSTBOUND_METHOD)
    m.add_boolean(True)
    m.add_string(algorithm)
    m.add_string(blob)
    if host_key is not None:
        m.add_string(host_key)
    return m.asbytes()


@dataclass(frozen=True)
class PublicKeySignRequest:
    """What the driver must sign for a publickey request begun with
    ``SSHProtocol.auth_publickey_begin``: sign ``data`` with ``algorithm``
    (e.g. ``key.sign_ssh_data(req.data, req.algorithm)``, outside any lock)
    and hand the signature blob to ``auth_publickey_signature``."""

    username: str
    #: the signature algorithm to ask the signer for (``rsa-sha2-512``, ...)
    algorithm: str
    #: the algorithm named in the request (a certificate's name for certificates)
    request_algorithm: str
    public_blob: bytes
    data: bytes
    #: the server host key the request is bound to (None: plain publickey)
    host_key: bytes | None = None

    @property
    def method(self) -> str:
        """The method name on the wire."""
        return "publickey" if self.host_key is None else HOSTBOUND_METHOD


class ClientAuth:
    """The client side: one request in flight at a time."""

    def __init__(self, host: AuthHost, allowed_algorithms: tuple[str, ...]) -> None:
        self.host = host
        self.allowed_algorithms = with_security_key_algorithms(allowed_algorithms)
        self.service_requested = False
        self.service_accepted = False
        self._queued: list[bytes] = []
        self.method: str | None = None
        self.username = ""
        self.authenticated = False
        self.server_sig_algs: list[str] | None = None
        self._prompt_count = 0
        self._signed = False
        #: the server host key to bind publickey requests to, set by the core
        #: when the server advertised publickey-hostbound@openssh.com
        self.hostbound_host_key: bytes | None = None
        #: a publickey request waiting for its signature (``begin_publickey``)
        self.pending_sign: PublicKeySignRequest | None = None

    def _check_idle(self) -> None:
        if self.authenticated:
            raise SSHException("already authenticated")
        if self.method is not None:
            raise SSHException(f"an authentication request ({self.method}) is already in progress")
        if self.pending_sign is not None:
            raise SSHException("a publickey request is waiting for its signature")

    def _request(self, username: str, method: str, body: Message, wire_method: str | None = None) -> None:
        self._check_idle()
        m = Message()
        m.add_byte(MSG_USERAUTH_REQUEST)
        m.add_string(username)
        m.add_string(SERVICE_CONNECTION)
        m.add_string(wire_method or method)
        m.add_bytes(body.asbytes())
        self.method = method
        self.username = username
        self._signed = False
        if self.service_accepted:
            self.host.send(m.asbytes())
            return
        self._queued.append(m.asbytes())
        self.request_service()

    def request_service(self) -> None:
        """Ask for the ssh-userauth service now (once); a driver may wait for
        ``ServiceAccepted`` so that the server's EXT_INFO (which comes first)
        has been seen before it chooses algorithms and methods."""
        if not self.service_requested:
            self.service_requested = True
            self.host.send(bytes([MSG_SERVICE_REQUEST]) + Message().add_string(SERVICE_USERAUTH).asbytes())

    def request_none(self, username: str) -> None:
        """Send a "none" request (learns the allowed methods)."""
        self._request(username, "none", Message())

    def request_password(self, username: str, password: str | bytes, new_password: str | bytes | None = None) -> None:
        """Send a "password" request (with a new password to change it)."""
        body = Message().add_boolean(new_password is not None).add_string(password)
        if new_password is not None:
            body.add_string(new_password)
        self._request(username, "password", body)

    def _publickey_request(
        self, username: str, key: Any, algorithm: str | None, hostbound: bool | None
    ) -> PublicKeySignRequest:
        session_id = self.host.session_id
        if session_id is None:
            raise SSHException("no session id: key exchange not done")
        if isinstance(key, (bytes, bytearray, memoryview)):
            key = host_key_from_blob(bytes(key))
        sig_alg = signature_algorithm_of(algorithm) if algorithm else None
        sig_alg = sig_alg or signature_algorithm(key, self.server_sig_algs, self.allowed_algorithms)
        blob, certified = publickey_blob(key)
        # a certificate goes out under its certificate algorithm name (the
        # signature inside still names the plain algorithm)
        alg = certificate_algorithm(sig_alg) if certified else sig_alg
        host_key = self.hostbound_host_key if hostbound is None or hostbound else None
        if hostbound and host_key is None:
            raise SSHException("the server did not offer publickey-hostbound-v00@openssh.com")
        data = signed_data(session_id, username, SERVICE_CONNECTION, alg, blob, host_key)
        return PublicKeySignRequest(username, sig_alg, alg, blob, data, host_key)

    def begin_publickey(
        self, username: str, key: Any, algorithm: str | None = None, hostbound: bool | None = None
    ) -> PublicKeySignRequest:
        """First half of a signed publickey request: what to sign. Nothing is
        sent until ``finish_publickey`` (or ``cancel_publickey``)."""
        self._check_idle()
        req = self._publickey_request(username, key, algorithm, hostbound)
        self.pending_sign = req
        return req

    def finish_publickey(self, signature: bytes | bytearray | Message) -> None:
        """Second half: send the request begun with ``begin_publickey``
        carrying ``signature`` (a signature blob)."""
        req = self.pending_sign
        if req is None:
            raise SSHException("no publickey request is waiting for a signature")
        self.pending_sign = None
        body = Message().add_boolean(True).add_string(req.request_algorithm).add_string(req.public_blob)
        if req.host_key is not None:
            body.add_string(req.host_key)
        body.add_string(bytes(signature))
        self._request(req.username, "publickey", body, req.method)
        self._signed = True

    def cancel_publickey(self) -> None:
        """Drop a begun publickey request (the signer failed)."""
        self.pending_sign = None

    def request_publickey_query(
        self, username: str, key: Any, algorithm: str | None = None, hostbound: bool | None = None
    ) -> None:
        """Ask whether ``key`` would be accepted, without a signature (RFC
        4252 7): ``AuthPublicKeyAccepted`` or ``AuthFailed`` follows."""
        self._check_idle()
        req = self._publickey_request(username, key, algorithm, hostbound)
        body = Message().add_boolean(False).add_string(req.request_algorithm).add_string(req.public_blob)
        if req.host_key is not None:
            body.add_string(req.host_key)
        self._request(username, "publickey", body, req.method)

    def request_publickey(
        self, username: str, key: Any, algorithm: str | None = None, hostbound: bool | None = None
    ) -> None:
        """Send a signed "publickey" request with ``key`` (a PKey or agent
        key), signing here: both halves in one call."""
        req = self.begin_publickey(username, key, algorithm, hostbound)
        try:
            try:
                sig = key.sign_ssh_data(req.data, req.algorithm)
            except TypeError:
                sig = key.sign_ssh_data(req.data)
        except BaseException:
            self.cancel_publickey()
            raise
        self.finish_publickey(bytes(sig))

    def request_interactive(self, username: str, submethods: str = "") -> None:
        """Start keyboard-interactive authentication (RFC 4256)."""
        self._request(username, "keyboard-interactive", Message().add_string("").add_string(submethods))

    def info_response(self, responses: list[str] | tuple[str, ...]) -> None:
        """Answer the server's last keyboard-interactive questions."""
        if self.method != "keyboard-interactive" or self._prompt_count < 0:
            raise SSHException("no keyboard-interactive question is pending")
        m = Message().add_byte(MSG_USERAUTH_INFO_RESPONSE).add_int(len(responses))
        for r in responses:
            m.add_string(r)
        self._prompt_count = -1
        self.host.send(m.asbytes())

    # -- incoming ----------------------------------------------------------

    def on_service_accept(self, payload: bytes) -> None:
        """SERVICE_ACCEPT: send the queued auth request."""
        m = Message(payload, strict=True)
        m.get_byte()
        name = m.get_name() if m.remaining() else SERVICE_USERAUTH
        if not self.service_requested or self.service_accepted or name != SERVICE_USERAUTH:
            raise ProtocolError(f"unexpected SERVICE_ACCEPT for {name!r}")
        self.service_accepted = True
        self.host.emit(ev.ServiceAccepted(name))
        for p in self._queued:
            self.host.send(p)
        self._queued.clear()

    def expects_reply(self) -> bool:
        """Whether a userauth reply may arrive now."""
        return self.method is not None and self.service_accepted

    def on_banner(self, payload: bytes) -> None:
        """USERAUTH_BANNER."""
        m = Message(payload, strict=True)
        m.get_byte()
        text = m.get_text()
        lang = m.get_text() if m.remaining() else ""
        self.host.emit(ev.AuthBannerReceived(text, lang))

    def on_failure(self, payload: bytes) -> None:
        """USERAUTH_FAILURE (maybe partial success)."""
        if not self.expects_reply():
            raise ProtocolError("USERAUTH_FAILURE without a request")
        m = Message(payload, strict=True)
        m.get_byte()
        allowed = tuple(m.get_list())
        partial = m.get_boolean()
        self.method = None
        self.host.emit(ev.AuthFailed(allowed, partial))

    def on_success(self, payload: bytes) -> None:
        """USERAUTH_SUCCESS."""
        if not self.expects_reply() or len(payload) != 1:
            raise ProtocolError("unexpected USERAUTH_SUCCESS")
        self.method = None
        self.authenticated = True
        self.host.emit(ev.AuthSucceeded(self.username))

    def on_60(self, payload: bytes) -> None:
        """Message 60: PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST by method."""
        if not self.expects_reply():
            raise ProtocolError("unexpected userauth message 60")
        m = Message(payload, strict=True)
        m.get_byte()
        if self.method == "publickey":
            if self._signed:
                raise ProtocolError("USERAUTH_PK_OK in reply to a signed request")
            alg = m.get_name()
            blob = m.get_string()
            self.method = None  # the query is answered: the signed request may follow
            self.host.emit(ev.AuthPublicKeyAccepted(alg, blob))
        elif self.method == "password":
            prompt = m.get_text()
            lang = m.get_text()
            self.method = None
            self.host.emit(ev.PasswordChangeRequested(prompt, lang))
        elif self.method == "keyboard-interactive":
            name = m.get_text()
            instructions = m.get_text()
            lang = m.get_text()
            n = m.get_int()
            if n > MAX_PROMPTS:
                raise ProtocolError(f"too many keyboard-interactive prompts ({n})")
            prompts = tuple((m.get_text(), m.get_boolean()) for _ in range(n))
            self._prompt_count = n
            self.host.emit(ev.AuthInfoRequested(name, instructions, lang, prompts))
        else:
            raise ProtocolError("unexpected userauth message 60")


class ServerAuth:
    """The server side: parses requests, verifies signatures, and waits for
    the driver's decision on each one."""

    def __init__(self, host: AuthHost, allowed_algorithms: tuple[str, ...], max_attempts: int = 20) -> None:
        self.host = host
        # the FIDO (sk-) algorithms ride along with their curves and are
        # listed in server-sig-algs, as sshd lists them
        self.allowed_algorithms = with_security_key_algorithms(allowed_algorithms)
        self.max_attempts = max_attempts
        #: for the pending signed request with a security key: the token's
        #: signature, parsed and verified (flags and counter for the policy)
        self.sk_signature: SKSignature | None = None
        self.failures = 0
        self.service_accepted = False
        self.authenticated = False
        self.username: str | None = None
        self.service: str | None = None
        self.pending: ev.AuthRequested | None = None
        self.pending_info: bool = False
        self._prompts_sent = -1
        self._banner_sent = False
        self._none_seen = False
        #: accept publickey-hostbound-v00@openssh.com (advertised in EXT_INFO)
        self.hostbound = True

    @property
    def awaiting_decision(self) -> bool:
        """True while the driver owes an answer for the last request."""
        return self.pending is not None or self.pending_info

    def on_service_request(self, payload: bytes) -> None:
        """SERVICE_REQUEST: only ssh-userauth, only once, only before auth."""
        m = Message(payload, strict=True)
        m.get_byte()
        name = m.get_name()
        m.expect_end()
        if name != SERVICE_USERAUTH or self.authenticated:
            raise ProtocolError(f"service {name!r} not available", DISCONNECT_SERVICE_NOT_AVAILABLE)
        self.service_accepted = True
        self.host.send(bytes([MSG_SERVICE_ACCEPT]) + Message().add_string(name).asbytes())

    def on_request(self, payload: bytes) -> None:
        """USERAUTH_REQUEST: parse and hand to the driver as ``AuthRequested``."""
        if not self.service_accepted:
            raise ProtocolError("USERAUTH_REQUEST before the ssh-userauth service was accepted")
        if self.authenticated:
            return  # RFC 4252 5.1: requests after success are ignored
        if self.awaiting_decision:
            raise ProtocolError("USERAUTH_REQUEST while the last one is pending")
        self.sk_signature = None
        m = Message(payload, strict=True)
        m.get_byte()
        username = m.get_text()
        service = m.get_name()
        method = m.get_name()
        if len(username) > MAX_NAME:
            raise ProtocolError("user name too long")
        if service != SERVICE_CONNECTION:
            raise ProtocolError(f"service {service!r} not available", DISCONNECT_SERVICE_NOT_AVAILABLE)
        if (username, service) != (self.username, self.service):
            # RFC 4252 section 5: a change of user or service flushes the state.
            self.username, self.service = username, service
            self._prompts_sent = -1
        kwargs: dict[str, Any] = {}
        if method == "password":
            change = m.get_boolean()
            kwargs["password"] = m.get_text()
            if change:
                kwargs["new_password"] = m.get_text()
        elif method == "publickey" or (method == HOSTBOUND_METHOD and self.hostbound):
            signed = m.get_boolean()
            alg = m.get_name()
            blob = m.get_string()
            host_key = m.get_string() if method == HOSTBOUND_METHOD else None
            sig = m.get_string() if signed else None
            key = self._check_key(username, alg, blob, sig, host_key)
            if host_key is not None and not self._own_host_key(host_key):
                key = None  # bound to another server: refused, as sshd does
            method = "publickey"
            kwargs.update(algorithm=alg, key=key, signed=signed and key is not None, hostbound=host_key is not None)
        elif method == "keyboard-interactive":
            m.get_text()  # language tag, deprecated
            kwargs["submethods"] = m.get_text()
        self.pending = ev.AuthRequested(username, service, method, **kwargs)
        self.host.emit(self.pending)

    def _own_host_key(self, host_key: bytes) -> bool:
        """Whether a hostbound request names the host key of our first key exchange."""
        ours = getattr(self.host, "initial_host_key_blob", None)
        return ours is not None and hmac.compare_digest(bytes(ours), bytes(host_key))

    def _check_key(self, username: str, alg: str, blob: bytes, sig: bytes | None, host_key: bytes | None = None) -> Any:
        """The key of a publickey request when it is usable (a known type
        matching ``alg``, an allowed algorithm, a good signature when one
        came), else None. A certificate's CA signature is checked here too;
        whether its CA is trusted is the server policy's decision."""
        from ssh_keys import Certificate, CertificateError

        sig_alg = signature_algorithm_of(alg)
        try:
            key = host_key_from_blob(blob)
        except SSHException:
            return None
        certified = has_certificate(key)
        if certified != is_certificate_algorithm(alg):
            return None
        if certified:
            if key.public_blob.key_type != cert_type_for(key_type_of(alg)):
                return None
            try:
                Certificate.from_blob(blob)
            except CertificateError:
                return None
        ok = sig_alg in self.allowed_algorithms and key.get_name() == key_type_of(alg)
        if ok and sig is not None:
            assert self.host.session_id is not None
            data = signed_data(self.host.session_id, username, SERVICE_CONNECTION, alg, blob, host_key)
            sm = Message(sig, strict=True)
            try:
                ok = sm.get_name() == sig_alg
            except ProtocolError:
                ok = False
            sm.rewind()
            if ok and isinstance(key, SKKey):
                ok = self._check_sk_signature(key, data, sig)
            else:
                ok = ok and bool(key.verify_ssh_sig(data, sm))
        return key if ok else None

    def _check_sk_signature(self, key: SKKey, data: bytes, sig: bytes) -> bool:
        """Verify a security-key signature (application, flags, counter and
        the inner signature). Whether the flags are enough (user presence,
        user verification) is the server policy's call, as sshd's
        ``no-touch-required``/``verify-required`` are per key: the parsed
        signature waits in ``sk_signature`` for it."""
        try:
            self.sk_signature = key.verify_sk_signature(data, sig, touch_required=False)
        except SKSignatureError:
            return False
        return True

    def on_info_response(self, payload: bytes) -> None:
        """USERAUTH_INFO_RESPONSE: only after our INFO_REQUEST."""
        if self._prompts_sent < 0 or self.awaiting_decision or self.username is None:
            raise ProtocolError("USERAUTH_INFO_RESPONSE without a question")
        m = Message(payload, strict=True)
        m.get_byte()
        n = m.get_int()
        if n != self._prompts_sent:
            raise ProtocolError(f"{n} keyboard-interactive answers for {self._prompts_sent} prompts")
        responses = tuple(m.get_text() for _ in range(n))
        m.expect_end()
        self._prompts_sent = -1
        self.pending_info = True
        self.host.emit(ev.AuthInfoResponded(self.username, responses))

    # -- the driver's decisions ------------------------------------------------

    def send_banner(self, text: str, language: str = "") -> None:
        """Send a USERAUTH_BANNER (once, before success)."""
        if self._banner_sent or self.authenticated:
            return
        self._banner_sent = True
        self.host.send(Message().add_byte(MSG_USERAUTH_BANNER).add_string(text).add_string(language).asbytes())

    def result(self, result: int, allowed: list[str] | tuple[str, ...]) -> bool:
        """Answer the pending request; True when the user is now authenticated."""
        req = self.pending
        if req is None and not self.pending_info:
            raise SSHException("no authentication request is pending")
        self.pending = None
        self.pending_info = False
        self._prompts_sent = -1
        self.sk_signature = None
        if req is not None and req.method == "publickey" and req.key is None:
            result = AUTH_FAILED  # the core already refused the key or its signature
        ok = result in (AUTH_SUCCESSFUL, AUTH_PARTIALLY_SUCCESSFUL)
        if ok and req is not None and req.method == "publickey" and not req.signed:
            # A query: the key would do (even as one step); the client will now sign.
            # (PK_OK has the same form for a hostbound query.)
            m = Message().add_byte(60).add_string(req.algorithm).add_string(publickey_blob(req.key)[0])
            self.host.send(m.asbytes())
            return False
        if result == AUTH_SUCCESSFUL:
            self.authenticated = True
            self.host.send(bytes([MSG_USERAUTH_SUCCESS]))
            self.host.emit(ev.AuthSucceeded(self.username or ""))
            return True
        partial = result == AUTH_PARTIALLY_SUCCESSFUL
        if result not in (AUTH_FAILED, AUTH_PARTIALLY_SUCCESSFUL):
            raise SSHException(f"bad auth result {result!r}")
        if not partial and not (req is not None and req.method == "none" and not self._none_seen):
            self.failures += 1  # only the first "none" probe is free (as OpenSSH)
        if req is not None and req.method == "none":
            self._none_seen = True
        m = Message().add_byte(MSG_USERAUTH_FAILURE).add_list(list(allowed)).add_boolean(partial)
        self.host.send(m.asbytes())
        if self.failures >= self.max_attempts:
            raise ProtocolError("too many authentication failures", DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE)
        return False

    def info_request(self, name: str, instructions: str, prompts: list[tuple[str, bool]]) -> None:
        """Ask keyboard-interactive questions for the pending request."""
        if not self.awaiting_decision:
            raise SSHException("no authentication request is pending")
        if len(prompts) > MAX_PROMPTS:
            raise SSHException("too many prompts")
        self.pending = None
        self.pending_info = False
        m = Message().add_byte(MSG_USERAUTH_INFO_REQUEST).add_string(name).add_string(instructions).add_string("")
        m.add_int(len(prompts))
        for text, echo in prompts:
            m.add_string(text).add_boolean(echo)
        self._prompts_sent = len(prompts)
        self.host.send(m.asbytes())


__all__ = [
    "HOSTBOUND_EXTENSION",
    "HOSTBOUND_METHOD",
    "ClientAuth",
    "PublicKeySignRequest",
    "publickey_blob",
    "ServerAuth",
    "signature_algorithm",
    "signed_data",
]
