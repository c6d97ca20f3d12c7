"""The layers keep their rules: the core imports no I/O, no Pulumi, no Docker, no outer layer."""
import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

CORE = sorted((ROOT / "kindreg" / "core").glob("*.py"))
# Modules that talk to the outside world or to the outer layers.
FORBIDDEN_IN_CORE = {"subprocess", "socket", "ssl", "shutil", "tempfile", "urllib.request", "http", "requests",
                     "pulumi", "pulumi_docker", "pulumi_command", "docker", "oras",
                     "kindreg.adapters", "kindreg.ops", "kindreg.cli", "components"}
FORBIDDEN_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "glob", "rglob",
                   "iterdir", "mkdir", "unlink"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            out.add(fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", ""))
    return out


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_the_core_imports_no_io_and_no_outer_layer(path):
    bad = {m for m in imports(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_CORE)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    assert not (calls(path) & FORBIDDEN_CALLS), f"{path.name} does file I/O: {sorted(calls(path) & FORBIDDEN_CALLS)}"


def test_the_check_can_fail(tmp_path):
    leaky = tmp_path / "leaky.py"
    leaky.write_text("import subprocess\nfrom pathlib import Path\nPath('x').read_text()\n")
    assert "subprocess" in imports(leaky) and "read_text" in calls(leaky)


def test_adapters_do_not_import_operations_or_the_cli():
    for path in (ROOT / "kindreg" / "adapters").glob("*.py"):
        bad = {m for m in imports(path) if m.startswith(("kindreg.ops", "kindreg.cli", "components"))}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_components_use_no_adapter_that_reaches_docker_directly():
    for path in (ROOT / "components").glob("*.py"):
        bad = {m for m in imports(path) if m.startswith(("kindreg.adapters.engine", "kindreg.ops", "kindreg.cli"))}
        assert not bad, f"{path.name} imports {sorted(bad)}"
