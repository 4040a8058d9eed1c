#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine with Python 3.11, then run the
# linters, the architecture contract and the whole test suite. `.ci/run` calls exactly this.
#
#   1. the Prometheus server (Debian package) for the integration tests, when running as root;
#   2. predictor itself, editable, with its dev extra (pytest, hypothesis, ruff, mypy, import-linter);
#   3. ruff (lint + format check), lint-imports (layering), pytest.
#
# A missing component is a failure, never a skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "== installing the Prometheus server (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "prometheus/promtool not found and not root: install them with" >&2
    echo "  sudo apt-get install -y --no-install-recommends prometheus" >&2
    echo "(the integration tests will fail without them)" >&2
  fi
fi

echo "== installing predictor with its dev extra"
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== ruff"
python3 -m ruff check .
python3 -m ruff format --check .

echo "== import layering (import-linter)"
lint-imports

echo "== pytest"
python3 -m pytest -q
