"""``private_reaches``: where a module touches another object's private
attributes, found on its source (so that a new reach fails a test)."""

from __future__ import annotations

import ast
from pathlib import Path


def _is_self(node: ast.expr) -> bool:
    """``self``/``cls`` itself, or ``super()`` (the object's own class chain)."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def private_reaches(path: Path) -> list[str]:
    """Every ``x._name`` in ``path`` where ``x`` is not ``self``, ``cls``
    or ``super()``: another object's private (``other._a``), including
    through one of ours (``self._conn._pump``). Dunder names are public."""
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        if _is_self(node.value):
            continue
        found.append((node.lineno, node.col_offset, ast.unparse(node)))
    return [f"{path.name}:{line}: {text}" for line, _col, text in sorted(found)]
