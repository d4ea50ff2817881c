"""``AuthorizedPrincipalsFile`` lines with authorized_keys options
(``command=``, ``from=``, ``no-*``, ``restrict`` and ``permit-*`` after it),
and ``SSH_ORIGINAL_COMMAND`` for forced commands: parsing, the policy's
checks, and what the server transport then enforces."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ssh_keys import CertificatePrincipalError, Ed25519Key, PKey, sign_certificate
from ssh_transport import AuthenticationException, Channel, Transport
from ssh_transport.cert_policy import (
    PrincipalLine,
    UserCertificatePolicy,
    parse_principal_line,
    read_principal_lines,
    read_principals,
)
from ssh_wire import SSHException
from support.sshserver import ExecServer, serve

pytestmark = pytest.mark.timeout(60)

USER = "alice"
ALL_PERMITS = {
    "permit-pty",
    "permit-port-forwarding",
    "permit-agent-forwarding",
    "permit-X11-forwarding",
    "permit-user-rc",
}


@pytest.fixture(scope="module")
def ca() -> PKey:
    return Ed25519Key.generate()


# -- parsing -------------------------------------------------------------------------


def test_plain_line() -> None:
    assert parse_principal_line("  ops  ") == PrincipalLine("ops")


def test_options_with_quotes_commas_and_spaces() -> None:
    line = parse_principal_line('command="echo \\"a, b\\"",from="10.0.0.0/8,!10.1.*",no-pty,no-X11-forwarding ops')
    assert line == PrincipalLine(
        "ops", 'echo "a, b"', ("10.0.0.0/8", "!10.1.*"), frozenset({"permit-pty", "permit-X11-forwarding"})
    )


def test_restrict_then_permit() -> None:
    assert parse_principal_line("restrict ops").denied == ALL_PERMITS
    assert parse_principal_line("restrict,permit-pty,permit-port-forwarding ops").denied == ALL_PERMITS - {
        "permit-pty",
        "permit-port-forwarding",
    }
    assert parse_principal_line("NO-PTY ops").denied == {"permit-pty"}  # option names ignore case


@pytest.mark.parametrize(
    "text",
    [
        'environment="A=b" ops',  # not enforced here: the line must not be used
        "permitopen=x ops",
        "frobnicate ops",
        "command=echo ops",  # unquoted value
        'command="echo ops',  # unterminated
        "no-pty,,restrict ops",  # empty option
        "no-pty two names",
        "no-pty=1 ops",
    ],
)
def test_refused_lines(text: str) -> None:
    with pytest.raises(ValueError):
        parse_principal_line(text)


def test_file_lines_and_names(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "principals"
    path.write_text('# c\nops\ncommand="uptime" monitor\nenvironment="X=1" sneaky\n\nno-pty,from="127.0.0.1" dev\n')
    with caplog.at_level(logging.WARNING, logger="paramiko.transport"):
        lines = read_principal_lines(path)
    assert lines is not None and [line.name for line in lines] == ["ops", "monitor", "dev"]
    assert lines[1].command == "uptime" and lines[2].sources == ("127.0.0.1",)
    assert "principals:4" in caplog.text and "not supported" in caplog.text
    assert read_principals(path) == ["ops", "monitor", "dev"]
    assert read_principal_lines(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("sources", "address", "allowed"),
    [
        ((), None, True),
        (("127.0.0.1",), "127.0.0.1", True),
        (("127.0.0.*",), "127.0.0.9", True),
        (("10.0.0.0/8",), "127.0.0.1", False),
        (("127.0.0.0/8",), "127.0.0.1", True),
        (("*", "!127.0.0.1"), "127.0.0.1", False),
        (("::1",), "::1", True),
        (("127.0.0.1",), None, False),
    ],
)
def test_from_patterns(sources: tuple[str, ...], address: str | None, allowed: bool) -> None:
    assert PrincipalLine("x", sources=sources).allows_address(address) is allowed


# -- the policy ------------------------------------------------------------------------


def test_policy_checks_from_of_the_first_matching_line(ca: PKey) -> None:
    cert = sign_certificate(Ed25519Key.generate(), ca, principals=["ops", "dev"])
    lines = [parse_principal_line('from="10.0.0.0/8" ops'), PrincipalLine("dev")]
    policy = UserCertificatePolicy([ca], authorized_principals={USER: lines})
    with pytest.raises(CertificatePrincipalError, match="from="):
        policy.check(USER, cert, client_address="127.0.0.1")  # the first match decides, as in sshd
    policy.check(USER, cert, client_address="10.1.2.3")
    assert policy.matching_line(USER, cert) == lines[0]
    assert policy.principals_for(USER) == ["ops", "dev"]
    plain = UserCertificatePolicy([ca], authorized_principals={USER: ["dev"]})
    assert plain.matching_line(USER, cert) == PrincipalLine("dev")
    assert UserCertificatePolicy([ca]).matching_line(USER, cert) is None


def test_policy_from_files_keeps_options(tmp_path: Path, ca: PKey) -> None:
    cas = tmp_path / "cas"
    cas.write_text(f"{ca.get_name()} {ca.get_base64()}\n")
    (tmp_path / USER).write_text('command="echo hi" ops\n')
    policy = UserCertificatePolicy.from_files(cas, str(tmp_path / "%u"))
    cert = sign_certificate(Ed25519Key.generate(), ca, principals=["ops"])
    line = policy.matching_line(USER, cert)
    assert line is not None and line.command == "echo hi"


# -- the server transport ------------------------------------------------------------


@dataclass
class LineServer(ExecServer):
    policy: UserCertificatePolicy | None = None
    originals: list[bytes | None] = field(default_factory=list)

    def get_user_certificate_policy(self) -> UserCertificatePolicy | None:
        return self.policy

    def check_channel_exec_request(self, channel: Channel, command: bytes) -> bool:
        assert self.transport is not None
        self.originals.append(self.transport.get_original_command(channel))
        return super().check_channel_exec_request(channel, command)


@contextlib.contextmanager
def logged_in(ca: PKey, lines: list[str], **cert_kwargs: Any) -> Iterator[tuple[Transport, LineServer, Transport]]:
    """Our client, logged in with a certificate for principal ``ops`` to a
    server whose principals for USER are ``lines``."""
    policy = UserCertificatePolicy([ca], authorized_principals={USER: [parse_principal_line(t) for t in lines]})
    key = Ed25519Key.generate()
    key.load_certificate(sign_certificate(key, ca, principals=["ops"], **cert_kwargs).get_openssh_line())

    def make() -> LineServer:
        return LineServer(policy=policy, allowed="publickey")

    with serve([Ed25519Key.generate()], make_server=make) as running:
        t = Transport(socket.create_connection((running.host, running.port), timeout=10))
        try:
            t.start_client(timeout=10)
            t.auth_publickey(USER, key)
            server = running.servers[0]
            assert isinstance(server, LineServer)
            yield t, server, running.transports[0]
        finally:
            t.close()


def run(t: Transport, command: str) -> bytes:
    chan = t.open_session(timeout=10)
    chan.settimeout(20)
    chan.exec_command(command)
    out = b""
    while data := chan.recv(65536):
        out += data
    chan.close()
    return out


def test_line_command_is_forced_and_keeps_the_original(ca: PKey) -> None:
    with logged_in(ca, ['command="echo forced" ops']) as (t, server, st):
        assert run(t, "echo mine") == b"forced\n"
        assert server.originals == [b"echo mine"]
        line = st.get_user_principal_line()
        assert line is not None and line.command == "echo forced"


def test_no_forced_command_no_original(ca: PKey) -> None:
    with logged_in(ca, ["ops"]) as (t, server, _):
        assert run(t, "echo mine") == b"mine\n"
        assert server.originals == [None]


def test_certificate_force_command_keeps_the_original(ca: PKey) -> None:
    with logged_in(ca, ["ops"], critical_options={"force-command": "echo cert"}) as (t, server, _):
        assert run(t, "echo mine") == b"cert\n"
        assert server.originals == [b"echo mine"]


def test_same_command_in_both_is_fine(ca: PKey) -> None:
    with logged_in(ca, ['command="echo same" ops'], critical_options={"force-command": "echo same"}) as (t, _, _):
        assert run(t, "x") == b"same\n"


def test_different_commands_refuse_the_login(ca: PKey) -> None:
    with (
        pytest.raises(AuthenticationException),
        logged_in(ca, ['command="echo a" ops'], critical_options={"force-command": "echo b"}),
    ):
        pass


def test_from_refuses_the_login(ca: PKey) -> None:
    with pytest.raises(AuthenticationException), logged_in(ca, ['from="10.0.0.0/8" ops']):
        pass


@pytest.mark.parametrize(
    ("line", "pty", "forwarding"),
    [
        ("ops", True, True),
        ("no-pty ops", False, True),
        ("no-port-forwarding ops", True, False),
        ("restrict ops", False, False),
        ("restrict,permit-pty ops", True, False),
    ],
)
def test_restrictions(ca: PKey, line: str, pty: bool, forwarding: bool) -> None:
    with logged_in(ca, [line]) as (t, server, _):
        chan = t.open_session(timeout=10)
        try:
            assert chan.get_pty() is pty
        finally:
            chan.close()
        if forwarding:
            t.request_port_forward("127.0.0.1", 0)
        else:
            with pytest.raises(SSHException):
                t.request_port_forward("127.0.0.1", 0)
            assert not any(e.startswith("tcpip-forward") for e in server.events)
