"""Finding real OpenSSH programs for interop tests.

A test that needs a peer that is absent skips with the reason, unless
``SSH_REQUIRE_INTEROP=1`` (set by CI), which turns that skip into a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_INTEROP = os.environ.get("SSH_REQUIRE_INTEROP") == "1"

_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/lib/openssh", "/usr/libexec/openssh"])


def missing_peer(reason: str) -> None:
    """Skip (or, under SSH_REQUIRE_INTEROP=1, fail) because a peer is absent."""
    if REQUIRE_INTEROP:
        pytest.fail(f"required interop peer missing: {reason}", pytrace=False)
    pytest.skip(reason)


def need_program(name: str) -> str:
    """The absolute path of an OpenSSH program, or skip/fail the test."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        missing_peer(f"{name} is not installed")
    assert path is not None
    return path
