"""``PublicBlob``: an OpenSSH public key or certificate kept as its raw blob.

A client that holds a certificate (``id_ed25519-cert.pub``) offers the
certificate blob instead of the plain public key; nothing here checks the
certificate's contents (that is the server's job), it only carries the blob,
its type name and comment, as paramiko's ``PublicBlob`` does.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from ssh_wire import Message, SSHException

#: the suffix OpenSSH certificate type names carry
CERT_SUFFIX = "-cert-v01@openssh.com"
_VENDOR = "@openssh.com"


def cert_type_for(key_type: str) -> str:
    """The certificate type name of a plain key type: ``ssh-ed25519`` ->
    ``ssh-ed25519-cert-v01@openssh.com``; a vendor name drops its domain
    first (``sk-ssh-ed25519@openssh.com`` -> ``sk-ssh-ed25519-cert-v01@openssh.com``)."""
    stem = key_type[: -len(_VENDOR)] if key_type.endswith(_VENDOR) else key_type
    return stem + CERT_SUFFIX


def cert_key_type(cert_type: str) -> str:
    """The plain key (or signature algorithm) type a certificate type
    certifies, the inverse of ``cert_type_for``; other names are returned
    unchanged. The security-key types are the ones OpenSSH names under
    ``@openssh.com``."""
    if not cert_type.endswith(CERT_SUFFIX):
        return cert_type
    stem = cert_type[: -len(CERT_SUFFIX)]
    return stem + _VENDOR if stem.startswith("sk-") else stem


class PublicBlob:
    """A public key or certificate blob with its type name and comment.

    Build one with ``from_file`` (a ``.pub`` / ``-cert.pub`` file),
    ``from_string`` (that file's contents) or ``from_message`` (the blob on
    the wire). Two blobs are equal when their bytes are.
    """

    def __init__(self, type_: str, blob: bytes, comment: str | None = None) -> None:
        """Keep ``blob`` (whose type name is ``type_``) and its ``comment``."""
        self.key_type = type_
        self.key_blob = blob
        self.comment = comment

    @classmethod
    def from_file(cls, filename: str | os.PathLike[str]) -> PublicBlob:
        """Read a ``.pub`` or ``-cert.pub`` file."""
        with open(filename, encoding="utf-8") as f:
            return cls.from_string(f.read())

    @classmethod
    def from_string(cls, string: str) -> PublicBlob:
        """Parse a ``type base64 [comment]`` line; ``ValueError`` when a field
        is missing, the base64 is bad, or the blob's type name is not ``type``."""
        fields = string.split(None, 2)
        if len(fields) < 2:
            raise ValueError(f"Not enough fields for public blob: {fields}")
        key_type = fields[0]
        try:
            blob = base64.b64decode(fields[1].encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError(f"Invalid PublicBlob contents: bad base64 ({exc})") from exc
        comment = fields[2].strip() if len(fields) > 2 else None
        blob_type = _blob_type(blob)
        if blob_type != key_type:
            raise ValueError(f"Invalid PublicBlob contents: key type={key_type!r}, but blob type={blob_type!r}")
        return cls(type_=key_type, blob=blob, comment=comment)

    @classmethod
    def from_message(cls, message: Message) -> PublicBlob:
        """The blob a ``Message`` holds (a certificate is its own wire form);
        its type name is read from the Message."""
        type_ = message.get_text()
        return cls(type_=type_, blob=message.asbytes())

    @property
    def is_certificate(self) -> bool:
        """True for an OpenSSH certificate (``*-cert-v01@openssh.com``)."""
        return self.key_type.endswith(CERT_SUFFIX)

    def __str__(self) -> str:
        """``"<type> public key/certificate"``, then the comment, as paramiko shows it."""
        text = f"{self.key_type} public key/certificate"
        return f"{text}- {self.comment}" if self.comment else text

    def __repr__(self) -> str:
        return f"PublicBlob(type_={self.key_type!r}, blob=<{len(self.key_blob)} bytes>, comment={self.comment!r})"

    def __eq__(self, other: Any) -> bool:
        """Equal when both are PublicBlobs with the same bytes."""
        if not isinstance(other, PublicBlob):
            return NotImplemented
        return self.key_blob == other.key_blob

    def __hash__(self) -> int:
        """Hash of the blob bytes, consistent with ``==``."""
        return hash(self.key_blob)


def _blob_type(blob: bytes) -> str:
    """The type name a blob starts with ('' when it has none)."""
    try:
        return Message(blob, strict=True).get_text()
    except SSHException:
        return ""
