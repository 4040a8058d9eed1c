"""Running the installed ``predictor`` console script as a user would, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def predictor(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run the installed ``predictor`` console script (``python -m predictor`` if there is none)."""
    script = Path(sys.executable).with_name("predictor")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "predictor"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTOR_")}
    return subprocess.run(
        [*command, *args],
        env={**environment, "COLUMNS": "80", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def one_error(done, code: int) -> str:
    """The single error line of a failed run, after checking its exit code and that it is one line."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The same command as :func:`predictor`, run on the console script's app in this process.

    The console script is the app itself, so what differs is only the start of a process: for the
    many cases of one kind, where one of them goes through :func:`predictor`. An exception that
    escapes the app fails the test here (a user would see a traceback); an exit is its code.
    """
    from typer.testing import CliRunner

    from predictor.cli.main import app

    unset = {k: None for k in os.environ if k.startswith("PREDICTOR_")}
    result = CliRunner().invoke(
        app, list(args), env={**unset, "COLUMNS": "80", **(env or {})}, catch_exceptions=False
    )
    return subprocess.CompletedProcess(["predictor", *args], result.exit_code, result.stdout, result.stderr)
