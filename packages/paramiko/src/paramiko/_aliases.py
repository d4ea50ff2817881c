"""Register the layers' real modules under paramiko's documented submodule paths.

``paramiko.channel`` *is* ``ssh_transport.channel`` (the same module object in
``sys.modules``), so ``mock.patch("paramiko.channel.time")`` patches the code
that runs, and nothing is defined twice.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

# documented path under paramiko -> the layer module that defines it
MODULES: dict[str, str] = {
    "message": "ssh_wire.message",
    "ssh_exception": "ssh_wire.exceptions",
    "pkey": "ssh_keys.pkey",
    "rsakey": "ssh_keys.rsakey",
    "dsskey": "ssh_keys.dsskey",
    "ecdsakey": "ssh_keys.ecdsakey",
    "ed25519key": "ssh_keys.ed25519key",
    "hostkeys": "ssh_keys.hostkeys",
    "common": "ssh_transport.common",
    "transport": "ssh_transport.transport",
    "channel": "ssh_transport.channel",
    "pipe": "ssh_transport.pipe",
    "buffered_pipe": "ssh_transport.buffered_pipe",
    "file": "ssh_transport.file",
    "packet": "ssh_transport.packetizer",
    "server": "ssh_transport.server",
    "config": "ssh_transport.config",
    "proxy": "ssh_transport.proxy",
    "sftp": "ssh_sftp.sftp",
    "sftp_client": "ssh_sftp.client",
    "sftp_file": "ssh_sftp.file",
    "sftp_attr": "ssh_sftp.attributes",
    "sftp_server": "ssh_sftp.server",
    "sftp_si": "ssh_sftp.interface",
    "sftp_handle": "ssh_sftp.handle",
    "agent": "ssh_agent.agent",
    "auth_strategy": "ssh_transport.auth_strategy",
    "auth_handler": "ssh_transport.auth_handler",
    "client": "paramiko.client",
}


def register(package: ModuleType) -> None:
    """Import each layer module and publish it as ``paramiko.<name>``."""
    for alias, target in MODULES.items():
        module = importlib.import_module(target)
        sys.modules[f"{package.__name__}.{alias}"] = module
        setattr(package, alias, module)
