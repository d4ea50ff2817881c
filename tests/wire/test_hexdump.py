"""Hex and printable helpers, and the logging helpers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import ssh_wire as w


def test_hexify_unhexify() -> None:
    assert w.hexify(b"\x00\xab\xff") == "00ABFF"
    assert w.unhexify("00ABff") == b"\x00\xab\xff"
    with pytest.raises(w.SSHException):
        w.unhexify("zz")


def test_safe_string() -> None:
    assert w.safe_string(b"ab\x00c\xff") == b"ab%00c%FF"
    assert w.safe_string("ok") == b"ok"


def test_format_binary() -> None:
    lines = w.format_binary(b"ABCDEFGHIJKLMNOPQ\x01", "> ")
    assert len(lines) == 2
    assert lines[0].startswith("> 41 42 43")  # no offsets, as paramiko
    assert lines[0].endswith("ABCDEFGHIJKLMNOP")
    assert lines[1].startswith("> 51 01")
    assert lines[1].endswith("Q.")
    assert w.format_binary(b"") == []
    assert w.format_binary_weird(b"\x01\x02\x03\x04\x05") == "01020304 05"


def test_tb_strings() -> None:
    try:
        raise RuntimeError("marker")
    except RuntimeError:
        lines = w.tb_strings()
    assert any("marker" in line for line in lines)


def test_log_to_file(tmp_path: Path) -> None:
    logger = logging.getLogger("paramiko")
    saved = list(logger.handlers)
    logger.handlers.clear()
    try:
        path = tmp_path / "log.txt"
        w.log_to_file(str(path))
        w.get_logger("paramiko.transport").warning("hello %s", "there")
        for h in logger.handlers:
            h.flush()
        assert "hello there" in path.read_text()
        w.log_to_file(str(tmp_path / "other.txt"))  # already going somewhere: no second handler
        assert len(logger.handlers) == 1
    finally:
        for h in logger.handlers:
            h.close()
        logger.handlers[:] = saved
