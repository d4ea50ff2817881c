"""SFTP errors: ``SFTPError`` for protocol trouble, and the mapping from an
SFTP status code to the ``OSError`` subclass (and errno) users expect."""

from __future__ import annotations

import errno

from ssh_wire import SSHException

__all__ = ["SFTPError", "SFTPOSError", "SOCKET_CLOSED", "status_to_exception"]

# What a request on a closed session says (paramiko's words, from its channel).
SOCKET_CLOSED = "Socket is closed"


class SFTPError(SSHException):
    """The SFTP conversation itself went wrong: a malformed or unexpected
    reply, a version the peer cannot speak, or a dropped connection."""


class SFTPOSError(SFTPError, OSError):
    """A failure that paramiko code catches either way: as ``OSError``
    (a request on a closed session is ``OSError("Socket is closed")`` in
    paramiko) or as ``SFTPError`` (``chdir`` to a file is
    ``SFTPError(ENOTDIR, ...)``). Built like ``OSError``: ``(message)`` or
    ``(errno, strerror)``."""


# status code -> (errno, default text). EOF is handled separately (EOFError).
_STATUS_ERRNO: dict[int, tuple[int | None, str]] = {
    2: (errno.ENOENT, "No such file"),
    3: (errno.EACCES, "Permission denied"),
    4: (None, "Failure"),
    5: (errno.EBADMSG, "Bad message"),
    6: (errno.ENOTCONN, "No connection"),
    7: (errno.ECONNRESET, "Connection lost"),
    8: (errno.EOPNOTSUPP, "Operation unsupported"),
}


def status_to_exception(code: int, text: str, filename: str | None = None) -> Exception:
    """The exception a failed request with SFTP status ``code`` raises.

    ``SSH_FX_EOF`` gives ``EOFError``; ``NO_SUCH_FILE`` gives
    ``FileNotFoundError`` (ENOENT), ``PERMISSION_DENIED`` gives
    ``PermissionError`` (EACCES), the connection codes give
    ``ConnectionError`` subclasses; ``FAILURE`` is a plain ``OSError`` (as in
    paramiko, without errno). The message names ``filename`` when known.
    """
    if code == 1:
        return EOFError(text or "end of file")
    err, default = _STATUS_ERRNO.get(code, (None, f"Unknown status {code}"))
    message = text or default
    if err is None:
        if filename is not None:
            return OSError(f"{message}: {filename!r}")
        return OSError(message)
    if filename is not None:
        return OSError(err, message, filename)
    return OSError(err, message)
