"""Keep the reference complete: a Sphinx extension for this project's docs.

- A layer page documents what the layer defines; a name it only re-exports from
  a lower layer (``ssh_keys.SSHException`` is ``ssh_wire``'s) is skipped there and
  listed by the ``reexports`` directive with a link to where it is documented,
  so nothing is described twice.
- ``constants`` documents a module's exported constants with their values
  (autodoc leaves out module data that a package imports from a submodule).
- ``signature-types`` documents the classes listed in ``apicheck_types``:
  types that public signatures name but no ``__all__`` exports.
- ``paramiko-namespace`` builds the table of ``paramiko.<name>`` -> the layer
  object it is, from ``paramiko.__all__`` at build time.
- Base classes shown are public ones: internal mixins are left out.
- A public class, function, method or property without a docstring is a warning.
- When reading is done, every name of every module in ``apicheck_modules``
  must have been documented, under its own name or the object's defining one;
  a name that is not is a warning, which ``-W`` turns into a failed build.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

LAYERS = ("ssh_wire", "ssh_keys", "ssh_transport", "ssh_sftp", "ssh_agent", "paramiko")


def _defining_name(obj: Any) -> str | None:
    """``module.qualname`` where ``obj`` is defined, for classes and functions."""
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module and qualname:
            return f"{module}.{qualname}"
    return None


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _modules(app: Sphinx) -> list[ModuleType]:
    """The modules whose ``__all__`` the reference must cover."""
    return [importlib.import_module(m) for m in app.config.apicheck_modules]


def _is_constant(obj: Any) -> bool:
    return not (
        inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, ModuleType)
    )


# ---- autodoc hooks -------------------------------------------------------------


def _current_module(env: BuildEnvironment) -> str | None:
    """The module autodoc is documenting right now (Sphinx 8.2+ and older)."""
    current = getattr(env, "current_document", None)
    name = getattr(current, "autodoc_module", None)
    if name:
        return str(name)
    return getattr(env, "temp_data", {}).get("autodoc:module")


def skip_reexports(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """autodoc-skip-member: leave a lower layer's names to that layer's page."""
    if what != "module":
        return None
    defining = _defining_name(obj)
    documented = _current_module(app.env)
    if (
        defining
        and documented
        and _top(defining) in LAYERS
        and _top(defining) != _top(documented)
    ):
        return True
    return None


def hide_internal_bases(
    app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]
) -> None:
    """autodoc-process-bases: show public bases only, not our internal mixins."""
    public = {
        id(getattr(m, n, None))
        for m in _modules(app)
        for n in getattr(m, "__all__", ())
    }
    extra = set(app.config.apicheck_types)
    bases[:] = [
        b
        for b in bases
        if _top(getattr(b, "__module__", "") or "") not in LAYERS
        or id(b) in public
        or _defining_name(b) in extra
    ]


def warn_undocumented(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """autodoc-process-docstring: a public callable without a docstring is a warning."""
    if what not in ("class", "exception", "function", "method", "property"):
        return
    ours = set(LAYERS) | {_top(m) for m in app.config.apicheck_modules}
    if name.rsplit(".", 1)[-1].startswith("_") or _top(name) not in ours:
        return
    if not any(line.strip() for line in lines):
        logger.warning(
            "public %s %s has no docstring",
            what,
            name,
            type="apicheck",
            subtype="docstring",
        )


# ---- the coverage check ----------------------------------------------------------


def _documented(
    objects: dict[str, Any], modules: list[ModuleType], module: ModuleType, name: str
) -> bool:
    """True if ``module.name`` is in the reference under some name."""
    if f"{module.__name__}.{name}" in objects:
        return True
    obj = getattr(module, name, None)
    if isinstance(obj, ModuleType):
        return obj.__name__ in objects
    defining = _defining_name(obj)
    if defining:
        return defining in objects
    # a constant that another checked module exports and documents
    return any(
        name in getattr(other, "__all__", ())
        and getattr(other, name, None) is obj
        and f"{other.__name__}.{name}" in objects
        for other in modules
    )


def _exported_elsewhere(modules: list[ModuleType], name: str) -> bool:
    """True if the class ``name`` is exported (and so documented) by a package."""
    return any(
        _defining_name(getattr(m, n, None)) == name for m in modules for n in m.__all__
    )


def check_coverage(app: Sphinx, env: BuildEnvironment) -> None:
    """env-check-consistency: every ``__all__`` name must be in the reference."""
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    modules = _modules(app)
    missing = 0
    for module in modules:
        for name in getattr(module, "__all__", ()):
            if not _documented(objects, modules, module, name):
                missing += 1
                logger.warning(
                    "%s.%s is in __all__ but not in the reference",
                    module.__name__,
                    name,
                    type="apicheck",
                )
    for name in app.config.apicheck_types:
        if name not in objects and not _exported_elsewhere(modules, name):
            missing += 1
            logger.warning(
                "%s is listed in apicheck_types but not documented",
                name,
                type="apicheck",
            )
    checked = sum(len(getattr(m, "__all__", ())) for m in modules)
    logger.info(
        "apicheck: %d public names in %d modules, %d missing",
        checked,
        len(modules),
        missing,
    )


# ---- directives -----------------------------------------------------------------


class _RstDirective(SphinxDirective):
    def _parse(self, rows: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(
            StringList(rows, source=self.name), self.content_offset, container
        )
        return list(container.children)


def _constant_doc(package: str, name: str, value: Any) -> tuple[str, list[str]]:
    """The submodule of ``package`` defining constant ``name``, and its ``#:`` doc."""
    for modname, module in sorted(sys.modules.items()):
        if (
            not (modname == package or modname.startswith(package + "."))
            or module is None
        ):
            continue
        if getattr(module, name, None) is not value:
            continue
        try:
            attr_docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # no source to analyse
            continue
        if ("", name) in attr_docs:
            return modname, list(attr_docs["", name])
    return package, []


class Constants(_RstDirective):
    """Document the constants in a module's ``__all__`` (name, value, meaning)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        rows: list[str] = []
        for name in module.__all__:
            value = getattr(module, name)
            if not _is_constant(value):
                continue
            _, doc = _constant_doc(_top(modname), name, value)
            rows += [
                f".. py:data:: {name}",
                f"   :module: {modname}",
                f"   :value: {value!r}",
                "",
            ]
            rows += [f"   {line}" for line in doc] + [""]
        return self._parse(rows)


class SignatureTypes(_RstDirective):
    """autoclass each ``apicheck_types`` class of a layer that its ``__all__``
    does not already export (an export is documented with the package)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        layer = importlib.import_module(self.arguments[0])
        exported = {_defining_name(getattr(layer, n, None)) for n in layer.__all__}
        rows: list[str] = []
        for name in self.config.apicheck_types:
            if _top(name) == layer.__name__ and name not in exported:
                rows += [f".. autoclass:: {name}", ""]
        return self._parse(rows) if rows else []


class ParamikoNamespace(_RstDirective):
    """A table of every name in ``paramiko.__all__`` and the object it is."""

    def run(self) -> list[nodes.Node]:
        paramiko = importlib.import_module("paramiko")
        rows = [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - ``import paramiko``",
            "     - is",
        ]
        for name in sorted(paramiko.__all__, key=str.lower):
            obj = getattr(paramiko, name)
            role = "mod" if isinstance(obj, ModuleType) else "obj"
            rows += [
                f"   * - ``paramiko.{name}``",
                f"     - :py:{role}:`{self._target(name, obj)}`",
            ]
        rows.append("")
        for (
            name
        ) in paramiko.__all__:  # constants of the namespace's own, not a layer's export
            obj = getattr(paramiko, name)
            if _is_constant(obj) and self._target(name, obj) == f"paramiko.{name}":
                _, doc = _constant_doc("ssh_transport", name, obj)
                rows += [
                    f".. py:data:: {name}",
                    "   :module: paramiko",
                    f"   :value: {obj!r}",
                    "",
                ]
                rows += [f"   {line}" for line in doc] + [""]
        return self._parse(rows)

    @staticmethod
    def _target(name: str, obj: Any) -> str:
        """The documented name that ``paramiko.<name>`` links to."""
        defining = _defining_name(obj)
        if defining:
            return defining
        if isinstance(obj, ModuleType):
            return obj.__name__
        for layer in LAYERS[:-1]:
            module = importlib.import_module(layer)
            if name in module.__all__ and getattr(module, name) is obj:
                return f"{layer}.{name}"
        return f"paramiko.{name}"


class Reexports(_RstDirective):
    """List the names a layer re-exports from lower layers, linked to their pages."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module = importlib.import_module(self.arguments[0])
        refs = []
        for name in module.__all__:
            defining = _defining_name(getattr(module, name))
            if (
                defining
                and _top(defining) in LAYERS
                and _top(defining) != _top(module.__name__)
            ):
                refs.append(f":py:obj:`{name} <{defining}>`")
        if not refs:
            return []
        where = (
            f"Also importable from ``{module.__name__}``, documented in their layer:"
        )
        return self._parse([f"{where} {', '.join(refs)}."])


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives, the autodoc hooks and the coverage check."""
    app.add_config_value("apicheck_modules", [], "env")
    app.add_config_value("apicheck_types", [], "env")
    app.add_directive("constants", Constants)
    app.add_directive("paramiko-namespace", ParamikoNamespace)
    app.add_directive("reexports", Reexports)
    app.add_directive("signature-types", SignatureTypes)
    app.connect("autodoc-skip-member", skip_reexports)
    app.connect("autodoc-process-bases", hide_internal_bases)
    app.connect("autodoc-process-docstring", warn_undocumented)
    app.connect("env-check-consistency", check_coverage)
    return {"version": "1", "parallel_read_safe": True}
