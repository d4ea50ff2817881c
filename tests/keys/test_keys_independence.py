"""ssh-keys stands alone: it needs only ssh-wire, cryptography and bcrypt, and
never imports a higher layer (in the `keys` tox env no higher layer exists)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import ssh_keys

UPPER = ("ssh_transport", "ssh_sftp", "ssh_agent", "paramiko")


def test_transport_is_absent_in_the_keys_only_env() -> None:
    if importlib.util.find_spec("ssh_transport") is not None:
        pytest.skip("ssh_transport is installed (full env); this check is for the keys-only env")
    with pytest.raises(ImportError):
        import ssh_transport  # noqa: F401


@pytest.mark.timeout(60)
def test_everything_works_without_loading_upper_layers(tmp_path: Path) -> None:
    code = f"""
import sys
import ssh_keys
k = ssh_keys.Ed25519Key.generate()
k.write_private_key_file({str(tmp_path / "id")!r}, "pw")
k2 = ssh_keys.PKey.from_private_key_file({str(tmp_path / "id")!r}, "pw")
assert k2.verify_ssh_sig(b"x", k.sign_ssh_data(b"x"))
hk = ssh_keys.HostKeys()
hk.add(ssh_keys.HostKeys.hash_host("h"), k.get_name(), k)
assert hk.check("h", k)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {UPPER!r})
assert not loaded, loaded
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_no_source_file_imports_an_upper_layer() -> None:
    src = Path(ssh_keys.__file__).parent
    for path in src.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in UPPER, f"{path.name} imports {name}"
