"""An exec + SFTP server on AsyncSSH, for bench/server_bench.py.

Written the way an AsyncSSH user would: each exec request runs the command
in an asyncio subprocess whose pipes ``SSHServerProcess.redirect`` connects
to the channel, and ``sftp_factory=True`` serves the local filesystem with
AsyncSSH's own SFTP server. Run it in a venv that has AsyncSSH:

    python asyncssh_server.py HOST_KEY AUTHORIZED_KEYS

It prints ``listening on 127.0.0.1:PORT`` once it accepts connections.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncssh


async def handle(process: asyncssh.SSHServerProcess) -> None:
    """Run the requested command through the user's shell and pass on its exit status."""
    shell = os.environ.get("SHELL") or "/bin/sh"
    proc = await asyncio.create_subprocess_exec(
        shell,
        "-c",
        process.command or "true",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    await process.redirect(stdin=proc.stdin, stdout=proc.stdout, stderr=proc.stderr)
    # drain() waits while a redirect still forwards into the channel
    await process.stdout.drain()
    await process.stderr.drain()
    status = await proc.wait()
    process.exit(status if status >= 0 else 128 - status)


async def main() -> None:
    server = await asyncssh.create_server(
        None,
        "127.0.0.1",
        0,
        server_host_keys=[sys.argv[1]],
        authorized_client_keys=sys.argv[2],
        process_factory=handle,
        encoding=None,
        sftp_factory=True,
        allow_scp=False,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
