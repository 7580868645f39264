"""The package's shape: the import layers hold, no module is too long, imports sit at module level."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dipnb"


def test_import_layers_contract_is_kept():
    """`lint-imports` (.importlinter): no cycle inside dipnb, no import from a lower layer up."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.is_file():
        pytest.skip("import-linter is not installed (make venv installs it)")
    r = subprocess.run([str(exe), "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}, f"split these modules (one idea per file): {long}"


def function_level_dipnb_imports(path: Path) -> list[int]:
    """Line numbers of ``import dipnb…`` / ``from dipnb… import`` statements inside functions."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("dipnb"):
                    lines.append(sub.lineno)
                elif isinstance(sub, ast.Import) and any(a.name.startswith("dipnb") for a in sub.names):
                    lines.append(sub.lineno)
    return lines


@pytest.mark.parametrize("part", ["pix2pix", "_io.py", "checks.py", "data.py", "config.py", "images.py"])
def test_dipnb_imports_at_module_level(part):
    """With layers that import only downwards there is no cycle to dodge by importing inside a function."""
    target = PACKAGE / part
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    found = {str(p.relative_to(ROOT)): lines for p in files if (lines := function_level_dipnb_imports(p))}
    assert found == {}


def test_tests_say_what_they_check_not_which_issue_asked():
    """Tests are grouped by the package and named for behaviour: no "issue N" / "failed on main" narration."""
    narration = re.compile(r"\b(issue \d+|issues? #\d+|failed on main)\b", re.IGNORECASE)
    found = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "tests").rglob("*.py") if p != Path(__file__)
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if narration.search(line)]
    assert found == [], f"say what the test checks instead: {found}"
