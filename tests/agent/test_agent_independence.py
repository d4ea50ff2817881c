"""ssh-agent needs only ssh-wire and ssh-keys: in the `agent` tox env the
transport is not installed, and the agent still works."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from agent_peer import RunningAgent

import ssh_agent

pytestmark = pytest.mark.timeout(60)

UPPER = ("ssh_transport", "ssh_sftp", "paramiko")


def test_importing_ssh_agent_loads_no_upper_layer() -> None:
    code = (
        "import sys, ssh_agent, ssh_agent.agent, ssh_agent.forward, ssh_agent.protocol\n"
        "ssh_agent.agent.AgentRequestHandler\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {UPPER!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "[]"


def test_source_never_imports_an_upper_layer() -> None:
    package_dir = Path(ssh_agent.__file__).parent
    files = sorted(package_dir.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in UPPER, f"{path.name} imports {name}"


def test_transport_absent_and_agent_works(real_agent: RunningAgent) -> None:
    if importlib.util.find_spec("ssh_transport") is not None:
        pytest.skip("ssh_transport is installed here; this checks the agent-only env")
    with pytest.raises(ImportError):
        import ssh_transport  # noqa: F401
    with ssh_agent.Agent(path=real_agent.sock) as agent:
        keys = agent.get_keys()
        assert len(keys) == 3
        for key in keys:
            assert key.verify_ssh_sig(b"alone", key.sign_ssh_data(b"alone"))
