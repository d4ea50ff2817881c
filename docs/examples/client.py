"""Client recipes: exec, SFTP, host key policies, ssh_config, ProxyJump, agent.

The client guide (docs/guides/client.rst) shows these functions; tests/docs
runs each against the server guide's server and against OpenSSH's sshd.
"""

from __future__ import annotations

import contextlib
import os
import stat

import paramiko


def run_command(
    host: str, port: int, username: str, key_filename: str, known_hosts: str
) -> tuple[str, int]:
    """Run ``uname -s`` and return its output and exit status."""
    with paramiko.SSHClient() as client:
        client.load_host_keys(known_hosts)  # a changed key raises BadHostKeyException
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(host, port=port, username=username, key_filename=key_filename)
        stdin, stdout, stderr = client.exec_command("uname -s", timeout=30)
        stdin.close()  # nothing to send
        output = stdout.read().decode() + stderr.read().decode()
        status = stdout.channel.recv_exit_status()
        return output, status


def sftp_round_trip(
    client: paramiko.SSHClient, local_path: str, remote_dir: str
) -> list[str]:
    """Upload a file, list the directory, download the file back beside the original."""
    with client.open_sftp() as sftp:
        remote_path = f"{remote_dir}/{os.path.basename(local_path)}"
        sftp.put(local_path, remote_path)
        attrs = sftp.stat(remote_path)
        assert stat.S_ISREG(attrs.st_mode or 0) and attrs.st_size == os.path.getsize(
            local_path
        )
        with sftp.open(remote_path, "a") as f:  # remote files work like local ones
            f.write(b"appended remotely\n")
        sftp.get(remote_path, local_path + ".back")
        try:
            sftp.stat(f"{remote_dir}/missing")
        except FileNotFoundError as e:  # SFTP errors are OSErrors with the errno
            print("as expected:", e)
        return sorted(sftp.listdir(remote_dir))


def trust_on_first_use(
    host: str, port: int, username: str, password: str, known_hosts: str
) -> str:
    """Accept an unknown host key once, save it, and check it on every later login."""
    with paramiko.SSHClient() as client:
        if os.path.exists(known_hosts):
            client.load_host_keys(known_hosts)
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(host, port=port, username=username, password=password)
        client.save_host_keys(known_hosts)  # now holds "[host]:port ssh-ed25519 ..."
        transport = client.get_transport()
        assert transport is not None  # connected
        return transport.get_remote_server_key().fingerprint


class PinnedFingerprint(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host only if its key has the fingerprint we were told."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint  # as ssh-keygen -l shows it: "SHA256:..."

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if key.fingerprint != self.fingerprint:
            raise paramiko.SSHException(
                f"{hostname}: unexpected host key {key.fingerprint}"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)


def connect_with_ssh_config(
    alias: str, config_path: str, stack: contextlib.ExitStack
) -> paramiko.SSHClient:
    """Connect to ``alias`` as OpenSSH would: HostName, Port, User, IdentityFile,
    UserKnownHostsFile and ProxyJump come from the ssh_config file. Every client
    opened (the jump host's too) is closed when ``stack`` closes."""
    config = paramiko.SSHConfig.from_path(config_path)
    options = config.lookup(alias)
    sock = None
    if "proxyjump" in options:  # "ProxyJump jumphost": go through that host first
        jump = connect_with_ssh_config(options["proxyjump"], config_path, stack)
        sock = open_tunnel(jump, options["hostname"], int(options.get("port", 22)))
    client = stack.enter_context(paramiko.SSHClient())
    for path in options.get("userknownhostsfile", "~/.ssh/known_hosts").split():
        if os.path.exists(os.path.expanduser(path)):
            client.load_host_keys(os.path.expanduser(path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        options["hostname"],
        port=int(options.get("port", 22)),
        username=options.get("user"),
        key_filename=options.get("identityfile"),
        sock=sock,
    )
    return client


def open_tunnel(jump: paramiko.SSHClient, host: str, port: int) -> paramiko.Channel:
    """A channel from the jump host to ``host:port`` (what ``ssh -W`` opens):
    pass it as ``sock=`` to the next ``connect``."""
    transport = jump.get_transport()
    assert transport is not None
    return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))


def connect_with_agent(
    host: str, port: int, username: str, known_hosts: str
) -> list[str]:
    """Log in with a key held by the running ssh-agent (``$SSH_AUTH_SOCK``)."""
    agent = paramiko.Agent()
    names = [f"{key.get_name()} {key.fingerprint}" for key in agent.get_keys()]
    with paramiko.SSHClient() as client:
        client.load_host_keys(known_hosts)
        client.connect(
            host, port=port, username=username, allow_agent=True, look_for_keys=False
        )
        _, stdout, _ = client.exec_command("echo agent login ok")
        print(stdout.read().decode().strip())
    agent.close()
    return names
