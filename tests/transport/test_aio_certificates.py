"""User certificates and host key rotation on the asyncio server, with the
asyncio client (OpenSSH peers are in tests/interop/test_aio_certs_openssh.py):
the policy shared with the threaded server (``server_policy.ServerPolicy``)
decides; ``permit-*`` extensions and principals-line options limit the
session; forced commands reach the handler with the client's command as
``original_command``; coroutine certificate hooks work; every host key is
announced and proven on request; host certificates are presented and
checked through ``@cert-authority``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import ssh_keys
from ssh_keys import CertificateRevoked, Ed25519Key, HostKeys, sign_certificate
from ssh_transport import OPEN_SUCCEEDED, aio
from ssh_transport.aio.channel import ChannelOpenError
from ssh_transport.cert_policy import UserCertificatePolicy, parse_principal_line
from ssh_transport.server_policy import HOSTKEYS_PROVE, host_key_proof_data, read_key_blobs
from ssh_wire import Message, SSHException
from support.aio_run import arun
from support.aio_servers import SessionServer, connect_local, listen_local

pytestmark = pytest.mark.timeout(60)

CA = Ed25519Key.generate()
HOST_KEY = Ed25519Key.generate()
SECOND_HOST_KEY = ssh_keys.ECDSAKey.generate()
USER = "u"


def certified(**kwargs: Any) -> Any:
    """A fresh user key with a certificate from CA (principal USER)."""
    key = Ed25519Key.generate()
    cert = sign_certificate(key, CA, **{"principals": [USER], "key_id": "cert-id", **kwargs})
    key.load_certificate(cert.get_openssh_line())
    return key


class CertServer(SessionServer):
    """TrustedUserCAKeys = CA (principals lines when given); everything the
    certificate permits is allowed."""

    principal_lines: list[str] | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def get_user_certificate_policy(self) -> UserCertificatePolicy:
        lines = self.principal_lines
        source = None if lines is None else {USER: [parse_principal_line(t) for t in lines]}
        return UserCertificatePolicy([CA], authorized_principals=source)

    def check_channel_pty_request(self, channel: Any, *args: Any) -> bool:
        return True

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any) -> int:
        return OPEN_SUCCEEDED

    def check_port_forward_request(self, address: str, port: int) -> int | bool:
        return True


class AsyncCertServer(CertServer):
    """A coroutine certificate hook."""

    async def check_auth_certificate(self, *args: Any) -> int:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().check_auth_certificate(*args)


async def report(proc: aio.SSHServerProcess) -> int:
    conn = proc.connection
    assert isinstance(conn, aio.SSHServerConnection)
    cert = conn.get_user_certificate()
    original = conn.get_original_command(proc.channel)
    proc.stdout.write(f"{proc.command}|{proc.original_command}|{original!r}|{cert.key_id if cert else None}".encode())
    return 0


async def serve(factory: Any = CertServer, host_keys: tuple[Any, ...] = (HOST_KEY,)) -> aio.SSHServer:
    return await listen_local(factory, report, host_keys=host_keys)


def login(server: aio.SSHServer, key: Any, known_hosts: Any = None) -> Any:
    return connect_local(server.port, username=USER, pkey=key, known_hosts=known_hosts)


@pytest.mark.parametrize("factory", [CertServer, AsyncCertServer])
def test_certificate_login(factory: Any) -> None:
    async def main() -> None:
        async with await serve(factory) as server, login(server, certified()) as conn:
            assert (await conn.run("hello")).stdout == "hello|None|None|cert-id"

    arun(main())


@pytest.mark.parametrize(
    "kwargs",
    [{"principals": ["someone-else"]}, {"valid_before": 1_000_000}, {"critical_options": {"frob@example.org": ""}}],
)
def test_bad_certificates_are_refused(kwargs: dict[str, Any]) -> None:
    async def main() -> None:
        async with await serve() as server:
            with pytest.raises(ssh_keys.SSHException):
                await login(server, certified(**kwargs))

    arun(main())


def test_a_certificate_of_another_ca_is_refused() -> None:
    key = Ed25519Key.generate()
    key.load_certificate(sign_certificate(key, Ed25519Key.generate(), principals=[USER]).get_openssh_line())

    async def main() -> None:
        async with await serve() as server:
            with pytest.raises(ssh_keys.SSHException):
                await login(server, key)

    arun(main())


def test_force_command_replaces_the_clients_command() -> None:
    async def main() -> None:
        key = certified(critical_options={"force-command": "forced"})
        async with await serve() as server, login(server, key) as conn:
            assert (await conn.run("mine")).stdout == "forced|mine|b'mine'|cert-id"
            proc = await conn.create_process(None)  # a shell is replaced too
            assert await proc.stdout.read() == b"forced|None|None|cert-id"
            await proc.wait_closed()

    arun(main())


def test_principals_line_command_and_restrictions() -> None:
    class Lines(CertServer):
        principal_lines = [f'command="from-line",no-pty {USER}']

    async def main() -> None:
        async with await serve(Lines) as server, login(server, certified()) as conn:
            assert (await conn.run("x")).stdout == "from-line|x|b'x'|cert-id"
            with pytest.raises(SSHException, match="pty"):
                await conn.create_process("y", term_type="xterm")

    arun(main())


def test_missing_permit_extensions_limit_the_session() -> None:
    async def main() -> None:
        key = certified(extensions={})
        async with await serve() as server, login(server, key) as conn:
            assert (await conn.run("ok")).stdout == "ok|None|None|cert-id"
            with pytest.raises(SSHException, match="pty"):
                await conn.create_process("y", term_type="xterm")
            with pytest.raises(ChannelOpenError):
                await conn.open_connection("127.0.0.1", server.port)
            with pytest.raises(SSHException):
                await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 1)

    arun(main())


def test_full_extensions_permit_pty_and_forwarding() -> None:
    async def main() -> None:
        async with await serve() as server, login(server, certified()) as conn:
            proc = await conn.create_process("y", term_type="xterm")
            await proc.wait_closed()
            reader, writer = await conn.open_connection("127.0.0.1", server.port)
            assert (await reader.readline()).startswith(b"SSH-2.0-")
            writer.close()

    arun(main())


def test_plain_keys_still_go_through_check_auth_publickey() -> None:
    async def main() -> None:
        async with await serve() as server:
            with pytest.raises(ssh_keys.SSHException):
                await login(server, Ed25519Key.generate())

    arun(main())


def test_host_keys_are_announced_and_proven(monkeypatch: pytest.MonkeyPatch) -> None:
    announced: list[bytes] = []
    original = aio.SSHClientConnection._on_global_request

    def spy(self: Any, e: Any) -> None:
        if e.name == "hostkeys-00@openssh.com":
            announced.extend(read_key_blobs(e.data))
        original(self, e)

    monkeypatch.setattr(aio.SSHClientConnection, "_on_global_request", spy)

    async def main() -> None:
        async with await serve(host_keys=(HOST_KEY, SECOND_HOST_KEY)) as server:
            async with login(server, certified()) as conn:
                blobs = [HOST_KEY.asbytes(), SECOND_HOST_KEY.asbytes()]
                body = b"".join(Message().add_string(b).asbytes() for b in blobs)
                ok, reply = await conn.global_request(HOSTKEYS_PROVE, body)
                assert ok
                # sent right after USERAUTH_SUCCESS: in by the time the reply is
                assert announced == blobs
                sigs = read_key_blobs(reply)
                session_id = conn.protocol().core.session_id
                assert session_id is not None and len(sigs) == 2
                for key, blob, sig in zip((HOST_KEY, SECOND_HOST_KEY), blobs, sigs, strict=True):
                    assert key.verify_ssh_sig(host_key_proof_data(session_id, blob), Message(sig))
                # a key the server does not hold: refused as a whole
                other = Message().add_string(Ed25519Key.generate().asbytes()).asbytes()
                assert (await conn.global_request(HOSTKEYS_PROVE, body + other))[0] is False

    arun(main())


def test_host_certificate_through_cert_authority() -> None:
    host = Ed25519Key.generate()
    host.load_certificate(
        sign_certificate(host, CA, cert_type="host", principals=["127.0.0.1"], key_id="h").get_openssh_line()
    )

    async def main() -> None:
        async with await serve(host_keys=(host,)) as server:
            name = f"[127.0.0.1]:{server.port}"
            trusted = HostKeys()
            trusted.add_cert_authority(name, CA)
            async with login(server, certified(), trusted) as conn:
                assert conn.host_key_algorithm == "ssh-ed25519-cert-v01@openssh.com"
                assert conn.host_certificate is not None and conn.host_certificate.key_id == "h"
            revoked = HostKeys()
            revoked.add_cert_authority(name, CA)
            revoked.add_revoked("*", host)
            with pytest.raises(CertificateRevoked):
                await login(server, certified(), revoked)
            untrusted = HostKeys()
            untrusted.add_cert_authority(name, Ed25519Key.generate())
            with pytest.raises(aio.HostKeyNotVerifiable):
                await login(server, certified(), untrusted)

    arun(main())
