"""Bad input to the protocol core in every state: random, truncated,
oversized and out-of-order packets. The only allowed outcome is a clean
``SSHException`` (a ``ProtocolError`` with a DISCONNECT queued) or the core
carrying on; never another exception type, never a hang."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssh_transport.protocol import events as ev
from ssh_transport.protocol.core import SSHProtocol
from ssh_wire import Message, SSHException
from support.corepair import CorePair, host_key

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _drain(core: SSHProtocol, limit: int = 1000) -> None:
    """Run the core until it wants more input; SSHException is the only way out."""
    for _ in range(limit):
        try:
            e = core.next_event()
        except SSHException:
            assert core.closed
            return
        if e is None:
            return
        if isinstance(e, ev.AuthRequested):
            core.auth_result(2, ["password"])
        elif isinstance(e, ev.ChannelOpenRequested):
            core.accept_channel(e.chanid)
        elif isinstance(e, ev.ChannelRequestReceived) and e.want_reply:
            core.channel_request_reply(e.chanid, False)
        elif isinstance(e, ev.GlobalRequestReceived) and e.want_reply:
            core.global_request_reply(False)
        elif isinstance(e, ev.AuthInfoResponded):
            core.auth_result(2, ["password"])
    raise AssertionError("the core never asked for more input")


def _fresh(role: str) -> SSHProtocol:
    core = SSHProtocol(role, host_keys={"ssh-ed25519": host_key("ed25519")} if role == "server" else None)
    core.start()
    core.data_to_send()
    return core


@FUZZ
@given(role=st.sampled_from(["client", "server"]), data=st.binary(max_size=600))
def test_random_bytes_after_version(role: str, data: bytes) -> None:
    core = _fresh(role)
    core.receive_data(b"SSH-2.0-Fuzz\r\n" + data)
    _drain(core)


@FUZZ
@given(role=st.sampled_from(["client", "server"]), data=st.binary(max_size=400))
def test_random_identification(role: str, data: bytes) -> None:
    core = _fresh(role)
    try:
        core.receive_data(data + b"\r\n")
    except SSHException:
        return
    _drain(core)


def _plain_packet(payload: bytes) -> bytes:
    pad = 8 - (len(payload) + 5) % 8
    if pad < 4:
        pad += 8
    return struct.pack(">IB", len(payload) + 1 + pad, pad) + payload + b"\0" * pad


@FUZZ
@given(role=st.sampled_from(["client", "server"]), payloads=st.lists(st.binary(min_size=1, max_size=200), max_size=5))
def test_random_plain_packets_before_kex(role: str, payloads: list[bytes]) -> None:
    core = _fresh(role)
    core.receive_data(b"SSH-2.0-Fuzz\r\n" + b"".join(_plain_packet(p) for p in payloads))
    _drain(core)


@FUZZ
@given(
    msg=st.integers(min_value=1, max_value=255),
    body=st.binary(max_size=120),
    target=st.sampled_from(["client", "server"]),
    stage=st.sampled_from(["kex", "auth", "kbdint", "channels", "inkex"]),
)
def test_random_encrypted_packet_in_every_state(msg: int, body: bytes, target: str, stage: str) -> None:
    pair = _pair_at(stage)
    sender, receiver = (pair.server, pair.client) if target == "client" else (pair.client, pair.server)
    sender._send_kex(bytes([msg]) + body)  # sealed with the current keys, bypassing every check
    receiver.receive_data(sender.data_to_send())
    _drain(receiver)


@FUZZ
@given(
    stage=st.sampled_from(["auth", "channels"]),
    cut=st.integers(min_value=1, max_value=60),
    which=st.integers(min_value=0, max_value=50),
)
def test_truncated_valid_messages(stage: str, cut: int, which: int) -> None:
    """Take real messages a server receives and cut them short."""
    samples = _valid_client_messages()
    payload = samples[which % len(samples)]
    pair = _pair_at(stage)
    pair.client._send_kex(payload[: max(1, len(payload) - cut)])
    pair.server.receive_data(pair.client.data_to_send())
    _drain(pair.server)


def test_oversized_packet_length() -> None:
    pair = _pair_at("auth")
    pair.client.receive_data(b"\x7f\xff\xff\xff" + b"\0" * 64)
    with pytest.raises(SSHException):
        pair.client.next_event()
    assert pair.client.closed


def test_garbage_instead_of_packets_after_kex() -> None:
    pair = _pair_at("channels")
    pair.client.receive_data(bytes(range(256)) * 4)
    with pytest.raises(SSHException):
        for _ in range(10):
            pair.client.next_event()


def test_eof_mid_packet_ends_cleanly() -> None:
    pair = _pair_at("channels")
    pair.server.send(b"\x5e" + b"\0" * 20)
    data = pair.server.data_to_send()
    pair.client.receive_data(data[:10])
    pair.client.receive_data(b"")
    e = pair.client.next_event()
    assert isinstance(e, ev.ConnectionClosed)


def _valid_client_messages() -> list[bytes]:
    return [
        Message().add_byte(5).add_string("ssh-userauth").asbytes(),
        Message()
        .add_byte(50)
        .add_string("bob")
        .add_string("ssh-connection")
        .add_string("password")
        .add_boolean(False)
        .add_string("pw")
        .asbytes(),
        Message()
        .add_byte(50)
        .add_string("bob")
        .add_string("ssh-connection")
        .add_string("publickey")
        .add_boolean(True)
        .add_string("ssh-ed25519")
        .add_string(host_key("ed25519").asbytes())
        .add_string(b"sig")
        .asbytes(),
        Message().add_byte(90).add_string("session").add_int(0).add_int(1 << 20).add_int(32768).asbytes(),
        Message()
        .add_byte(90)
        .add_string("direct-tcpip")
        .add_int(1)
        .add_int(1 << 20)
        .add_int(32768)
        .add_string("h")
        .add_int(22)
        .add_string("o")
        .add_int(1)
        .asbytes(),
        Message()
        .add_byte(98)
        .add_int(0)
        .add_string("pty-req")
        .add_boolean(True)
        .add_string("xterm")
        .add_int(80)
        .add_int(24)
        .add_int(0)
        .add_int(0)
        .add_string(b"")
        .asbytes(),
        Message()
        .add_byte(98)
        .add_int(0)
        .add_string("exit-signal")
        .add_boolean(False)
        .add_string("TERM")
        .add_boolean(False)
        .add_string("")
        .add_string("")
        .asbytes(),
        Message().add_byte(80).add_string("tcpip-forward").add_boolean(True).add_string("").add_int(0).asbytes(),
        struct.pack(">BII", 94, 0, 5) + b"hello",
        struct.pack(">BIII", 95, 0, 1, 5) + b"hello",
        struct.pack(">BII", 93, 0, 100),
        struct.pack(">BI", 96, 0),
        struct.pack(">BI", 97, 0),
        Message().add_byte(20).add_bytes(b"\0" * 16).asbytes() + b"\0\0\0\x01x" * 10 + b"\0\0\0\0\0",
    ]


def _pair_at(stage: str) -> CorePair:
    pair = CorePair()
    if stage == "kex":
        pair.kex()
    elif stage == "auth":
        pair.kex()
        pair.client.auth_none("bob")
        pair.pump()
    elif stage == "kbdint":
        pair.kex()

        def ask(e: ev.Event) -> bool:
            if isinstance(e, ev.AuthRequested) and e.method == "keyboard-interactive":
                pair.server.auth_info_request("n", "i", [("p?", False)])
                return True
            return False

        pair.on_server_event = ask
        pair.client.auth_interactive("bob")
        pair.pump()
        assert pair.client_of(ev.AuthInfoRequested)
    elif stage == "channels":
        pair.session()
    elif stage == "inkex":
        pair.session()
        pair.client.start_rekey()
        pair.server.receive_data(pair.client.data_to_send())
        while pair.server.next_event() is not None:
            pass
    return pair
