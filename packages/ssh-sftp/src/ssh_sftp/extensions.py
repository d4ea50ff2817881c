"""The server side of the SFTP extensions (OpenSSH's ``PROTOCOL`` section 4,
copy-data, home-directory, check-file): which ones an
``SFTPServerInterface`` can serve, and ``ExtensionRequests``, the part of
``SFTPServer`` that answers SSH_FXP_EXTENDED.

An interface written before an extension existed still gets the ones the
server can build from what it has: posix-rename from ``rename`` (with
POSIX semantics added here), lsetstat from ``chattr`` for paths that are
not links, expand-path and home-directory from ``canonicalize``,
copy-data from the handles' ``read``/``write``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import secrets
import stat
import struct
from typing import TYPE_CHECKING, Any

from ssh_wire import Message, ProtocolError

from .attributes import SFTPAttributes
from .handle import SFTPHandle
from .interface import SFTPServerInterface
from .limits import SFTPLimits
from .sftp import (
    CMD_EXTENDED_REPLY,
    EXT_CHECK_FILE,
    EXT_CHECK_FILE_HANDLE,
    EXT_CHECK_FILE_NAME,
    EXT_COPY_DATA,
    EXT_EXPAND_PATH,
    EXT_FSTATVFS,
    EXT_FSYNC,
    EXT_HARDLINK,
    EXT_HOME_DIRECTORY,
    EXT_LIMITS,
    EXT_LSETSTAT,
    EXT_POSIX_RENAME,
    EXT_STATVFS,
    EXT_USERS_GROUPS_BY_ID,
    SFTP_BAD_MESSAGE,
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    path_str,
    ssh_string,
)
from .statvfs import SFTPStatVFS

__all__ = ["CHECK_ALGORITHMS", "ExtensionRequests", "expand_path", "offered_extensions", "posix_rename_via_rename"]

# hash algorithms offered by check-file, in our preference order
CHECK_ALGORITHMS = ("sha256", "sha512", "sha384", "sha224", "sha1", "md5")

_log = logging.getLogger("paramiko.sftp")


def _overrides(si: SFTPServerInterface, name: str) -> bool:
    """Whether ``si``'s class implements method ``name`` itself (or a
    parent other than ``SFTPServerInterface`` does)."""
    return getattr(type(si), name, None) is not getattr(SFTPServerInterface, name)


def offered_extensions(si: SFTPServerInterface, refused: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """The (name, version) pairs to put in SSH_FXP_VERSION: the extensions
    ``si`` can serve, less those in ``refused``; in sftp-server's order."""
    can_lsetstat = _overrides(si, "lsetstat") or (_overrides(si, "chattr") and _overrides(si, "lstat"))
    table = (
        (EXT_POSIX_RENAME, "1", _overrides(si, "posix_rename") or _overrides(si, "rename")),
        (EXT_STATVFS, "2", _overrides(si, "statvfs")),
        (EXT_FSTATVFS, "2", _overrides(si, "statvfs")),
        (EXT_HARDLINK, "1", _overrides(si, "hardlink")),
        (EXT_FSYNC, "1", _overrides(si, "open")),
        (EXT_LSETSTAT, "1", can_lsetstat),
        (EXT_LIMITS, "1", True),
        (EXT_EXPAND_PATH, "1", True),
        (EXT_COPY_DATA, "1", _overrides(si, "open")),
        (EXT_HOME_DIRECTORY, "1", True),
        (EXT_USERS_GROUPS_BY_ID, "1", _overrides(si, "users_groups_by_id")),
        (EXT_CHECK_FILE, ",".join(CHECK_ALGORITHMS), _overrides(si, "open")),
    )
    return [(name, version) for name, version, can in table if can and name not in refused]


def _is_dir(attr: SFTPAttributes) -> bool:
    return attr.st_mode is not None and stat.S_ISDIR(attr.st_mode)


def posix_rename_via_rename(si: SFTPServerInterface, oldpath: str, newpath: str) -> int:
    """posix-rename for an interface that only has SFTP v3 ``rename``
    (which refuses an existing target): the target is moved aside, the
    rename done, then the old target removed; on failure the target is put
    back. A directory replaces only an empty directory, as ``rename(2)``."""
    code = si.rename(oldpath, newpath)
    if code == SFTP_OK:
        return SFTP_OK
    target = si.lstat(newpath)
    if not isinstance(target, SFTPAttributes):
        return code  # nothing in the way: rename's own answer stands
    source = si.lstat(oldpath)
    if not isinstance(source, SFTPAttributes):
        return source if isinstance(source, int) else SFTP_NO_SUCH_FILE
    if _is_dir(source) != _is_dir(target):
        return SFTP_FAILURE
    if _is_dir(target):
        code = si.rmdir(newpath)  # refused unless empty
        if code != SFTP_OK:
            return code
        code = si.rename(oldpath, newpath)
        if code != SFTP_OK:
            again = SFTPAttributes()
            again.st_mode = target.st_mode
            si.mkdir(newpath, again)
        return code
    head, tail = posixpath.split(newpath)
    aside = posixpath.join(head, f".{tail}.sftp-replaced-{secrets.token_hex(6)}")
    code = si.rename(newpath, aside)
    if code != SFTP_OK:
        return code
    code = si.rename(oldpath, newpath)
    if code != SFTP_OK:
        si.rename(aside, newpath)
        return code
    if si.remove(aside) != SFTP_OK:
        _log.warning("sftp: posix-rename left the replaced file at %s", aside)
    return SFTP_OK


def expand_path(si: SFTPServerInterface, path: str) -> str | int:
    """expand-path@openssh.com: "~" and "~/..." start at the session's
    start directory (as sftp-server's do), "~user/..." at that user's home
    directory; the result is canonicalized like REALPATH."""
    if path in ("", "~"):
        path = "."
    elif path.startswith("~/"):
        path = path[2:] or "."
    elif path.startswith("~"):
        user, _, rest = path[1:].partition("/")
        home = si.home_directory(user)
        if isinstance(home, bytes):
            home = path_str(home)
        if not isinstance(home, str):
            return SFTP_NO_SUCH_FILE
        path = posixpath.join(home, rest) if rest else home
    return si.canonicalize(path)


class ExtensionRequests:
    """SSH_FXP_EXTENDED, answered by ``SFTPServer`` (this class is one of
    its bases, so the handlers share its reply methods and tables)."""

    if TYPE_CHECKING:
        server: SFTPServerInterface
        logger: logging.Logger
        MAX_READ: int
        MAX_WRITE: int
        MAX_PACKET: int
        MAX_HANDLES: int

        def _send_status(self, num: int, code: object, desc: str | None = None) -> None: ...
        def _send_reply(self, num: int, t: int, payload: bytes) -> None: ...
        def _send_one_name(self, num: int, result: Any) -> None: ...
        def _file(self, name: bytes) -> SFTPHandle | None: ...
        def _file_path(self, name: bytes) -> str | None: ...
        def _refused(self, num: int, extension: str) -> bool: ...

    def _extended(self, num: int, msg: Message) -> None:
        """Dispatch on the extension name."""
        name = msg.get_text()
        handler = _HANDLERS.get(name)
        if handler is None:
            self._send_status(num, SFTP_OP_UNSUPPORTED, f"Unsupported extension {name}")
            return
        if self._refused(num, name):
            return
        handler(self, num, msg, name)

    # -- paths ------------------------------------------------------------------------

    def _ext_posix_rename(self, num: int, msg: Message, name: str) -> None:
        old, new = path_str(msg.get_string()), path_str(msg.get_string())
        if _overrides(self.server, "posix_rename"):
            self._send_status(num, self.server.posix_rename(old, new))
        else:
            self._send_status(num, posix_rename_via_rename(self.server, old, new))

    def _ext_hardlink(self, num: int, msg: Message, name: str) -> None:
        old, new = path_str(msg.get_string()), path_str(msg.get_string())
        self._send_status(num, self.server.hardlink(old, new))

    def _ext_lsetstat(self, num: int, msg: Message, name: str) -> None:
        path = path_str(msg.get_string())
        attr = SFTPAttributes._from_msg(msg)
        if attr.st_size is not None:
            # a size makes no sense for a link (sftp-server refuses it too)
            self._send_status(num, SFTP_BAD_MESSAGE, "size not allowed in lsetstat")
            return
        if _overrides(self.server, "lsetstat"):
            self._send_status(num, self.server.lsetstat(path, attr))
            return
        current = self.server.lstat(path)
        if not isinstance(current, SFTPAttributes):
            self._send_status(num, current)
        elif current.st_mode is not None and stat.S_ISLNK(current.st_mode):
            self._send_status(num, SFTP_FAILURE, "the server cannot change a link itself")
        else:
            self._send_status(num, self.server.chattr(path, attr))

    def _ext_expand_path(self, num: int, msg: Message, name: str) -> None:
        self._send_one_name(num, expand_path(self.server, path_str(msg.get_string())))

    def _ext_home_directory(self, num: int, msg: Message, name: str) -> None:
        self._send_one_name(num, self.server.home_directory(msg.get_text()))

    def _ext_users_groups(self, num: int, msg: Message, name: str) -> None:
        raw_uids, raw_gids = msg.get_string(), msg.get_string()
        if len(raw_uids) % 4 or len(raw_gids) % 4:
            raise ProtocolError("id lists are not whole uint32 values")
        uids = list(struct.unpack(f">{len(raw_uids) // 4}I", raw_uids))
        gids = list(struct.unpack(f">{len(raw_gids) // 4}I", raw_gids))
        result = self.server.users_groups_by_id(uids, gids)
        if not isinstance(result, tuple):
            self._send_status(num, result)
            return
        users, groups = result
        if len(users) != len(uids) or len(groups) != len(gids):
            self._send_status(num, SFTP_FAILURE, "names do not match the ids asked for")
            return
        payload = ssh_string(b"".join(map(ssh_string, users))) + ssh_string(b"".join(map(ssh_string, groups)))
        self._send_reply(num, CMD_EXTENDED_REPLY, payload)

    # -- file systems -----------------------------------------------------------------

    def _ext_statvfs(self, num: int, msg: Message, name: str) -> None:
        self._send_statvfs(num, self.server.statvfs(path_str(msg.get_string())))

    def _ext_fstatvfs(self, num: int, msg: Message, name: str) -> None:
        hname = msg.get_string()
        handle = self._file(hname)
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        result = handle.statvfs()
        path = self._file_path(hname)
        if result == SFTP_OP_UNSUPPORTED and path is not None and _overrides(self.server, "statvfs"):
            result = self.server.statvfs(path)
        self._send_statvfs(num, result)

    def _send_statvfs(self, num: int, result: SFTPStatVFS | int) -> None:
        """The statvfs extended reply, or the error code."""
        if isinstance(result, SFTPStatVFS):
            self._send_reply(num, CMD_EXTENDED_REPLY, result.asbytes())
        else:
            self._send_status(num, result)

    def _ext_limits(self, num: int, msg: Message, name: str) -> None:
        limits = SFTPLimits(self.MAX_PACKET, self.MAX_READ, self.MAX_WRITE, self.MAX_HANDLES)
        self._send_reply(num, CMD_EXTENDED_REPLY, limits.asbytes())

    # -- open files -------------------------------------------------------------------

    def _ext_fsync(self, num: int, msg: Message, name: str) -> None:
        handle = self._file(msg.get_string())
        if handle is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
        else:
            self._send_status(num, handle.fsync())

    def _ext_copy_data(self, num: int, msg: Message, name: str) -> None:
        """copy-data: read-handle, offset, length (0: to the end), write-handle,
        offset; copied here, the data never crosses the wire."""
        src_name = msg.get_string()
        offset = msg.get_int64()
        length = msg.get_int64()
        dst_name = msg.get_string()
        dst_offset = msg.get_int64()
        src, dst = self._file(src_name), self._file(dst_name)
        if src is None or dst is None:
            self._send_status(num, SFTP_FAILURE, "Invalid handle")
            return
        if src_name == dst_name or self._file_path(src_name) == self._file_path(dst_name):
            self._send_status(num, SFTP_FAILURE, "copy-data needs two different files")
            return
        until_eof = length == 0
        while until_eof or length > 0:
            want = self.MAX_READ if until_eof else min(self.MAX_READ, length)
            data = src.read(offset, want)
            if isinstance(data, str):
                data = data.encode("utf-8")
            if not isinstance(data, (bytes, bytearray, memoryview)):
                self._send_status(num, data)
                return
            if not data:
                break
            code = dst.write(dst_offset, bytes(data))
            if code != SFTP_OK:
                self._send_status(num, code)
                return
            offset += len(data)
            dst_offset += len(data)
            if not until_eof:
                length -= len(data)
        self._send_status(num, SFTP_OK)

    def _ext_check_file(self, num: int, msg: Message, name: str) -> None:
        """check-file-handle / check-file-name: hash a range of a file."""
        opened: SFTPHandle | None = None
        handle: SFTPHandle | None
        if name == EXT_CHECK_FILE_NAME:
            path = path_str(msg.get_string())
            algs = msg.get_text().split(",")
            opened_or_err = self.server.open(path, os.O_RDONLY, SFTPAttributes())
            if not isinstance(opened_or_err, SFTPHandle):
                self._send_status(num, opened_or_err)
                return
            handle = opened = opened_or_err
        else:
            handle = self._file(msg.get_string())
            algs = msg.get_text().split(",")
        start = msg.get_int64()
        length = msg.get_int64()
        block_size = msg.get_int()
        try:
            if handle is None:
                self._send_status(num, SFTP_FAILURE, "Invalid handle")
                return
            self._send_check(num, handle, algs, start, length, block_size)
        finally:
            if opened is not None:
                opened.close()

    def _send_check(
        self, num: int, handle: SFTPHandle, algs: list[str], start: int, length: int, block_size: int
    ) -> None:
        """Compute and send the check-file reply."""
        alg = next((a for a in algs if a in CHECK_ALGORITHMS), None)
        if alg is None:
            self._send_status(num, SFTP_FAILURE, "No supported hash algorithm")
            return
        if block_size and block_size < 256:
            self._send_status(num, SFTP_FAILURE, "Block size too small")
            return
        if length == 0:
            st = handle.stat()
            if not isinstance(st, SFTPAttributes):
                self._send_status(num, st)
                return
            length = max(0, (st.st_size or 0) - start)
        if block_size == 0:
            block_size = length or 1
        if length // block_size > 65536:
            self._send_status(num, SFTP_FAILURE, "Too many blocks")
            return
        out = []
        pos, end = start, start + length
        while pos < end:
            block_end = min(end, pos + block_size)
            h = hashlib.new(alg)
            while pos < block_end:
                data = handle.read(pos, min(self.MAX_READ, block_end - pos))
                if isinstance(data, str):
                    data = data.encode("utf-8")
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    self._send_status(num, data)
                    return
                if not data:
                    pos = end
                    break
                h.update(data)
                pos += len(data)
            out.append(h.digest())
        if not out:
            out.append(hashlib.new(alg).digest())
        self._send_reply(num, CMD_EXTENDED_REPLY, ssh_string("check-file") + ssh_string(alg) + b"".join(out))


_HANDLERS = {
    EXT_POSIX_RENAME: ExtensionRequests._ext_posix_rename,
    EXT_HARDLINK: ExtensionRequests._ext_hardlink,
    EXT_LSETSTAT: ExtensionRequests._ext_lsetstat,
    EXT_EXPAND_PATH: ExtensionRequests._ext_expand_path,
    EXT_HOME_DIRECTORY: ExtensionRequests._ext_home_directory,
    EXT_USERS_GROUPS_BY_ID: ExtensionRequests._ext_users_groups,
    EXT_STATVFS: ExtensionRequests._ext_statvfs,
    EXT_FSTATVFS: ExtensionRequests._ext_fstatvfs,
    EXT_LIMITS: ExtensionRequests._ext_limits,
    EXT_FSYNC: ExtensionRequests._ext_fsync,
    EXT_COPY_DATA: ExtensionRequests._ext_copy_data,
    EXT_CHECK_FILE: ExtensionRequests._ext_check_file,
    EXT_CHECK_FILE_HANDLE: ExtensionRequests._ext_check_file,
    EXT_CHECK_FILE_NAME: ExtensionRequests._ext_check_file,
}
