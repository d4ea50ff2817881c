"""Every line of the documented paramiko 1.5 API resolves from ``import paramiko``
with a signature that accepts the documented arguments.

The list (tests/paramiko/data/paramiko-1.5-api.txt) names one thing a line:
``paramiko.Name``, ``paramiko.module.Name``, ``Owner.method(params)`` or
``Owner.attribute``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

paramiko = pytest.importorskip("paramiko")

API_LIST = Path(__file__).parent / "data" / "paramiko-1.5-api.txt"
LINE = re.compile(r"^(?P<owner>[\w.]+?)\.(?P<name>\w+)(?:\((?P<params>.*)\))?(?:\s+(?P<kind>static|classmethod))?$")


def _entries() -> list[str]:
    out = []
    for raw in API_LIST.read_text().splitlines():
        line = raw.split("  ")[0].strip() if "  " in raw else raw.strip()
        if line and not line.startswith("#"):
            out.append(raw.strip())
    return out


def _resolve_owner(owner: str) -> Any:
    if owner == "paramiko":
        return paramiko
    if owner.startswith("paramiko."):
        return importlib.import_module(owner)
    if owner == "util":
        return paramiko.util
    return getattr(paramiko, owner)


def _params(text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, default = part.partition("=")
        out.append((name.strip(), default.strip() or None))
    return out


def _check_signature(func: Any, params: list[tuple[str, str | None]], where: str) -> None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return  # builtins without signatures
    names = sig.parameters
    has_varargs = any(p.kind is p.VAR_POSITIONAL for p in names.values())
    has_varkw = any(p.kind is p.VAR_KEYWORD for p in names.values())
    for name, default in params:
        if name.startswith("**"):
            assert has_varkw, f"{where}: no **kwargs"
        elif name.startswith("*"):
            assert has_varargs, f"{where}: no *args"
        elif name in names:
            if default is not None:
                assert names[name].default is not inspect.Parameter.empty, f"{where}: {name} needs a default"
        else:
            assert has_varargs or has_varkw, f"{where}: no parameter {name!r}"


@pytest.mark.parametrize("entry", _entries())
def test_documented_name_resolves(entry: str) -> None:
    spec = entry.split("  ")[0].strip()
    kind = entry.split()[-1] if entry.split()[-1] in ("static", "classmethod") else None
    m = LINE.match(spec)
    assert m, f"unparsed API line {entry!r}"
    owner = _resolve_owner(m["owner"])
    name = m["name"]
    assert hasattr(owner, name) or _instance_has(owner, name), f"{m['owner']}.{name} is missing"
    if m["params"] is None:
        return
    obj = inspect.getattr_static(owner, name) if inspect.isclass(owner) else getattr(owner, name)
    if kind == "static":
        assert isinstance(obj, (staticmethod, classmethod)), f"{spec} should be static"
    if kind == "classmethod":
        assert isinstance(obj, classmethod), f"{spec} should be a classmethod"
    params = [p for p in _params(m["params"]) if p[0] not in ("self", "selfclass")]
    _check_signature(getattr(owner, name), params, spec)


def _instance_has(owner: Any, name: str) -> bool:
    """Attributes set in __init__ (SFTPAttributes.st_size, ...)."""
    if not inspect.isclass(owner):
        return False
    try:
        instance = owner()
    except TypeError:
        return False
    return hasattr(instance, name)


def test_version() -> None:
    assert re.match(r"^\d+\.\d+", paramiko.__version__)
