"""Design rules a linter cannot see: one module per client library, and a pure core with no clock.

The layering itself is checked by import-linter (`lint-imports`, contracts in pyproject.toml).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "predictor"

# Each client library is imported in exactly one module.
CLIENT_HOMES = {
    "prometheus_api_client": "predictor.sources.prometheus",
    "kubernetes": "predictor.actuation.kubernetes",
    "prophet": "predictor.forecasting.models.prophet_model",
    "apscheduler": "predictor.daemon.scheduler",
    "holidays": "predictor.events.calendars",
}
PURE_CORE = (
    "predictor.actuation.lease",
    "predictor.actuation.pods",
    "predictor.actuation.scaledobject",
    "predictor.capacity",
    "predictor.events",
    "predictor.planning",
    "predictor.simulation",
    "predictor.sources.regular",
    "predictor.sources.synthetic",
)
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


@functools.cache  # parsed once for all the rules; no test changes a tree
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


def clock_reads(tree: ast.Module) -> list[str]:
    """Calls like ``datetime.now()``, ``pd.Timestamp.now()``, ``time.time()``, and ``import time``."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}()")
        if isinstance(node, ast.Import) and any(alias.name == "time" for alias in node.names):
            found.append(f"line {node.lineno}: import time")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found.append(f"line {node.lineno}: from time import ...")
    return found


def test_the_pure_core_never_reads_the_clock():
    offenders = [
        f"{name} {where}"
        for name, tree in modules().items()
        if name.startswith(PURE_CORE)
        for where in clock_reads(tree)
    ]
    assert offenders == []


def test_the_clock_check_would_catch_a_clock_read():
    tree = ast.parse("import time\nimport pandas as pd\nnow = pd.Timestamp.now(tz='UTC')\nplan.now\n")
    assert clock_reads(tree) == ["line 1: import time", "line 3: .now()"]


def test_the_command_line_starts_without_matplotlib():
    """Plots are drawn on request only: every command starts without paying for matplotlib."""
    import subprocess
    import sys

    code = "import sys, predictor.cli.main; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
