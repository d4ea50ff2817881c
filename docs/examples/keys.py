"""Key recipes with ssh-keys alone: generate, load, convert, fingerprints, known_hosts.

Only ``ssh_keys`` is imported: ``pip install ssh-keys`` is enough for all of
this (with the whole stack, ``paramiko.Ed25519Key`` etc. are the same classes).
The keys guide (docs/guides/keys.rst) shows these functions; tests/docs runs
each, and checks what they write with OpenSSH's ssh-keygen.
"""

from __future__ import annotations

import os
import time

import ssh_keys


def generate(directory: str, password: str) -> list[str]:
    """Make an Ed25519, an ECDSA P-256 and an RSA 3072 key pair, as ssh-keygen would."""
    lines = []
    for name, key in [
        ("id_ed25519", ssh_keys.Ed25519Key.generate()),
        ("id_ecdsa", ssh_keys.ECDSAKey.generate()),
        ("id_rsa", ssh_keys.RSAKey.generate(bits=3072)),
    ]:
        path = os.path.join(directory, name)
        key.write_private_key_file(path, password=password)  # OpenSSH format, mode 0600
        line = key.get_openssh_line(comment=f"me@{name}")  # "ssh-ed25519 AAAA.. me@.."
        with open(path + ".pub", "w") as f:
            f.write(line + "\n")
        lines.append(line)
    return lines


def describe(path: str, password: str | None = None) -> str:
    """Load any private key file (the type is detected) and say what it is."""
    try:
        key = ssh_keys.PKey.from_path(path, password=password)
    except ssh_keys.PasswordRequiredException:
        return f"{path}: encrypted, a password is needed"
    return f"{key.get_name()} {key.get_bits()} {key.fingerprint}"


def convert_to_pem(path: str, password: str, new_path: str, new_password: str) -> None:
    """Rewrite an OpenSSH-format key as traditional PEM ("BEGIN RSA PRIVATE KEY",
    "BEGIN EC PRIVATE KEY"), for older tools, with a new password."""
    key = ssh_keys.PKey.from_path(path, password=password)
    key.write_private_key_file(new_path, password=new_password, format=ssh_keys.PEM)


def fingerprints(pub_path: str) -> dict[str, str]:
    """A public key's fingerprints, as ``ssh-keygen -l [-E md5]`` prints them."""
    key = ssh_keys.load_public_key_file(pub_path)
    return {
        "sha256": key.fingerprint,  # "SHA256:..." (the default of OpenSSH)
        "md5": key.fingerprint_md5,  # "MD5:aa:bb:..."
        "paramiko": key.get_fingerprint().hex(),  # paramiko's raw MD5 bytes
    }


def sign_and_verify(path: str, password: str, data: bytes) -> bool:
    """Sign ``data`` with a private key; check it with the public key alone."""
    private = ssh_keys.PKey.from_path(path, password=password)
    signature = private.sign_ssh_data(data)  # rsa-sha2-512 for RSA keys
    public = ssh_keys.load_public_key(private.get_openssh_line())
    return public.verify_ssh_sig(data, signature)


def remember_host(known_hosts: str, host: str, port: int, pub_path: str) -> bool:
    """Add a host's key to a known_hosts file, then check it as a client would."""
    hosts = ssh_keys.HostKeys()
    if os.path.exists(known_hosts):
        hosts.load(known_hosts)  # plain, hashed and [host]:port entries
    name = host if port == 22 else f"[{host}]:{port}"
    key = ssh_keys.load_public_key_file(pub_path)
    hosts.add(name, key.get_name(), key)
    hosts.save(known_hosts)
    return ssh_keys.HostKeys(known_hosts).check(name, key)


def run_a_ca(directory: str, user_pub_path: str, principal: str) -> str:
    """Be a certificate authority: sign a user's public key for ``principal``,
    valid for a day, and write ``<key>-cert.pub`` next to it (where ssh and
    SSHClient look for it). Returns the certificate's path."""
    ca = ssh_keys.Ed25519Key.generate()
    ca.write_private_key_file(os.path.join(directory, "ca"))
    user = ssh_keys.load_public_key_file(user_pub_path)
    now = int(time.time())
    cert = ssh_keys.sign_certificate(
        user,
        ca,
        key_id=f"{principal}@example",
        principals=[principal],
        valid_after=now - 60,
        valid_before=now + 86400,
    )
    path = user_pub_path.removesuffix(".pub") + "-cert.pub"
    cert.write_file(path)
    return path


def check_certificate(cert_path: str, ca_pub_line: str, principal: str) -> str:
    """What a server does with a user certificate: is it signed by a CA we
    trust, valid now, and for this principal? Returns why not, or "ok"."""
    ca = ssh_keys.key_from_line(ca_pub_line)
    try:
        cert = ssh_keys.Certificate.from_file(cert_path)
        cert.check(principal=principal, cert_type="user", ca_keys=[ca])
    except ssh_keys.CertificateNotValid as why:
        return str(why)
    return "ok"
