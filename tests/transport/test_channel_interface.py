"""Channel and the threaded driver talk only through their public interfaces
(issue 13 item 2): ``ChannelHost`` one way, Channel's driver-side methods
the other. Checked on the source, so that a new private reach fails here."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import ssh_transport
from ssh_transport.channel import Channel
from ssh_transport.channel_host import ChannelHost, ThreadedChannelHost

SRC = Path(ssh_transport.__file__).parent
DRIVER_MODULES = (
    "socket_pump.py",
    "transport.py",
    "channel_table.py",
    "channel_host.py",
    "session_events.py",
    "global_requests.py",
    "server_side.py",
    "listener.py",
    "keepalive.py",
    "client_auth.py",
    "ping.py",
    "core_setup.py",
    "start_deadlines.py",
    "service_transport.py",
)


def _private_reaches(path: Path, owners: set[str] | None) -> list[str]:
    """``x._name`` in ``path`` where ``x`` is not ``self``/``cls`` (and, with
    ``owners``, is one of those names)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        base = node.value
        if not isinstance(base, ast.Name) or base.id in ("self", "cls"):
            continue
        if owners is not None and base.id not in owners:
            continue
        found.append(f"{path.name}:{node.lineno}: {base.id}.{node.attr}")
    return found


def test_channel_reaches_into_nothing_but_itself() -> None:
    # module-private helpers of channel.py itself (e.g. its pipes) are
    # reached through self; anything else would be another object's privates
    assert _private_reaches(SRC / "channel.py", None) == []


def test_driver_modules_use_only_public_channel_methods() -> None:
    owners = {"chan", "channel", "ch", "c"}
    found = [hit for name in DRIVER_MODULES for hit in _private_reaches(SRC / name, owners)]
    assert found == []


def test_driver_parts_talk_through_public_methods() -> None:
    # the threaded driver is composed of objects (pump, channel table, events,
    # auth, server side, ...): none reaches into another's private state
    # (a class's own class attributes, e.g. Transport._modulus_pack, are its own)
    found = [
        hit
        for name in DRIVER_MODULES
        for hit in _private_reaches(SRC / name, None)
        if not hit.split(": ", 1)[1].startswith("Transport.")
    ]
    assert found == []


def test_transport_is_composed_not_mixed() -> None:
    # Transport is a Thread (as paramiko's) and nothing else: its parts are
    # objects it holds, not base classes
    from ssh_transport.transport import Transport

    assert [b.__name__ for b in Transport.__bases__] == ["Thread"]


def _members(cls: type) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_")} | set(getattr(cls, "__annotations__", {}))


def test_threaded_host_implements_the_whole_protocol() -> None:
    wanted = _members(ChannelHost)
    assert wanted, "the protocol lists what a channel needs"
    missing = {n for n in wanted if not hasattr(ThreadedChannelHost, n) and n not in ThreadedChannelHost.__slots__}
    assert missing == set()
    for name in wanted - {"lock", "active"}:
        want = inspect.signature(getattr(ChannelHost, name))
        have = inspect.signature(getattr(ThreadedChannelHost, name))
        assert list(want.parameters) == list(have.parameters), name


def test_driver_side_names_do_not_collide_with_paramikos_channel_api() -> None:
    api = (Path(__file__).parents[1] / "paramiko" / "data" / "paramiko-1.5-api.txt").read_text()
    for name in (
        "attach",
        "receiver",
        "deliver",
        "wake",
        "open_confirmed",
        "open_failed",
        "open_settled",
        "open_error",
        "deliver_eof",
        "deliver_close",
        "deliver_reply",
        "deliver_exit_status",
        "deliver_exit_signal",
        "begin_reply",
        "end_reply",
        "original_command",
    ):
        assert f"Channel.{name}" not in api
        assert hasattr(Channel, name) or name == "original_command"
