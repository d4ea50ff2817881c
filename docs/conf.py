"""Sphinx configuration for the ssh-stack documentation.

Sphinx rather than MkDocs because every docstring in the layers is written in
reST (``:raises X:`` field lists, ``literal`` markup, ``:class:`` roles), which
autodoc renders as written; ``-W --keep-going`` with ``nitpicky`` turns a broken
cross-reference into a failed build; and paramiko's own documentation is Sphinx,
so a paramiko user finds the layout they know.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "ssh-stack"
author = "the ssh-stack authors"
copyright = "the ssh-stack authors"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "apicheck",
    "readme_section",
]

root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = "ssh-stack: the paramiko API on a layered SSH2 stack"
html_static_path: list[str] = []

# autodoc: members follow each module's __all__; signatures show the type hints.
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = True
autoclass_content = "both"
# No napoleon: the docstrings are plain reST, and napoleon would read a
# property's "Summary: detail" first line as a type.

# Every cross-reference to one of our names must resolve (a broken one fails the
# build under -W). Names from the standard library and other packages cannot be
# linked: the build runs offline, without intersphinx inventories.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(?!ssh_wire|ssh_keys|ssh_transport|ssh_sftp|ssh_agent|paramiko)[\w.]*",
    ),
    # private helpers in signatures (type variables, internal protocols, the
    # classes of private modules such as ssh_transport.aio._pump) have no page
    (r"py:.*", r"[\w.]*\._[\w.]+"),
    # the sans-I/O core (ssh_transport.protocol) is internal and has no page;
    # the hardened preset's helpers name its preferences type
    (r"py:class", r"ssh_transport\.protocol\.negotiation\.AlgorithmPreferences"),
    # ServerPolicy.auth_answer, shared by the two drivers, takes the core's login event
    (r"py:class", r"ssh_transport\.protocol\.events\.AuthRequested"),
]

# The layers checked by the apicheck extension: every name of each module's
# __all__ must be documented somewhere in the reference.
apicheck_modules = [
    "ssh_wire",
    "ssh_keys",
    "ssh_transport",
    "ssh_transport.config",
    "ssh_transport.proxy",
    "ssh_transport.file",
    "ssh_transport.auth_strategy",
    "ssh_transport.packetizer",
    "ssh_transport.cert_policy",
    "ssh_transport.server_policy",
    "ssh_transport.admission",
    "ssh_transport.listener",
    "ssh_transport.hardened",
    "ssh_transport.aio",
    "ssh_sftp",
    "ssh_sftp.handle_quota",
    "ssh_sftp.confined",
    "ssh_sftp.session",
    "ssh_sftp.operations",
    "ssh_sftp.aio",
    "ssh_agent",
    "paramiko",
    "paramiko.client",
    "paramiko.aio",
]

# Classes outside any __all__ that public signatures name (protocols for what a
# caller passes in): documented on their layer's page, and checked like the rest.
apicheck_types = [
    "ssh_keys.ecdsakey.ECDSACurve",
    "ssh_transport.auth_strategy.AuthTransport",
    "ssh_agent.forward.AgentEndpoint",
    "ssh_agent.forward.LocalAgentEndpoint",
    "ssh_agent.forward.ForwardingTransport",
    "ssh_sftp.limits.SFTPLimits",
    "ssh_sftp.requests.RequestPolicy",
    "ssh_sftp.requests.Request",
    "ssh_sftp.aio.session.StreamReader",
    "ssh_sftp.aio.session.StreamWriter",
]
