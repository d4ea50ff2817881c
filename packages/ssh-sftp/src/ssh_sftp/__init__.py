"""SFTP version 3 (with the OpenSSH extensions): client (``SFTPClient``,
``SFTPFile``) and server (``SFTPServer``, ``SFTPServerInterface``,
``SFTPHandle``, ``LocalSFTPServerInterface``) over SSH channels or any
channel-like byte stream."""

from .attributes import SFTPAttributes
from .client import SFTP, SFTPClient
from .errors import SFTPError
from .file import SFTPFile
from .handle import SFTPHandle
from .interface import SFTPServerInterface
from .local import LocalSFTPHandle, LocalSFTPServerInterface
from .server import SFTPServer
from .sftp import (
    SFTP_BAD_MESSAGE,
    SFTP_CONNECTION_LOST,
    SFTP_EOF,
    SFTP_FAILURE,
    SFTP_NO_CONNECTION,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
)
from .statvfs import SFTPStatVFS
from .streams import PipeStream, SocketStream, spawn_sftp_server

__version__ = "0.1.0"

__all__ = [
    "SFTP",
    "SFTP_BAD_MESSAGE",
    "SFTP_CONNECTION_LOST",
    "SFTP_EOF",
    "SFTP_FAILURE",
    "SFTP_NO_CONNECTION",
    "SFTP_NO_SUCH_FILE",
    "SFTP_OK",
    "SFTP_OP_UNSUPPORTED",
    "SFTP_PERMISSION_DENIED",
    "LocalSFTPHandle",
    "LocalSFTPServerInterface",
    "PipeStream",
    "SFTPAttributes",
    "SFTPClient",
    "SFTPError",
    "SFTPFile",
    "SFTPHandle",
    "SFTPServer",
    "SFTPServerInterface",
    "SFTPStatVFS",
    "SocketStream",
    "spawn_sftp_server",
]
