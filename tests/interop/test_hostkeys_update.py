"""OpenSSH's host key rotation (``hostkeys-00@openssh.com`` /
``hostkeys-prove-00@openssh.com``, PROTOCOL 2.5; ``UpdateHostKeys``):

- OpenSSH's ``ssh -o UpdateHostKeys=yes`` against our server (two host keys)
  learns the other two (RSA proven with rsa-sha2-512);
- ``SSHClient(update_host_keys=True)`` against OpenSSH's sshd (ed25519,
  ecdsa and rsa host keys) learns the two it did not know, and drops a key
  the server no longer has from a line written for that host;
- a server whose proof does not verify gets nothing added; lines with
  patterns are never rewritten; the option is off by default.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import paramiko
from ssh_keys import ECDSAKey, Ed25519Key, HostKeys, RSAKey
from ssh_transport import Transport
from ssh_transport import server_side as server_side_module
from ssh_transport.server_policy import prove_host_keys
from ssh_wire import Message
from support.peers import need_program
from support.sshd import SSHD, keygen
from support.sshserver import ExecServer, serve

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def _keys_in(path: Path, name: str) -> set[str]:
    """The key types ``path`` lists for host ``name``."""
    known = HostKeys(path).lookup(name)
    return set(known) if known is not None else set()


# -- OpenSSH's ssh against our server -------------------------------------------------


def test_openssh_client_learns_our_other_host_keys(tmp_path: Path) -> None:
    need_program("ssh")
    ed, ec, rsa = Ed25519Key.generate(), ECDSAKey.generate(), RSAKey.generate(2048)
    client_key = keygen(tmp_path / "id_ed25519", "ed25519")
    authorized = [paramiko.PKey.from_path(client_key)]

    def make() -> ExecServer:
        return ExecServer(authorized=authorized, allowed="publickey")

    with serve([ed, ec, rsa], make_server=make) as running:
        name = f"[127.0.0.1]:{running.port}"
        known = tmp_path / "known_hosts"
        known.write_text(f"{name} {ed.get_name()} {ed.get_base64()}\n")
        args = ["ssh", "-F", "/dev/null", "-p", str(running.port), "-i", str(client_key)]
        args += ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
        args += ["-o", "IdentitiesOnly=yes", "-o", "UpdateHostKeys=yes"]
        args += ["-o", "HashKnownHosts=no", "-v", "tester@127.0.0.1", "true"]
        done = subprocess.run(args, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        log = done.stderr.decode(errors="replace")
        assert _keys_in(known, name) == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}, log
        learnt = HostKeys(known).lookup(name)
        assert learnt is not None
        assert learnt["ecdsa-sha2-nistp256"].asbytes() == ec.asbytes() and learnt["ssh-rsa"].asbytes() == rsa.asbytes()


# -- our client against OpenSSH's sshd -------------------------------------------------


def _client(known: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known))
    return client


def _login(client: paramiko.SSHClient, sshd: SSHD, **kw: Any) -> None:
    client.connect(
        sshd.host,
        sshd.port,
        username=sshd.user,
        key_filename=str(sshd.client_keys["ed25519"]),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
        **kw,
    )


def test_our_client_learns_sshd_host_keys(sshd: SSHD, tmp_path: Path) -> None:
    name = f"[127.0.0.1]:{sshd.port}"
    known = tmp_path / "known_hosts"
    known.write_text(f"{name} {sshd.host_key_line('ed25519')}\n")
    with _client(known) as client:
        _login(client, sshd, update_host_keys=True)
        mine = client.get_host_keys().lookup(name)
        assert mine is not None and set(mine) == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}
    assert _keys_in(known, name) == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}
    text = known.read_text()
    for kind in ("ed25519", "ecdsa", "rsa"):
        assert sshd.host_key_line(kind) in text


def test_our_client_drops_a_retired_key_of_its_own_line(sshd: SSHD, tmp_path: Path) -> None:
    name = f"[127.0.0.1]:{sshd.port}"
    retired = RSAKey.generate(2048)
    known = tmp_path / "known_hosts"
    known.write_text(
        f"# kept\n{name} {sshd.host_key_line('ed25519')}\n{name} ssh-rsa {retired.get_base64()}\n"
        f"other.example ssh-rsa {retired.get_base64()}\n"
    )
    with _client(known) as client:
        _login(client, sshd, update_host_keys=True)
    text = known.read_text()
    assert text.startswith("# kept\n")
    assert f"{name} ssh-rsa {retired.get_base64()}" not in text
    assert f"other.example ssh-rsa {retired.get_base64()}" in text  # another host's line stays
    assert _keys_in(known, name) == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}
    assert sshd.host_key_line("rsa") in text


def test_pattern_lines_are_left_alone(sshd: SSHD, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    line = f"[127.0.0.*]:{sshd.port} {sshd.host_key_line('ed25519')}\n"
    known.write_text(line)
    with _client(known) as client:
        _login(client, sshd, update_host_keys=True)
    assert known.read_text() == line


def test_off_by_default(sshd: SSHD, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    line = f"[127.0.0.1]:{sshd.port} {sshd.host_key_line('ed25519')}\n"
    known.write_text(line)
    with _client(known) as client:
        _login(client, sshd)
        mine = client.get_host_keys().lookup(f"[127.0.0.1]:{sshd.port}")
        assert mine is not None and set(mine) == {"ssh-ed25519"}
    assert known.read_text() == line


def test_ssh_config_update_host_keys(sshd: SSHD, tmp_path: Path) -> None:
    name = f"[127.0.0.1]:{sshd.port}"
    known = tmp_path / "known_hosts"
    known.write_text(f"{name} {sshd.host_key_line('ed25519')}\n")
    for value, expected in (("ask", {"ssh-ed25519"}), ("yes", {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"})):
        config = tmp_path / f"config-{value}"
        config.write_text(f"Host 127.0.0.1\n    UpdateHostKeys {value}\n")
        with _client(known) as client:
            client.load_ssh_config(config)
            _login(client, sshd)
        assert _keys_in(known, name) == expected


# -- our client against our server ---------------------------------------------------


def _bad_proof(session_id: Any, keys: list[Any], algorithm: str, data: bytes, logger: Any) -> tuple[bool, bytes]:
    """A server's proof that signs the wrong data (each key, over other bytes)."""
    ok, _ = prove_host_keys(session_id, keys, algorithm, data, logger)
    by_blob = {k.asbytes(): k for k in keys}
    reply = Message()
    m = Message(data)
    while m.remaining():
        reply.add_string(by_blob[m.get_string()].sign_ssh_data(b"not the proof data").asbytes())
    return ok, reply.asbytes()


def _our_server_login(tmp_path: Path, running: Any, known: Path, **kw: Any) -> paramiko.SSHClient:
    client = _client(known)
    client.connect(
        running.host, running.port, username="u", password="secret", allow_agent=False, look_for_keys=False, **kw
    )
    return client


def test_our_client_and_server(tmp_path: Path) -> None:
    ed, ec, rsa = Ed25519Key.generate(), ECDSAKey.generate(), RSAKey.generate(2048)
    with serve([ed, ec, rsa]) as running:
        name = f"[127.0.0.1]:{running.port}"
        known = tmp_path / "known_hosts"
        known.write_text(f"{name} {ed.get_name()} {ed.get_base64()}\n")
        with _our_server_login(tmp_path, running, known, update_host_keys=True) as client:
            t = client.get_transport()
            assert t is not None and t.announced_host_keys == [ed.asbytes(), ec.asbytes(), rsa.asbytes()]
    learnt = HostKeys(known).lookup(name)
    assert learnt is not None
    assert {k: v.asbytes() for k, v in learnt.items()} == {
        "ssh-ed25519": ed.asbytes(),
        "ecdsa-sha2-nistp256": ec.asbytes(),
        "ssh-rsa": rsa.asbytes(),
    }


def test_bad_proof_adds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ed, ec = Ed25519Key.generate(), ECDSAKey.generate()
    proofs: list[bytes] = []

    def bad_proof(*args: Any) -> tuple[bool, bytes]:
        proofs.append(args[3])
        return _bad_proof(*args)

    # the threaded server side proves host keys with this function
    monkeypatch.setattr(server_side_module, "prove_host_keys", bad_proof)
    with serve([ed, ec]) as running:
        name = f"[127.0.0.1]:{running.port}"
        known = tmp_path / "known_hosts"
        line = f"{name} {ed.get_name()} {ed.get_base64()}\n"
        known.write_text(line)
        with _our_server_login(tmp_path, running, known, update_host_keys=True) as client:
            assert proofs, "the client never asked for a proof"
            mine = client.get_host_keys().lookup(name)
            assert mine is not None and set(mine) == {"ssh-ed25519"}
        assert known.read_text() == line


def test_server_can_keep_its_keys_to_itself(tmp_path: Path) -> None:
    ed, ec = Ed25519Key.generate(), ECDSAKey.generate()

    def quiet(t: Transport) -> None:
        t.announce_host_keys = False

    with serve([ed, ec], configure=quiet) as running:
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{running.port} {ed.get_name()} {ed.get_base64()}\n")
        with _our_server_login(tmp_path, running, known, update_host_keys=True) as client:
            t = client.get_transport()
            assert t is not None and t.announced_host_keys is None
    assert _keys_in(known, f"[127.0.0.1]:{running.port}") == {"ssh-ed25519"}
