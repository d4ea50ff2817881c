"""SSHConfig as paramiko 5.x exposes it: the parsed rules in ``_config``
(paramiko's layout, readable and assignable, as Fabric uses them), the
implicit ``*`` rule, Match criteria dicts, ProxyCommand quoting, and
paramiko's error messages for bad Match lines.

Expected values were taken from paramiko 5.1.0 run on the same text.
"""

from __future__ import annotations

import copy
import getpass
import os
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ssh_transport.config import SSHConfig
from ssh_wire import ConfigParseError

HOME = os.path.expanduser("~")


def cfg(text: str) -> SSHConfig:
    return SSHConfig.from_text(textwrap.dedent(text))


FABRIC_LIKE = """
    User everyone
    Host target
      HostName 10.1.2.3
      User deploy
      Port 2222
      ProxyJump jumpuser@jump:2200
    Host jump
      HostName jump.example.com
    Match host jump.example.com
      IdentityFile ~/.ssh/jumpkey
"""


def test_config_holds_rules_in_paramikos_layout() -> None:
    config = cfg(FABRIC_LIKE)
    assert config._config == [
        {"config": {"user": "everyone"}, "host": ["*"]},
        {
            "config": {"hostname": "10.1.2.3", "user": "deploy", "port": "2222", "proxyjump": "jumpuser@jump:2200"},
            "host": ["target"],
        },
        {"config": {"hostname": "jump.example.com"}, "host": ["jump"]},
        {
            "config": {"identityfile": ["~/.ssh/jumpkey"]},
            "matches": [{"type": "host", "param": "jump.example.com", "negate": False}],
        },
    ]
    assert SSHConfig()._config == []


def test_assigned_rules_are_the_ones_looked_up() -> None:
    """Fabric builds the config of a ProxyJump hop this way."""
    base = cfg(FABRIC_LIKE)
    hop = SSHConfig()
    hop._config = copy.deepcopy(base._config)
    for host in ("target", "jump", "other"):
        assert hop.lookup(host) == base.lookup(host)
    assert hop.lookup("jump")["identityfile"] == [f"{HOME}/.ssh/jumpkey"]
    # the lookup uses the assigned list, not anything kept from parsing
    hop._config = [{"host": ["*"], "config": {"port": "7"}}]
    assert hop.lookup("target") == {"port": "7", "hostname": "target"}
    # a lookup does not change the rules (no shared lists)
    got = base.lookup("jump")
    got["identityfile"].append("/x")
    assert base._config[3]["config"]["identityfile"] == ["~/.ssh/jumpkey"]


def test_hand_written_rules_with_matches() -> None:
    config = SSHConfig()
    config._config = [
        {"host": ["*"], "config": {}},
        {
            "matches": [
                {"type": "originalhost", "param": "a*", "negate": False},
                {"type": "user", "param": "nobody", "negate": True},
            ],
            "config": {"compression": "yes"},
        },
        {"matches": [{"type": "mystery", "param": "x", "negate": False}], "config": {"port": "1"}},
    ]
    assert config.lookup("abc")["compression"] == "yes"
    assert "compression" not in config.lookup("xyz")
    assert "port" not in config.lookup("abc")  # an unknown criterion never matches


def test_parse_appends_an_implicit_star_rule_per_file() -> None:
    config = SSHConfig()
    config.parse(["Port 1\n"])
    config.parse(["Host h\n", "  Port 2\n"])
    assert [r.get("host") for r in config._config] == [["*"], ["*"], ["h"]]
    assert config.get_hostnames() == {"*", "h"}
    assert SSHConfig().get_hostnames() == set()


def test_get_hostnames_skips_match_rules() -> None:
    config = cfg("""
        Host a b
        Match host c
        Host !d "e f"
    """)
    assert config.get_hostnames() == {"*", "a", "b", "!d", "e f"}


def test_failed_parse_adds_nothing() -> None:
    config = cfg("Host a\n  Port 1\n")
    before = copy.deepcopy(config._config)
    with pytest.raises(ConfigParseError):
        config.parse(["Host b\n", "Match bogus x\n"])
    assert config._config == before


def test_include_rules_apply_only_inside_their_block(tmp_path: Path) -> None:
    inc = tmp_path / "inc.conf"
    inc.write_text("Port 3001\nHost inc\n  User incuser\n")
    config = cfg(f"""
        Host inc
          Include {inc}
          Compression yes
        Host *
          Port 22
    """)
    rules = config._config
    parents = [r.get("parent") for r in rules]
    assert parents == [None, None, 1, 1, 1, None]
    got = config.lookup("inc")
    assert (got["port"], got["user"], got["compression"]) == ("3001", "incuser", "yes")
    assert config.lookup("other") == {"port": "22", "hostname": "other"}
    copied = SSHConfig()
    copied._config = copy.deepcopy(rules)
    assert copied.lookup("inc") == got


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('ProxyCommand "ssh -W %h:%p jump"', "ssh -W h:22 jump"),
        ("ProxyCommand ssh -W '%h:%p' \"jump box\"", "ssh -W 'h:22' \"jump box\""),
        ("ProxyCommand nc %h %p", "nc h 22"),
        ("ProxyCommand ~/bin/proxy %h %r", f"{HOME}/bin/proxy h bob"),
        ('ProxyCommand "a" "b"', '"a" "b"'),
        ("ProxyCommand none", None),
        ("ProxyCommand NONE", None),
    ],
)
def test_proxycommand_values_as_paramiko_gives_them(line: str, expected: str | None) -> None:
    config = cfg(f"Host h\n  User bob\n  {line}\nHost *\n  ProxyCommand later\n")
    assert config.lookup("h")["proxycommand"] == expected


def test_fabric_style_gateway_lookup() -> None:
    """Fabric wraps a gateway command in a one-host config to expand tokens."""
    config = SSHConfig.from_text("Host {}\n    ProxyCommand {}".format("web1", "ssh -W %h:%p bastion"))
    assert config.lookup("web1")["proxycommand"] == "ssh -W web1:22 bastion"


def test_token_expansion_table_is_paramikos_shape() -> None:
    table = SSHConfig.TOKENS_BY_CONFIG_KEY
    assert table["hostname"] == ["%h"]
    assert {"%h", "%p", "%r", "~"} <= set(table["proxycommand"])
    assert {"%C", "%d", "%h", "%l", "%u", "%r", "~"} <= set(table["identityfile"])
    assert "match-exec" in table


def test_subclass_can_change_the_token_table() -> None:
    class NoProxyTokens(SSHConfig):
        TOKENS_BY_CONFIG_KEY = {**SSHConfig.TOKENS_BY_CONFIG_KEY, "proxycommand": []}

    text = "Host h\n  ProxyCommand nc %h %p\n"
    assert NoProxyTokens.from_text(text).lookup("h")["proxycommand"] == "nc %h %p"
    assert SSHConfig.from_text(text).lookup("h")["proxycommand"] == "nc h 22"


def test_match_criteria_as_paramiko() -> None:
    user = getpass.getuser()
    config = cfg(f"""
        Host alias
          HostName real.example
        Match host real.example
          Port 2201
        Match originalhost alias
          User orig
        Match user orig
          ForwardAgent yes
        Match localuser {user}
          Compression yes
        Match !host nothing
          LogLevel DEBUG
        Match exec "true"
          ServerAliveInterval 5
        Match !exec "false"
          ConnectTimeout 4
    """)
    got = config.lookup("alias")
    assert got == {
        "hostname": "real.example",
        "port": "2201",
        "user": "orig",
        "forwardagent": "yes",
        "compression": "yes",
        "loglevel": "DEBUG",
        "serveraliveinterval": "5",
        "connecttimeout": "4",
    }
    other = config.lookup("other")
    assert "port" not in other and "user" not in other and "forwardagent" not in other


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Match all host x", "Match does not allow 'all' mixed with anything but 'canonical'"),
        ("Match host x all", "Match does not allow 'all' mixed with anything but 'canonical'"),
        ("Match all canonical", "Match does not allow 'all' before 'canonical'"),
        ("Match host", "Missing parameter to Match 'host' keyword"),
        ("Match exec", "Missing parameter to Match 'exec' keyword"),
        ("Match", "Unparsable line Match"),
        ("Host", "Unparsable line Host"),
        ('Host "unterminated', 'Unparsable host "unterminated'),
        ("Match host 'x", "Unparsable line Match host 'x"),
        ("ProxyCommand", "Unparsable line ProxyCommand"),
        ("=value", "Unparsable line =value"),
        ("Match bogus x", "bogus"),
    ],
)
def test_bad_lines_raise_config_parse_error_with_paramikos_message(text: str, message: str) -> None:
    with pytest.raises(ConfigParseError) as info:
        SSHConfig.from_text(text)
    assert message in str(info.value)


def test_match_canonical_all_parses() -> None:
    config = cfg("Match canonical all\n  Port 1\n")
    assert config._config[1]["matches"] == [
        {"type": "canonical", "param": None, "negate": False},
        {"type": "all", "param": None, "negate": False},
    ]
    assert "port" not in config.lookup("h")  # no canonicalization happened


def test_canonicalize_returns_the_name_on_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int]] = []

    def fake_getaddrinfo(host: str, port: Any, family: int = 0, *args: Any) -> list[Any]:
        seen.append((host, family))
        if host == "web.corp.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 0))]
        raise socket.gaierror(socket.EAI_NONAME, "not found")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    config = SSHConfig()
    options = config.lookup("x")
    assert config.canonicalize("nothere", options, ["corp.example"]) == "nothere"
    assert config.canonicalize("web", options, ["nope.example", "corp.example"]) == "web.corp.example"
    options["addressfamily"] = "inet6"
    seen.clear()
    config.canonicalize("web", options, ["corp.example"])
    assert seen == [("web.corp.example", socket.AF_INET6)]


def test_as_bool_and_as_int() -> None:
    got = cfg("Host *\n  Compression yes\n  ForwardAgent no\n  Port 2022\n").lookup("h")
    assert got.as_bool("compression") is True
    assert got.as_bool("forwardagent") is False
    assert got.as_int("port") == 2022
    with pytest.raises(ValueError):
        cfg("Port many\n").lookup("h").as_int("port")
