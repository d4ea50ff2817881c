"""SFTP version 3 constants (draft-ietf-secsh-filexfer-02 plus the OpenSSH
extensions) and ``BaseSFTP``, the packet reader/writer both roles share."""

from __future__ import annotations

import logging
import struct
from collections import deque
from typing import Any, Protocol

from .errors import SFTPError

__all__ = [
    "BaseSFTP",
    "SFTP_BAD_MESSAGE",
    "SFTP_CONNECTION_LOST",
    "SFTP_DESC",
    "SFTP_EOF",
    "SFTP_FAILURE",
    "SFTP_FLAG_APPEND",
    "SFTP_FLAG_CREATE",
    "SFTP_FLAG_EXCL",
    "SFTP_FLAG_READ",
    "SFTP_FLAG_TRUNC",
    "SFTP_FLAG_WRITE",
    "SFTP_NO_CONNECTION",
    "SFTP_NO_SUCH_FILE",
    "SFTP_OK",
    "SFTP_OP_UNSUPPORTED",
    "SFTP_PERMISSION_DENIED",
    "SFTPError",
    "StreamLike",
]

# packet types
CMD_INIT = 1
CMD_VERSION = 2
CMD_OPEN = 3
CMD_CLOSE = 4
CMD_READ = 5
CMD_WRITE = 6
CMD_LSTAT = 7
CMD_FSTAT = 8
CMD_SETSTAT = 9
CMD_FSETSTAT = 10
CMD_OPENDIR = 11
CMD_READDIR = 12
CMD_REMOVE = 13
CMD_MKDIR = 14
CMD_RMDIR = 15
CMD_REALPATH = 16
CMD_STAT = 17
CMD_RENAME = 18
CMD_READLINK = 19
CMD_SYMLINK = 20
CMD_STATUS = 101
CMD_HANDLE = 102
CMD_DATA = 103
CMD_NAME = 104
CMD_ATTRS = 105
CMD_EXTENDED = 200
CMD_EXTENDED_REPLY = 201

CMD_NAMES = {
    value: name[4:].lower() for name, value in globals().items() if name.startswith("CMD_") and isinstance(value, int)
}

# status codes
SFTP_OK = 0
SFTP_EOF = 1
SFTP_NO_SUCH_FILE = 2
SFTP_PERMISSION_DENIED = 3
SFTP_FAILURE = 4
SFTP_BAD_MESSAGE = 5
SFTP_NO_CONNECTION = 6
SFTP_CONNECTION_LOST = 7
SFTP_OP_UNSUPPORTED = 8

SFTP_DESC = [
    "Success",
    "End of file",
    "No such file",
    "Permission denied",
    "Failure",
    "Bad message",
    "No connection",
    "Connection lost",
    "Operation unsupported",
]

# open flags (pflags)
SFTP_FLAG_READ = 0x01
SFTP_FLAG_WRITE = 0x02
SFTP_FLAG_APPEND = 0x04
SFTP_FLAG_CREATE = 0x08
SFTP_FLAG_TRUNC = 0x10
SFTP_FLAG_EXCL = 0x20

_VERSION = 3

# Never ask for more than this per READ/WRITE, whatever the server offers.
MAX_REQUEST_SIZE = 1024 * 1024

# extension names
EXT_POSIX_RENAME = "posix-rename@openssh.com"
EXT_STATVFS = "statvfs@openssh.com"
EXT_FSTATVFS = "fstatvfs@openssh.com"
EXT_HARDLINK = "hardlink@openssh.com"
EXT_FSYNC = "fsync@openssh.com"
EXT_LIMITS = "limits@openssh.com"
EXT_CHECK_FILE = "check-file"
EXT_CHECK_FILE_HANDLE = "check-file-handle"
EXT_CHECK_FILE_NAME = "check-file-name"
EXT_LSETSTAT = "lsetstat@openssh.com"
EXT_EXPAND_PATH = "expand-path@openssh.com"
EXT_COPY_DATA = "copy-data"
EXT_HOME_DIRECTORY = "home-directory"
EXT_USERS_GROUPS_BY_ID = "users-groups-by-id@openssh.com"

# ST_* bits of the statvfs flag field
SSH2_FXE_STATVFS_ST_RDONLY = 0x1
SSH2_FXE_STATVFS_ST_NOSUID = 0x2

HDR = struct.Struct(">IB")
HDR_ID = struct.Struct(">IBI")
U32 = struct.Struct(">I")


def path_bytes(s: str | bytes) -> bytes:
    """A path as wire bytes (UTF-8; undecodable bytes survive via surrogateescape)."""
    if isinstance(s, bytes):
        return s
    return s.encode("utf-8", "surrogateescape")


def path_str(b: bytes) -> str:
    """Wire bytes as a ``str`` path (the inverse of ``path_bytes``)."""
    return b.decode("utf-8", "surrogateescape")


def ssh_string(s: str | bytes) -> bytes:
    """An SSH string (uint32 length, then the bytes)."""
    raw = path_bytes(s)
    return U32.pack(len(raw)) + raw


U64 = struct.Struct(">Q")

_RECV_CHUNK = 256 * 1024


class PacketSplitter:
    """Cuts a byte stream that arrives in pieces (channel packets) into SFTP
    packets, copying each packet's payload once: pieces are kept as they
    came, with an offset into the first, and a packet that spans pieces is
    joined straight from views of them."""

    __slots__ = ("chunks", "max_packet", "offset", "size")

    def __init__(self, max_packet: int) -> None:
        """Refuse packets longer than ``max_packet`` (see ``BaseSFTP.MAX_PACKET``)."""
        self.chunks: deque[bytes] = deque()
        self.offset = 0
        self.size = 0
        self.max_packet = max_packet

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return the packets now complete as (type, payload).
        ``SFTPError`` on a length that is below 5 (no room for a request id)
        or over the limit."""
        chunks = self.chunks
        chunks.append(data)
        self.size += len(data)
        out: list[tuple[int, bytes]] = []
        while self.size >= 5:
            first = chunks[0]
            off = self.offset
            if len(first) - off < 5:
                # a header split across pieces (rare): merge what is buffered
                first = b"".join([first[off:], *list(chunks)[1:]])
                chunks.clear()
                chunks.append(first)
                self.offset = off = 0
            size = U32.unpack_from(first, off)[0]
            if size < 5 or size > self.max_packet:
                raise SFTPError(f"Garbage packet received (length {size})")
            total = size + 4
            if self.size < total:
                break
            self.size -= total
            t = first[off + 4]
            end = off + total
            if end <= len(first):
                out.append((t, first[off + 5 : end]))
                if end == len(first):
                    chunks.popleft()
                    self.offset = 0
                else:
                    self.offset = end
                continue
            chunks.popleft()
            parts: list[bytes | memoryview] = [memoryview(first)[off + 5 :]]
            need = end - len(first)
            while True:
                c = chunks[0]
                if len(c) > need:
                    parts.append(memoryview(c)[:need])
                    self.offset = need
                    break
                parts.append(c)
                chunks.popleft()
                need -= len(c)
                if not need:
                    self.offset = 0
                    break
            out.append((t, b"".join(parts)))
        return out


class StreamLike(Protocol):
    """What SFTP needs of its byte stream: a ``Channel`` or anything with the
    same ``send``/``recv``/``close`` methods."""

    def send(self, data: bytes) -> int:
        """Send some of ``data``; how much went."""

    def recv(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` at end of stream."""

    def close(self) -> None:
        """Close the stream."""


class BaseSFTP:
    """Framing shared by client and server: each SFTP packet is a uint32
    length, a type byte and the payload.

    Reads go through one growing buffer filled in large ``recv`` calls, so
    several small replies cost one system call and a large reply few.
    """

    # A packet longer than this is treated as garbage (the peer is broken).
    MAX_PACKET = 4 * 1024 * 1024 + 1024

    def __init__(self) -> None:
        """Start with no stream attached (subclasses set ``self.sock``)."""
        self.logger = logging.getLogger("paramiko.sftp")
        self.sock: Any = None
        self.ultra_debug = False
        self._rbuf = bytearray()

    # -- low-level stream I/O --------------------------------------------------

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send every byte of ``data`` on the stream."""
        sock = self.sock
        sendall = getattr(sock, "sendall", None)
        if sendall is not None:
            sendall(data)
            return
        view = memoryview(data)
        while len(view):
            n = sock.send(view)
            if n <= 0:
                raise EOFError("stream closed while sending")
            view = view[n:]

    def _fill(self, n: int) -> bytearray:
        """Make the read buffer hold at least ``n`` bytes; ``EOFError`` if
        the stream ends first."""
        buf = self._rbuf
        recv = self.sock.recv
        while len(buf) < n:
            chunk = recv(max(n - len(buf), _RECV_CHUNK))
            if not chunk:
                raise EOFError("stream closed")
            buf += chunk
        return buf

    def _send_packet(self, t: int, payload: bytes | bytearray) -> None:
        """Frame and send one packet of type ``t``."""
        if self.ultra_debug:
            self.logger.debug("out: %s (%d bytes)", CMD_NAMES.get(t, t), len(payload))
        self._write_all(HDR.pack(len(payload) + 1, t) + payload)

    def _read_packet(self) -> tuple[int, bytes]:
        """The next packet as (type, payload); ``SFTPError`` on a length that
        is zero or larger than ``MAX_PACKET`` (checked as soon as the length
        arrives), ``EOFError`` at end of stream."""
        buf = self._rbuf
        if len(buf) < 4:
            self._fill(4)
        size = U32.unpack_from(buf)[0]
        if size == 0 or size > self.MAX_PACKET:
            raise SFTPError(f"Garbage packet received (length {size})")
        total = size + 4
        if len(buf) < total:
            self._fill(total)
        t = buf[4]
        body = bytes(buf[5:total])
        del buf[:total]
        if self.ultra_debug:
            self.logger.debug("in: %s (%d bytes)", CMD_NAMES.get(t, t), size - 1)
        return t, body

    def _log(self, level: int, msg: str, *args: Any) -> None:
        """Log through the ``paramiko.sftp`` logger."""
        self.logger.log(level, msg, *args)
