"""The docs' own tooling can fail: the completeness check (docs/_ext/apicheck.py)
fails a build that leaves a public name out or has a public callable without a
docstring, and the README converter (docs/_ext/readme_section.py) keeps lists,
code blocks and tables intact. Needs Sphinx (installed by ``tox -e docs``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="Sphinx is installed by the docs env (tox -e docs)")

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext"
sys.path.insert(0, str(EXT))
import readme_section  # noqa: E402

MODULE = '''
"""A module for the docs check."""

__all__ = ["documented", "Undocumented", "LIMIT"]

LIMIT = 3


def documented() -> int:
    """Has a docstring."""
    return LIMIT


class Undocumented:
    def method(self) -> None:
        pass
'''


def build(tmp_path: Path, index: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "fakelayer.py").write_text(MODULE)
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "conf.py").write_text(
        textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(EXT)!r}, {str(tmp_path)!r}]
        extensions = ["sphinx.ext.autodoc", "apicheck"]
        apicheck_modules = ["fakelayer"]
        autodoc_default_options = {{"members": True, "undoc-members": True}}
        """)
    )
    (src / "index.rst").write_text(index)
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "sphinx", "-E", "-q", "-W", "--keep-going", "-b", "html", str(src), out]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_a_missing_name_and_a_missing_docstring_fail_the_build(tmp_path: Path) -> None:
    result = build(tmp_path, "Fake\n====\n\n.. autofunction:: fakelayer.documented\n")
    assert result.returncode != 0
    assert "fakelayer.Undocumented is in __all__ but not in the reference" in result.stderr
    assert "fakelayer.LIMIT is in __all__ but not in the reference" in result.stderr
    assert "fakelayer.documented is in __all__" not in result.stderr


def test_a_complete_reference_passes_except_for_the_missing_docstrings(tmp_path: Path) -> None:
    result = build(tmp_path, "Fake\n====\n\n.. automodule:: fakelayer\n\n.. constants:: fakelayer\n")
    assert "not in the reference" not in result.stderr
    assert "public class fakelayer.Undocumented has no docstring" in result.stderr
    assert "public method fakelayer.Undocumented.method has no docstring" in result.stderr
    assert result.returncode != 0


def test_readme_section_conversion() -> None:
    text = textwrap.dedent("""\
        # Title

        ## Wanted
        Intro with `code` and a [link](https://example.org).
        **Bold**:
        - one item
          continued
        - two
        After the list.

        ```sh
        pip install x
        ```

        | a | b |
        |---|--:|
        | `1` | 2 |

        ## Next
        not included
        """)
    rest = readme_section.to_rest(readme_section.section(text, "Wanted"))
    assert rest[:2] == ["Intro with ``code`` and a `link <https://example.org>`__.", "**Bold**:"]
    assert rest[2:6] == ["", "- one item", "  continued", "- two"]
    assert rest[6:8] == ["", "After the list."]
    assert ".. code-block:: shell" in rest and "   pip install x" in rest
    assert "   * - ``1``" in rest and "     - 2" in rest
    assert "not included" not in "\n".join(rest)
    with pytest.raises(ValueError, match="no section '## Missing'"):
        readme_section.section(text, "Missing")
