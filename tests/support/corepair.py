"""Two ``SSHProtocol`` cores joined in memory, for protocol tests without I/O.

``CorePair.pump()`` moves bytes both ways and collects events until nothing
moves; a tiny policy answers the server's decisions (auth, channel opens,
requests) so tests can focus on what they check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ssh_keys
from ssh_transport.protocol import events as ev
from ssh_transport.protocol.constants import AUTH_FAILED, AUTH_SUCCESSFUL
from ssh_transport.protocol.core import SSHProtocol
from ssh_transport.protocol.negotiation import AlgorithmPreferences

_HOST_KEYS: dict[str, Any] = {}


def host_key(kind: str = "ed25519") -> Any:
    """A cached generated host key of ``kind`` (ed25519, ecdsa, rsa)."""
    if kind not in _HOST_KEYS:
        if kind == "ed25519":
            _HOST_KEYS[kind] = ssh_keys.Ed25519Key.generate()
        elif kind == "ecdsa":
            _HOST_KEYS[kind] = ssh_keys.ECDSAKey.generate()
        elif kind == "ecdsa384":
            _HOST_KEYS[kind] = ssh_keys.ECDSAKey.generate(bits=384)
        elif kind == "ecdsa521":
            _HOST_KEYS[kind] = ssh_keys.ECDSAKey.generate(bits=521)
        elif kind == "rsa":
            _HOST_KEYS[kind] = ssh_keys.RSAKey.generate(2048)
        elif kind == "dss":
            _HOST_KEYS[kind] = ssh_keys.DSSKey.generate(1024)
        else:
            raise KeyError(kind)
    return _HOST_KEYS[kind]


@dataclass
class Policy:
    """How the in-memory server answers."""

    password: str = "pw"
    keys: list[Any] = field(default_factory=list)
    allowed: tuple[str, ...] = ("publickey", "password")
    accept_channels: bool = True
    accept_requests: bool = True


class CorePair:
    """A client core and a server core wired together in memory."""

    def __init__(
        self,
        client_prefs: AlgorithmPreferences | None = None,
        server_prefs: AlgorithmPreferences | None = None,
        host_keys: list[Any] | None = None,
        policy: Policy | None = None,
        autostart: bool = True,
        **kwargs: Any,
    ) -> None:
        keys = host_keys if host_keys is not None else [host_key("ed25519")]
        self.client = SSHProtocol("client", prefs=client_prefs, **kwargs)
        self.server = SSHProtocol("server", prefs=server_prefs, host_keys={k.get_name(): k for k in keys}, **kwargs)
        self.policy = policy or Policy()
        self.client_events: list[ev.Event] = []
        self.server_events: list[ev.Event] = []
        self.on_server_event: Callable[[ev.Event], bool] | None = None
        if autostart:
            self.client.start()
            self.server.start()

    def pump(self, rounds: int = 200) -> None:
        """Move bytes and events until the pair is quiet."""
        for _ in range(rounds):
            moved = False
            data = self.client.data_to_send()
            if data:
                self.server.receive_data(data)
                moved = True
            data = self.server.data_to_send()
            if data:
                self.client.receive_data(data)
                moved = True
            while (e := self.client.next_event()) is not None:
                self.client_events.append(e)
                moved = True
            while (e := self.server.next_event()) is not None:
                self.server_events.append(e)
                self._answer(e)
                moved = True
            if not moved:
                return
        raise AssertionError("the pair never went quiet")

    def _answer(self, e: ev.Event) -> None:
        if self.on_server_event is not None and self.on_server_event(e):
            return
        s, p = self.server, self.policy
        if isinstance(e, ev.AuthRequested):
            ok = False
            if e.method == "password":
                ok = e.password == p.password
            elif e.method == "publickey":
                ok = e.key is not None and any(e.key == k for k in p.keys)
            s.auth_result(AUTH_SUCCESSFUL if ok else AUTH_FAILED, p.allowed)
        elif isinstance(e, ev.ChannelOpenRequested):
            if p.accept_channels:
                s.accept_channel(e.chanid)
            else:
                s.reject_channel(e.chanid, 1, "no")
        elif isinstance(e, ev.ChannelRequestReceived) and e.want_reply:
            s.channel_request_reply(e.chanid, p.accept_requests)
        elif isinstance(e, ev.GlobalRequestReceived) and e.want_reply:
            s.global_request_reply(False)

    def kex(self) -> None:
        """Run the first key exchange."""
        self.pump()
        assert any(isinstance(e, ev.KexCompleted) for e in self.client_events)
        assert any(isinstance(e, ev.KexCompleted) for e in self.server_events)

    def login(self) -> None:
        """Key exchange plus password login."""
        self.kex()
        self.client.auth_password("user", self.policy.password)
        self.pump()
        assert self.client.authenticated and self.server.authenticated

    def session(self) -> tuple[int, int]:
        """Log in and open a session channel: (client id, server id)."""
        self.login()
        cid = self.client.open_channel("session")
        self.pump()
        opened = [e for e in self.server_events if isinstance(e, ev.ChannelOpenRequested)]
        return cid, opened[-1].chanid

    def client_of(self, kind: type) -> list[Any]:
        """Client events of one type."""
        return [e for e in self.client_events if isinstance(e, kind)]

    def server_of(self, kind: type) -> list[Any]:
        """Server events of one type."""
        return [e for e in self.server_events if isinstance(e, kind)]
