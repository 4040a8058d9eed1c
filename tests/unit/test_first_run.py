"""The README's two fresh-machine commands, and the CI script that runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_the_readme_has_exactly_two_commands_and_both_use_a_virtual_environment():
    install, tests = quick_start_commands()
    # Debian's python3 refuses a bare pip install (PEP 668): everything goes through .venv.
    # The environment borrows the system's pip, so it works without Debian's python3-venv too.
    assert install == (
        "python3 -m venv --system-site-packages --without-pip .venv"
        " && .venv/bin/python -m pip install . && .venv/bin/predictor demo"
    )
    assert tests == "bash tests/run.sh"


def test_ci_runs_exactly_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in script.splitlines() if line.strip() and not line.startswith(("#", "set "))]
    assert commands == [quick_start_commands()[1]]


def test_the_test_script_installs_into_the_venv_and_runs_every_check():
    script = (REPO / "tests" / "run.sh").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    assert '"$PYTHON" -m venv .venv' in lines
    pip = [line for line in lines if "pip install" in line]
    assert pip and all(line.startswith(".venv/bin/python -m pip install") for line in pip)
    for check in (
        ".venv/bin/python -m ruff check .",
        ".venv/bin/python -m ruff format --check .",
        ".venv/bin/lint-imports",
        ".venv/bin/mypy predictor",
        ".venv/bin/python -m pytest -q",
    ):
        assert check in lines, check
    assert "set -euo pipefail" in lines  # every check fails the run
    assert any("tests.support.keda_crd" in line for line in lines)
