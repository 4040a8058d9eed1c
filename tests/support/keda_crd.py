"""KEDA's ScaledObject CRD (v2.20) for the tests: found, or downloaded, and checked by its sha256.

The file is KEDA's own and is never committed here. It is looked for, in order:

1. the file named by ``$PREDICTOR_KEDA_CRD``;
2. ``../shared/keda/keda.sh_scaledobjects.yaml`` beside the repository (where CI keeps it);
3. a copy downloaded earlier, in ``$XDG_CACHE_HOME/predictor`` (default ``~/.cache/predictor``);
4. a download from KEDA's v2.20.0 release tag on GitHub (``$PREDICTOR_KEDA_CRD_URL`` overrides the
   address), kept in that cache when its checksum matches.

Any file whose sha256 differs from :data:`SHA256` is refused, wherever it came from. When none is
found, :class:`CrdUnavailable` carries one line that says how to provide it.

``python -m tests.support.keda_crd`` prints the path (or the one-line problem, exit 1): tests/run.sh
calls it first, so a missing CRD stops the run at once instead of failing many tests.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from functools import cache
from pathlib import Path

VERSION = "v2.20.0"
FILE_NAME = "keda.sh_scaledobjects.yaml"
SHA256 = "af35555862a83933b074af14ad439c4b4ceabaf4daa3e9338e9b23e36d308d80"
URL = f"https://raw.githubusercontent.com/kedacore/keda/{VERSION}/config/crd/bases/{FILE_NAME}"
ENV_PATH = "PREDICTOR_KEDA_CRD"
ENV_URL = "PREDICTOR_KEDA_CRD_URL"
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "keda" / FILE_NAME
DOWNLOAD_TIMEOUT_S = 15.0
# A test server on this machine must not be reached through a proxy set in the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CrdUnavailable(RuntimeError):
    """KEDA's CRD could not be found or downloaded; the message says how to provide it."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "predictor" / f"keda-{VERSION}"


def locate(
    env: Mapping[str, str] | None = None,
    *,
    shared: Path = SHARED,
    cache_dir: Path | None = None,
) -> Path:
    """The path of the pinned CRD file (see the module docstring); CrdUnavailable otherwise."""
    env = os.environ if env is None else env
    given = env.get(ENV_PATH)
    if given:
        path = Path(given)
        if not path.is_file():
            raise CrdUnavailable(f"${ENV_PATH}={given} is not a file; {how_to_provide()}")
        _check(path, f"${ENV_PATH}={given}")
        return path
    if shared.is_file():
        _check(shared, str(shared))
        return shared
    cache_dir = cache_dir or default_cache_dir(env)
    cached = cache_dir / FILE_NAME
    if cached.is_file() and sha256_of(cached) == SHA256:
        return cached
    url = env.get(ENV_URL) or URL
    problem = download(url, cached)
    if problem is None:
        return cached
    raise CrdUnavailable(f"KEDA's ScaledObject CRD {VERSION} not found ({problem}); {how_to_provide()}")


def how_to_provide() -> str:
    return (
        f"download {URL} (sha256 {SHA256[:12]}...) and set {ENV_PATH}=/path/to/{FILE_NAME}, "
        f"or put it at ../shared/keda/{FILE_NAME}"
    )


def download(url: str, dest: Path) -> str | None:
    """Fetch ``url`` into ``dest`` if its sha256 matches; the problem as text otherwise."""
    try:
        with _NO_PROXY.open(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            body = response.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        return f"download failed: {reason}"
    digest = hashlib.sha256(body).hexdigest()
    if digest != SHA256:
        return f"the downloaded file has sha256 {digest[:12]}..., not {SHA256[:12]}..."
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        tmp.write(body)
    Path(tmp.name).replace(dest)  # atomic: parallel runs never see half a file
    return None


def _check(path: Path, where: str) -> None:
    digest = sha256_of(path)
    if digest != SHA256:
        raise CrdUnavailable(
            f"{where} has sha256 {digest[:12]}..., not KEDA {VERSION}'s {SHA256[:12]}...; {how_to_provide()}"
        )


@cache
def _located() -> Path | str:
    # Looked for once per test run, failure included: a failed download is not tried per test.
    try:
        return locate()
    except CrdUnavailable as e:
        return str(e)


def keda_crd() -> Path:
    """The CRD for a test; a missing one fails the test with the one-line instruction."""
    found = _located()
    if isinstance(found, str):
        import pytest

        pytest.fail(found, pytrace=False)
    return found


if __name__ == "__main__":
    try:
        print(locate())
    except CrdUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
