"""SSH keys: RSA, DSS, ECDSA and Ed25519 keys, private and public key files,
fingerprints and known_hosts, for the pure-Python SSH2 stack.

Only ``ssh_wire``, ``cryptography`` and ``bcrypt`` are needed; nothing here
imports the transport.
"""

from ssh_wire import PasswordRequiredException, SSHException

from ._util import generate_key_bytes
from .dsskey import DSSKey
from .ecdsakey import ECDSAKey
from .ed25519key import Ed25519Key
from .hostkeys import HostKeyEntry, HostKeys, InvalidHostKey, load_host_keys
from .pkey import PKey, key_from_blob, key_from_crypto, load_private_key, load_private_key_file
from .pubkeys import key_from_line, load_public_key, load_public_key_file, parse_public_key_line
from .rsakey import RSAKey

__version__ = "0.1.0"

__all__ = [
    "DSSKey",
    "ECDSAKey",
    "Ed25519Key",
    "HostKeyEntry",
    "HostKeys",
    "InvalidHostKey",
    "PKey",
    "PasswordRequiredException",
    "RSAKey",
    "SSHException",
    "generate_key_bytes",
    "key_from_blob",
    "key_from_crypto",
    "key_from_line",
    "load_host_keys",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "load_public_key_file",
    "parse_public_key_line",
]
