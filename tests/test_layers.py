"""The layering of docs/architecture.md: every import (at module level or inside a function) goes
downward, and no modules import each other in a cycle."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "diff9d_ros"

#: Rank of each group of modules, bottom (0) to top; a module may import its own group or a lower
#: rank. A group is a top-level module or package of diff9d_ros, except that ``ros/nodes/`` and
#: every subsystem's ``commands`` module (``diff9d`` subcommands) are entry points of their own.
RANKS: dict[str, int] = {
    "diff9d_ros": 0,
    "nocs": 0,
    "atomic_files": 0,
    "log_throttle": 0,
    "resources": 0,
    "device": 0,
    "threads": 0,
    "validation": 0,
    "diffusion": 1,
    "geometry": 1,
    "training": 1,
    "onnx_export": 1,
    "synth": 2,
    "pose": 3,
    "trajectory": 3,
    "grasp": 3,
    "pipeline": 4,
    "stages": 5,
    "overlay": 5,
    "ros": 6,
    "bag": 7,
    "sources": 8,
    "runner": 9,
    "ros.nodes": 9,
    "people_runner": 10,
    "commands": 11,
    "run_commands": 11,
    "cli": 12,
    "manual": 13,
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _group(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "diff9d_ros"
    if parts[1:3] == ["ros", "nodes"]:
        return "ros.nodes"
    if len(parts) > 2 and parts[-1] == "commands":
        return "commands"
    return parts[1]


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("diff9d_ros"):
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("diff9d_ros"))
        graph[_module(path)] = targets
    return {module: {t for t in targets if t in graph and t != module} for module, targets in graph.items()}


def test_every_group_has_a_rank() -> None:
    assert {_group(module) for module in _imports()} <= set(RANKS)


def test_imports_go_downward_only() -> None:
    upward = [
        f"{module} ({_group(module)}) imports {target} ({_group(target)})"
        for module, targets in _imports().items()
        for target in targets
        if _group(module) != _group(target) and RANKS[_group(target)] >= RANKS[_group(module)]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = _imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # a package's __init__ re-exporting its submodules is not a cycle of code
    cycles = [c for c in cycles if not any(b.startswith(f"{a}.") for a, b in itertools.pairwise(c))]
    assert not cycles, cycles
