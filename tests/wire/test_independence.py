"""ssh-wire installs and works alone: in the `wire` tox env no other layer exists."""

from __future__ import annotations

import importlib.util
import os

import pytest


def test_wire_has_no_dependencies_on_other_layers() -> None:
    import ssh_wire

    assert ssh_wire.Message().add_int(1).asbytes() == b"\x00\x00\x00\x01"


@pytest.mark.skipif(os.environ.get("TOX_ENV_NAME") != "wire", reason="only meaningful in the wire-only tox env")
def test_upper_layers_are_absent_in_the_wire_env() -> None:
    for name in ("ssh_keys", "ssh_transport", "ssh_sftp", "ssh_agent", "paramiko"):
        spec = importlib.util.find_spec(name)
        # tests/ is on sys.path, so tests/paramiko shows up as an empty namespace package
        assert spec is None or spec.origin is None, name
