#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine with Python 3.11, then run the
# linters, the type checker, the architecture contract and the whole test suite. `.ci/run` calls
# exactly this.
#
#   1. the Prometheus server (Debian package) for the integration tests, and python3-venv, when
#      running as root;
#   2. a virtual environment .venv in the repository (Debian's python3 refuses a bare `pip install`,
#      PEP 668), with predictor installed editable and its dev extra (pytest, ruff, mypy, ...);
#   3. KEDA's ScaledObject CRD for the manifest and API-server tests (tests/support/keda_crd.py):
#      $PREDICTOR_KEDA_CRD, ../shared/keda/, a cached copy, or a download; one line says how to
#      provide it when none works;
#   4. ruff (lint + format check), lint-imports (layering), mypy, pytest.
#
# A missing component is a failure, never a skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

apt_install() {
  echo "== installing $* (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    apt_install prometheus
  else
    echo "prometheus/promtool not found and not root: install them with" >&2
    echo "  sudo apt-get install -y --no-install-recommends prometheus" >&2
    echo "(the integration tests will fail without them)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating the virtual environment .venv"
  if "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    "$PYTHON" -m venv .venv
  elif "$PYTHON" -m pip --version >/dev/null 2>&1; then
    # Debian without python3-venv: the environment borrows the system's pip (python3-pip).
    "$PYTHON" -m venv --system-site-packages --without-pip .venv
  elif [ "$(id -u)" = "0" ]; then
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  else
    echo "error: $PYTHON has neither venv's pip nor pip: sudo apt-get install -y python3-venv" >&2
    exit 1
  fi
fi

echo "== installing predictor with its dev extra into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== KEDA's ScaledObject CRD"
PREDICTOR_KEDA_CRD="$(.venv/bin/python -m tests.support.keda_crd)"
export PREDICTOR_KEDA_CRD
echo "$PREDICTOR_KEDA_CRD"

echo "== ruff"
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .

echo "== import layering (import-linter)"
.venv/bin/lint-imports

echo "== mypy"
.venv/bin/mypy predictor

echo "== pytest"
.venv/bin/python -m pytest -q
