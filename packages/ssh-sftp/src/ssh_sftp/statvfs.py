"""``SFTPStatVFS``: the reply of statvfs@openssh.com / fstatvfs@openssh.com."""

from __future__ import annotations

from typing import Any, NamedTuple

from ssh_wire import Message

__all__ = ["SFTPStatVFS"]


class SFTPStatVFS(NamedTuple):
    """File-system statistics with the field names of ``os.statvfs`` results."""

    f_bsize: int
    f_frsize: int
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_files: int
    f_ffree: int
    f_favail: int
    f_fsid: int
    f_flag: int
    f_namemax: int

    @classmethod
    def _from_msg(cls, msg: Message) -> SFTPStatVFS:
        """Parse the eleven uint64 fields of the extended reply."""
        return cls(*(msg.get_int64() for _ in range(11)))

    @classmethod
    def from_statvfs(cls, st: Any) -> SFTPStatVFS:
        """Build from an ``os.statvfs`` result."""
        fsid = getattr(st, "f_fsid", 0)
        return cls(
            st.f_bsize,
            st.f_frsize,
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_favail,
            fsid & 0xFFFFFFFFFFFFFFFF,
            st.f_flag & 0xFFFFFFFFFFFFFFFF,
            st.f_namemax,
        )

    def asbytes(self) -> bytes:
        """The wire form: eleven uint64 values."""
        msg = Message()
        for value in self:
            msg.add_int64(value)
        return msg.asbytes()
