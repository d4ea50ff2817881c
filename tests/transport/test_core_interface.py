"""The protocol core's public driver interface: ``wants`` after
``next_event()`` returns None, public-key auth split into "what to sign"
and "here is the signature", the session binding, and what ``protocol/``
leaves to drivers (no file reading)."""

from __future__ import annotations

import pytest

import ssh_keys
from ssh_transport.protocol import events as ev
from ssh_transport.protocol import moduli
from ssh_transport.protocol.constants import AUTH_SUCCESSFUL
from ssh_transport.protocol.core import CLOSED, NEED_DATA, PAUSED, SSHProtocol
from ssh_transport.protocol.userauth import HOSTBOUND_METHOD, PublicKeySignRequest, signed_data
from ssh_wire import Message, SSHException
from support.corepair import CorePair, Policy, host_key

pytestmark = pytest.mark.timeout(60)


def _user_key() -> ssh_keys.Ed25519Key:
    return ssh_keys.Ed25519Key.generate()


def test_wants_tells_need_data_from_paused_from_closed() -> None:
    pair = CorePair()
    decided: list[ev.AuthRequested] = []

    def hold(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested):
            decided.append(e)
            return True  # leave the decision pending
        return False

    pair.on_server_event = hold
    assert pair.server.next_event() is None and pair.server.wants == NEED_DATA
    pair.kex()
    pair.client.auth_password("user", "pw")
    pair.pump()
    assert len(decided) == 1
    assert pair.server.paused
    # more input is waiting in the reader, but the core will not read it
    assert pair.server.next_event() is None and pair.server.wants == PAUSED
    pair.server.auth_result(AUTH_SUCCESSFUL)
    pair.pump()
    assert pair.client.authenticated and pair.server.wants == NEED_DATA
    pair.client.disconnect()
    pair.pump()
    assert pair.server.next_event() is None and pair.server.wants == CLOSED


def test_begin_returns_the_rfc4252_data_and_nothing_is_sent_until_the_signature() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.server.server_auth.hostbound = False  # type: ignore[union-attr]
    pair.kex()
    pair.client.auth_request_service()
    pair.pump()
    assert pair.client.auth_service_accepted
    req = pair.client.auth_publickey_begin("user", key)
    assert isinstance(req, PublicKeySignRequest)
    assert req.method == "publickey" and req.host_key is None
    assert req.data == signed_data(pair.client.session_id, "user", "ssh-connection", "ssh-ed25519", key.asbytes())
    assert not pair.client.has_data_to_send()
    with pytest.raises(SSHException):
        pair.client.auth_password("user", "pw")  # one request at a time
    pair.client.auth_publickey_signature(key.sign_ssh_data(req.data, req.algorithm).asbytes())
    pair.pump()
    requested = pair.server_of(ev.AuthRequested)
    assert [(e.method, e.signed, e.hostbound) for e in requested] == [("publickey", True, False)]
    assert pair.client.authenticated


def test_publickey_is_host_bound_when_the_server_offers_it() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    ext = pair.client_of(ev.ExtInfoReceived)
    assert ext and ext[0].extensions["publickey-hostbound@openssh.com"] == b"0"
    assert pair.client.peer_supports_hostbound
    pair.client.auth_request_service()
    pair.pump()
    req = pair.client.auth_publickey_begin("user", key)
    assert req.method == HOSTBOUND_METHOD
    assert req.host_key == host_key("ed25519").asbytes() == pair.server.initial_host_key_blob
    assert req.data == signed_data(
        pair.client.session_id, "user", "ssh-connection", "ssh-ed25519", key.asbytes(), req.host_key
    )
    pair.client.auth_publickey_signature(key.sign_ssh_data(req.data, req.algorithm))
    pair.pump()
    [e] = pair.server_of(ev.AuthRequested)
    assert (e.method, e.signed, e.hostbound) == ("publickey", True, True)
    assert pair.client.authenticated and pair.server.authenticated


def test_client_falls_back_to_plain_publickey_without_the_extension() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.server.server_auth.hostbound = False  # type: ignore[union-attr]
    pair.kex()
    assert "publickey-hostbound@openssh.com" not in pair.client.extensions
    pair.client.auth_publickey("user", key)  # the one-call form signs in the core
    pair.pump()
    [e] = pair.server_of(ev.AuthRequested)
    assert (e.signed, e.hostbound) == (True, False)
    assert pair.client.authenticated
    with pytest.raises(SSHException):
        pair.client.auth_publickey_begin("user", key, hostbound=True)


def test_client_may_decline_hostbound() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.client.use_hostbound_auth = False
    pair.kex()
    pair.client.auth_publickey("user", key)
    pair.pump()
    assert [e.hostbound for e in pair.server_of(ev.AuthRequested)] == [False]
    assert pair.client.authenticated


def test_hostbound_request_for_another_host_key_is_refused() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    pair.client.auth_request_service()
    pair.pump()
    other = host_key("ecdsa").asbytes()
    pair.client.client_auth.hostbound_host_key = other  # type: ignore[union-attr]
    req = pair.client.auth_publickey_begin("user", key)
    assert req.host_key == other
    pair.client.auth_publickey_signature(key.sign_ssh_data(req.data, req.algorithm))
    pair.pump()
    [e] = pair.server_of(ev.AuthRequested)
    assert e.key is None and not e.signed  # refused in the core, whatever the policy says
    assert pair.client_of(ev.AuthFailed) and not pair.client.authenticated


def test_hostbound_signature_must_cover_the_host_key() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    req = pair.client.auth_publickey_begin("user", key)
    assert req.host_key is not None
    plain = signed_data(pair.client.session_id, "user", "ssh-connection", "ssh-ed25519", key.asbytes())
    pair.client.auth_publickey_signature(key.sign_ssh_data(plain, req.algorithm))
    pair.pump()
    [e] = pair.server_of(ev.AuthRequested)
    assert e.key is None and pair.client_of(ev.AuthFailed)


def test_cancel_lets_another_request_start() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    pair.client.auth_publickey_begin("user", key)
    with pytest.raises(SSHException):
        pair.client.auth_publickey_begin("user", key)
    pair.client.auth_publickey_cancel()
    with pytest.raises(SSHException):
        pair.client.auth_publickey_signature(b"\x00" * 8)  # nothing begun any more
    pair.client.auth_password("user", "pw")
    pair.pump()
    assert pair.client.authenticated


def test_query_then_sign_with_a_public_blob() -> None:
    key = _user_key()
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    pair.client.auth_publickey_query("user", key.asbytes())
    pair.pump()
    [accepted] = pair.client_of(ev.AuthPublicKeyAccepted)
    assert accepted.key_blob == key.asbytes()
    assert [e.hostbound for e in pair.server_of(ev.AuthRequested)] == [True]
    req = pair.client.auth_publickey_begin("user", key.asbytes())  # only the public half in the core
    pair.client.auth_publickey_signature(key.sign_ssh_data(req.data, req.algorithm))
    pair.pump()
    assert pair.client.authenticated


def test_session_binding_is_the_first_exchange_signed_by_the_host_key() -> None:
    pair = CorePair()
    assert pair.client.session_binding is None
    pair.kex()
    binding = pair.client.session_binding
    assert binding is not None and binding == pair.server.session_binding
    blob, sid, sig = binding
    assert blob == host_key("ed25519").asbytes() and sid == pair.client.session_id
    assert host_key("ed25519").verify_ssh_sig(sid, Message(sig))
    pair.client.start_rekey()
    pair.pump()
    assert pair.client.session_binding == binding  # a rekey changes nothing


def test_moduli_in_the_core_take_text_only() -> None:
    assert not hasattr(moduli, "load_moduli")
    assert moduli.parse_moduli("# nothing here\n") == {}


def test_server_core_takes_no_signing_calls() -> None:
    server = SSHProtocol("server", host_keys={"ssh-ed25519": host_key("ed25519")})
    with pytest.raises(SSHException):
        server.auth_publickey_begin("user", _user_key())
