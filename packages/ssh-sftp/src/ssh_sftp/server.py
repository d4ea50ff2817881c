"""``SFTPServer``: serves SFTP v3 on a channel, as a ``SubsystemHandler``,
calling an ``SFTPServerInterface`` for the storage."""

from __future__ import annotations

import errno
import logging
import os
import struct
from collections.abc import Callable, Iterable
from typing import Any

from ssh_transport.server import SubsystemHandler
from ssh_wire import Message, ProtocolError

from .attributes import SFTPAttributes
from .errors import SFTPError
from .extensions import ExtensionRequests, offered_extensions
from .handle import SFTPHandle
from .handle_quota import HandleQuota
from .interface import SFTPServerInterface
from .requests import REQUESTS, RequestPolicy
from .sftp import (
    _VERSION,
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_FSETSTAT,
    CMD_FSTAT,
    CMD_HANDLE,
    CMD_INIT,
    CMD_LSTAT,
    CMD_MKDIR,
    CMD_NAME,
    CMD_NAMES,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_READLINK,
    CMD_REALPATH,
    CMD_REMOVE,
    CMD_RENAME,
    CMD_RMDIR,
    CMD_SETSTAT,
    CMD_STAT,
    CMD_STATUS,
    CMD_SYMLINK,
    CMD_VERSION,
    CMD_WRITE,
    HDR_ID,
    SFTP_BAD_MESSAGE,
    SFTP_DESC,
    SFTP_EOF,
    SFTP_FAILURE,
    SFTP_FLAG_APPEND,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_READ,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
    U32,
    BaseSFTP,
)

__all__ = ["SFTPServer"]

_READ_REQ = struct.Struct(">QI")
_STATUS_HEAD = struct.Struct(">IBII")
_DATA_HEAD = struct.Struct(">IBII")

_REQUEST_NAMES = {r.packet: r.name for r in REQUESTS if r.packet is not None}
_EXTENSION_REQUESTS = {e: r.name for r in REQUESTS for e in r.extensions}


def _str(s: str | bytes) -> bytes:
    """An SSH string."""
    raw = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    return U32.pack(len(raw)) + raw


def _log_channel(channel: Any) -> str:
    """The log channel of ``channel``'s transport ("paramiko.transport" by
    default), so the server logs where paramiko's does."""
    get_transport = getattr(channel, "get_transport", None)
    transport = get_transport() if callable(get_transport) else None
    get_log_channel = getattr(transport, "get_log_channel", None)
    name = get_log_channel() if callable(get_log_channel) else None
    return name if isinstance(name, str) and name else "paramiko"


def _read_bytes(handle: SFTPHandle, offset: int, length: int) -> object:
    """``handle.read`` as ``bytes`` (a ``str`` is sent as UTF-8, as paramiko's
    server does), or whatever else it returned (an error code)."""
    result: object = handle.read(offset, length)
    if isinstance(result, str):
        return result.encode("utf-8")
    if isinstance(result, (bytearray, memoryview)):
        return bytes(result)
    return result


def _path(msg: Message) -> str:
    """A path field, as ``str`` (undecodable bytes kept via surrogateescape)."""
    return msg.get_string().decode("utf-8", "surrogateescape")


class SFTPServer(ExtensionRequests, BaseSFTP, SubsystemHandler):
    """The server side of SFTP, run by the transport for each "sftp"
    subsystem request. Register it with
    ``transport.set_subsystem_handler("sftp", SFTPServer, MyInterface, ...)``;
    the extra arguments go to the interface's constructor.

    ``policy`` (a ``RequestPolicy``: read-only, allow/deny lists by
    sftp-server's request names) refuses requests with "permission
    denied" and keeps refused extensions out of the VERSION reply; set it
    on the instance before the session starts, or on a subclass."""

    #: what the server refuses (default: nothing)
    policy: RequestPolicy = RequestPolicy()

    # limits we announce (limits@openssh.com) and enforce
    MAX_READ = 256 * 1024
    MAX_WRITE = 256 * 1024
    MAX_HANDLES = 512  # per session; see also handle_quota
    MAX_PACKET = 1024 * 1024 + 1024
    # directory entries per READDIR reply
    READDIR_BATCH = 100
    # Replies to requests received together go out together (one channel
    # write, its packets sealed and sent as one batch), as sftp-server
    # queues its output while input is buffered: a client pipelining 64 reads
    # of 32 KiB gets 256 KiB per write instead of one write per reply. A
    # reply waits only while another complete request is already received.
    REPLY_BATCH = 256 * 1024
    # directory entries held for all open directory handles together (each
    # OPENDIR takes its listing at once, so this bounds the memory they use)
    MAX_LISTED_ENTRIES = 1_000_000
    #: handles per connection (all its SFTP sessions together) and per
    #: process; one quota is shared by every server unless one is given its own
    handle_quota: HandleQuota = HandleQuota()

    def __init__(
        self,
        channel: Any,
        name: str,
        server: Any,
        sftp_si: type[SFTPServerInterface] = SFTPServerInterface,
        *largs: Any,
        **kwargs: Any,
    ) -> None:
        """Called by the transport with the channel, the subsystem name, the
        ``ServerInterface`` and the arguments given to
        ``set_subsystem_handler`` (the interface class first)."""
        BaseSFTP.__init__(self)
        SubsystemHandler.__init__(self, channel, name, server)
        self.logger = logging.getLogger(_log_channel(channel) + ".sftp")
        self.sock = channel
        self.server = sftp_si(server, *largs, **kwargs)
        # what the handle quota counts this session's handles under: its
        # connection (the transport), else the channel itself
        get_transport = getattr(channel, "get_transport", None)
        transport = get_transport() if callable(get_transport) else None
        self._connection: object = transport if transport is not None else channel
        self.file_table: dict[bytes, SFTPHandle] = {}
        # the path each open file was opened with
        self._file_paths: dict[bytes, str] = {}
        self._refused_packets: frozenset[int] = frozenset()
        self._refused_extensions: frozenset[str] = frozenset()
        self._replies: list[bytes | bytearray | memoryview] = []
        self._replies_size = 0
        self.folder_table: dict[bytes, SFTPHandle] = {}
        self.next_handle = 1
        self.client_version = 0
        self._dispatch: dict[int, Callable[[int, Message], None]] = {
            CMD_OPEN: self._open,
            CMD_CLOSE: self._close,
            CMD_FSTAT: self._fstat,
            CMD_FSETSTAT: self._fsetstat,
            CMD_OPENDIR: self._opendir,
            CMD_READDIR: self._readdir,
            CMD_REMOVE: self._one_path(lambda p: self.server.remove(p)),
            CMD_MKDIR: self._mkdir,
            CMD_RMDIR: self._one_path(lambda p: self.server.rmdir(p)),
            CMD_REALPATH: self._realpath,
            CMD_STAT: self._stat,
            CMD_LSTAT: self._lstat,
            CMD_SETSTAT: self._setstat,
            CMD_RENAME: self._two_paths(lambda a, b: self.server.rename(a, b)),
            CMD_READLINK: self._readlink,
            CMD_SYMLINK: self._two_paths(lambda a, b: self.server.symlink(a, b)),
            CMD_EXTENDED: self._extended,
        }

    # -- documented helpers ------------------------------------------------------------

    @staticmethod
    def convert_errno(e: int) -> int:
        """The SFTP status code for errno ``e``: EACCES/EPERM give
        ``SFTP_PERMISSION_DENIED``, ENOENT gives ``SFTP_NO_SUCH_FILE``,
        anything else ``SFTP_FAILURE``."""
        if e in (errno.EACCES, errno.EPERM):
            return SFTP_PERMISSION_DENIED
        if e in (errno.ENOENT, errno.ENOTDIR):
            return SFTP_NO_SUCH_FILE
        return SFTP_FAILURE

    @staticmethod
    def set_file_attr(filename: str | bytes, attr: SFTPAttributes) -> None:
        """Apply the fields set in ``attr`` to local file ``filename``
        (size, mode, owner, times: the size first, so that cutting the file
        does not undo the times). Raises ``OSError`` on failure."""
        if attr.st_size is not None:
            with open(filename, "r+b") as f:
                f.truncate(attr.st_size)
        if attr.st_mode is not None:
            os.chmod(filename, attr.st_mode & 0o7777)
        if attr.st_uid is not None and attr.st_gid is not None:
            os.chown(filename, attr.st_uid, attr.st_gid)
        if attr.st_atime is not None and attr.st_mtime is not None:
            os.utime(filename, (attr.st_atime, attr.st_mtime))

    # -- the subsystem -------------------------------------------------------------------

    def start_subsystem(self, name: str, transport: Any, channel: Any) -> None:
        """Serve requests on ``channel`` until the client goes away."""
        self.sock = channel
        try:
            if not self._negotiate():
                return
            self.server.session_started()
            while True:
                try:
                    t, data = self._read_packet()
                except EOFError:
                    return
                except SFTPError as exc:
                    self.logger.info("sftp: %s; closing session", exc)
                    return
                if not self._process(t, data):
                    return
        except (OSError, EOFError) as exc:
            self.logger.debug("sftp session ended: %s", exc)
        finally:
            try:
                self._send_replies()
            except (OSError, EOFError):
                pass
            self._close_all()

    def finish_subsystem(self) -> None:
        """Close every handle still open, tell the interface, close the channel."""
        self._close_all()
        try:
            self.server.session_ended()
        finally:
            super().finish_subsystem()

    def _close_all(self) -> None:
        """Close every open file and directory handle."""
        tables = list(self.file_table.values()) + list(self.folder_table.values())
        self.file_table.clear()
        self.folder_table.clear()
        self._file_paths.clear()
        for handle in tables:
            try:
                handle.close()
            except Exception:
                self.logger.debug("closing handle failed", exc_info=True)
            finally:
                self.handle_quota.release(self._connection)

    def _negotiate(self) -> bool:
        """Read INIT and answer VERSION with our extensions."""
        try:
            t, data = self._read_packet()
        except (EOFError, SFTPError):
            return False
        if t != CMD_INIT or len(data) < 4:
            self.logger.info("sftp: client did not start with INIT")
            return False
        self.client_version = U32.unpack_from(data)[0]
        self._refused_packets = self.policy.refused_packets()
        self._refused_extensions = self.policy.refused_extensions()
        ext = Message()
        ext.add_int(_VERSION)
        for key, value in offered_extensions(self.server, self._refused_extensions):
            ext.add_string(key)
            ext.add_string(value)
        self._send_packet(CMD_VERSION, ext.asbytes())
        return True

    def _refused(self, num: int, extension: str) -> bool:
        """If ``extension`` is refused by the policy, answer request ``num``
        "permission denied" (as sftp-server does) and return True."""
        if extension not in self._refused_extensions:
            return False
        self.logger.info("sftp: refusing %s request", _EXTENSION_REQUESTS.get(extension, extension))
        self._send_status(num, SFTP_PERMISSION_DENIED)
        return True

    def _process(self, t: int, data: bytes) -> bool:
        """Handle one request; False when the session must end."""
        if len(data) < 4:
            self.logger.info("sftp: request without id; closing session")
            return False
        num = U32.unpack_from(data)[0]
        if t in self._refused_packets:
            self.logger.info("sftp: refusing %s request", _REQUEST_NAMES.get(t, t))
            self._send_status(num, SFTP_PERMISSION_DENIED)
            return True
        try:
            if t == CMD_READ:
                self._read(num, data)
            elif t == CMD_WRITE:
                self._write(num, data)
            else:
                handler = self._dispatch.get(t)
                if handler is None:
                    self._send_status(num, SFTP_OP_UNSUPPORTED)
                    return True
                msg = Message(data, strict=True)
                msg.get_int()
                handler(num, msg)
        except ProtocolError as exc:
            self.logger.debug("sftp: bad %s request: %s", CMD_NAMES.get(t, t), exc)
            self._send_status(num, SFTP_BAD_MESSAGE, str(exc))
        except OSError as exc:
            self._send_status(num, self.convert_errno(exc.errno or 0), exc.strerror or str(exc))
        except OverflowError:
            # an offset, size or time the local system cannot represent: bad input, not a bug
            self.logger.debug("sftp: %s with a value out of range", CMD_NAMES.get(t, t))
            self._send_status(num, SFTP_FAILURE, "Value out of range")
        except EOFError:
            raise
        except Exception as exc:
            self.logger.exception("sftp: %s failed", CMD_NAMES.get(t, t))
            self._send_status(num, SFTP_FAILURE, f"{type(exc).__name__}: {exc}")
        return True

    # -- replies ---------------------------------------------------------------------

    def _write_all(self, *parts: bytes | bytearray | memoryview) -> None:
        """Queue a reply (given in parts); send what is queued unless another
        complete request is already received (see ``REPLY_BATCH``)."""
        for data in parts:
            self._replies.append(data)
            self._replies_size += len(data)
        if self._replies_size >= self.REPLY_BATCH or not self._request_waiting():
            self._send_replies()

    def _request_waiting(self) -> bool:
        """Whether a whole request is already in the read buffer."""
        buf = self._rbuf
        return len(buf) >= 4 and len(buf) >= 4 + U32.unpack_from(buf)[0]

    def _send_replies(self) -> None:
        """Send every queued reply, in one write."""
        replies = self._replies
        if not replies:
            return
        data = replies[0] if len(replies) == 1 else b"".join(replies)
        self._replies = []
        self._replies_size = 0
        super()._write_all(data)

    def _send_status(self, num: int, code: object, desc: str | None = None) -> None:
        """A STATUS reply (the text defaults to the code's description)."""
        status = self._status_of(code)
        if desc is None:
            desc = SFTP_DESC[status] if 0 <= status < len(SFTP_DESC) else "Unknown"
        text = desc.encode("utf-8", "replace")
        body = (
            _STATUS_HEAD.pack(len(text) + 17, CMD_STATUS, num, status & 0xFFFFFFFF)
            + U32.pack(len(text))
            + text
            + b"\x00\x00\x00\x00"
        )
        self._write_all(body)

    def _send_reply(self, num: int, t: int, payload: bytes) -> None:
        """A reply of type ``t`` with ``payload`` after the request id."""
        self._write_all(HDR_ID.pack(len(payload) + 5, t, num) + payload)

    def _status_of(self, result: object) -> int:
        """The status code an interface method returned; anything but an int
        (``None`` from a method that forgot to return ``SFTP_OK``, say) is
        ``SFTP_FAILURE``, as paramiko's server answers."""
        if isinstance(result, int):
            return result
        self.logger.debug("sftp: interface returned %r instead of an SFTP_* code", type(result).__name__)
        return SFTP_FAILURE

    def _send_attrs(self, num: int, result: object) -> None:
        """ATTRS for ``SFTPAttributes``, else the status code it stands for."""
        if isinstance(result, SFTPAttributes):
            self._send_reply(num, CMD_ATTRS, result.asbytes())
        else:
            self._send_status(num, result)

    def _send_names(self, num: int, items: list[SFTPAttributes]) -> None:
        """A NAME reply listing ``items`` (with ``ls -l`` long names)."""
        parts = [U32.pack(len(items))]
        for attr in items:
            parts.append(_str(attr.filename))
            parts.append(_str(attr.longname if attr.longname is not None else str(attr)))
            parts.append(attr.asbytes())
        self._send_reply(num, CMD_NAME, b"".join(parts))

    # -- handles ---------------------------------------------------------------------

    def _reserve_handle(self, num: int) -> bool:
        """Take a place for one more handle before opening anything. At a
        limit (``MAX_HANDLES`` for the session, ``handle_quota`` for the
        connection and the process) answer request ``num`` with a FAILURE
        that says which, and return False."""
        if len(self.file_table) + len(self.folder_table) >= self.MAX_HANDLES:
            reason: str | None = f"Too many open handles (limit {self.MAX_HANDLES} per session)"
        else:
            reason = self.handle_quota.acquire(self._connection)
        if reason is None:
            return True
        self.logger.info("sftp: refusing to open: %s", reason)
        self._send_status(num, SFTP_FAILURE, reason)
        return False

    def _new_handle(self, handle: SFTPHandle, folder: bool) -> bytes:
        """Register ``handle`` (its place taken by ``_reserve_handle``); its wire name."""
        name = (b"d" if folder else b"f") + str(self.next_handle).encode()
        self.next_handle += 1
        handle._set_name(name)
        (self.folder_table if folder else self.file_table)[name] = handle
        return name

    def _file(self, name: bytes) -> SFTPHandle | None:
        """The open file for handle string ``name``."""
        return self.file_table.get(name)

    def _file_path(self, name: bytes) -> str | None:
        """The path the open file ``name`` was opened with."""
        return self._file_paths.get(name)

    # -- the hot path: READ and WRITE, parsed without Message ----------------------------

    def _read(self, num: int, data: bytes) -> None:
        """READ: handle, uint64 offset, uint32 length -> DATA or STATUS."""
        if len(data) < 8:
            raise ProtocolError("truncated read request")
        hlen = U32.unpack_from(data, 4)[0]
        if len(data) != 8 + hlen + 12:
            raise ProtocolError("malformed read request")
        handle = self.file_table.get(data[8 : 8 + hlen])
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        offset, length = _READ_REQ.unpack_from(data, 8 + hlen)
        length = min(length, self.MAX_READ)
        result = _read_bytes(handle, offset, length)
        if not isinstance(result, bytes):
            self._send_status(num, result)
        elif not result:
            self._send_status(num, SFTP_EOF)
        else:
            n = len(result)
            # header and data queued apart: joined once with the other replies
            self._write_all(_DATA_HEAD.pack(n + 9, CMD_DATA, num, n), result)

    def _write(self, num: int, data: bytes) -> None:
        """WRITE: handle, uint64 offset, string data -> STATUS."""
        if len(data) < 8:
            raise ProtocolError("truncated write request")
        hlen = U32.unpack_from(data, 4)[0]
        pos = 8 + hlen
        if len(data) < pos + 12:
            raise ProtocolError("truncated write request")
        offset, n = _READ_REQ.unpack_from(data, pos)
        if len(data) != pos + 12 + n:
            raise ProtocolError("malformed write request")
        handle = self.file_table.get(data[8:pos])
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        view = memoryview(data)[pos + 12 :]
        # handles written for paramiko get bytes; ours may take the view (no copy)
        self._send_status(num, handle.write(offset, view if handle.write_accepts_view else bytes(view)))

    # -- the other requests -------------------------------------------------------------

    @staticmethod
    def _convert_pflags(pflags: int) -> int:
        """SFTP open flags as ``os.O_*`` flags."""
        if pflags & SFTP_FLAG_READ and pflags & SFTP_FLAG_WRITE:
            flags = os.O_RDWR
        elif pflags & SFTP_FLAG_WRITE:
            flags = os.O_WRONLY
        else:
            flags = os.O_RDONLY
        if pflags & SFTP_FLAG_APPEND:
            flags |= os.O_APPEND
        if pflags & SFTP_FLAG_CREATE:
            flags |= os.O_CREAT
        if pflags & SFTP_FLAG_TRUNC:
            flags |= os.O_TRUNC
        if pflags & SFTP_FLAG_EXCL:
            flags |= os.O_EXCL
        return flags

    def _open(self, num: int, msg: Message) -> None:
        """OPEN: path, pflags, attrs -> HANDLE."""
        path = _path(msg)
        flags = self._convert_pflags(msg.get_int())
        attr = SFTPAttributes._from_msg(msg)
        if not self.policy.permits_open(flags):
            self.logger.info("sftp: refusing open for writing in read-only mode")
            self._send_status(num, SFTP_PERMISSION_DENIED)
            return
        if not self._reserve_handle(num):
            return
        try:
            result = self.server.open(path, flags, attr)
        except BaseException:
            self.handle_quota.release(self._connection)
            raise
        if not isinstance(result, SFTPHandle):
            self.handle_quota.release(self._connection)
            self._send_status(num, result)
            return
        name = self._new_handle(result, folder=False)
        self._file_paths[name] = path
        self._send_reply(num, CMD_HANDLE, _str(name))

    def _close(self, num: int, msg: Message) -> None:
        """CLOSE: handle -> STATUS."""
        name = msg.get_string()
        self._file_paths.pop(name, None)
        handle = self.file_table.pop(name, None) or self.folder_table.pop(name, None)
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        try:
            handle.close()
        finally:
            self.handle_quota.release(self._connection)
        self._send_status(num, SFTP_OK)

    def _fstat(self, num: int, msg: Message) -> None:
        """FSTAT: handle -> ATTRS."""
        handle = self._file(msg.get_string())
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        self._send_attrs(num, handle.stat())

    def _fsetstat(self, num: int, msg: Message) -> None:
        """FSETSTAT: handle, attrs -> STATUS."""
        handle = self._file(msg.get_string())
        attr = SFTPAttributes._from_msg(msg)
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        self._send_status(num, handle.chattr(attr))

    def _opendir(self, num: int, msg: Message) -> None:
        """OPENDIR: path -> HANDLE (the listing is taken now)."""
        path = _path(msg)
        if not self._reserve_handle(num):
            return
        try:
            listed = self.server.list_folder(path)
            result = None if isinstance(listed, int) or not isinstance(listed, Iterable) else list(listed)
        except BaseException:
            self.handle_quota.release(self._connection)
            raise
        if result is None:
            self.handle_quota.release(self._connection)
            self._send_status(num, listed)
            return
        held = sum(h._pending_files() for h in self.folder_table.values())
        if held + len(result) > self.MAX_LISTED_ENTRIES:
            self.handle_quota.release(self._connection)
            self._send_status(num, SFTP_FAILURE, "Too many directory entries open; close some directories")
            return
        handle = SFTPHandle()
        handle._set_files(result)
        name = self._new_handle(handle, folder=True)
        self._send_reply(num, CMD_HANDLE, _str(name))

    def _readdir(self, num: int, msg: Message) -> None:
        """READDIR: handle -> NAME (a batch) or EOF."""
        handle = self.folder_table.get(msg.get_string())
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        batch = handle._get_next_files(self.READDIR_BATCH)
        if not batch:
            self._send_status(num, SFTP_EOF)
            return
        self._send_names(num, batch)

    def _one_path(self, op: Callable[[str], int]) -> Callable[[int, Message], None]:
        """A handler for requests that take one path and answer a status."""

        def handler(num: int, msg: Message) -> None:
            """Parse the path, run ``op``, answer its status."""
            self._send_status(num, op(_path(msg)))

        return handler

    def _two_paths(self, op: Callable[[str, str], int]) -> Callable[[int, Message], None]:
        """A handler for requests that take two paths and answer a status."""

        def handler(num: int, msg: Message) -> None:
            """Parse both paths, run ``op``, answer its status."""
            first = _path(msg)
            second = _path(msg)
            self._send_status(num, op(first, second))

        return handler

    def _mkdir(self, num: int, msg: Message) -> None:
        """MKDIR: path, attrs -> STATUS."""
        path = _path(msg)
        attr = SFTPAttributes._from_msg(msg)
        self._send_status(num, self.server.mkdir(path, attr))

    def _realpath(self, num: int, msg: Message) -> None:
        """REALPATH: path -> NAME with one entry."""
        self._send_one_name(num, self.server.canonicalize(_path(msg)))

    def _send_one_name(self, num: int, result: str | bytes | int) -> None:
        """A NAME reply with the single path ``result`` (``str`` or
        ``bytes``), or its error status."""
        if not isinstance(result, (str, bytes)):
            self._send_status(num, result)
            return
        if isinstance(result, bytes):
            result = result.decode("utf-8", "surrogateescape")
        attr = SFTPAttributes()
        attr.filename = result
        attr.longname = result
        self._send_names(num, [attr])

    def _stat(self, num: int, msg: Message) -> None:
        """STAT: path -> ATTRS."""
        self._send_attrs(num, self.server.stat(_path(msg)))

    def _lstat(self, num: int, msg: Message) -> None:
        """LSTAT: path -> ATTRS."""
        self._send_attrs(num, self.server.lstat(_path(msg)))

    def _setstat(self, num: int, msg: Message) -> None:
        """SETSTAT: path, attrs -> STATUS."""
        path = _path(msg)
        attr = SFTPAttributes._from_msg(msg)
        self._send_status(num, self.server.chattr(path, attr))

    def _readlink(self, num: int, msg: Message) -> None:
        """READLINK: path -> NAME with the target."""
        self._send_one_name(num, self.server.readlink(_path(msg)))
