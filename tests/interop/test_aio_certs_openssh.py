"""The asyncio server and client with OpenSSH certificates, host key
rotation and real OpenSSH peers (``ssh-keygen -s`` is the CA; the CA, user
keys and the sshd with ``TrustedUserCAKeys`` + ``HostCertificate`` are the
fixtures of ``test_certificates_openssh``):

- OpenSSH's ``ssh`` with ``CertificateFile`` into ``aio.listen`` with a
  ``UserCertificatePolicy`` (TrustedUserCAKeys), trusting the aio server's
  host certificate through ``@cert-authority``: accepted; wrong principal,
  expired, unknown critical option: refused; ``force-command`` runs and sees
  ``SSH_ORIGINAL_COMMAND``;
- ``ssh -o UpdateHostKeys=yes`` learns the aio server's second host key;
- ``aio.connect`` with a user certificate (beside the key, or in
  ``ssh-agent``) into sshd; refused certificates; sshd's host certificate
  accepted through ``@cert-authority`` and refused through ``@revoked``.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import ssh_keys
from interop import test_certificates_openssh as certs
from paramiko import aio as paramiko_aio
from ssh_keys import CertificateRevoked, HostKeys
from ssh_transport import AuthenticationException, aio
from ssh_transport.cert_policy import UserCertificatePolicy
from support.aio_run import arun
from support.aio_servers import SessionServer, connect_sshd, listen_local
from support.peers import missing_peer, need_program
from support.sshd import SSHD, keygen

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


# the CA and user keys, and sshd trusting the CA (shared, not copied)
pki = certs.pki
cert_sshd = certs.cert_sshd


class CertPolicy(SessionServer):
    """sshd's ``TrustedUserCAKeys``: user certificates of ``ca`` only."""

    def __init__(self, ca: Path) -> None:
        self.policy = UserCertificatePolicy.from_files(f"{ca}.pub")

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def get_user_certificate_policy(self) -> UserCertificatePolicy:
        return self.policy


async def run_command(proc: aio.SSHServerProcess) -> int:
    """Run the (maybe forced) command in a shell with the session's
    environment, SSH_ORIGINAL_COMMAND included, as sshd does."""
    assert proc.command is not None
    child = await asyncio.create_subprocess_shell(
        proc.command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **proc.env},
    )
    out, err = await child.communicate()
    proc.stdout.write(out)
    proc.stderr.write(err)
    return child.returncode or 0


async def serve(work: Path, ca: Path, extra_keys: tuple[Any, ...] = ()) -> tuple[aio.SSHServer, Path]:
    """``aio.listen`` with a CA-signed ed25519 host key (and ``extra_keys``),
    trusting ``ca`` for users."""
    host = keygen(work / "host_ed25519", "ed25519", "aio-host")
    certs.sign(ca, Path(f"{host}.pub"), host=True, principals="127.0.0.1")
    host_key = ssh_keys.PKey.from_path(host)  # loads host_ed25519-cert.pub beside it
    server = await listen_local(lambda: CertPolicy(ca), run_command, host_keys=[host_key, *extra_keys])
    return server, host


async def openssh(port: int, key: Path, known: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``test_certificates_openssh.ssh`` (ssh with ``CertificateFile``), off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, certs.ssh, port, key, known, command)


# -- OpenSSH's ssh into the aio server ----------------------------------------------------


def test_openssh_certificate_into_the_aio_server(pki: dict[str, Path], tmp_path: Path) -> None:
    need_program("ssh")

    async def main() -> None:
        server, _ = await serve(tmp_path, pki["ca"])
        async with server:
            known = tmp_path / "kh"
            known.write_text(certs.ca_line(pki["ca"], f"[127.0.0.1]:{server.port}"))
            done = await openssh(server.port, pki["good"], known, "echo via-cert")
            assert done.returncode == 0, done.stderr
            assert done.stdout == "via-cert\n"

    arun(main())


@pytest.mark.parametrize("kind", ["wrong_principal", "expired", "future", "unknown_option"])
def test_the_aio_server_refuses_bad_certificates(pki: dict[str, Path], tmp_path: Path, kind: str) -> None:
    need_program("ssh")

    async def main() -> None:
        server, _ = await serve(tmp_path, pki["ca"])
        async with server:
            known = tmp_path / "kh"
            known.write_text(certs.ca_line(pki["ca"], f"[127.0.0.1]:{server.port}"))
            done = await openssh(server.port, pki[kind], known, "echo should-not-run")
            assert done.returncode == 255, done.stdout
            assert "Permission denied" in done.stderr

    arun(main())


def test_the_aio_server_honours_force_command_with_original_command(pki: dict[str, Path], tmp_path: Path) -> None:
    need_program("ssh")
    key = keygen(tmp_path / "user_forced", "ed25519")
    forced = 'echo "forced:$SSH_ORIGINAL_COMMAND"'
    certs.sign(pki["ca"], Path(f"{key}.pub"), "-O", f"force-command={forced}", principals=getpass.getuser())

    async def main() -> None:
        server, _ = await serve(tmp_path, pki["ca"])
        async with server:
            known = tmp_path / "kh"
            known.write_text(certs.ca_line(pki["ca"], f"[127.0.0.1]:{server.port}"))
            done = await openssh(server.port, key, known, "echo mine")
            assert done.returncode == 0, done.stderr
            assert done.stdout == "forced:echo mine\n"

    arun(main())


def test_openssh_update_host_keys_learns_the_aio_servers_second_key(pki: dict[str, Path], tmp_path: Path) -> None:
    need_program("ssh")
    second = ssh_keys.ECDSAKey.generate()

    async def main() -> None:
        server, host = await serve(tmp_path, pki["ca"], (second,))
        async with server:
            name = f"[127.0.0.1]:{server.port}"
            known = tmp_path / "kh"
            known.write_text(f"{name} {Path(f'{host}.pub').read_text().strip()}\n")
            key = pki["good"]
            args = ["ssh", "-F", "/dev/null", "-p", str(server.port), "-i", str(key)]
            args += ["-o", f"CertificateFile={key}-cert.pub", "-o", f"UserKnownHostsFile={known}"]
            args += ["-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes"]
            args += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "UpdateHostKeys=yes"]
            args += ["-o", "HashKnownHosts=no", "-v"]
            args += [f"{getpass.getuser()}@127.0.0.1", "true"]
            child = await asyncio.create_subprocess_exec(
                *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            _, err = await child.communicate()
            assert child.returncode == 0, err.decode(errors="replace")
            learnt = HostKeys(str(known)).lookup(name)
            assert learnt is not None and set(learnt) == {"ssh-ed25519", "ecdsa-sha2-nistp256"}, err.decode()
            assert learnt["ecdsa-sha2-nistp256"].asbytes() == second.asbytes()

    arun(main())


# -- aio.connect into sshd --------------------------------------------------------------------


def aio_connect(sshd: SSHD, known: Path, text: str, **kw: Any) -> Any:
    """``aio.connect`` into ``sshd`` trusting what ``text`` (written to
    ``known``) says about its host key; the key to log in with is in ``kw``."""
    known.write_text(text)
    return connect_sshd(sshd, None, known_hosts=str(known), **kw)


def plain_known(sshd: SSHD) -> str:
    return f"[{sshd.host}]:{sshd.port} {sshd.host_key_line('ed25519')}\n"


@pytest.mark.parametrize("kind", ["good", "rsa"])
def test_aio_client_logs_in_with_a_user_certificate(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    async def main() -> None:
        known = plain_known(cert_sshd)
        async with aio_connect(cert_sshd, tmp_path / "kh", known, key_filename=str(pki[kind])) as conn:
            assert (await conn.run("echo hi")).stdout == "hi\n"

    arun(main())
    assert ("ED25519-CERT" if kind == "good" else "RSA-CERT") in cert_sshd.log()


@pytest.mark.parametrize("kind", ["wrong_principal", "expired", "future"])
def test_sshd_refuses_bad_certificates_from_the_aio_client(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    async def main() -> None:
        with pytest.raises(AuthenticationException):
            await aio_connect(cert_sshd, tmp_path / "kh", plain_known(cert_sshd), key_filename=str(pki[kind]))

    arun(main())


def test_aio_client_accepts_sshd_host_certificate_through_cert_authority(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path
) -> None:
    async def main() -> None:
        text = certs.ca_line(pki["ca"])
        async with aio_connect(cert_sshd, tmp_path / "kh", text, key_filename=str(pki["good"])) as conn:
            assert conn.host_key_algorithm == "ssh-ed25519-cert-v01@openssh.com"
            assert conn.host_certificate is not None and "127.0.0.1" in conn.host_certificate.principals
            assert (await conn.run("echo certified")).stdout == "certified\n"

    arun(main())


def test_aio_client_refuses_sshd_host_certificate_when_revoked(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path
) -> None:
    async def main() -> None:
        text = certs.ca_line(pki["other_ca"]) + certs.ca_line(pki["ca"]) + certs.ca_line(pki["ca"], marker="@revoked")
        with pytest.raises(CertificateRevoked):
            await aio_connect(cert_sshd, tmp_path / "kh", text, key_filename=str(pki["good"]))

    arun(main())


def test_aio_client_refuses_a_host_certificate_of_an_untrusted_ca(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path
) -> None:
    async def main() -> None:
        text = certs.ca_line(pki["other_ca"])
        with pytest.raises(aio.HostKeyNotVerifiable):
            await aio_connect(cert_sshd, tmp_path / "kh", text, key_filename=str(pki["good"]))

    arun(main())


def test_aio_client_uses_a_certificate_held_in_ssh_agent(
    cert_sshd: SSHD, pki: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        missing_peer("ssh-agent is not installed")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True, timeout=5)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        # only the certificate: the plain key alone would not get in (no authorized_keys line)
        subprocess.run(["ssh-add", str(pki["good"])], env=env, check=True, timeout=30, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))

        async def main() -> None:
            (tmp_path / "kh").write_text(plain_known(cert_sshd))
            async with paramiko_aio.connect(
                cert_sshd.host,
                cert_sshd.port,
                username=cert_sshd.user,
                known_hosts=str(tmp_path / "kh"),
                look_for_keys=False,
                allow_agent=True,
            ) as conn:
                assert (await conn.run("echo agent")).stdout == "agent\n"

        arun(main())
    finally:
        agent.terminate()
        agent.wait(10)
