"""The client's SFTP operations written once, without I/O.

Each function builds one request (a ``Call``: packet type, body parts, and
how to read the reply). The threaded ``SFTPClient`` and the asyncio one only
send it and hand the reply to ``Call.parse``, so the two clients share every
request layout, reply check and error, and differ only in how they wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ssh_wire import Message, ProtocolError

from .attributes import SFTPAttributes
from .errors import SFTPError, status_to_exception
from .limits import SFTPLimits
from .sftp import (
    CMD_ATTRS,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_LSTAT,
    CMD_MKDIR,
    CMD_NAME,
    CMD_NAMES,
    CMD_OPEN,
    CMD_OPENDIR,
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
    EXT_COPY_DATA,
    EXT_EXPAND_PATH,
    EXT_HARDLINK,
    EXT_HOME_DIRECTORY,
    EXT_LIMITS,
    EXT_LSETSTAT,
    EXT_POSIX_RENAME,
    EXT_STATVFS,
    EXT_USERS_GROUPS_BY_ID,
    MAX_REQUEST_SIZE,
    SFTP_FLAG_APPEND,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_READ,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
    SFTP_OK,
    U32,
    U64,
    path_str,
    ssh_string,
)
from .statvfs import SFTPStatVFS

__all__ = [
    "Call",
    "DEFAULT_REQUEST_SIZE",
    "RequestSizes",
    "check_status",
    "copy_data",
    "expand_path",
    "expect_reply",
    "hardlink",
    "home_directory",
    "join_cwd",
    "limits",
    "lsetstat",
    "lstat",
    "mkdir",
    "mode_attr",
    "open_file",
    "open_flags",
    "opendir",
    "owner_attr",
    "parse_names",
    "parse_status",
    "parse_version",
    "posix_rename",
    "readlink",
    "realpath",
    "remove",
    "rename",
    "request_sizes",
    "rmdir",
    "setstat",
    "size_attr",
    "stat",
    "statvfs",
    "symlink",
    "times_attr",
    "users_groups_by_id",
]

_T = TypeVar("_T")

#: Without limits@openssh.com, every server accepts 32 KiB reads and writes.
DEFAULT_REQUEST_SIZE = 32768


@dataclass(frozen=True)
class Call(Generic[_T]):
    """One request: its packet type, its body (parts sent joined), and how
    to turn the reply (type, strict Message) into the result or raise."""

    type: int
    parts: tuple[bytes, ...]
    parse: Callable[[int, Message], _T]


# -- replies ---------------------------------------------------------------------


def parse_status(msg: Message) -> tuple[int, str]:
    """(code, message) of a STATUS body (the text is optional, as some
    servers omit it)."""
    code = msg.get_int()
    text = ""
    if msg.remaining() >= 4:
        text = msg.get_string().decode("utf-8", "replace")
    return code, text


def check_status(t: int, msg: Message, filename: str | None = None) -> None:
    """Return if ``msg`` is an SSH_FX_OK status; otherwise raise the
    exception its status code maps to (an unexpected type is an
    ``SFTPError``)."""
    if t != CMD_STATUS:
        raise SFTPError(f"Expected status, got {CMD_NAMES.get(t, t)}")
    code, text = parse_status(msg)
    if code == SFTP_OK:
        return
    raise status_to_exception(code, text, filename)


def expect_reply(t: int, msg: Message, want: int, filename: str | None = None) -> Message:
    """``msg`` if it is of type ``want``; a status raises its exception."""
    if t == want:
        return msg
    if t == CMD_STATUS:
        check_status(t, msg, filename)
    raise SFTPError(f"Expected {CMD_NAMES.get(want, want)}, got {CMD_NAMES.get(t, t)}")


# -- the session -----------------------------------------------------------------


def parse_version(t: int, body: bytes) -> tuple[int, dict[str, bytes]]:
    """The server's version and extension pairs from its VERSION packet;
    ``SFTPError`` if it is not one, or not version 3 or later."""
    if t != CMD_VERSION:
        raise SFTPError(f"Incompatible sftp protocol (got {CMD_NAMES.get(t, t)} instead of version)")
    msg = Message(body, strict=True)
    try:
        version = msg.get_int()
        extensions: dict[str, bytes] = {}
        while msg.remaining():
            name = msg.get_text()
            extensions[name] = msg.get_string()
    except ProtocolError as exc:
        raise SFTPError(f"Malformed version packet: {exc}") from None
    if version < 3:
        raise SFTPError(f"Incompatible sftp protocol version {version}")
    return version, extensions


@dataclass(frozen=True)
class RequestSizes:
    """How large READ and WRITE requests may be, and how many handles the
    server lets us hold (None: no limit said)."""

    max_read: int = DEFAULT_REQUEST_SIZE
    max_write: int = DEFAULT_REQUEST_SIZE
    max_handles: int | None = None
    announced: bool = False


def request_sizes() -> Call[RequestSizes]:
    """Ask limits@openssh.com for the sizes to use; a server that refuses
    leaves the defaults (an error status other than that raises)."""
    return Call(CMD_EXTENDED, (ssh_string(EXT_LIMITS),), _parse_sizes)


def _parse_sizes(t: int, msg: Message) -> RequestSizes:
    if t != CMD_EXTENDED_REPLY:
        check_status(t, msg)
        return RequestSizes()
    max_packet, max_read, max_write, handles = (msg.get_int64() for _ in range(4))
    read = max(1024, min(max_read, MAX_REQUEST_SIZE)) if max_read else DEFAULT_REQUEST_SIZE
    write = max(1024, min(max_write, MAX_REQUEST_SIZE)) if max_write else DEFAULT_REQUEST_SIZE
    if max_packet:
        cap = max(1024, max_packet - 1024)
        read, write = min(read, cap), min(write, cap)
    return RequestSizes(read, write, handles or None, bool(max_read or max_write or max_packet))


def join_cwd(cwd: str | None, path: str | bytes) -> str:
    """``path`` as sent to the server: joined with the emulated working
    directory ``cwd`` unless absolute (SFTP itself has none)."""
    p = path_str(path) if isinstance(path, bytes) else path
    if cwd is None or p.startswith("/"):
        return p
    if cwd == "/":
        return "/" + p
    return cwd + "/" + p


# -- reply readers -----------------------------------------------------------------


def _status(filename: str | None) -> Callable[[int, Message], None]:
    def parse(t: int, msg: Message) -> None:
        check_status(t, msg, filename)

    return parse


def _attrs(filename: str) -> Callable[[int, Message], SFTPAttributes]:
    def parse(t: int, msg: Message) -> SFTPAttributes:
        return SFTPAttributes._from_msg(expect_reply(t, msg, CMD_ATTRS, filename))

    return parse


def _handle(filename: str) -> Callable[[int, Message], bytes]:
    def parse(t: int, msg: Message) -> bytes:
        return expect_reply(t, msg, CMD_HANDLE, filename).get_string()

    return parse


def _one_name(filename: str, what: str = "expected exactly one name in the reply") -> Callable[[int, Message], str]:
    def parse(t: int, msg: Message) -> str:
        msg = expect_reply(t, msg, CMD_NAME, filename)
        if msg.get_int() != 1:
            raise SFTPError(what)
        return path_str(msg.get_string())

    return parse


def parse_names(msg: Message) -> list[SFTPAttributes]:
    """The entries of a NAME reply, each as ``SFTPAttributes``."""
    count = msg.get_int()
    if count > msg.remaining() // 12 + 1:
        raise SFTPError(f"NAME reply claims {count} entries")
    out = []
    for _ in range(count):
        filename = path_str(msg.get_string())
        longname = path_str(msg.get_string())
        out.append(SFTPAttributes._from_msg(msg, filename, longname))
    return out


def _names_in(blob: bytes, count: int) -> list[str]:
    """``count`` SSH strings packed in ``blob``, as text."""
    msg = Message(blob, strict=True)
    names = [msg.get_string().decode("utf-8", "replace") for _ in range(count)]
    if msg.remaining():
        raise SFTPError("users-groups-by-id reply has more names than asked for")
    return names


# -- requests on paths -------------------------------------------------------------


def realpath(p: str) -> Call[str]:
    """The server's canonical absolute form of ``p``."""
    return Call(CMD_REALPATH, (ssh_string(p),), _one_name(p, "Realpath returned more than one result"))


def stat(p: str) -> Call[SFTPAttributes]:
    """STAT: the attributes of ``p``, following links."""
    return Call(CMD_STAT, (ssh_string(p),), _attrs(p))


def lstat(p: str) -> Call[SFTPAttributes]:
    """LSTAT: the attributes of ``p`` itself."""
    return Call(CMD_LSTAT, (ssh_string(p),), _attrs(p))


def setstat(p: str, attr: SFTPAttributes) -> Call[None]:
    """SETSTAT ``p`` to the fields of ``attr`` that are set."""
    return Call(CMD_SETSTAT, (ssh_string(p), attr.asbytes()), _status(p))


def mode_attr(mode: int) -> SFTPAttributes:
    """Attributes that set only the permission bits."""
    attr = SFTPAttributes()
    attr.st_mode = mode
    return attr


def owner_attr(uid: int, gid: int) -> SFTPAttributes:
    """Attributes that set only the owner and group."""
    attr = SFTPAttributes()
    attr.st_uid, attr.st_gid = uid, gid
    return attr


def times_attr(times: tuple[float, float] | None) -> SFTPAttributes:
    """Attributes that set only (atime, mtime); None: now."""
    if times is None:
        now = time.time()
        times = (now, now)
    attr = SFTPAttributes()
    attr.st_atime, attr.st_mtime = times
    return attr


def size_attr(size: int) -> SFTPAttributes:
    """Attributes that set only the size."""
    attr = SFTPAttributes()
    attr.st_size = size
    return attr


def mkdir(p: str, mode: int) -> Call[None]:
    """MKDIR ``p`` with permission bits ``mode``."""
    return Call(CMD_MKDIR, (ssh_string(p), mode_attr(mode).asbytes()), _status(p))


def rmdir(p: str) -> Call[None]:
    """RMDIR ``p``."""
    return Call(CMD_RMDIR, (ssh_string(p),), _status(p))


def remove(p: str) -> Call[None]:
    """REMOVE file ``p``."""
    return Call(CMD_REMOVE, (ssh_string(p),), _status(p))


def rename(old: str, new: str) -> Call[None]:
    """RENAME (SFTP v3: most servers refuse an existing ``new``)."""
    return Call(CMD_RENAME, (ssh_string(old), ssh_string(new)), _status(old))


def posix_rename(old: str, new: str) -> Call[None]:
    """posix-rename@openssh.com: replaces ``new``."""
    return Call(CMD_EXTENDED, (ssh_string(EXT_POSIX_RENAME), ssh_string(old), ssh_string(new)), _status(old))


def hardlink(old: str, new: str) -> Call[None]:
    """hardlink@openssh.com: ``new`` becomes a hard link to ``old``."""
    return Call(CMD_EXTENDED, (ssh_string(EXT_HARDLINK), ssh_string(old), ssh_string(new)), _status(new))


def symlink(target: str, link: str) -> Call[None]:
    """SYMLINK ``link`` -> ``target`` (OpenSSH, and so everyone, sends the
    target first, against the draft's order)."""
    return Call(CMD_SYMLINK, (ssh_string(target), ssh_string(link)), _status(link))


def readlink(p: str) -> Call[str | None]:
    """READLINK: the target of link ``p`` (None if the server names none)."""

    def parse(t: int, msg: Message) -> str | None:
        msg = expect_reply(t, msg, CMD_NAME, p)
        count = msg.get_int()
        if count == 0:
            return None
        if count != 1:
            raise SFTPError(f"Readlink returned {count} results")
        return path_str(msg.get_string())

    return Call(CMD_READLINK, (ssh_string(p),), parse)


def open_flags(mode: str) -> int:
    """SFTP open flags for a Python ``open`` mode ('r', 'w', 'a', 'x', '+');
    ``ValueError`` for a mode that neither reads nor writes."""
    pflags = 0
    if "r" in mode or "+" in mode:
        pflags |= SFTP_FLAG_READ
    if "w" in mode or "+" in mode or "a" in mode or "x" in mode:
        pflags |= SFTP_FLAG_WRITE
    if "w" in mode:
        pflags |= SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC
    if "a" in mode:
        pflags |= SFTP_FLAG_CREATE | SFTP_FLAG_APPEND
    if "x" in mode:
        pflags |= SFTP_FLAG_CREATE | SFTP_FLAG_EXCL
    if not pflags & (SFTP_FLAG_READ | SFTP_FLAG_WRITE):
        raise ValueError(f"invalid mode {mode!r}")
    return pflags


def open_file(p: str, mode: str) -> Call[bytes]:
    """OPEN ``p`` for Python ``open`` mode ``mode``: the handle."""
    return Call(CMD_OPEN, (ssh_string(p), U32.pack(open_flags(mode)), SFTPAttributes().asbytes()), _handle(p))


def opendir(p: str) -> Call[bytes]:
    """OPENDIR ``p``: the handle."""
    return Call(CMD_OPENDIR, (ssh_string(p),), _handle(p))


# -- OpenSSH extensions --------------------------------------------------------------


def statvfs(p: str) -> Call[SFTPStatVFS]:
    """statvfs@openssh.com for ``p``."""

    def parse(t: int, msg: Message) -> SFTPStatVFS:
        return SFTPStatVFS._from_msg(expect_reply(t, msg, CMD_EXTENDED_REPLY, p))

    return Call(CMD_EXTENDED, (ssh_string(EXT_STATVFS), ssh_string(p)), parse)


def limits() -> Call[SFTPLimits]:
    """limits@openssh.com, as the server states them."""

    def parse(t: int, msg: Message) -> SFTPLimits:
        return SFTPLimits._from_msg(expect_reply(t, msg, CMD_EXTENDED_REPLY))

    return Call(CMD_EXTENDED, (ssh_string(EXT_LIMITS),), parse)


def lsetstat(p: str, attr: SFTPAttributes) -> Call[None]:
    """lsetstat@openssh.com: SETSTAT without following a link."""
    return Call(CMD_EXTENDED, (ssh_string(EXT_LSETSTAT), ssh_string(p), attr.asbytes()), _status(p))


def expand_path(p: str) -> Call[str]:
    """expand-path@openssh.com: ``p`` absolute, "~" expanded."""
    return Call(CMD_EXTENDED, (ssh_string(EXT_EXPAND_PATH), ssh_string(p)), _one_name(p))


def home_directory(username: str) -> Call[str]:
    """home-directory: ``username``'s home ("" for the user logged in)."""
    return Call(CMD_EXTENDED, (ssh_string(EXT_HOME_DIRECTORY), ssh_string(username)), _one_name(username))


def users_groups_by_id(uids: Iterable[int], gids: Iterable[int]) -> Call[tuple[list[str], list[str]]]:
    """users-groups-by-id@openssh.com: names for ``uids`` and ``gids``, in order."""
    uid_list, gid_list = list(uids), list(gids)
    packed_uids = b"".join(U32.pack(u) for u in uid_list)
    packed_gids = b"".join(U32.pack(g) for g in gid_list)

    def parse(t: int, msg: Message) -> tuple[list[str], list[str]]:
        msg = expect_reply(t, msg, CMD_EXTENDED_REPLY)
        users = _names_in(msg.get_string(), len(uid_list))
        groups = _names_in(msg.get_string(), len(gid_list))
        return users, groups

    parts = (ssh_string(EXT_USERS_GROUPS_BY_ID), ssh_string(packed_uids), ssh_string(packed_gids))
    return Call(CMD_EXTENDED, parts, parse)


def copy_data(source: bytes, offset: int, length: int, dest: bytes, dest_offset: int) -> Call[None]:
    """copy-data: the server copies ``length`` bytes (0: to the end) of open
    handle ``source`` from ``offset`` into handle ``dest`` at ``dest_offset``."""
    parts = (
        ssh_string(EXT_COPY_DATA),
        ssh_string(source),
        U64.pack(offset),
        U64.pack(length),
        ssh_string(dest),
        U64.pack(dest_offset),
    )
    return Call(CMD_EXTENDED, parts, _status(None))
