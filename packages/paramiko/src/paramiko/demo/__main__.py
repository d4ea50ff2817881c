"""``python -m paramiko.demo``: dispatch to the server, client or loopback demo."""

from __future__ import annotations

import argparse
import sys

from . import client, loopback, server


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one demo."""
    parser = argparse.ArgumentParser(prog="python -m paramiko.demo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    server.add_arguments(sub.add_parser("server", help="run an SSH/SFTP server on 127.0.0.1"))
    client.add_arguments(sub.add_parser("client", help="run a command and move a file over SSH"))
    loopback.add_arguments(sub.add_parser("loopback", help="start a server, connect to it, move 64 MiB each way"))
    args = parser.parse_args(argv)
    runner = {"server": server.run, "client": client.run, "loopback": loopback.run}[args.command]
    return runner(args)


if __name__ == "__main__":
    sys.exit(main())
