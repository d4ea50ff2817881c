"""``.. readme-section:: TITLE``: a section of the top-level README.md, in the docs.

The migration and performance guides show the README's own sections (its
"A drop-in for paramiko 5.x" and "Speed"), so the two cannot drift apart. The
README uses a small part of Markdown, converted here to reST: paragraphs,
``**bold**``, inline code, links, bullet lists, fenced code blocks and pipe
tables. Anything else in those sections would show up as literal text, and a
title that is not in the README fails the build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

README = Path(__file__).resolve().parents[2] / "README.md"


def section(text: str, title: str) -> list[str]:
    """The lines under ``## title`` up to the next heading of that level or above."""
    lines = text.splitlines()
    try:
        start = lines.index(f"## {title}") + 1
    except ValueError:
        raise ValueError(f"README.md has no section '## {title}'") from None
    end = next(
        (i for i in range(start, len(lines)) if re.match(r"#{1,2} ", lines[i])),
        len(lines),
    )
    return lines[start:end]


def inline(text: str) -> str:
    """Markdown inline markup -> reST."""
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"`\1 <\2>`__", text)
    # `code` -> ``code`` (not touching the link syntax made above)
    return re.sub(r"(?<![`\w])`([^`]+)`(?![`_])", r"``\1``", text)


def _table(rows: list[str]) -> list[str]:
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    body = [cells[0], *cells[2:]]  # the second row is the |---| rule
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in body:
        out += [f"   * - {inline(row[0]) or ' '}"] + [
            f"     - {inline(c) or ' '}" for c in row[1:]
        ]
    return [*out, ""]


def to_rest(lines: list[str]) -> list[str]:
    """Convert the README's Markdown subset to reST lines."""
    out: list[str] = []
    in_list = False
    i = 0
    while i < len(lines):
        line = lines[i]
        # Markdown lets a list touch the paragraph around it; reST needs blank lines
        if line.startswith("- ") and not in_list:
            in_list = True
            if out and out[-1]:
                out.append("")
        elif in_list and line and not line.startswith(("- ", "  ")):
            in_list = False
            out.append("")
        if line.startswith("```"):
            lang = line[3:].strip() or "text"
            out += [f".. code-block:: {'shell' if lang == 'sh' else lang}", ""]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(f"   {lines[i]}" if lines[i] else "")
                i += 1
            out.append("")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += _table(rows)
            continue
        elif line.startswith("### "):
            # a sibling of the page's own "-" sections that follow the directive
            title = inline(line[4:])
            out += [title, "-" * len(title), ""]
        else:
            out.append(inline(line))
        i += 1
    return out


class ReadmeSection(SphinxDirective):
    """Insert one ``##`` section of README.md, converted to reST."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(README))
        rest = to_rest(section(README.read_text(encoding="utf-8"), self.arguments[0]))
        container = nodes.container()
        # with titles: the section's "###" subsections become sections
        lines = StringList(rest, source=str(README))
        nested_parse_with_titles(self.state, lines, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("readme-section", ReadmeSection)
    return {"version": "1", "parallel_read_safe": True}
