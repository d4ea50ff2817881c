"""ext-info-in-auth@openssh.com (OpenSSH 9.6+, PROTOCOL 1.9): a client that
says so in its own EXT_INFO gets the server's EXT_INFO a second time, right
before USERAUTH_SUCCESS; a client that does not, does not. OpenSSH 9.2 (the
one on the test machines) predates the extension: its sshd sends no
``ext-info-s``, so our client sends it no EXT_INFO, and its ssh never asks
(the OpenSSH interop suites run unchanged)."""

from __future__ import annotations

from ssh_transport.protocol import constants as c
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.core import EXT_INFO_IN_AUTH
from support.corepair import CorePair


def _traced(pair: CorePair) -> list[tuple[str, int]]:
    """Record the type of every packet each core sends."""
    sent: list[tuple[str, int]] = []
    pair.client.trace = lambda direction, payload: sent.append(("client", payload[0])) if direction == "OUT" else None
    pair.server.trace = lambda direction, payload: sent.append(("server", payload[0])) if direction == "OUT" else None
    return sent


def test_client_asks_and_server_repeats_ext_info_before_success() -> None:
    pair = CorePair(autostart=False)
    sent = _traced(pair)
    pair.client.start()
    pair.server.start()
    pair.login()
    assert pair.server.extensions.get(EXT_INFO_IN_AUTH) == b"0"
    assert pair.server.peer_wants_ext_info_in_auth
    server_sent = [t for who, t in sent if who == "server"]
    success = server_sent.index(c.MSG_USERAUTH_SUCCESS)
    assert server_sent[success - 1] == c.MSG_EXT_INFO
    assert server_sent.count(c.MSG_EXT_INFO) == 2
    infos = [e for e in pair.client_events if isinstance(e, ev.ExtInfoReceived)]
    assert len(infos) == 2 and all("server-sig-algs" in e.extensions for e in infos)


def test_failed_attempts_get_no_ext_info() -> None:
    pair = CorePair(autostart=False)
    sent = _traced(pair)
    pair.client.start()
    pair.server.start()
    pair.kex()
    pair.client.auth_password("user", "wrong")
    pair.pump()
    assert not pair.client.authenticated
    assert [t for who, t in sent if who == "server"].count(c.MSG_EXT_INFO) == 1
    pair.client.auth_password("user", pair.policy.password)
    pair.pump()
    assert pair.client.authenticated
    assert [t for who, t in sent if who == "server"].count(c.MSG_EXT_INFO) == 2


def test_server_without_ext_info_s_gets_no_client_ext_info() -> None:
    """A client sends EXT_INFO only to a server whose KEXINIT has ext-info-s."""
    pair = CorePair(autostart=False)
    sent = _traced(pair)
    real = pair.server.neg.build_kexinit

    def without_marker() -> bytes:
        return real().replace(b"ext-info-s", b"ext-info-x")  # same length: an unknown name

    pair.server.neg.build_kexinit = without_marker  # type: ignore[method-assign]
    pair.client.start()
    pair.server.start()
    pair.login()
    assert c.MSG_EXT_INFO not in [t for who, t in sent if who == "client"]
    assert not pair.server.peer_wants_ext_info_in_auth
    assert [t for who, t in sent if who == "server"].count(c.MSG_EXT_INFO) == 1
