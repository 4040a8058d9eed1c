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
#   4. kubectl >= 1.27 (the tests drive the real kubectl against the fake API server and render
#      deploy/ with `kubectl kustomize`): the one on PATH, else .venv/bin/kubectl, else a download
#      of the pinned release into .venv/bin, checked against its published sha256. Debian 12 has no
#      usable package (its kubernetes-client is 1.20, too old for kustomize components); one line
#      says how to provide it when none works;
#   5. ruff (lint + format check), lint-imports (layering), mypy, pytest.
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

echo "== kubectl"
KUBECTL_VERSION="v1.32.4"
export PATH="$PWD/.venv/bin:$PATH"
kubectl_minor() {
  kubectl version --client -o json 2>/dev/null \
    | .venv/bin/python -c 'import json, re, sys; print(int(re.match(r"\d+", json.load(sys.stdin)["clientVersion"]["minor"])[0]))' \
    2>/dev/null || echo 0
}
if [ "$(kubectl_minor)" -lt 27 ]; then
  arch="$(uname -m)"; case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
  url="https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl"
  echo "kubectl >= 1.27 not on PATH: downloading $url"
  if reason="$(.venv/bin/python - "$url" .venv/bin/kubectl.part 2>&1 <<'PY'
import hashlib, sys, urllib.request
url, out = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=120) as r:
        data = r.read()
    with urllib.request.urlopen(url + ".sha256", timeout=30) as r:
        expected = r.read().decode().split()[0]
except OSError as e:
    sys.exit(str(e))
if hashlib.sha256(data).hexdigest() != expected:
    sys.exit(f"sha256 mismatch for {url}")
with open(out, "wb") as f:
    f.write(data)
PY
  )"; then
    chmod +x .venv/bin/kubectl.part && mv .venv/bin/kubectl.part .venv/bin/kubectl
  else
    rm -f .venv/bin/kubectl.part
    echo "error: kubectl >= 1.27 not found and the download of $url failed ($reason); install" \
      "kubectl (https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/) or copy it to .venv/bin/kubectl" >&2
    exit 1
  fi
fi
kubectl version --client 2>/dev/null | sed -n 1p

echo "== ruff"
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .

echo "== import layering (import-linter)"
.venv/bin/lint-imports

echo "== mypy"
.venv/bin/mypy predictor

echo "== pytest"
.venv/bin/python -m pytest -q
