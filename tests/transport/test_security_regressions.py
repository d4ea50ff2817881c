"""Security regressions, one test each, against the protocol core in memory.

CVE-2018-7750 (connection messages before auth), CVE-2018-1000805 (client-only
messages sent to a server), CVE-2023-46445/46446 (EXT_INFO and auth messages
out of phase), CVE-2023-48795 (Terrapin: strict kex), plus the channel and
window limits and the SHA-1 signature policy.
"""

from __future__ import annotations

import struct

import pytest

from ssh_transport.protocol import constants as c
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.negotiation import AlgorithmPreferences
from ssh_wire import Message, ProtocolError, SSHException
from support.corepair import CorePair, Policy, host_key


def _deliver_to_server(pair: CorePair) -> None:
    pair.server.receive_data(pair.client.data_to_send())
    while pair.server.next_event() is not None:
        pass


def _deliver_to_client(pair: CorePair) -> None:
    pair.client.receive_data(pair.server.data_to_send())
    while pair.client.next_event() is not None:
        pass


def _disconnect_sent(core: object) -> bool:
    """The core queued a DISCONNECT and is closed."""
    return bool(getattr(core, "closed", False))


def _channel_open() -> bytes:
    return (
        Message()
        .add_byte(c.MSG_CHANNEL_OPEN)
        .add_string("session")
        .add_int(0)
        .add_int(1 << 20)
        .add_int(32768)
        .asbytes()
    )


def _global_request() -> bytes:
    return (
        Message()
        .add_byte(c.MSG_GLOBAL_REQUEST)
        .add_string("tcpip-forward")
        .add_boolean(True)
        .add_string("")
        .add_int(0)
        .asbytes()
    )


@pytest.mark.parametrize("payload", [_channel_open(), _global_request()], ids=["channel-open", "global-request"])
def test_connection_messages_before_auth_are_fatal(payload: bytes) -> None:
    """CVE-2018-7750: a server must not open channels for an unauthenticated client."""
    pair = CorePair()
    pair.kex()
    pair.client.send(payload)
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)
    assert _disconnect_sent(pair.server)
    assert not pair.server_of(ev.ChannelOpenRequested) and not pair.server_of(ev.GlobalRequestReceived)


def test_connection_messages_during_auth_are_fatal() -> None:
    pair = CorePair()
    pair.kex()
    pair.client.auth_none("bob")
    pair.pump()
    pair.client.send(_channel_open())
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)


@pytest.mark.parametrize(
    "payload",
    [
        bytes([c.MSG_USERAUTH_SUCCESS]),
        Message().add_byte(c.MSG_USERAUTH_FAILURE).add_list(["password"]).add_boolean(False).asbytes(),
        Message().add_byte(60).add_string("ssh-ed25519").add_string(b"x").asbytes(),
        Message().add_byte(c.MSG_USERAUTH_BANNER).add_string("hi").add_string("").asbytes(),
        Message().add_byte(c.MSG_SERVICE_ACCEPT).add_string("ssh-userauth").asbytes(),
    ],
    ids=["success", "failure", "pk-ok", "banner", "service-accept"],
)
def test_client_only_messages_sent_to_server_are_fatal(payload: bytes) -> None:
    """CVE-2018-1000805: the server's table has no server-bound auth replies."""
    pair = CorePair()
    pair.kex()
    pair.client.send(payload)
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)
    assert not pair.server.authenticated


def test_userauth_success_from_client_after_request_is_fatal() -> None:
    pair = CorePair()
    pair.kex()
    pair.client.auth_password("bob", "wrong")
    pair.pump()
    pair.client.send(bytes([c.MSG_USERAUTH_SUCCESS]))
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)
    assert not pair.server.authenticated


def test_server_only_messages_sent_to_client_are_fatal() -> None:
    pair = CorePair()
    pair.kex()
    pair.server.send(Message().add_byte(c.MSG_SERVICE_REQUEST).add_string("ssh-userauth").asbytes())
    with pytest.raises(ProtocolError):
        _deliver_to_client(pair)


def test_unsolicited_userauth_success_to_client_is_fatal() -> None:
    pair = CorePair()
    pair.kex()
    pair.server.send(bytes([c.MSG_USERAUTH_SUCCESS]))
    with pytest.raises(ProtocolError):
        _deliver_to_client(pair)
    assert not pair.client.authenticated


def _ext_info() -> bytes:
    return Message().add_byte(c.MSG_EXT_INFO).add_int(1).add_string("server-sig-algs").add_string("ssh-rsa").asbytes()


def test_ext_info_after_auth_is_fatal_for_client() -> None:
    """CVE-2023-46445/46446: EXT_INFO only right after NEWKEYS (or with an auth reply)."""
    pair = CorePair()
    pair.login()
    pair.server.send(_ext_info())
    with pytest.raises(ProtocolError):
        _deliver_to_client(pair)


def test_ext_info_between_service_accept_and_request_is_fatal() -> None:
    pair = CorePair()
    pair.kex()
    pair.server.send(Message().add_byte(c.MSG_SERVICE_ACCEPT).add_string("ssh-userauth").asbytes())
    pair.server.send(_ext_info())
    with pytest.raises(ProtocolError):
        _deliver_to_client(pair)


def test_ext_info_from_client_after_first_packet_is_fatal() -> None:
    pair = CorePair()
    pair.login()
    pair.client.send(_ext_info())
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)


def test_ext_info_sets_server_sig_algs_only_in_phase() -> None:
    pair = CorePair()
    pair.kex()
    assert pair.client.client_auth is not None
    assert "rsa-sha2-512" in (pair.client.client_auth.server_sig_algs or [])


def test_userauth_request_before_service_request_is_fatal() -> None:
    pair = CorePair()
    pair.kex()
    m = Message().add_byte(c.MSG_USERAUTH_REQUEST).add_string("bob").add_string("ssh-connection").add_string("none")
    pair.client.send(m.asbytes())
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)


def test_info_response_without_question_is_fatal() -> None:
    pair = CorePair()
    pair.kex()
    pair.client.auth_none("bob")
    pair.pump()
    pair.client.send(Message().add_byte(c.MSG_USERAUTH_INFO_RESPONSE).add_int(0).asbytes())
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)


def test_auth_state_flushed_when_user_changes() -> None:
    """RFC 4252 5: a keyboard-interactive question for alice is void once a
    request for another user arrives."""
    pair = CorePair()

    def answer(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested) and e.method == "keyboard-interactive":
            pair.server.auth_info_request("", "", [("pw?", False)])
            return True
        return False

    pair.on_server_event = answer
    pair.kex()
    pair.client.auth_interactive("alice")
    pair.pump()
    assert pair.client_of(ev.AuthInfoRequested)
    ca = pair.client.client_auth
    assert ca is not None
    ca.method = None  # let the client send another request meanwhile
    pair.client.auth_password("mallory", "nope")
    pair.pump()
    pair.client.send(Message().add_byte(c.MSG_USERAUTH_INFO_RESPONSE).add_int(1).add_string("x").asbytes())
    with pytest.raises(ProtocolError):
        _deliver_to_server(pair)
    assert not pair.server.authenticated


def test_too_many_auth_failures_disconnect() -> None:
    pair = CorePair(max_auth_attempts=3)
    pair.kex()
    with pytest.raises(ProtocolError):
        for _ in range(3):
            pair.client.auth_password("bob", "wrong")
            pair.pump()
    assert pair.server.closed


# -- Terrapin / strict kex ---------------------------------------------------


def test_strict_kex_negotiated_and_sequence_reset() -> None:
    pair = CorePair()
    pair.kex()
    assert pair.client.neg.strict and pair.server.neg.strict
    # Only EXT_INFO went out after each side's NEWKEYS (the client's asks for
    # ext-info-in-auth@openssh.com, the server having sent ext-info-s).
    assert pair.server.writer.seq == 1 and pair.client.reader.seq == 1
    assert pair.client.writer.seq == 1 and pair.server.reader.seq == 1


def _non_strict_client(pair: CorePair) -> None:
    """A client that does not offer strict kex (as Transport(strict_kex=False))."""
    pair.client.neg.offer_strict = False


def test_without_strict_kex_sequence_numbers_continue() -> None:
    pair = CorePair(autostart=False)
    _non_strict_client(pair)
    pair.client.start()
    pair.server.start()
    pair.kex()
    assert not pair.client.neg.strict and not pair.server.neg.strict
    assert pair.client.writer.seq == 4  # KEXINIT, ECDH/KEM init, NEWKEYS, EXT_INFO


def test_strict_kex_kexinit_must_be_first() -> None:
    pair = CorePair(autostart=False)
    client = pair.client
    client._started = True
    client._out.append(client.local_version + b"\r\n")
    client._send_kex(bytes([c.MSG_IGNORE]) + Message().add_string(b"x").asbytes())
    client.neg.start()
    pair.server.start()
    with pytest.raises(ProtocolError, match="first"):
        _deliver_to_server(pair)


def test_ignore_before_kexinit_tolerated_without_strict_kex() -> None:
    pair = CorePair(autostart=False)
    _non_strict_client(pair)
    client = pair.client
    client._started = True
    client._out.append(client.local_version + b"\r\n")
    client._send_kex(bytes([c.MSG_IGNORE]) + Message().add_string(b"x").asbytes())
    client.neg.start()
    pair.server.start()
    pair.kex()


@pytest.mark.parametrize("msg", [c.MSG_IGNORE, c.MSG_DEBUG, c.MSG_UNIMPLEMENTED])
def test_strict_kex_no_other_messages_during_first_kex(msg: int) -> None:
    pair = CorePair()
    pair.client.receive_data(pair.server.data_to_send())
    while pair.client.next_event() is not None:
        pass
    body = {
        c.MSG_IGNORE: Message().add_string(b"junk"),
        c.MSG_DEBUG: Message().add_boolean(False).add_string("x").add_string(""),
        c.MSG_UNIMPLEMENTED: Message().add_int(5),
    }[msg]
    # inject between the client's kex messages and its NEWKEYS
    pair.client._send_kex(bytes([msg]) + body.asbytes())
    with pytest.raises(ProtocolError):
        pair.pump()


def test_ignore_during_kex_tolerated_without_strict_kex() -> None:
    pair = CorePair(autostart=False)
    _non_strict_client(pair)
    pair.client.start()
    pair.server.start()
    pair.client._send_kex(bytes([c.MSG_IGNORE]) + Message().add_string(b"junk").asbytes())
    pair.kex()


def test_rekey_host_key_change_is_refused() -> None:
    pair = CorePair(host_keys=[host_key("ed25519")])
    pair.login()
    pair.server.neg.host_keys = {"ssh-ed25519": _other_ed25519()}
    pair.client.start_rekey()
    with pytest.raises(ProtocolError, match="changed"):
        pair.pump()


_OTHER: list[object] = []


def _other_ed25519() -> object:
    import ssh_keys

    if not _OTHER:
        _OTHER.append(ssh_keys.Ed25519Key.generate())
    return _OTHER[0]


# -- channel limits ----------------------------------------------------------------


def test_channel_open_with_max_packet_zero_is_refused() -> None:
    pair = CorePair()
    pair.login()
    m = Message().add_byte(c.MSG_CHANNEL_OPEN).add_string("session").add_int(5).add_int(1 << 20).add_int(0)
    pair.client.send(m.asbytes())
    _deliver_to_server(pair)
    assert not pair.server_of(ev.ChannelOpenRequested) and not pair.server.conn.channels
    reply = pair.server.data_to_send()
    assert reply and not pair.server.closed


def test_open_confirmation_with_max_packet_zero_is_fatal() -> None:
    pair = CorePair()
    pair.login()
    cid = pair.client.open_channel("session")
    _deliver_to_server(pair)
    pair.server.data_to_send()  # drop the server's own confirmation
    pair.server.send(struct.pack(">BIIII", c.MSG_CHANNEL_OPEN_CONFIRMATION, cid, 7, 1 << 20, 0))
    with pytest.raises(ProtocolError, match="maximum packet"):
        _deliver_to_client(pair)


def test_window_adjust_overflow_is_fatal() -> None:
    pair = CorePair()
    _cid, sid = pair.session()
    remote = pair.server.conn.channels[sid].remote_id
    pair.server.send(struct.pack(">BII", c.MSG_CHANNEL_WINDOW_ADJUST, remote, 0xFFFFFFFF))
    with pytest.raises(ProtocolError, match="2\\^32"):
        _deliver_to_client(pair)


def test_data_beyond_window_is_fatal() -> None:
    pair = CorePair()
    pair.login()
    cid = pair.client.open_channel("session", window_size=1000, max_packet=32768)
    pair.pump()
    sid = pair.server_of(ev.ChannelOpenRequested)[-1].chanid
    remote = pair.server.conn.channels[sid].remote_id
    pair.server.send(struct.pack(">BII", c.MSG_CHANNEL_DATA, remote, 2000) + b"x" * 2000)
    with pytest.raises(ProtocolError, match="window"):
        _deliver_to_client(pair)
    assert cid == remote


def test_data_larger_than_max_packet_is_fatal() -> None:
    pair = CorePair()
    pair.login()
    pair.client.open_channel("session", window_size=1 << 20, max_packet=1024)
    pair.pump()
    sid = pair.server_of(ev.ChannelOpenRequested)[-1].chanid
    remote = pair.server.conn.channels[sid].remote_id
    pair.server.send(struct.pack(">BII", c.MSG_CHANNEL_DATA, remote, 2000) + b"x" * 2000)
    with pytest.raises(ProtocolError):
        _deliver_to_client(pair)


def test_message_for_unknown_channel_is_fatal() -> None:
    pair = CorePair()
    pair.session()
    pair.server.send(struct.pack(">BII", c.MSG_CHANNEL_DATA, 999, 1) + b"x")
    with pytest.raises(ProtocolError, match="unknown channel"):
        _deliver_to_client(pair)


def test_too_many_channels() -> None:
    pair = CorePair(max_channels=3)
    pair.client.conn.max_channels = 100
    pair.login()
    for _ in range(4):
        pair.client.open_channel("session")
    pair.pump()
    assert len(pair.server_of(ev.ChannelOpenRequested)) == 3
    fails = pair.client_of(ev.ChannelOpenFailed)
    assert len(fails) == 1 and fails[0].code == c.OPEN_FAILED_RESOURCE_SHORTAGE


# -- SHA-1 signatures -------------------------------------------------------------------


@pytest.mark.parametrize("allow_sha1", [False, True])
def test_ssh_rsa_user_signatures_only_when_asked(allow_sha1: bool) -> None:
    key = host_key("rsa")
    server_algs = AlgorithmPreferences().key_types + (("ssh-rsa",) if allow_sha1 else ())
    pair = CorePair(None, AlgorithmPreferences(key_types=server_algs), policy=Policy(keys=[key]))
    pair.kex()
    pair.client.auth_publickey("bob", key, algorithm="ssh-rsa")
    pair.pump()
    assert pair.client.authenticated is allow_sha1


def test_core_refuses_calls_after_close() -> None:
    pair = CorePair()
    pair.login()
    pair.client.disconnect()
    with pytest.raises(SSHException):
        pair.client.send(b"\x02\0\0\0\0")
