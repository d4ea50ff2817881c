"""Serve a local directory over SFTP on stdin/stdout.

``python -m ssh_sftp.stdio_server --root DIR`` speaks SFTP v3 on its standard
streams, like OpenSSH's ``sftp-server``; ``sftp -D`` (through a small wrapper
script) or ``SFTPClient`` over pipes can talk to it. Handy for debugging the
server without SSH.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ssh_transport.server import ServerInterface

from .local import LocalSFTPServerInterface
from .server import SFTPServer
from .streams import PipeStream

__all__ = ["main", "serve"]


def serve(root: str, read_fd: int = 0, write_fd: int = 1) -> None:
    """Serve ``root`` on the given descriptors until the client goes away."""
    stream = PipeStream(read_fd, write_fd)
    server = SFTPServer(stream, "sftp", ServerInterface(), LocalSFTPServerInterface, root=root)
    try:
        server.start_subsystem("sftp", None, stream)
    finally:
        server.finish_subsystem()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ssh_sftp.stdio_server", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.getcwd(), help="directory to serve as / (default: the current one)")
    parser.add_argument("-l", "--log-level", default="WARNING", help="log level (DEBUG, INFO, ...), to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    # Nothing but SFTP may reach stdout.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    serve(args.root, 0, out_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
