"""SSH keys: RSA, DSS, ECDSA and Ed25519 keys, FIDO security keys (verify
only), OpenSSH certificates, private and public key files, fingerprints and
known_hosts, for the pure-Python SSH2 stack.

Only ``ssh_wire``, ``cryptography`` and ``bcrypt`` are needed; nothing here
imports the transport.
"""

from ssh_wire import PasswordRequiredException, SSHException

from ._util import generate_key_bytes
from .certificates import (
    DEFAULT_CA_SIGNATURE_ALGORITHMS,
    FOREVER,
    Certificate,
    CertificateError,
    CertificateExpired,
    CertificateNotValid,
    CertificateNotYetValid,
    CertificateOptionError,
    CertificatePrincipalError,
    CertificateRevoked,
    CertificateSignatureError,
    CertificateType,
    CertificateTypeError,
    CertificateUntrustedCA,
    sign_certificate,
)
from .certs import PublicBlob
from .dsskey import DSSKey
from .ecdsakey import ECDSAKey
from .ed25519key import Ed25519Key
from .host_verdict import HostKeyStatus, HostKeyVerdict, verify_host_key
from .hostkeys import HostKeyEntry, HostKeys, InvalidHostKey, load_host_keys
from .pkey import (
    OPENSSH,
    PEM,
    FileFormat,
    PKey,
    UnknownKeyType,
    UnsupportedKeyType,
    key_classes,
    key_from_blob,
    key_from_crypto,
    load_private_key,
    load_private_key_file,
)
from .pubkeys import key_from_line, load_public_key, load_public_key_file, parse_public_key_line
from .rsakey import RSAKey
from .skkeys import (
    SK_RESIDENT_KEY,
    SK_USER_PRESENCE_REQD,
    SK_USER_VERIFICATION_REQD,
    ECDSASKKey,
    Ed25519SKKey,
    SKKey,
    SKSignature,
    SKSignatureError,
    SKUserPresenceError,
    SKUserVerificationError,
)

# paramiko 5's order (RSA, Ed25519, ECDSA), then DSS, which paramiko 4 dropped
# and this stack still reads.
key_classes[:] = [RSAKey, Ed25519Key, ECDSAKey, DSSKey]

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CA_SIGNATURE_ALGORITHMS",
    "FOREVER",
    "OPENSSH",
    "PEM",
    "Certificate",
    "CertificateError",
    "CertificateExpired",
    "CertificateNotValid",
    "CertificateNotYetValid",
    "CertificateOptionError",
    "CertificatePrincipalError",
    "CertificateRevoked",
    "CertificateSignatureError",
    "CertificateType",
    "CertificateTypeError",
    "CertificateUntrustedCA",
    "DSSKey",
    "ECDSAKey",
    "ECDSASKKey",
    "Ed25519Key",
    "Ed25519SKKey",
    "FileFormat",
    "HostKeyEntry",
    "HostKeyStatus",
    "HostKeyVerdict",
    "HostKeys",
    "InvalidHostKey",
    "PKey",
    "PasswordRequiredException",
    "PublicBlob",
    "RSAKey",
    "SKKey",
    "SKSignature",
    "SKSignatureError",
    "SKUserPresenceError",
    "SKUserVerificationError",
    "SK_RESIDENT_KEY",
    "SK_USER_PRESENCE_REQD",
    "SK_USER_VERIFICATION_REQD",
    "SSHException",
    "UnknownKeyType",
    "UnsupportedKeyType",
    "generate_key_bytes",
    "key_classes",
    "key_from_blob",
    "key_from_crypto",
    "key_from_line",
    "load_host_keys",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "load_public_key_file",
    "parse_public_key_line",
    "sign_certificate",
    "verify_host_key",
]
