"""The package's layers import only downward, and `ucfdvs` is the one top-level import name.

Layers, bottom to top: core (`ucfdvs/` itself, `ucfdvs.events`), `neuro_runtime`, `train`, `export`,
`benchmarks`, the CLI. Every import statement of every module is read (function-level ones too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "neuro_runtime", "train", "export", "benchmarks", "cli"]
FOLDERS = {"core": ROOT / "ucfdvs", "neuro_runtime": ROOT / "neuro_runtime", "train": ROOT / "train",
           "export": ROOT / "export", "benchmarks": ROOT / "benchmarks"}
# Third-party packages a layer must not import (the NIR runtime stands alone: numpy, nir, Lava).
FORBIDDEN_THIRD_PARTY = {"core": {"torch", "spikingjelly", "lava", "nirtorch", "snntorch"},
                         "neuro_runtime": {"torch", "spikingjelly", "nirtorch", "snntorch"}}


def layer_of_module(name: str) -> str | None:
    """The layer of an absolute module name, or None for a module outside the package."""
    parts = name.split(".")
    if parts[0] != "ucfdvs":
        return None
    if len(parts) == 1:
        return "core"
    if parts[1] in FOLDERS and parts[1] != "core":
        return parts[1]
    return "cli" if parts[1] == "cli" else "core"


def layer_of_file(path: Path) -> str:
    if path == ROOT / "ucfdvs" / "cli.py":
        return "cli"
    for layer, folder in FOLDERS.items():
        if folder in path.parents:
            return layer
    raise AssertionError(path)


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            found.append((node.lineno, node.module or ""))
    return found


def package_files() -> list[Path]:
    return sorted(p for folder in FOLDERS.values() for p in folder.rglob("*.py"))


def test_the_layers_import_only_downward() -> None:
    problems = []
    for path in package_files():
        own = layer_of_file(path)
        for line, module in imports(path):
            top = module.split(".")[0]
            if top in {"train", "export", "neuro_runtime", "benchmarks"}:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module} (not under ucfdvs)")
            target = layer_of_module(module)
            if target is not None and LAYERS.index(target) > LAYERS.index(own):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {module} ({target} is above it)")
            if top in FORBIDDEN_THIRD_PARTY.get(own, set()):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {own} imports {module}")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ucfdvs.train.layout import FeatureLayout\n")
    assert (2, "ucfdvs.train.layout") in imports(bad)
    assert LAYERS.index(layer_of_module("ucfdvs.train.layout")) > LAYERS.index("neuro_runtime")
    assert layer_of_module("ucfdvs.errors") == "core" and layer_of_module("ucfdvs.cli") == "cli"


def test_no_module_edits_sys_path() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in package_files() if "sys.path" in p.read_text()]
    assert not offenders


@pytest.mark.parametrize("statement", [
    "import ucfdvs.neuro_runtime",
    "import ucfdvs.cli; ucfdvs.cli.build_parser()",
])
def test_imports_work_beside_a_users_own_train_and_export(tmp_path: Path, statement: str) -> None:
    """A research folder holding its own train.py, export.py and benchmarks/ package shadows nothing of ours."""
    (tmp_path / "train.py").write_text("raise SystemExit('the user train.py ran')\n")
    (tmp_path / "export.py").write_text("raise SystemExit('the user export.py ran')\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("raise SystemExit('the user benchmarks ran')\n")
    result = subprocess.run([sys.executable, "-c", statement + "; print('fine')"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "fine", result.stderr


def test_the_runtime_imports_no_training_code() -> None:
    """`import ucfdvs.neuro_runtime` loads neither torch nor any module of train/export/benchmarks."""
    code = ("import sys, ucfdvs.neuro_runtime as r; r.load_graph; "
            "bad = [m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith(('ucfdvs.train', "
            "'ucfdvs.export', 'ucfdvs.benchmarks'))]; print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
