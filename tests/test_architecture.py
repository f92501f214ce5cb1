"""The house plan, checked on the source: leaves never import monitor/, stage rooms never import
each other, no import cycle (function-level imports count), and `--help` loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("monitor", "collectors", "models", "alerts")
LEAVES = ("collectors", "models", "alerts")
STAGES = ("monitor.collection", "monitor.alerting", "monitor.reporting", "monitor.service")


def _module_name(path: Path) -> str:
    parts = (path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.name)).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every project module `path` imports, at any depth of the file (TYPE_CHECKING blocks skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    this = _module_name(path)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = this.rsplit(".", node.level - (1 if path.name == "__init__.py" else 0))[0]
                base = f"{package}.{base}" if base else package
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this and name.split(".")[0] in PACKAGES:
                yield name


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(path, modules)) for name, path in modules.items()}


def _room(module: str) -> str | None:
    return next((s for s in STAGES if module == s or module.startswith(s + ".")), None)


def test_leaves_never_import_monitor() -> None:
    wrong = sorted(
        f"{m} imports {d}"
        for m, deps in _graph().items()
        if m.split(".")[0] in LEAVES
        for d in deps
        if d.split(".")[0] == "monitor"
    )
    assert wrong == []


def test_stage_rooms_never_import_each_other() -> None:
    wrong = sorted(
        f"{m} imports {d}"
        for m, deps in _graph().items()
        for d in deps
        if _room(m) and _room(d) and _room(m) != _room(d)
    )
    assert wrong == []


def test_the_shared_core_imports_no_stage_room() -> None:
    """config, schema, db, sqlparts, scoring...: everything but the rooms, compose and the CLI."""
    core = [
        m
        for m in _graph()
        if m.startswith("monitor.") and not _room(m) and not m.startswith(("monitor.cli", "monitor.compose"))
    ]
    assert "monitor.schema" in core and "monitor.scoring" in core
    wrong = sorted(f"{m} imports {d}" for m in core for d in _graph()[m] if _room(d))
    assert wrong == []


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    """The aggregate <-> overperformance cycle was hidden by an import inside a function."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from monitor.config import Settings\n", encoding="utf-8")
    assert set(_imports(source, {"monitor.config": Path("x")})) == {"monitor.config"}


HEAVY = ("sqlalchemy", "alembic", "httpx", "torch", "transformers", "onnxruntime", "atproto", "mastodon",
         "apscheduler", "numpy", "prometheus_client")  # fmt: skip


@pytest.mark.parametrize("args", [["--help"], ["status", "--help"], ["export", "posts", "--help"]])
def test_help_loads_no_heavy_library(args: list[str]) -> None:
    """`--help` must answer at once: the command modules load their libraries on first use."""
    code = (
        "import sys\nfrom monitor.cli.main import cli\n"
        f"try:\n    cli({args!r}, prog_name='diplomonitor')\nexcept SystemExit:\n    pass\n"
        f"loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)\nprint('LOADED', loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Usage:" in out
    assert out.splitlines()[-1] == "LOADED []"
