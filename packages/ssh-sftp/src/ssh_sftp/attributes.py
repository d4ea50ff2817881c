"""``SFTPAttributes``: the attributes of a file as SFTP v3 carries them, with
the fields of ``os.stat`` results and an ``ls -l`` rendering."""

from __future__ import annotations

import stat
import time
from typing import Any

from ssh_wire import Message, ProtocolError

__all__ = ["SFTPAttributes"]


class SFTPAttributes:
    """File attributes (size, owner, permissions, times and extended pairs).

    Fields that were not sent are ``None``. ``filename`` and ``longname`` are
    filled in by directory listings; ``filename`` is "" until something sets
    it, and ``str()`` then shows "?" for the name, as paramiko does.
    """

    FLAG_SIZE = 1
    FLAG_UIDGID = 2
    FLAG_PERMISSIONS = 4
    FLAG_AMTIME = 8
    FLAG_EXTENDED = 0x80000000

    def __init__(self) -> None:
        """An empty set of attributes (no field present)."""
        self._flags = 0
        self.st_size: int | None = None
        self.st_uid: int | None = None
        self.st_gid: int | None = None
        self.st_mode: int | None = None
        self.st_atime: int | float | None = None
        self.st_mtime: int | float | None = None
        self.attr: dict[str, bytes] = {}
        self.filename: str = ""
        self.longname: str | None = None

    @classmethod
    def from_stat(cls, obj: Any, filename: str | None = None) -> SFTPAttributes:
        """Attributes copied from an ``os.stat`` result (``filename`` optional)."""
        attr = cls()
        attr.st_size = obj.st_size
        attr.st_uid = obj.st_uid
        attr.st_gid = obj.st_gid
        attr.st_mode = obj.st_mode
        attr.st_atime = obj.st_atime
        attr.st_mtime = obj.st_mtime
        if filename is not None:
            attr.filename = filename
        return attr

    def __repr__(self) -> str:
        """Short debug form: the filename and the ``ls -l`` style summary."""
        return f"<SFTPAttributes: {self._debug_str()}>"

    def _debug_str(self) -> str:
        """Key fields as ``name=value`` pairs."""
        parts = []
        for name in ("st_size", "st_uid", "st_gid", "st_mode", "st_atime", "st_mtime"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={oct(value) if name == 'st_mode' else value}")
        if self.attr:
            parts.append(f"attr={self.attr!r}")
        return "[ " + " ".join(parts) + " ]"

    # -- wire format ---------------------------------------------------------

    @classmethod
    def _from_msg(cls, msg: Message, filename: str | None = None, longname: str | None = None) -> SFTPAttributes:
        """Parse the ATTRS structure at the read position of ``msg``."""
        attr = cls()
        attr._unpack(msg)
        if filename is not None:
            attr.filename = filename
        if longname is not None:
            attr.longname = longname
        return attr

    def _unpack(self, msg: Message) -> None:
        """Read the flags word and the fields it announces."""
        flags = msg.get_int()
        self._flags = flags
        if flags & self.FLAG_SIZE:
            self.st_size = msg.get_int64()
        if flags & self.FLAG_UIDGID:
            self.st_uid = msg.get_int()
            self.st_gid = msg.get_int()
        if flags & self.FLAG_PERMISSIONS:
            self.st_mode = msg.get_int()
        if flags & self.FLAG_AMTIME:
            self.st_atime = msg.get_int()
            self.st_mtime = msg.get_int()
        if flags & self.FLAG_EXTENDED:
            count = msg.get_int()
            if count > 4096:
                raise ProtocolError(f"too many extended attributes ({count})")
            for _ in range(count):
                key = msg.get_text()
                self.attr[key] = msg.get_string()

    def _pack(self, msg: Message) -> None:
        """Append the ATTRS structure for the fields that are set."""
        flags = 0
        if self.st_size is not None:
            flags |= self.FLAG_SIZE
        if self.st_uid is not None and self.st_gid is not None:
            flags |= self.FLAG_UIDGID
        if self.st_mode is not None:
            flags |= self.FLAG_PERMISSIONS
        if self.st_atime is not None and self.st_mtime is not None:
            flags |= self.FLAG_AMTIME
        if self.attr:
            flags |= self.FLAG_EXTENDED
        msg.add_int(flags)
        if flags & self.FLAG_SIZE:
            msg.add_int64(int(self.st_size or 0))
        if flags & self.FLAG_UIDGID:
            msg.add_int(int(self.st_uid or 0) & 0xFFFFFFFF)
            msg.add_int(int(self.st_gid or 0) & 0xFFFFFFFF)
        if flags & self.FLAG_PERMISSIONS:
            msg.add_int(int(self.st_mode or 0) & 0xFFFFFFFF)
        if flags & self.FLAG_AMTIME:
            # SFTP v3 times are uint32 seconds: truncate fractions
            msg.add_int(int(self.st_atime or 0) & 0xFFFFFFFF)
            msg.add_int(int(self.st_mtime or 0) & 0xFFFFFFFF)
        if flags & self.FLAG_EXTENDED:
            msg.add_int(len(self.attr))
            for key, val in self.attr.items():
                msg.add_string(key)
                msg.add_string(val)

    def asbytes(self) -> bytes:
        """The ATTRS wire encoding of these attributes."""
        msg = Message()
        self._pack(msg)
        return msg.asbytes()

    # -- ls -l -------------------------------------------------------------------

    @staticmethod
    def _rwx(n: int, suid: int, sticky: bool = False) -> str:
        """Three ``rwx`` characters for permission bits ``n`` (0-7)."""
        if suid:
            suid = 2
        out = "r" if n & 4 else "-"
        out += "w" if n & 2 else "-"
        if sticky:
            out += "-xTt"[suid + (n & 1)]
        else:
            out += "-xSs"[suid + (n & 1)]
        return out

    def __str__(self) -> str:
        """An ``ls -l`` line: mode, links, owner, group, size, date, name."""
        if self.st_mode is not None:
            kind = stat.S_IFMT(self.st_mode)
            ks = {
                stat.S_IFIFO: "p",
                stat.S_IFCHR: "c",
                stat.S_IFDIR: "d",
                stat.S_IFBLK: "b",
                stat.S_IFREG: "-",
                stat.S_IFLNK: "l",
                stat.S_IFSOCK: "s",
            }.get(kind, "?")
            mode = self.st_mode
            ks += self._rwx((mode & 0o700) >> 6, mode & stat.S_ISUID)
            ks += self._rwx((mode & 0o070) >> 3, mode & stat.S_ISGID)
            ks += self._rwx(mode & 0o007, mode & stat.S_ISVTX, True)
        else:
            ks = "?---------"
        if self.st_mtime is None or self.st_mtime == 0xFFFFFFFF:
            # not sent, or the all-ones "no time" some servers send
            datestr = "(unknown date)"
        else:
            when = time.localtime(self.st_mtime)
            if abs(time.time() - self.st_mtime) > 15_552_000:  # older than ~6 months
                datestr = time.strftime("%d %b %Y", when)
            else:
                datestr = time.strftime("%d %b %H:%M", when)
        uid = int(self.st_uid) if self.st_uid is not None else 0
        gid = int(self.st_gid) if self.st_gid is not None else 0
        size = int(self.st_size) if self.st_size is not None else 0
        name = self.filename or "?"
        return f"{ks}   1 {uid:<8d} {gid:<8d} {size:>8d} {datestr:<12} {name}"

    def asdict(self) -> dict[str, Any]:
        """The stat fields as a dict (handy for comparisons in tests)."""
        return {
            name: getattr(self, name) for name in ("st_size", "st_uid", "st_gid", "st_mode", "st_atime", "st_mtime")
        }
