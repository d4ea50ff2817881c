"""The protocol core, client and server, joined in memory: negotiation of
every algorithm, auth flows, channels, windows and rekeying, byte for byte
and without sockets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_transport.protocol import events as ev
from ssh_transport.protocol.ciphers import CIPHERS
from ssh_transport.protocol.constants import AUTH_PARTIALLY_SUCCESSFUL, AUTH_SUCCESSFUL
from ssh_transport.protocol.kex import KEX_ALGORITHMS
from ssh_transport.protocol.macs import MACS
from ssh_transport.protocol.negotiation import AlgorithmPreferences, KexInit, NegotiationFailed, choose
from support.corepair import CorePair, Policy, host_key


def _exchange_data(pair: CorePair) -> None:
    """Open a session and move data both ways; checks it arrives intact."""
    cid, sid = pair.session()
    payload = bytes(range(256)) * 300
    assert pair.client.send_channel_data(cid, payload) == len(payload)
    pair.server.send_channel_data(sid, b"reply", ext=1)
    pair.pump()
    got = b"".join(e.data for e in pair.server_of(ev.ChannelDataReceived))
    assert got == payload
    err = pair.client_of(ev.ChannelDataReceived)
    assert err[-1].data == b"reply" and err[-1].ext == 1


@pytest.mark.parametrize("kex", list(KEX_ALGORITHMS))
def test_every_kex(kex: str) -> None:
    prefs = AlgorithmPreferences(kex=(kex,))
    pair = CorePair(prefs, AlgorithmPreferences(kex=(kex,)))
    pair.kex()
    done = pair.client_of(ev.KexCompleted)[0]
    assert done.kex == kex and done.strict
    assert pair.client.session_id == pair.server.session_id
    _exchange_data(pair)


@pytest.mark.parametrize("cipher", list(CIPHERS))
def test_every_cipher(cipher: str) -> None:
    prefs = AlgorithmPreferences(ciphers=(cipher,), kex=("curve25519-sha256",))
    pair = CorePair(prefs, AlgorithmPreferences(ciphers=(cipher,)))
    pair.kex()
    assert pair.client_of(ev.KexCompleted)[0].cipher_out == cipher
    _exchange_data(pair)


@pytest.mark.parametrize("mac", list(MACS))
def test_every_mac(mac: str) -> None:
    prefs = AlgorithmPreferences(ciphers=("aes128-ctr",), digests=(mac,), kex=("curve25519-sha256",))
    pair = CorePair(prefs, AlgorithmPreferences(ciphers=("aes128-ctr",), digests=(mac,)))
    pair.kex()
    done = pair.client_of(ev.KexCompleted)[0]
    assert done.mac_out == mac and done.mac_in == mac
    _exchange_data(pair)


@pytest.mark.parametrize(
    ("alg", "kind"),
    [
        ("ssh-ed25519", "ed25519"),
        ("ecdsa-sha2-nistp256", "ecdsa"),
        ("ecdsa-sha2-nistp384", "ecdsa384"),
        ("ecdsa-sha2-nistp521", "ecdsa521"),
        ("rsa-sha2-512", "rsa"),
        ("rsa-sha2-256", "rsa"),
        ("ssh-rsa", "rsa"),
        ("ssh-dss", "dss"),
    ],
)
def test_every_host_key_algorithm(alg: str, kind: str) -> None:
    prefs = AlgorithmPreferences(key_types=(alg,), kex=("curve25519-sha256",))
    pair = CorePair(prefs, AlgorithmPreferences(key_types=(alg,)), host_keys=[host_key(kind)])
    pair.kex()
    done = pair.client_of(ev.KexCompleted)[0]
    assert done.host_key_algorithm == alg
    assert done.host_key_blob == host_key(kind).asbytes()


def test_server_offers_only_algorithms_of_its_keys() -> None:
    pair = CorePair(host_keys=[host_key("ecdsa"), host_key("rsa")])
    pair.kex()
    assert pair.client_of(ev.KexCompleted)[0].host_key_algorithm == "ecdsa-sha2-nistp256"


def test_sha1_host_signatures_only_when_asked() -> None:
    # The server only has an RSA key and only signs with ssh-rsa: a default
    # client refuses (no SHA-1), one that asks for ssh-rsa accepts.
    pair = CorePair(None, AlgorithmPreferences(key_types=("ssh-rsa",)), host_keys=[host_key("rsa")])
    with pytest.raises(NegotiationFailed):
        pair.pump()


@pytest.mark.parametrize("comp", ["zlib", "zlib@openssh.com"])
def test_compression(comp: str) -> None:
    prefs = AlgorithmPreferences(compression=(comp,), kex=("curve25519-sha256",))
    pair = CorePair(prefs, AlgorithmPreferences(compression=(comp,)))
    pair.kex()
    assert pair.client_of(ev.KexCompleted)[0].compression_out == comp
    assert pair.client.writer.compressing == (comp == "zlib")
    _exchange_data(pair)
    assert pair.client.writer.compressing and pair.server.reader.decompressing


def test_choose_follows_client_order() -> None:
    assert choose(["a", "b", "c"], ["c", "b"], "x") == "b"
    with pytest.raises(NegotiationFailed):
        choose(["a"], ["b"], "x")


def test_kexinit_round_trip() -> None:
    init = KexInit(b"\x01" * 16, ["k1", "k2"], ["h"], ["c"], ["c"], ["m"], ["m"], ["none"], ["none"], [], [], True, 0)
    assert KexInit.parse(init.encode()) == init


def test_first_kex_packet_follows_wrong_guess_is_ignored() -> None:
    client_prefs = AlgorithmPreferences(kex=("ecdh-sha2-nistp256", "curve25519-sha256"))
    pair = CorePair(client_prefs, AlgorithmPreferences(kex=("curve25519-sha256",)), autostart=False)
    neg = pair.client.neg
    orig = neg.build_kexinit

    def guessing() -> bytes:
        raw = bytearray(orig())
        raw[-5] = 1  # first_kex_packet_follows
        return bytes(raw)

    neg.build_kexinit = guessing  # type: ignore[method-assign]
    pair.client.start()
    # The guessed ECDH init (wrong: curve25519 wins): the server must drop it.
    pair.client._send_kex(b"\x1e" + (65).to_bytes(4, "big") + b"\x04" * 65)
    pair.server.start()
    pair.pump()
    assert pair.server_of(ev.KexCompleted)[0].kex == "curve25519-sha256"
    assert pair.client_of(ev.KexCompleted)


def test_password_and_publickey_auth() -> None:
    key = host_key("ecdsa")
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    pair.client.auth_none("bob")
    pair.pump()
    failed = pair.client_of(ev.AuthFailed)[-1]
    assert failed.allowed == ("publickey", "password") and not failed.partial
    pair.client.auth_password("bob", "wrong")
    pair.pump()
    assert len(pair.client_of(ev.AuthFailed)) == 2
    pair.client.auth_publickey("bob", key)
    pair.pump()
    assert pair.client_of(ev.AuthSucceeded)
    req = pair.server_of(ev.AuthRequested)[-1]
    assert req.signed and req.key == key


@pytest.mark.parametrize("alg", ["rsa-sha2-512", "rsa-sha2-256"])
def test_rsa_signature_algorithm_from_server_sig_algs(alg: str) -> None:
    key = host_key("rsa")
    pair = CorePair(None, AlgorithmPreferences(key_types=("ssh-ed25519", alg)), policy=Policy(keys=[key]))
    pair.kex()
    assert pair.client.client_auth is not None
    # the FIDO key algorithm of each kept curve is listed right after it
    assert pair.client.client_auth.server_sig_algs == ["ssh-ed25519", "sk-ssh-ed25519@openssh.com", alg]
    pair.client.auth_publickey("bob", key)
    pair.pump()
    assert pair.server_of(ev.AuthRequested)[-1].algorithm == alg
    assert pair.client.authenticated


def test_publickey_query_gets_pk_ok() -> None:
    """A publickey request without a signature (as OpenSSH sends first) gets PK_OK."""
    from ssh_wire import Message

    key = host_key("ed25519")
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()
    ca = pair.client.client_auth
    assert ca is not None
    body = Message().add_boolean(False).add_string("ssh-ed25519").add_string(key.asbytes())
    ca._request("bob", "publickey", body)
    pair.pump()
    ok = pair.client_of(ev.AuthPublicKeyAccepted)
    assert ok and ok[0].key_blob == key.asbytes() and not pair.client.authenticated


def test_bad_signature_is_refused_before_the_driver() -> None:
    key = host_key("ed25519")
    other = host_key("ecdsa")
    pair = CorePair(policy=Policy(keys=[key]))
    pair.kex()

    class Forged:
        def asbytes(self) -> bytes:
            return key.asbytes()

        def get_name(self) -> str:
            return "ssh-ed25519"

        def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> bytes:
            from ssh_wire import Message

            other.sign_ssh_data(data)
            return Message().add_string("ssh-ed25519").add_string(b"\0" * 64).asbytes()

    pair.client.auth_publickey("bob", Forged())
    pair.pump()
    assert not pair.client.authenticated
    assert pair.server_of(ev.AuthRequested)[-1].key is None


def test_partial_success_then_second_method() -> None:
    key = host_key("ed25519")
    pair = CorePair(policy=Policy(keys=[key]))

    def answer(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested) and e.method == "publickey":
            pair.server.auth_result(AUTH_PARTIALLY_SUCCESSFUL, ["password"])
            return True
        return False

    pair.on_server_event = answer
    pair.kex()
    pair.client.auth_publickey("bob", key)
    pair.pump()
    partial = pair.client_of(ev.AuthFailed)[-1]
    assert partial.partial and partial.allowed == ("password",)
    pair.client.auth_password("bob", "pw")
    pair.pump()
    assert pair.client.authenticated


def test_keyboard_interactive_several_rounds() -> None:
    pair = CorePair()
    rounds: list[tuple[str, ...]] = []

    def answer(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested) and e.method == "keyboard-interactive":
            pair.server.auth_info_request("t", "i", [("one?", True), ("two?", False)])
            return True
        if isinstance(e, ev.AuthInfoResponded):
            rounds.append(e.responses)
            if len(rounds) < 3:
                pair.server.auth_info_request("t", f"round {len(rounds)}", [("again?", False)])
            else:
                pair.server.auth_result(AUTH_SUCCESSFUL)
            return True
        return False

    pair.on_server_event = answer
    pair.kex()
    pair.client.auth_interactive("bob")
    pair.pump()
    q = pair.client_of(ev.AuthInfoRequested)[0]
    assert q.prompts == (("one?", True), ("two?", False))
    pair.client.auth_info_response(["a", "b"])
    pair.pump()
    pair.client.auth_info_response(["c"])
    pair.pump()
    pair.client.auth_info_response(["d"])
    pair.pump()
    assert rounds == [("a", "b"), ("c",), ("d",)]
    assert pair.client.authenticated


def test_banner() -> None:
    pair = CorePair()

    def answer(e: ev.Event) -> bool:
        if isinstance(e, ev.AuthRequested):
            pair.server.send_auth_banner("welcome\n", "en")
        return False

    pair.on_server_event = answer
    pair.login()
    assert pair.client_of(ev.AuthBannerReceived)[0].message == "welcome\n"


def test_channel_lifecycle_and_requests() -> None:
    pair = CorePair()
    cid, sid = pair.session()
    pair.client.channel_request(cid, "exec", True, b"\0\0\0\x04true")
    pair.client.channel_request(cid, "env", False, b"\0\0\0\x01A\0\0\0\x01B")
    pair.pump()
    reqs = pair.server_of(ev.ChannelRequestReceived)
    assert (reqs[0].kind, reqs[0].args) == ("exec", (b"true",))
    assert (reqs[1].kind, reqs[1].args) == ("env", (b"A", b"B"))
    assert pair.client_of(ev.ChannelRequestReplied)[0].success
    pair.server.channel_request(sid, "exit-status", False, b"\0\0\0\x07")
    pair.server.channel_eof(sid)
    pair.server.close_channel(sid)
    pair.pump()
    assert pair.client_of(ev.ChannelRequestReceived)[0].args == (7,)
    assert pair.client_of(ev.ChannelEOFReceived) and pair.client_of(ev.ChannelClosed)
    assert pair.server_of(ev.ChannelClosed)
    assert not pair.client.conn.channels and not pair.server.conn.channels


def test_window_is_reopened_only_as_data_is_consumed() -> None:
    pair = CorePair()
    pair.login()
    cid = pair.client.open_channel("session", window_size=1 << 16, max_packet=1 << 14)
    pair.pump()
    sid = pair.server_of(ev.ChannelOpenRequested)[-1].chanid
    blob = b"z" * (1 << 17)
    sent = pair.server.send_channel_data(sid, blob)
    assert sent == 1 << 16  # the window limits what is taken
    pair.pump()
    assert pair.server.send_channel_data(sid, blob[sent:]) == 0
    pair.client.channel_consumed(cid, 1 << 15)  # half the window read
    pair.pump()
    assert pair.server_of(ev.ChannelWindowAdjusted)
    assert pair.server.send_channel_data(sid, blob[sent:]) == 1 << 15


def test_rekey_keeps_data_in_order() -> None:
    pair = CorePair()
    cid, _ = pair.session()
    chunks = [bytes([i]) * 1000 for i in range(50)]
    for i, chunk in enumerate(chunks):
        if i == 10:
            pair.client.start_rekey()
        if i == 30:
            pair.pump()
            pair.server.start_rekey()
        pair.client.send_channel_data(cid, chunk)
    pair.pump()
    received = pair.server_of(ev.ChannelDataReceived)
    # bytes, or read-only views of decrypted packets: still intact after the
    # receive buffer was reused for every later packet
    assert all(type(e.data) is bytes or (type(e.data) is memoryview and e.data.readonly) for e in received)
    got = b"".join(e.data for e in received)
    assert got == b"".join(chunks)
    assert len(pair.client_of(ev.KexCompleted)) == 3


def test_rekey_after_byte_limit() -> None:
    pair = CorePair(rekey_bytes=64 * 1024)
    cid, _ = pair.session()
    for _ in range(20):
        pair.client.send_channel_data(cid, b"q" * 30000)
        pair.pump()
    assert len(pair.client_of(ev.KexCompleted)) >= 5
    assert sum(len(e.data) for e in pair.server_of(ev.ChannelDataReceived)) == 20 * 30000


def test_rekey_after_time() -> None:
    pair = CorePair(rekey_interval=10.0)
    pair.login()
    pair.client.tick(5.0)
    pair.client.tick(100.0)
    pair.pump()
    assert len(pair.client_of(ev.KexCompleted)) == 2


def test_global_request_reply_and_unknown_message() -> None:
    pair = CorePair()
    pair.login()
    pair.client.global_request("foo@example.com", True, b"abc")
    pair.pump()
    g = pair.server_of(ev.GlobalRequestReceived)[0]
    assert (g.name, g.want_reply, g.data) == ("foo@example.com", True, b"abc")
    assert pair.client_of(ev.GlobalReplyReceived)[0].success is False
    pair.client.send(bytes([199]))  # an unknown message number
    pair.pump()
    assert pair.client_of(ev.UnimplementedReceived)


def test_disconnect() -> None:
    pair = CorePair()
    pair.login()
    pair.client.disconnect(11, "bye")
    pair.pump()
    d = pair.server_of(ev.DisconnectReceived)[0]
    assert (d.reason, d.description) == (11, "bye")
    assert pair.server.closed


def test_ignore_and_debug() -> None:
    pair = CorePair()
    pair.login()
    pair.client.send_ignore(b"x" * 30)
    pair.client.send(b"\x04\x01" + b"\0\0\0\x02hi" + b"\0\0\0\0")
    pair.pump()
    assert pair.server_of(ev.DebugReceived)[0].message == "hi"


def test_version_exchange_allows_banner_lines_for_client() -> None:
    from ssh_transport.protocol.core import SSHProtocol

    c = SSHProtocol("client")
    c.start()
    c.receive_data(b"hello there\r\nanother line\nSSH-2.0-Other_1.0 comment\r\n")
    e = c.next_event()
    assert isinstance(e, ev.VersionReceived) and e.version == b"SSH-2.0-Other_1.0 comment"


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=20))
def test_any_fragmentation_gives_the_same_session(sizes: list[int]) -> None:
    """Bytes may arrive cut anywhere: the events must not depend on it."""
    pair = CorePair()
    cycle = itertools.cycle(sizes)

    def feed(core: object, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            n = next(cycle)
            core.receive_data(data[pos : pos + n])  # type: ignore[attr-defined]
            pos += n

    def pump() -> None:
        for _ in range(200):
            moved = False
            for src, dst, sink in (
                (pair.client, pair.server, pair.server_events),
                (pair.server, pair.client, pair.client_events),
            ):
                data = src.data_to_send()
                if data:
                    feed(dst, data)
                    moved = True
                while (e := dst.next_event()) is not None:
                    sink.append(e)
                    if dst is pair.server:
                        pair._answer(e)
                    moved = True
            if not moved:
                return

    pump()
    pair.client.auth_password("u", "pw")
    pump()
    cid = pair.client.open_channel("session")
    pump()
    pair.client.send_channel_data(cid, b"frag" * 5000)
    pump()
    assert pair.client.authenticated
    assert b"".join(e.data for e in pair.server_of(ev.ChannelDataReceived)) == b"frag" * 5000


def test_channel_closed_before_confirmation_is_closed_after_it() -> None:
    pair = CorePair()
    pair.login()
    cid = pair.client.open_channel("session")
    pair.client.close_channel(cid)  # e.g. open_channel timed out
    pair.pump()
    assert pair.server_of(ev.ChannelClosed)
    assert not pair.client.conn.channels and not pair.server.conn.channels
