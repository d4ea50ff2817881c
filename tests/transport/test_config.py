"""ssh_config parsing and lookup, checked against OpenSSH's own ``ssh``.

``ssh -G -F FILE host`` prints the options ssh would use; for the options a
config sets, our lookup must agree. Token expansion is checked against what
``ssh -v`` reports when it actually runs a ProxyCommand and loads identity
files (``ssh -G`` prints those unexpanded).
"""

from __future__ import annotations

import getpass
import io
import os
import socket
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssh_transport.config import SSHConfig, SSHConfigDict, lookup_ssh_host_config, parse_ssh_config
from ssh_wire import ConfigParseError, CouldNotCanonicalize, SSHException
from support.peers import need_program

LOCAL_USER = getpass.getuser()


def cfg(text: str) -> SSHConfig:
    return SSHConfig.from_text(textwrap.dedent(text))


def ssh_g(path: Path, host: str) -> dict[str, list[str]]:
    """What ``ssh -G`` says the options for ``host`` are."""
    ssh = need_program("ssh")
    proc = subprocess.run(
        [ssh, "-G", "-F", str(path), host],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    result: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        result.setdefault(key, []).append(value)
    return result


# Options whose ``ssh -G`` spelling is the config's own spelling.
COMPARABLE = (
    *("hostname", "port", "user", "proxyjump", "identityfile", "certificatefile", "compression"),
    *("forwardagent", "serveraliveinterval", "connecttimeout", "controlpath", "loglevel"),
)


def compare_with_openssh(tmp_path: Path, text: str, hosts: list[str]) -> list[SSHConfigDict]:
    """Our lookup and ``ssh -G`` agree on every comparable option we set."""
    path = tmp_path / "ssh_config"
    path.write_text(textwrap.dedent(text))
    config = SSHConfig.from_path(path)
    results = []
    for host in hosts:
        ours = config.lookup(host)
        theirs = ssh_g(path, host)
        for key in COMPARABLE:
            if key not in ours:
                continue
            mine = ours[key] if isinstance(ours[key], list) else [ours[key]]
            if key == "hostname":
                mine = [m.lower() for m in mine]
            assert mine == theirs.get(key), f"{host}: {key}: ours {mine!r}, ssh -G {theirs.get(key)!r}"
        results.append(ours)
    return results


# -- agreement with ssh -G --------------------------------------------------------

HOST_PATTERNS = """
    Host *.example.com !bad.example.com
      User exuser
      Port 2222
    Host web? db*
      User webby
      IdentityFile /keys/web
    Host bad.*
      ProxyJump jumper:2200
    Host !nothing-positive
      Port 9
    Host *
      User fallback
      Port 22
      IdentityFile /keys/default
      IdentityFile /keys/web
      Compression yes
"""


@pytest.mark.timeout(60)
def test_host_patterns_match_openssh(tmp_path: Path) -> None:
    hosts = ["a.example.com", "bad.example.com", "web1", "web12", "dbx", "other", "WEB1"]
    a, bad, web1, web12, dbx, other, upper = compare_with_openssh(tmp_path, HOST_PATTERNS, hosts)
    assert (a["user"], a["port"]) == ("exuser", "2222")
    assert (bad["user"], bad["port"], bad["proxyjump"]) == ("fallback", "22", "jumper:2200")
    assert web1["identityfile"] == ["/keys/web", "/keys/default"]
    assert web12["user"] == "fallback"
    assert dbx["user"] == "webby"
    assert other == {"user": "fallback", "port": "22", "identityfile": ["/keys/default", "/keys/web"],
                     "compression": "yes", "hostname": "other"}  # fmt: skip
    assert upper["user"] == "fallback"  # Host patterns are case-sensitive


SYNTAX = """
    # a comment
    Host=quoted
      User = "john smith"    # trailing comment
      IdentityFile="/path with space/key"
      Port=2200
    HOST Upper
      PORT 2
        LogLevel   DEBUG
    \tHost\ttabbed
    \tUser\ttabby
    Host with-esc
      IdentityFile /a\\ b
      User 'single quoted'
      ProxyJump j1,j2 # comment
"""


@pytest.mark.timeout(60)
def test_syntax_variants_match_openssh(tmp_path: Path) -> None:
    quoted, upper, tabbed, esc = compare_with_openssh(tmp_path, SYNTAX, ["quoted", "Upper", "tabbed", "with-esc"])
    assert quoted["user"] == "john smith"
    assert quoted["identityfile"] == ["/path with space/key"]
    assert quoted["port"] == "2200"
    assert (upper["port"], upper["loglevel"]) == ("2", "DEBUG")
    assert tabbed["user"] == "tabby"
    assert esc["identityfile"] == ["/a b"]
    assert esc["user"] == "single quoted"
    assert esc["proxyjump"] == "j1,j2"


MATCH = f"""
    Match originalhost alias final
      User finaluser
    Host alias
      HostName real.example
    Match host real.example
      Port 2201
    Match !host real.example user {LOCAL_USER}
      ForwardAgent yes
    Match user nobody,!{LOCAL_USER}
      LogLevel ERROR
    Match localuser {LOCAL_USER} exec "exit 0"
      ServerAliveInterval 17
    Match exec false
      Compression yes
    Match exec "test %h = real.example"
      ControlPath /tmp/cp-exec-matched
    Match canonical
      ConnectTimeout 9
    Match !final
      IdentityFile /keys/first-pass-only
    Match all
      IdentityFile /keys/all
"""


@pytest.mark.timeout(60)
def test_match_matches_openssh(tmp_path: Path) -> None:
    alias, other = compare_with_openssh(tmp_path, MATCH, ["alias", "other"])
    assert alias["user"] == "finaluser"
    assert alias["hostname"] == "real.example"
    assert alias["port"] == "2201"
    assert "forwardagent" not in alias
    assert other["forwardagent"] == "yes"
    assert "loglevel" not in alias
    assert alias["serveraliveinterval"] == "17"
    assert "compression" not in alias
    assert alias["controlpath"] == "/tmp/cp-exec-matched"
    assert "controlpath" not in other
    assert alias["connecttimeout"] == "9"
    assert alias["identityfile"] == ["/keys/first-pass-only", "/keys/all"]


@pytest.mark.timeout(60)
def test_include_matches_openssh(tmp_path: Path) -> None:
    inc = tmp_path / "inc.d"
    inc.mkdir()
    (inc / "a.conf").write_text("Port 3001\nHost inc\n  User incuser\nHost nomatch\n  IdentityFile /keys/x\n")
    (inc / "b.conf").write_text("IdentityFile /keys/b\n")
    (inc / "ignored.txt").write_text("Port 1\n")
    text = f"""
        Host inc
          Include {inc}/*.conf {tmp_path}/missing-file
          Compression yes
        Host other
          Include {inc}/*.conf
        Host *
          IdentityFile /keys/star
    """
    i, o, z = compare_with_openssh(tmp_path, text, ["inc", "other", "zzz"])
    assert (i["user"], i["port"], i["compression"]) == ("incuser", "3001", "yes")
    assert i["identityfile"] == ["/keys/b", "/keys/star"]
    assert (o["port"], "user" in o, "compression" in o) == ("3001", False, False)
    assert z == {"identityfile": ["/keys/star"], "hostname": "zzz"}


@pytest.mark.timeout(60)
def test_hostname_token_matches_openssh(tmp_path: Path) -> None:
    text = """
        Host short*
          HostName %h.internal.example
        Host pct
          HostName literal%%name
    """
    short, pct = compare_with_openssh(tmp_path, text, ["shorty", "pct"])
    assert short["hostname"] == "shorty.internal.example"
    assert pct["hostname"] == "literal%name"


@pytest.mark.timeout(60)
def test_token_expansion_matches_what_ssh_runs(tmp_path: Path) -> None:
    """ssh -v shows the ProxyCommand it executes and the identity and
    certificate files it loads, with every token expanded."""
    ssh = need_program("ssh")
    out = tmp_path / "proxy-out"
    path = tmp_path / "ssh_config"
    tokens = "%h-%p-%r-%u-%l-%L-%n-%d-%C-%i-%k-%%"
    path.write_text(
        textwrap.dedent(f"""
        Host alias
          HostName real.%h.example
          User bob
          Port 2022
          ProxyCommand echo %h %p %r %n %% > {out}
          IdentityFile {tmp_path}/{tokens}
          IdentityFile ~/id_test_%r
          CertificateFile ~/cert-%h
        """)
    )
    proc = subprocess.run(
        [ssh, "-F", str(path), "-v", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "alias", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = proc.stderr.splitlines()
    executed = [ln.split("Executing proxy command: exec ", 1)[1] for ln in lines if "Executing proxy command" in ln]
    identity = [ln.split("identity file ", 1)[1].rsplit(" type ", 1)[0] for ln in lines if "identity file " in ln]
    certs = [ln.split("certificate file ", 1)[1].rsplit(" type ", 1)[0] for ln in lines if "certificate file " in ln]
    ours = SSHConfig.from_path(path).lookup("alias")
    assert [ours["proxycommand"]] == executed
    assert ours["identityfile"] == identity
    assert ours["certificatefile"] == certs
    assert ours["hostname"] == "real.alias.example"


# -- our own semantics ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("User bob", "user", "bob"),
        ("User=bob", "user", "bob"),
        ("User = bob", "user", "bob"),
        ("user\t=\tbob", "user", "bob"),
        ('User "bob"', "user", "bob"),
        ('User "b o b"', "user", "b o b"),
        ("User 'b o b'", "user", "b o b"),
        ('User a"b c"d', "user", "ab cd"),
        ("User bob # comment", "user", "bob"),
        ("User bob#notcomment", "user", "bob#notcomment"),
        ("SendEnv LANG LC_*", "sendenv", "LANG LC_*"),
        ('ProxyCommand ssh -W "%h:%p" gw # kept', "proxycommand", 'ssh -W "h:22" gw # kept'),
        ("LocalCommand echo 'x y'", "localcommand", "echo 'x y'"),
        ("ServerAliveInterval=30", "serveraliveinterval", "30"),
        ("UnknownOption yes", "unknownoption", "yes"),
    ],
)
def test_line_syntax_table(line: str, key: str, value: str) -> None:
    assert cfg(line).lookup("h")[key] == value


@pytest.mark.parametrize(
    "text",
    [
        "Port",
        "Port   ",
        "User # only a comment",
        'User "unterminated',
        "Host",
        "Match",
        "Match host",
        "Match bogus x",
        "Match all host x",
        "Match host x all",
        "Include",
        "=value",
        "ProxyCommand",
    ],
)
def test_unparsable_lines_raise_config_parse_error(text: str) -> None:
    with pytest.raises(ConfigParseError):
        cfg(text)
    assert issubclass(ConfigParseError, SSHException)


def test_first_value_wins_and_lists_accumulate() -> None:
    config = cfg("""
        Host a
          Port 1
          Port 2
          IdentityFile /one
          LocalForward 1 h:1
          RemoteForward 2 h:2
          DynamicForward 3
          CertificateFile /c1
        Host *
          Port 3
          IdentityFile /two
          IdentityFile /one
          LocalForward 4 h:4
          CertificateFile /c2
    """)
    got = config.lookup("a")
    assert got["port"] == "1"
    assert got["identityfile"] == ["/one", "/two"]
    assert got["localforward"] == ["1 h:1", "4 h:4"]
    assert got["remoteforward"] == ["2 h:2"]
    assert got["dynamicforward"] == ["3"]
    assert got["certificatefile"] == ["/c1", "/c2"]
    assert config.lookup("b")["port"] == "3"


def test_lookup_does_not_share_lists_between_calls() -> None:
    config = cfg("Host *\n  IdentityFile /x\n")
    config.lookup("a")["identityfile"].append("/junk")
    assert config.lookup("a")["identityfile"] == ["/x"]


def test_hostname_defaults_and_empty_config() -> None:
    assert SSHConfig().lookup("host.example") == {"hostname": "host.example"}
    assert cfg("Host other\n  Port 1\n").lookup("h") == {"hostname": "h"}


def test_proxycommand_none_is_none_and_blocks_later_values() -> None:
    config = cfg("Host direct\n  ProxyCommand none\nHost *\n  ProxyCommand nc %h %p\n")
    assert config.lookup("direct")["proxycommand"] is None
    assert config.lookup("other")["proxycommand"] == "nc other 22"


def test_tilde_and_local_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    got = cfg("""
        Host h
          User remote
          IdentityFile ~/.ssh/id_%r_%u
          UserKnownHostsFile ~/kh1 ~/kh2
          ControlPath ~/cm-%L-%C
          ProxyJump %r@jump:%p
          RemoteCommand echo %d
    """).lookup("h")
    assert got["identityfile"] == [f"{tmp_path}/.ssh/id_remote_{LOCAL_USER}"]
    assert got["userknownhostsfile"] == f"{tmp_path}/kh1 {tmp_path}/kh2"
    assert got["controlpath"].startswith(f"{tmp_path}/cm-{socket.gethostname().split('.')[0]}-")
    assert len(got["controlpath"].rsplit("-", 1)[1]) == 40
    assert got["proxyjump"] == "remote@jump:22"
    assert got["remotecommand"] == f"echo {tmp_path}"


def test_unknown_and_disallowed_tokens_stay() -> None:
    got = cfg("Host h\n  ProxyCommand x %u %z %\n  HostName %r.example\n").lookup("h")
    assert got["proxycommand"] == "x %u %z %"
    assert got["hostname"] == "%r.example"


def test_relative_include_is_under_dot_ssh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh" / "conf.d").mkdir(parents=True)
    (tmp_path / ".ssh" / "conf.d" / "2.conf").write_text("User second\n")
    (tmp_path / ".ssh" / "conf.d" / "1.conf").write_text("Host h\n  User first\nHost *\n  Port 7\n")
    config = cfg("Include conf.d/*.conf\nHost *\n  Port 8\n")
    assert config.lookup("h")["user"] == "first"
    assert config.lookup("h")["port"] == "7"
    assert config.lookup("x")["user"] == "second"
    assert config.get_hostnames() == {"h", "*"}


def test_include_recursion_is_bounded(tmp_path: Path) -> None:
    loop = tmp_path / "loop.conf"
    loop.write_text(f"Include {loop}\n")
    with pytest.raises(ConfigParseError):
        SSHConfig.from_path(loop)


def test_match_exec_is_skipped_after_a_failed_criterion(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cfg(f"Match host nomatch exec 'touch {marker}'\n  Port 1\n").lookup("h")
    assert not marker.exists()
    cfg(f"Match host h exec 'touch {marker}'\n  Port 1\n").lookup("h")
    assert marker.exists()


def test_match_exec_refuses_shell_syntax_in_tokens(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    config = cfg("Match exec 'echo %n'\n  Port 1\n")
    got = config.lookup(f"x;touch {marker}")
    assert "port" not in got
    assert not marker.exists()
    assert config.lookup("fine.example")["port"] == "1"


@pytest.mark.timeout(30)
def test_match_exec_times_out_as_false() -> None:
    config = cfg("Match exec 'sleep 20'\n  Port 1\n")
    config.EXEC_TIMEOUT = 0.5
    start = time.monotonic()
    assert "port" not in config.lookup("h")
    assert time.monotonic() - start < 15


def test_canonicalize_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    resolvable = {"web.corp.example"}

    def fake_getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host in resolvable:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 0))]
        raise socket.gaierror(socket.EAI_NONAME, "not found")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    text = """
        CanonicalizeHostname yes
        CanonicalDomains nope.example corp.example
        Host web.corp.example
          User canonuser
        Match canonical host *.corp.example
          Port 2022
        Host strict
          CanonicalizeFallbackLocal no
    """
    config = cfg(text)
    got = config.lookup("web")
    assert got["hostname"] == "web.corp.example"
    assert (got["user"], got["port"]) == ("canonuser", "2022")
    assert config.lookup("10.0.0.1")["hostname"] == "10.0.0.1"
    assert config.lookup("a.b.c")["hostname"] == "a.b.c"  # more dots than CanonicalizeMaxDots
    assert config.lookup("absolute.")["hostname"] == "absolute"
    assert config.lookup("other")["hostname"] == "other"
    with pytest.raises(CouldNotCanonicalize):
        config.lookup("strict")


def test_dict_helpers_and_legacy_functions() -> None:
    config = parse_ssh_config(io.StringIO("Host *\n  Compression YES\n  ForwardAgent no\n  Port 2022\n"))
    got = lookup_ssh_host_config("h", config)
    assert isinstance(got, SSHConfigDict)
    assert got.as_bool("compression") is True
    assert got.as_bool("forwardagent") is False
    assert got.as_int("port") == 2022
    assert SSHConfigDict(x=True).as_bool("x") is True


def test_from_file_and_bytes_lines(tmp_path: Path) -> None:
    path = tmp_path / "c"
    path.write_bytes(b"Host h\n  User \xc3\xa9t\xc3\xa9\n")
    with open(path, "rb") as f:
        assert SSHConfig.from_file(f).lookup("h")["user"] == "\u00e9t\u00e9"
    assert SSHConfig.from_path(os.fspath(path)).lookup("h")["user"] == "\u00e9t\u00e9"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("Hh oOsStT=\"'#\\*!?,\n\tMmaAcCxXpP%~")), max_size=80))
def test_arbitrary_text_parses_or_raises_config_parse_error(text: str) -> None:
    try:
        config = SSHConfig.from_text(text)
    except ConfigParseError:
        return
    for host in ("h", "host", "x"):
        result = config.lookup(host)
        assert "hostname" in result


def test_bad_canonicalize_max_dots_is_a_parse_error() -> None:
    config = SSHConfig.from_text("CanonicalizeHostname yes\nCanonicalizeMaxDots lots\n")
    with pytest.raises(ConfigParseError):
        config.lookup("web")
