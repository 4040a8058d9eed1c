"""Design rules a linter cannot see: one module per client library, and a pure core with no clock.

The layering itself is checked by import-linter (`lint-imports`, contracts in pyproject.toml).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "predictor"

# Each client library is imported in exactly one module.
CLIENT_HOMES = {
    "prometheus_api_client": "predictor.sources.prometheus",
    "kubernetes": "predictor.actuation.kubernetes",
    "prophet": "predictor.forecasting.models.prophet_model",
    "apscheduler": "predictor.daemon.scheduler",
}
PURE_CORE = (
    "predictor.capacity",
    "predictor.planning",
    "predictor.sources.regular",
    "predictor.sources.synthetic",
)
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "_bundled" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def imported_roots(tree: ast.Module) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("library", sorted(CLIENT_HOMES))
def test_each_client_library_has_one_home(library):
    importers = {name for name, tree in modules().items() if library in imported_roots(tree)}
    assert importers <= {CLIENT_HOMES[library]}


def test_the_pure_core_never_reads_the_clock():
    offenders = []
    for name, tree in modules().items():
        if not name.startswith(PURE_CORE):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS:
                offenders.append(f"{name}: .{node.attr}")
            if isinstance(node, ast.Name) and node.id in {"time", "datetime"}:
                offenders.append(f"{name}: {node.id}")
    assert offenders == []
