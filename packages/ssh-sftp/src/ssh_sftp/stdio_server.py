"""Serve SFTP on stdin/stdout: a drop-in for OpenSSH's ``sftp-server``.

``ssh-sftp-server`` (or ``python -m ssh_sftp.stdio_server``) takes
sftp-server's options with the same meaning, so it can stand in sshd's
``Subsystem sftp`` line or behind ``sftp -D`` / ``scp -D``::

    -d start_directory   where relative paths start, and REALPATH "." (%d home, %u user, %% a '%')
    -e                   log to stderr instead of syslog
    -f log_facility      syslog facility: DAEMON, USER, AUTH (default), LOCAL0..LOCAL7
    -l log_level         QUIET, FATAL, ERROR (default), INFO, VERBOSE, DEBUG, DEBUG1..DEBUG3
    -R                   read-only: requests that write are refused
    -p / -P list         allow only / deny these requests (names as -Q requests prints them)
    -Q requests          print the request names and exit
    -u umask             umask for new files and directories
    -h                   usage

Without ``--root`` it serves the whole file system from the user's home, as
sftp-server does (sshd's ChrootDirectory confines it); ``--root DIR``
serves DIR as "/" and never lets a path out of it, for use without sshd.
"""

from __future__ import annotations

import getopt
import logging
import logging.handlers
import os
import pwd
import sys
from dataclasses import dataclass, field

from ssh_transport.server import ServerInterface

from .local import LocalSFTPServerInterface
from .requests import RequestPolicy, request_names
from .server import SFTPServer
from .streams import PipeStream

__all__ = ["LOG_FACILITIES", "LOG_LEVELS", "Options", "expand_start_directory", "main", "parse_args", "serve"]

PROG = "ssh-sftp-server"
USAGE = (
    f"usage: {PROG} [-ehR] [-d start_directory] [-f log_facility] [-l log_level]\n"
    "\t[-P denied_requests] [-p allowed_requests] [-u umask] [--root DIR]\n"
    f"       {PROG} -Q protocol_feature\n"
)

# sftp-server's level names, as Python logging levels (Python's own names work too)
LOG_LEVELS = {
    "QUIET": logging.CRITICAL + 10,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "INFO": logging.INFO,
    "VERBOSE": logging.INFO,
    "DEBUG": logging.DEBUG,
    "DEBUG1": logging.DEBUG,
    "DEBUG2": logging.DEBUG,
    "DEBUG3": logging.DEBUG,
}

_SYSLOG = logging.handlers.SysLogHandler
LOG_FACILITIES = {
    "DAEMON": _SYSLOG.LOG_DAEMON,
    "USER": _SYSLOG.LOG_USER,
    "AUTH": _SYSLOG.LOG_AUTH,
    **{f"LOCAL{i}": getattr(_SYSLOG, f"LOG_LOCAL{i}") for i in range(8)},
}

# sftp-server's exit status for a fatal error
_FATAL = 255

_log = logging.getLogger("paramiko.sftp.stdio_server")


@dataclass
class Options:
    """What the command line asked for."""

    root: str | None = None
    start: str | None = None
    log_stderr: bool = False
    facility: int = _SYSLOG.LOG_AUTH
    level: int = logging.ERROR
    policy: RequestPolicy = field(default_factory=RequestPolicy)
    umask: int | None = None


class _Exit(Exception):
    """Stop with an exit status (after usage, -Q, or a fatal error)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _percent_expand(text: str, values: dict[str, str]) -> str:
    """Replace %x tokens from ``values`` (and %% with '%'), as sshd and
    sftp-server do; an unknown token is an error."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        key = text[i + 1 : i + 2]
        if key == "%":
            out.append("%")
        elif key in values:
            out.append(values[key])
        else:
            raise ValueError(f"percent_expand: unknown key %{key}" if key else "percent_expand: invalid format")
        i += 2
    return "".join(out)


def _tilde_expand(path: str, home: str) -> str:
    """ "~" and "~/..." from ``home``, "~user/..." from that user's home."""
    if not path.startswith("~"):
        return path
    user, sep, rest = path[1:].partition("/")
    if user:
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            raise ValueError(f"No such user {user}") from None
    return home.rstrip("/") + "/" + rest if sep else home


def expand_start_directory(template: str, user: str, home: str) -> str:
    """``-d``'s argument with "~" and the %d (home), %u (user) and %% tokens
    expanded."""
    return _percent_expand(_tilde_expand(template, home), {"d": home, "u": user})


def _user() -> tuple[str, str]:
    """(name, home directory) of the user we run as."""
    try:
        entry = pwd.getpwuid(os.getuid())
    except KeyError:
        return str(os.getuid()), os.environ.get("HOME", "/")
    return entry.pw_name, entry.pw_dir


def parse_args(argv: list[str]) -> Options:
    """Options from sftp-server's command line (plus ``--root`` and
    ``--help``). Raises ``SystemExit`` for -h, -Q and fatal errors, after
    printing what sftp-server prints."""
    try:
        return _parse(argv)
    except _Exit as stop:
        if stop.message:
            print(stop.message, file=sys.stdout if stop.status == 0 else sys.stderr)
        raise SystemExit(stop.status) from None


def _parse(argv: list[str]) -> Options:
    """``parse_args`` without the printing."""
    try:
        opts, _rest = getopt.getopt(argv, "d:f:l:P:p:Q:u:cehR", ["root=", "help", "log-level="])
    except getopt.GetoptError as exc:
        raise _Exit(1, f"{PROG}: {exc}\n{USAGE}".rstrip()) from None
    options = Options()
    read_only = False
    allowed: str | None = None
    denied: str | None = None
    for opt, arg in opts:
        if opt == "-c":
            # invoked as a login shell ("sftp-server -c command"): the rest is ignored
            break
        if opt == "-h":
            raise _Exit(1, USAGE.rstrip())
        if opt == "--help":
            raise _Exit(0, (__doc__ or "").strip() + "\n\n" + USAGE.rstrip())
        if opt == "-Q":
            if arg.lower() != "requests":
                raise _Exit(1, "Invalid query type")
            raise _Exit(0, "\n".join(request_names()))
        if opt == "-R":
            read_only = True
        elif opt == "-e":
            options.log_stderr = True
        elif opt in ("-l", "--log-level"):
            level = LOG_LEVELS.get(arg.upper())
            if level is None:
                raise _Exit(1, f'{PROG}: Invalid log level "{arg}"')
            options.level = level
        elif opt == "-f":
            facility = LOG_FACILITIES.get(arg.upper())
            if facility is None:
                print(f'{PROG}: Invalid log facility "{arg}"', file=sys.stderr)
            else:
                options.facility = facility
        elif opt == "-d":
            user, home = _user()
            try:
                options.start = expand_start_directory(arg, user, home)
            except ValueError as exc:
                raise _Exit(_FATAL, f"{PROG}: {exc}") from None
        elif opt == "-p":
            if allowed is not None:
                raise _Exit(_FATAL, f"{PROG}: Permitted requests already set")
            allowed = arg
        elif opt == "-P":
            if denied is not None:
                raise _Exit(_FATAL, f"{PROG}: Refused requests already set")
            denied = arg
        elif opt == "-u":
            try:
                mask = int(arg, 8)
            except ValueError:
                mask = -1
            if not 0 <= mask <= 0o777:
                raise _Exit(_FATAL, f'{PROG}: Invalid umask "{arg}"')
            options.umask = mask
        elif opt == "--root":
            options.root = arg
    # whatever follows the options (scp -D hands over "-- host sftp") is ignored, as sftp-server does
    options.policy = RequestPolicy.from_lists(read_only, allowed, denied)
    return options


class _SyslogHandler(logging.handlers.SysLogHandler):
    """Syslog that, like syslog(3), drops messages when no syslog daemon
    listens (rather than writing tracebacks to stderr, which under sshd
    would reach the client)."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record."""


def _setup_logging(options: Options) -> None:
    """Log to stderr (-e) or syslog, at the level asked for."""
    handler: logging.Handler
    if options.log_stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _SyslogHandler(address="/dev/log", facility=options.facility)
        handler.setFormatter(logging.Formatter(f"{PROG}[{os.getpid()}]: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(options.level)


def serve(
    root: str,
    read_fd: int = 0,
    write_fd: int = 1,
    *,
    start: str = "/",
    policy: RequestPolicy | None = None,
) -> None:
    """Serve local directory ``root`` as "/" on the given descriptors until
    the client goes away; relative paths start at client path ``start``."""
    stream = PipeStream(read_fd, write_fd)
    server = SFTPServer(stream, "sftp", ServerInterface(), LocalSFTPServerInterface, root=root, start=start)
    if policy is not None:
        server.policy = policy
    try:
        server.start_subsystem("sftp", None, stream)
    finally:
        server.finish_subsystem()


def _root_and_start(options: Options) -> tuple[str, str]:
    """The directory to serve and the client path sessions start in."""
    if options.root is not None:
        # confined: -d names a path inside the root, as under ChrootDirectory
        return options.root, options.start or "/"
    _name, home = _user()
    start = os.path.abspath(options.start or home)
    if not os.path.isdir(start):
        _log.error('chdir to "%s" failed: not a directory', start)
        start = os.getcwd()
    return "/", start


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (``ssh-sftp-server``); returns the exit status."""
    options = parse_args(sys.argv[1:] if argv is None else argv)
    _setup_logging(options)
    if options.umask is not None:
        os.umask(options.umask)
    root, start = _root_and_start(options)
    user, _home = _user()
    client = os.environ.get("SSH_CONNECTION", "UNKNOWN").split(" ")[0]
    _log.info("session opened for local user %s from [%s]", user, client)
    # Nothing but SFTP may reach stdout.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        serve(root, 0, out_fd, start=start, policy=options.policy)
    finally:
        _log.info("session closed for local user %s from [%s]", user, client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
