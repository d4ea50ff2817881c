"""SFTP for asyncio: ``SFTPClient`` (with ``SFTPFile``) over any pair of
asyncio-like streams, ``open_sftp`` for a connection that can start the
"sftp" subsystem, and ``serve_sftp`` to serve one session with an
``SFTPServerInterface``. The wire format, limits and request handling are
those of the threaded ``ssh_sftp`` classes."""

from .client import SFTPClient, open_sftp
from .file import SFTPFile
from .server import serve_sftp

__all__ = ["SFTPClient", "SFTPFile", "open_sftp", "serve_sftp"]
