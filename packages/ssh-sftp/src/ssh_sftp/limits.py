"""``SFTPLimits``: the reply of limits@openssh.com."""

from __future__ import annotations

from typing import NamedTuple

from ssh_wire import Message

__all__ = ["SFTPLimits"]


class SFTPLimits(NamedTuple):
    """What a server accepts: the longest packet, READ and WRITE it takes,
    and how many handles may be open (0: not limited / not said)."""

    max_packet_length: int
    max_read_length: int
    max_write_length: int
    max_open_handles: int

    @classmethod
    def _from_msg(cls, msg: Message) -> SFTPLimits:
        """Parse the four uint64 fields of the extended reply."""
        return cls(*(msg.get_int64() for _ in range(4)))

    def asbytes(self) -> bytes:
        """The wire form: four uint64 values."""
        msg = Message()
        for value in self:
            msg.add_int64(value)
        return msg.asbytes()
