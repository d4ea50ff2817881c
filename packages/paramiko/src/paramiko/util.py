"""``paramiko.util``: the documented helper functions, each defined once in its layer.

Wire encoding and logging come from ``ssh_wire``, key derivation and
known_hosts from ``ssh_keys``, ssh_config parsing from ``ssh_transport``.
"""

from __future__ import annotations

from ssh_keys import generate_key_bytes, load_host_keys
from ssh_transport.config import SSHConfig, lookup_ssh_host_config, parse_ssh_config
from ssh_wire import (
    deflate_long,
    format_binary,
    format_binary_line,
    format_binary_weird,
    get_logger,
    hexify,
    inflate_long,
    log_to_file,
    mod_inverse,
    safe_string,
    tb_strings,
    unhexify,
)


def b(s: str | bytes, encoding: str = "utf8") -> bytes:
    """``s`` as bytes (str is encoded), as today's paramiko.util.b."""
    return s.encode(encoding) if isinstance(s, str) else bytes(s)


def u(s: str | bytes, encoding: str = "utf8") -> str:
    """``s`` as str (bytes are decoded), as today's paramiko.util.u."""
    return s.decode(encoding) if isinstance(s, (bytes, bytearray)) else s


__all__ = [
    "SSHConfig",
    "b",
    "deflate_long",
    "format_binary",
    "format_binary_line",
    "format_binary_weird",
    "generate_key_bytes",
    "get_logger",
    "hexify",
    "inflate_long",
    "load_host_keys",
    "log_to_file",
    "lookup_ssh_host_config",
    "mod_inverse",
    "parse_ssh_config",
    "safe_string",
    "tb_strings",
    "u",
    "unhexify",
]
