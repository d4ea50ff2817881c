"""OpenSSH client configuration files (``ssh_config(5)``).

``SSHConfig`` parses the files and answers "which options apply to this
host?" with the rules OpenSSH's ``ssh`` uses:

* keywords are case-insensitive (the result uses lower-case keys);
  ``Key value`` and ``Key=value``; values may be quoted; ``#`` starts a comment;
* ``Host`` patterns (``*``, ``?``, ``!negation``, several per line) and
  ``Match`` (``all``, ``canonical``, ``final``, ``exec``, ``host``,
  ``originalhost``, ``user``, ``localuser``, each negatable with ``!``);
* the FIRST value obtained for an option wins, except ``IdentityFile``,
  ``CertificateFile``, ``LocalForward``, ``RemoteForward`` and
  ``DynamicForward``, which accumulate into lists;
* ``Include`` (relative paths are under ``~/.ssh``; glob patterns are
  expanded in lexical order; inside a Host/Match block it is conditional);
* a final pass (``Match final``/``canonical``, ``CanonicalizeHostname``)
  re-reads the configuration against the HostName-substituted name;
* ``%`` tokens are expanded in the options where OpenSSH expands them.

The 1.5 functions ``parse_ssh_config`` and ``lookup_ssh_host_config`` are
thin wrappers over ``SSHConfig``.
"""

from __future__ import annotations

import functools
import getpass
import glob
import hashlib
import io
import logging
import os
import re
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from ssh_wire import ConfigParseError, CouldNotCanonicalize

__all__ = ["SSHConfig", "SSHConfigDict", "lookup_ssh_host_config", "parse_ssh_config"]

log = logging.getLogger("ssh_transport.config")

SSH_PORT = 22

# Options that collect every value instead of keeping the first one.
LIST_KEYS = frozenset({"identityfile", "certificatefile", "localforward", "remoteforward", "dynamicforward"})

# Options whose value is the raw rest of the line (quotes and '#' kept).
RAW_KEYS = frozenset({"proxycommand", "localcommand", "remotecommand", "knownhostscommand"})

_PATH_TOKENS = "%CdhikLlnpru"
# Which tokens each option accepts (ssh_config(5) TOKENS); others stay as is.
TOKENS_BY_KEY: dict[str, str] = {
    "certificatefile": _PATH_TOKENS,
    "controlpath": _PATH_TOKENS,
    "identityagent": _PATH_TOKENS,
    "identityfile": _PATH_TOKENS,
    "knownhostscommand": _PATH_TOKENS,
    "localforward": _PATH_TOKENS,
    "remotecommand": _PATH_TOKENS,
    "remoteforward": _PATH_TOKENS,
    "userknownhostsfile": _PATH_TOKENS,
    "localcommand": _PATH_TOKENS,
    "hostname": "%h",
    "proxycommand": "%hnpr",
    "proxyjump": "%hnpr",
}
# Options whose (space-separated) paths get a leading '~' expanded.
TILDE_KEYS = frozenset({"certificatefile", "controlpath", "identityagent", "identityfile", "userknownhostsfile"})

_MATCH_NO_ARG = frozenset({"all", "canonical", "final"})
_MATCH_WITH_ARG = frozenset({"exec", "host", "originalhost", "user", "localuser"})
# Values substituted into a 'Match exec' command must be free of shell syntax.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._:@%+=,/~\-\[\]]*")
_MAX_INCLUDE_DEPTH = 16


class SSHConfigDict(dict[str, Any]):
    """The options for one host (a dict with lower-case keys), with helpers
    that read yes/no and integer options."""

    def as_bool(self, key: str) -> bool:
        """True if the option is "yes" or "true" (any case) or a true bool."""
        value = self[key]
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("yes", "true")

    def as_int(self, key: str) -> int:
        """The option as an integer (``ValueError`` if it is not one)."""
        return int(self[key])


# -- parsed file representation ---------------------------------------------


@dataclass(frozen=True)
class _Host:
    patterns: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class _Criterion:
    negate: bool
    name: str
    arg: str | None


@dataclass(frozen=True)
class _Match:
    criteria: tuple[_Criterion, ...]
    line: int


@dataclass(frozen=True)
class _Option:
    key: str
    value: str | None
    line: int


@dataclass(frozen=True)
class _Include:
    entries: tuple[_Entry, ...]
    line: int


_Entry = _Host | _Match | _Option | _Include


@dataclass
class _Context:
    """What one lookup knows: the names, the users, and whether a final pass
    was asked for."""

    original: str
    host: str
    local_user: str
    want_final: bool = False
    extra: dict[str, str] = field(default_factory=dict)


# -- tokenizing ----------------------------------------------------------------


def _split_args(text: str, line: int) -> list[str]:
    """Split a value the way OpenSSH does: whitespace-separated words, quotes
    group, backslash escapes quotes/backslash/space, '#' at a word starts a
    comment."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n\f":
            i += 1
        if i >= n or text[i] == "#":
            break
        word: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " ")):
                word.append(text[i + 1])
                i += 2
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    word.append(c)
            elif c in "\"'":
                quote = c
            elif c in " \t\r\n\f":
                break
            else:
                word.append(c)
            i += 1
        if quote:
            raise ConfigParseError(f"line {line}: unterminated quote")
        args.append("".join(word))
    return args


_KEYWORD = re.compile(r"\s*([^\s=]+)(?:\s*=\s*|\s+|$)")


def _parse_lines(lines: Iterable[str | bytes], depth: int, source: str) -> tuple[_Entry, ...]:
    """Parse config text into entries, resolving Include directives."""
    entries: list[_Entry] = []
    for number, raw in enumerate(lines, 1):
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _KEYWORD.match(text)
        if m is None:
            raise ConfigParseError(f"{source} line {number}: unparsable line {stripped!r}")
        key = m.group(1).lower()
        rest = text[m.end() :].strip()
        if key in RAW_KEYS:
            if not rest:
                raise ConfigParseError(f"{source} line {number}: {key} needs a value")
            value: str | None = rest
            if key == "proxycommand" and rest.lower() == "none":
                value = None
            entries.append(_Option(key, value, number))
            continue
        args = _split_args(rest, number)
        if not args:
            raise ConfigParseError(f"{source} line {number}: unparsable line {stripped!r}")
        if key == "host":
            entries.append(_Host(tuple(args), number))
        elif key == "match":
            entries.append(_Match(_parse_match(args, number), number))
        elif key == "include":
            entries.append(_Include(_include(args, depth, number), number))
        else:
            entries.append(_Option(key, " ".join(args), number))
    return tuple(entries)


def _parse_match(args: list[str], line: int) -> tuple[_Criterion, ...]:
    """The criteria of a Match line, checked for known names and arguments."""
    criteria: list[_Criterion] = []
    i = 0
    while i < len(args):
        word = args[i]
        negate = word.startswith("!")
        name = (word[1:] if negate else word).lower()
        i += 1
        if name in _MATCH_NO_ARG:
            if name == "all" and (len(args) > i or any(c.name not in ("canonical", "final") for c in criteria)):
                raise ConfigParseError(f"line {line}: Match 'all' must stand alone or follow canonical/final")
            criteria.append(_Criterion(negate, name, None))
        elif name in _MATCH_WITH_ARG:
            if i >= len(args):
                raise ConfigParseError(f"line {line}: Match {name} needs an argument")
            criteria.append(_Criterion(negate, name, args[i]))
            i += 1
        else:
            raise ConfigParseError(f"line {line}: unsupported Match criterion {word!r}")
    return tuple(criteria)


def _include(args: list[str], depth: int, line: int) -> tuple[_Entry, ...]:
    """Read the files an Include names (globbed, lexical order, missing files
    ignored) and parse them."""
    if depth >= _MAX_INCLUDE_DEPTH:
        raise ConfigParseError(f"line {line}: Include nested too deeply")
    entries: list[_Entry] = []
    for arg in args:
        path = os.path.expanduser(arg)
        if not os.path.isabs(path):
            path = os.path.join(os.path.expanduser("~/.ssh"), path)
        for name in sorted(glob.glob(path)):
            if os.path.isdir(name):
                continue
            try:
                with open(name, encoding="utf-8", errors="surrogateescape") as f:
                    # each file starts active: a block of its own
                    entries.append(_Include(_parse_lines(f, depth + 1, name), line))
            except OSError as e:
                log.debug("cannot read included config %s: %s", name, e)
    return tuple(entries)


# -- matching ----------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _pattern_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """An OpenSSH pattern ('*' any run, '?' any one character) as a regex."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _match_list(value: str, patterns: Iterable[str], ignore_case: bool = False) -> bool:
    """True if some positive pattern matches and no negated one does."""
    matched = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if _pattern_regex(body, ignore_case).fullmatch(value):
            if negate:
                return False
            matched = True
    return matched


def _local_user() -> str:
    """The local user name (%u); the numeric uid if the system has no name."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


def _local_hostname() -> str:
    """The local host name as gethostname() says (OpenSSH's %l)."""
    return socket.gethostname()


def _expand(value: str, allowed: str, tokens: dict[str, str]) -> str:
    """Replace the ``%x`` tokens in ``allowed`` (``%%`` always); leave
    unknown ones untouched."""
    if "%" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        c = m.group(1)
        if c == "%":
            return "%"
        if c in allowed and c in tokens:
            return tokens[c]
        return m.group(0)

    return re.sub(r"%(.)", sub, value, flags=re.DOTALL)


def _expand_tilde(value: str) -> str:
    """Expand a leading '~' in each space-separated path."""
    if "~" not in value:
        return value
    return " ".join(os.path.expanduser(p) if p.startswith("~") else p for p in value.split(" "))


class SSHConfig:
    """A parsed set of OpenSSH client configuration files.

    Call ``parse`` once per file, user file first (as ``ssh`` reads them), then
    ``lookup(hostname)`` for the options that apply to a host.
    """

    #: Seconds a ``Match exec`` command may run before it counts as false.
    EXEC_TIMEOUT = 10.0

    def __init__(self) -> None:
        """An empty configuration (``lookup`` gives only ``hostname``)."""
        self._entries: list[_Entry] = []

    def __repr__(self) -> str:
        """How many top-level entries have been parsed."""
        return f"<SSHConfig {len(self._entries)} entries>"

    # -- construction ----------------------------------------------------------

    @classmethod
    def from_text(cls, text: str) -> SSHConfig:
        """A configuration parsed from a string."""
        return cls.from_file(io.StringIO(text))

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> SSHConfig:
        """A configuration parsed from the file at ``path``."""
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return cls.from_file(f)

    @classmethod
    def from_file(cls, flo: IO[str] | IO[bytes] | Iterable[str]) -> SSHConfig:
        """A configuration parsed from an open file (or any iterable of lines)."""
        config = cls()
        config.parse(flo)
        return config

    def parse(self, file_obj: IO[str] | IO[bytes] | Iterable[str]) -> None:
        """Read one configuration file's lines and add them (after anything
        parsed before, which therefore takes precedence).

        :raises ConfigParseError: for a line that cannot be parsed.
        """
        source = str(getattr(file_obj, "name", "<config>"))
        self._entries.extend(_parse_lines(file_obj, 0, source))

    # -- queries ---------------------------------------------------------------

    def get_hostnames(self) -> set[str]:
        """Every pattern named on a ``Host`` line (included files too)."""
        names: set[str] = set()

        def walk(entries: Iterable[_Entry]) -> None:
            for entry in entries:
                if isinstance(entry, _Host):
                    names.update(entry.patterns)
                elif isinstance(entry, _Include):
                    walk(entry.entries)

        walk(self._entries)
        return names

    def lookup(self, hostname: str) -> SSHConfigDict:
        """The options that apply to ``hostname``, as ``ssh`` would use them.

        Keys are lower case; ``hostname`` is always present (the HostName
        option, or ``hostname`` itself); list options are lists; ``%`` tokens
        and ``~`` are expanded where OpenSSH expands them. ``ProxyCommand none``
        gives ``proxycommand: None``.

        :raises CouldNotCanonicalize: if CanonicalizeHostname is on,
            CanonicalizeFallbackLocal is no, and no CanonicalDomains match.
        """
        local_user = _local_user()
        ctx = _Context(original=hostname, host=hostname, local_user=local_user)
        options = SSHConfigDict()
        self._apply(self._entries, options, ctx, final=False, never=False)
        host = hostname
        if options.get("hostname") is not None:
            host = _expand(str(options["hostname"]), "%h", {"h": hostname})
        canon = str(options.get("canonicalizehostname", "no")).lower()
        if canon in ("yes", "always"):
            proxied = options.get("proxycommand") or options.get("proxyjump", "none").lower() != "none"
            if canon == "always" or not proxied:
                domains = str(options.get("canonicaldomains", "")).split()
                host = self.canonicalize(host, options, domains) or host
            ctx.want_final = True
        ctx.host = host
        if ctx.want_final:
            options["hostname"] = host
            self._apply(self._entries, options, ctx, final=True, never=False)
        options["hostname"] = host
        return self._finish(options, ctx)

    def canonicalize(self, hostname: str, options: SSHConfigDict, domains: list[str]) -> str | None:
        """The first ``hostname.domain`` that resolves, for CanonicalizeHostname.

        ``None`` if the name needs no canonicalizing (too many dots, an
        address, already canonical) or nothing resolved and fallback is on.

        :raises CouldNotCanonicalize: nothing resolved and
            CanonicalizeFallbackLocal is no.
        """
        if hostname.endswith("."):
            return hostname[:-1]
        try:
            max_dots = int(options.get("canonicalizemaxdots", 1))
        except ValueError:
            raise ConfigParseError(f"CanonicalizeMaxDots is not a number: {options['canonicalizemaxdots']!r}") from None
        if hostname.count(".") > max_dots or _is_address(hostname):
            return None
        for domain in domains:
            candidate = f"{hostname}.{domain}"
            try:
                socket.getaddrinfo(candidate, None)
            except (OSError, UnicodeError):
                continue
            return candidate
        if str(options.get("canonicalizefallbacklocal", "yes")).lower() == "no":
            raise CouldNotCanonicalize(hostname)
        return None

    # -- evaluation --------------------------------------------------------------

    def _apply(
        self, entries: Iterable[_Entry], options: SSHConfigDict, ctx: _Context, final: bool, never: bool
    ) -> None:
        """Walk the entries, keeping the first value of each option found in an
        active block (a file starts active unless included from an inactive one)."""
        active = not never
        for entry in entries:
            if isinstance(entry, _Option):
                if active:
                    _set_option(options, entry.key, entry.value)
            elif isinstance(entry, _Host):
                active = not never and _match_list(ctx.host, entry.patterns)
            elif isinstance(entry, _Match):
                active = self._match(entry, options, ctx, final, never)
            else:
                self._apply(entry.entries, options, ctx, final, never or not active)

    def _match(self, entry: _Match, options: SSHConfigDict, ctx: _Context, final: bool, never: bool) -> bool:
        """Evaluate a Match line against the options known so far."""
        if final:
            host = str(options.get("hostname", ctx.host))
        elif options.get("hostname") is not None:
            host = _expand(str(options["hostname"]), "%h", {"h": ctx.original})
        else:
            host = ctx.original
        user = str(options.get("user", ctx.local_user))
        result = not never
        for crit in entry.criteria:
            name = crit.name
            if name == "all":
                ok = True
            elif name in ("canonical", "final"):
                if name == "final" and not crit.negate:
                    ctx.want_final = True
                ok = final
            elif name == "host":
                ok = _match_list(host, (crit.arg or "").split(","), ignore_case=True)
            elif name == "originalhost":
                ok = _match_list(ctx.original, (crit.arg or "").split(","), ignore_case=True)
            elif name == "user":
                ok = _match_list(user, (crit.arg or "").split(","))
            elif name == "localuser":
                ok = _match_list(ctx.local_user, (crit.arg or "").split(","))
            else:  # exec: only run when everything before it matched
                if not result:
                    continue
                tokens = self._tokens(options, ctx, host)
                ok = self._run_exec(crit.arg or "", tokens, entry.line)
            if ok == crit.negate:
                result = False
        return result

    def _run_exec(self, command: str, tokens: dict[str, str], line: int) -> bool:
        """Run a ``Match exec`` command through the shell: true on exit 0.

        Token values that would smuggle shell syntax in (a hostname such as
        ``x;rm -rf ~``) make the criterion false instead of running anything.
        """
        used = set(re.findall(r"%(.)", command)) - {"%"}
        unsafe = [c for c in used if c in tokens and not _SHELL_SAFE.fullmatch(tokens[c])]
        if unsafe:
            log.warning("config line %d: not running Match exec with unsafe %%%s", line, unsafe[0])
            return False
        cmd = _expand(command, _PATH_TOKENS, tokens)
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            proc = subprocess.run(
                [shell, "-c", cmd],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=self.EXEC_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            log.warning("config line %d: Match exec timed out: %s", line, cmd)
            return False
        except OSError as e:
            log.warning("config line %d: Match exec failed: %s", line, e)
            return False
        return proc.returncode == 0

    def _tokens(self, options: SSHConfigDict, ctx: _Context, host: str) -> dict[str, str]:
        """The values of the ``%`` tokens for the options known so far."""
        local = _local_hostname()
        port = str(options.get("port", SSH_PORT))
        user = str(options.get("user", ctx.local_user))
        home = os.path.expanduser("~")
        digest = hashlib.sha1(f"{local}{host}{port}{user}".encode(errors="surrogateescape")).hexdigest()
        return {
            "C": digest,
            "d": home,
            "h": host,
            "i": str(os.getuid()) if hasattr(os, "getuid") else "0",
            "k": str(options.get("hostkeyalias", ctx.original)),
            "L": local.split(".")[0],
            "l": local,
            "n": ctx.original,
            "p": port,
            "r": user,
            "u": ctx.local_user,
        }

    def _finish(self, options: SSHConfigDict, ctx: _Context) -> SSHConfigDict:
        """Expand ``~`` and ``%`` tokens in the options that take them."""
        tokens = self._tokens(options, ctx, str(options["hostname"]))
        for key, allowed in TOKENS_BY_KEY.items():
            if key == "hostname" or key not in options or options[key] is None:
                continue
            value = options[key]
            if isinstance(value, list):
                options[key] = [self._expand_one(key, str(v), allowed, tokens) for v in value]
            else:
                options[key] = self._expand_one(key, str(value), allowed, tokens)
        return options

    @staticmethod
    def _expand_one(key: str, value: str, allowed: str, tokens: dict[str, str]) -> str:
        """One option value with '~' (path options) and tokens expanded."""
        if key in TILDE_KEYS:
            value = _expand_tilde(value)
        return _expand(value, allowed, tokens)


def _set_option(options: SSHConfigDict, key: str, value: str | None) -> None:
    """Record an option: the first value wins; list options accumulate
    (without repeating a value, as a final pass re-reads the same lines)."""
    if key in LIST_KEYS:
        values = options.setdefault(key, [])
        if value is not None and value not in values:
            values.append(value)
    elif key not in options:
        options[key] = value


def _is_address(name: str) -> bool:
    """True for an IPv4 or IPv6 literal (those are never canonicalized)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name)
        except (OSError, ValueError):
            continue
        return True
    return False


def parse_ssh_config(file_obj: IO[str] | IO[bytes] | Iterable[str]) -> SSHConfig:
    """Parse an OpenSSH config file (1.5 API); query it with
    ``lookup_ssh_host_config``."""
    config = SSHConfig()
    config.parse(file_obj)
    return config


def lookup_ssh_host_config(hostname: str, config: SSHConfig) -> SSHConfigDict:
    """The options for ``hostname`` from a parsed config (1.5 API); keys are
    lower case."""
    return config.lookup(hostname)
