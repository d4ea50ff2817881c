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
from dataclasses import dataclass
from typing import IO, Any

from ssh_wire import ConfigParseError, CouldNotCanonicalize, wildcard_match

__all__ = ["SSHConfig", "SSHConfigDict", "lookup_ssh_host_config", "parse_ssh_config"]

log = logging.getLogger("ssh_transport.config")

SSH_PORT = 22

# Options that collect every value instead of keeping the first one.
LIST_KEYS = frozenset({"identityfile", "certificatefile", "localforward", "remoteforward", "dynamicforward"})

# Options whose value is the raw rest of the line (quotes and '#' kept).
RAW_KEYS = frozenset({"proxycommand", "localcommand", "remotecommand", "knownhostscommand"})

_PATH_TOKENS = ["%C", "%d", "%h", "%i", "%k", "%L", "%l", "%n", "%p", "%r", "%u"]
# Which tokens each option accepts (ssh_config(5) TOKENS; "~" means a leading
# tilde in each word is expanded); others stay as is. "match-exec" is the
# command of ``Match exec``. Paramiko's name and layout, so a subclass can
# change it as it could there.
TOKENS_BY_CONFIG_KEY: dict[str, list[str]] = {
    "certificatefile": [*_PATH_TOKENS, "~"],
    "controlpath": [*_PATH_TOKENS, "~"],
    "identityagent": [*_PATH_TOKENS, "~"],
    "identityfile": [*_PATH_TOKENS, "~"],
    "knownhostscommand": _PATH_TOKENS,
    "localcommand": _PATH_TOKENS,
    "localforward": _PATH_TOKENS,
    "remotecommand": _PATH_TOKENS,
    "remoteforward": _PATH_TOKENS,
    "userknownhostsfile": [*_PATH_TOKENS, "~"],
    "hostname": ["%h"],
    "proxycommand": ["~", "%h", "%n", "%p", "%r"],
    "proxyjump": ["%h", "%n", "%p", "%r"],
    "match-exec": _PATH_TOKENS,
}

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


# -- parsed form ---------------------------------------------------------------
#
# The parsed rules live in ``SSHConfig._config`` in paramiko's layout, because
# code built on paramiko reads and assigns it (Fabric copies it into a new
# SSHConfig for each ProxyJump hop). A rule is a dict:
#
#   {"host": [pattern, ...], "config": {key: value}}         a Host block
#   {"matches": [{"type": t, "param": p, "negate": n}, ...],
#    "config": {key: value}}                                  a Match block
#
# Each parse() starts with an implicit ``{"host": ["*"], ...}`` rule for the
# lines before the first Host/Match. Values are strings (``None`` for
# ``ProxyCommand none``), lists for the options that accumulate.
#
# Include (which paramiko does not support) adds one key: ``"parent"``, the
# index in ``_config`` of the rule whose block the Include line sits in. Such a
# rule applies only while its parent applies; the lines of the enclosing block
# that follow the Include form a rule ``{"host": ["*"], "parent": i}``.

Rule = dict[str, Any]


@dataclass
class _Context:
    """What one lookup knows: the names, the users, and whether a final pass
    was asked for."""

    original: str
    host: str
    local_user: str
    want_final: bool = False


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


def _raw_value(rest: str) -> str:
    """A command option's value: the rest of the line as written, without
    one pair of double quotes around all of it (as paramiko reads it)."""
    if len(rest) >= 2 and rest[0] == rest[-1] == '"' and '"' not in rest[1:-1]:
        return rest[1:-1]
    return rest


class _Parser:
    """Turns config lines into rules appended to a list (see above)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    def parse(self, lines: Iterable[str | bytes], depth: int, source: str, parent: int | None) -> None:
        """Parse one file's lines, starting with its implicit ``Host *``
        rule (inside rule ``parent`` when the file is included)."""
        current = self._open({"host": ["*"]}, parent)
        for number, raw in enumerate(lines, 1):
            text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            m = _KEYWORD.match(text)
            if m is None:
                raise ConfigParseError(f"Unparsable line {stripped}")
            key = m.group(1).lower()
            rest = text[m.end() :].strip()
            if key in RAW_KEYS:
                if not rest:
                    raise ConfigParseError(f"Unparsable line {stripped}")
                value: str | None = _raw_value(rest)
                if key == "proxycommand" and rest.lower() == "none":
                    value = None
                _store(current["config"], key, value)
                continue
            try:
                args = _split_args(rest, number)
            except ConfigParseError:
                what = "host" if key == "host" else "line"
                raise ConfigParseError(f"Unparsable {what} {rest if key == 'host' else stripped}") from None
            if not args:
                raise ConfigParseError(f"Unparsable line {stripped}")
            if key == "host":
                current = self._open({"host": args}, parent)
            elif key == "match":
                current = self._open({"matches": _parse_match(args)}, parent)
            elif key == "include":
                if depth >= _MAX_INCLUDE_DEPTH:
                    raise ConfigParseError(f"{source} line {number}: Include nested too deeply")
                enclosing = len(self.rules) - 1
                for path in _include_paths(args):
                    try:
                        with open(path, encoding="utf-8", errors="surrogateescape") as f:
                            self.parse(f, depth + 1, path, enclosing)
                    except OSError as e:
                        log.debug("cannot read included config %s: %s", path, e)
                # the rest of the enclosing block applies as the block does
                current = self._open({"host": ["*"]}, enclosing)
            else:
                _store(current["config"], key, " ".join(args))

    def _open(self, condition: Rule, parent: int | None) -> Rule:
        """Append a new rule with ``condition`` and return it."""
        rule: Rule = {"config": {}, **condition}
        if parent is not None:
            rule["parent"] = parent
        self.rules.append(rule)
        return rule


def _store(config: dict[str, Any], key: str, value: str | None) -> None:
    """Record an option in a rule: the first value wins, list options
    accumulate."""
    if key in LIST_KEYS:
        if value is not None:
            config.setdefault(key, []).append(value)
    elif key not in config:
        config[key] = value


def _parse_match(args: list[str]) -> list[dict[str, Any]]:
    """The criteria of a Match line (paramiko's layout), checked for known
    names and arguments."""
    criteria: list[dict[str, Any]] = []
    i = 0
    while i < len(args):
        word = args[i]
        negate = word.startswith("!")
        name = (word[1:] if negate else word).lower()
        i += 1
        if name in _MATCH_NO_ARG:
            if name == "all":
                later = [w.lstrip("!").lower() for w in args[i:]]
                if later and all(w in ("canonical", "final") for w in later):
                    raise ConfigParseError("Match does not allow 'all' before 'canonical'")
                if later or any(c["type"] not in ("canonical", "final") for c in criteria):
                    raise ConfigParseError("Match does not allow 'all' mixed with anything but 'canonical'")
            criteria.append({"type": name, "param": None, "negate": negate})
        elif name in _MATCH_WITH_ARG:
            if i >= len(args):
                raise ConfigParseError(f"Missing parameter to Match '{name}' keyword")
            criteria.append({"type": name, "param": args[i], "negate": negate})
            i += 1
        else:
            raise ConfigParseError(f"Unsupported Match keyword {word!r}")
    return criteria


def _include_paths(args: list[str]) -> list[str]:
    """The files an Include names: relative to ``~/.ssh``, globbed, in
    lexical order, directories skipped."""
    paths: list[str] = []
    for arg in args:
        path = os.path.expanduser(arg)
        if not os.path.isabs(path):
            path = os.path.join(os.path.expanduser("~/.ssh"), path)
        paths.extend(name for name in sorted(glob.glob(path)) if not os.path.isdir(name))
    return paths


# -- matching ----------------------------------------------------------------


def _match_list(value: str, patterns: Iterable[str], ignore_case: bool = False) -> bool:
    """True if some positive pattern matches and no negated one does."""
    matched = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if wildcard_match(body, value, ignore_case):
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
    return " ".join(_expand_user(p) if p.startswith("~") else p for p in value.split(" "))


def _expand_user(path: str) -> str:
    """``os.path.expanduser``, except that a user name the system cannot look
    up at all (one with a NUL byte) is left as written, like an unknown user,
    instead of raising ``ValueError`` out of ``lookup``."""
    try:
        return os.path.expanduser(path)
    except ValueError:
        return path


class SSHConfig:
    """A parsed set of OpenSSH client configuration files.

    Call ``parse`` once per file, user file first (as ``ssh`` reads them), then
    ``lookup(hostname)`` for the options that apply to a host. The parsed
    rules are ``_config`` (paramiko's layout, see the comment above
    ``Rule``); assigning a copy of another config's ``_config`` gives a
    config that answers the same way.
    """

    #: Seconds a ``Match exec`` command may run before it counts as false.
    EXEC_TIMEOUT = 10.0

    TOKENS_BY_CONFIG_KEY = TOKENS_BY_CONFIG_KEY

    def __init__(self) -> None:
        """An empty configuration (``lookup`` gives only ``hostname``)."""
        self._config: list[Rule] = []

    def __repr__(self) -> str:
        """How many rules have been parsed."""
        return f"<SSHConfig {len(self._config)} rules>"

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

        Nothing is added if a line cannot be parsed.

        :raises ConfigParseError: for a line that cannot be parsed.
        """
        source = str(getattr(file_obj, "name", "<config>"))
        rules = list(self._config)
        _Parser(rules).parse(file_obj, 0, source, None)
        self._config[len(self._config) :] = rules[len(self._config) :]

    # -- queries ---------------------------------------------------------------

    def get_hostnames(self) -> set[str]:
        """Every pattern named on a ``Host`` line (included files too), with
        the ``*`` of the lines before the first Host, as paramiko gives."""
        names: set[str] = set()
        for rule in self._config:
            names.update(rule.get("host", ()))
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
        self._apply(options, ctx, final=False)
        host = hostname
        if options.get("hostname") is not None:
            host = _expand(str(options["hostname"]), "h", {"h": hostname})
        canon = str(options.get("canonicalizehostname", "no")).lower()
        if canon in ("yes", "always"):
            proxied = options.get("proxycommand") or str(options.get("proxyjump", "none")).lower() != "none"
            if canon == "always" or not proxied:
                domains = str(options.get("canonicaldomains", "")).split()
                host = self.canonicalize(host, options, domains)
            ctx.want_final = True
        ctx.host = host
        if ctx.want_final:
            options["hostname"] = host
            self._apply(options, ctx, final=True)
        options["hostname"] = host
        return self._finish(options, ctx)

    def canonicalize(self, hostname: str, options: SSHConfigDict, domains: list[str]) -> str:
        """The first ``hostname.domain`` that resolves, for CanonicalizeHostname
        (looked up in the ``AddressFamily`` the options ask for).

        ``hostname`` itself if it needs no canonicalizing (too many dots, an
        address), or nothing resolved and fallback is on; an absolute name
        (``host.``) loses its trailing dot.

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
            return hostname
        family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(
            str(options.get("addressfamily", "any")).lower(), socket.AF_UNSPEC
        )
        for domain in domains:
            candidate = f"{hostname}.{domain}"
            try:
                socket.getaddrinfo(candidate, None, family)
            except (OSError, UnicodeError):
                continue
            return candidate
        if str(options.get("canonicalizefallbacklocal", "yes")).lower() == "no":
            raise CouldNotCanonicalize(hostname)
        return hostname

    # -- evaluation --------------------------------------------------------------

    def _apply(self, options: SSHConfigDict, ctx: _Context, final: bool) -> None:
        """One pass over the rules, keeping the first value of each option
        from the rules that apply. A rule inside an Include applies only if
        the rule it was included from does (its own Match is then not even
        evaluated, so no ``exec`` runs)."""
        applies: list[bool] = []
        for index, rule in enumerate(self._config):
            parent = rule.get("parent")
            ok = parent is None or (isinstance(parent, int) and 0 <= parent < index and applies[parent])
            if ok:
                if "matches" in rule:
                    ok = self._match(rule["matches"], options, ctx, final, index)
                else:
                    ok = _match_list(ctx.host, rule.get("host", ()))
            applies.append(ok)
            if ok:
                for key, value in rule.get("config", {}).items():
                    _set_option(options, key, value)

    def _match(
        self, criteria: list[dict[str, Any]], options: SSHConfigDict, ctx: _Context, final: bool, index: int
    ) -> bool:
        """Evaluate a Match line against the options known so far."""
        if final:
            host = str(options.get("hostname", ctx.host))
        elif options.get("hostname") is not None:
            host = _expand(str(options["hostname"]), "h", {"h": ctx.original})
        else:
            host = ctx.original
        user = str(options.get("user", ctx.local_user))
        result = True
        for crit in criteria:
            name = str(crit.get("type", "")).lower()
            param = str(crit.get("param") or "")
            negate = bool(crit.get("negate"))
            if name == "all":
                ok = True
            elif name in ("canonical", "final"):
                if name == "final" and not negate:
                    ctx.want_final = True
                ok = final
            elif name == "host":
                ok = _match_list(host, param.split(","), ignore_case=True)
            elif name == "originalhost":
                ok = _match_list(ctx.original, param.split(","), ignore_case=True)
            elif name == "user":
                ok = _match_list(user, param.split(","))
            elif name == "localuser":
                ok = _match_list(ctx.local_user, param.split(","))
            elif name == "exec":  # only run when everything before it matched
                if not result:
                    continue
                ok = self._run_exec(param, self._tokens(options, ctx, host), index)
            else:  # a criterion we do not know (an assigned rule) never matches
                ok = False
            if ok == negate:
                result = False
        return result

    def _run_exec(self, command: str, tokens: dict[str, str], index: int) -> bool:
        """Run a ``Match exec`` command through the shell: true on exit 0.

        Token values that would smuggle shell syntax in (a hostname such as
        ``x;rm -rf ~``) make the criterion false instead of running anything.
        """
        allowed = _token_letters(self.TOKENS_BY_CONFIG_KEY.get("match-exec", []))
        used = set(re.findall(r"%(.)", command)) & set(allowed)
        unsafe = [c for c in used if c in tokens and not _SHELL_SAFE.fullmatch(tokens[c])]
        if unsafe:
            log.warning("config rule %d: not running Match exec with unsafe %%%s", index, unsafe[0])
            return False
        cmd = _expand(command, allowed, tokens)
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
            log.warning("config rule %d: Match exec timed out: %s", index, cmd)
            return False
        except OSError as e:
            log.warning("config rule %d: Match exec failed: %s", index, e)
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
        for key, accepted in self.TOKENS_BY_CONFIG_KEY.items():
            if key in ("hostname", "match-exec") or options.get(key) is None:
                continue
            allowed = _token_letters(accepted)
            tilde = "~" in accepted
            value = options[key]
            if isinstance(value, list):
                options[key] = [_expand_one(str(v), allowed, tilde, tokens) for v in value]
            else:
                options[key] = _expand_one(str(value), allowed, tilde, tokens)
        return options


def _token_letters(accepted: Iterable[str]) -> str:
    """The letters of the ``%x`` entries of a TOKENS_BY_CONFIG_KEY list."""
    return "".join(t[1:] for t in accepted if len(t) == 2 and t[0] == "%")


def _expand_one(value: str, allowed: str, tilde: bool, tokens: dict[str, str]) -> str:
    """One option value with '~' (if the option takes it) and tokens expanded."""
    if tilde:
        value = _expand_tilde(value)
    return _expand(value, allowed, tokens)


def _set_option(options: SSHConfigDict, key: str, value: Any) -> None:
    """Record an option: the first value wins; list options accumulate
    (without repeating a value, as a final pass re-reads the same lines).
    Lists are copied, so a lookup never shares them with ``_config``."""
    if isinstance(value, list) or key in LIST_KEYS:
        values = options.setdefault(key, [])
        if not isinstance(values, list):
            return
        for item in value if isinstance(value, list) else [value]:
            if item is not None and item not in values:
                values.append(item)
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
