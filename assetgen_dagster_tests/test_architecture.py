"""The package's import rules: the layers written in pyproject.toml hold (``lint-imports``), and no
module reaches itself through its imports (no import circle)."""

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

from .conftest import PROJECT_ROOT

PACKAGE = "assetgen_dagster"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the contracts of ``root/pyproject.toml``, on the package found in ``root``."""
    return subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=root,
                          capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_layers_hold():
    result = lint_imports(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """The contract is not vacuous: the engine importing the registry (a layer above it) fails it."""
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(PROJECT_ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
    common = tmp_path / PACKAGE / "engine" / "common.py"
    common.write_text(common.read_text() + "\nfrom assetgen_dagster import registry  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "assetgen_dagster.engine.common -> assetgen_dagster.registry" in result.stdout


def import_cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of modules (more than one module) in the package's import graph,
    counting imports inside functions and leaving out those under ``if TYPE_CHECKING:``."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    edges = {module: graph.find_modules_directly_imported_by(module) & graph.modules for module in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:  # Tarjan's algorithm, iteratively
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_no_module_imports_itself_through_others():
    assert import_cycles(PACKAGE) == []


def test_the_cycle_check_finds_a_circle_even_through_a_function_level_import(tmp_path, monkeypatch):
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("def later():\n    from circle import a\n")
    (package / "c.py").write_text("from circle import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("circle") == [["circle.a", "circle.b"]]
