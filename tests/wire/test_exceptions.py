"""The shared exceptions pickle, keep their fields and say something useful."""

from __future__ import annotations

import pickle
import socket

import pytest

import ssh_wire as w


class FakeKey:
    def get_base64(self) -> str:
        return "AAAAC3Nza"


CASES = [
    (w.SSHException("boom"), "boom"),
    (w.ProtocolError("bad length", 2), "bad length"),
    (w.AuthenticationException("denied"), "denied"),
    (w.PasswordRequiredException("Private key file is encrypted"), "encrypted"),
    (w.BadAuthenticationType("Bad authentication type", ["publickey"]), "publickey"),
    (w.PartialAuthentication(["password"]), "password"),
    (w.ChannelException(2, "Connect failed"), "Connect failed"),
    (w.BadHostKeyException("example.com", FakeKey(), FakeKey()), "example.com"),
    (w.ProxyCommandFailure("nc x 22", "broken pipe"), "nc x 22"),
    (w.NoValidConnectionsError({("127.0.0.1", 22): OSError("refused"), ("::1", 22): OSError("no")}), "port 22"),
    (w.ConfigParseError("bad line"), "bad line"),
]


@pytest.mark.parametrize(("exc", "text"), CASES, ids=lambda c: type(c).__name__)
def test_str_and_pickle(exc: Exception, text: str) -> None:
    assert text in str(exc)
    if isinstance(exc, w.BadHostKeyException):
        exc = w.BadHostKeyException("example.com", "got", "expected")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert str(back) == str(exc)


def test_hierarchy_and_fields() -> None:
    assert issubclass(w.ProtocolError, w.SSHException)
    assert issubclass(w.PasswordRequiredException, w.AuthenticationException)
    assert issubclass(w.BadAuthenticationType, w.AuthenticationException)
    assert issubclass(w.AuthenticationException, w.SSHException)
    assert issubclass(w.ChannelException, w.SSHException)
    assert issubclass(w.NoValidConnectionsError, socket.error)
    assert w.BadAuthenticationType("x", ("a", "b")).allowed_types == ["a", "b"]
    assert w.ChannelException(4, "t").code == 4
    assert w.ProtocolError("m", 5).reason == 5
    assert w.ProtocolError("m").reason == w.DISCONNECT_PROTOCOL_ERROR
    e = w.BadHostKeyException("h", "k1", "k2")
    assert (e.hostname, e.key, e.expected_key) == ("h", "k1", "k2")
