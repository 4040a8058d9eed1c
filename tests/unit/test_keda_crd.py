"""The tests' copy of KEDA's CRD: from the environment, shared/, a cache, or a download, by sha256."""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import keda_crd as crd


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A local HTTP server over ``folder``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{crd.FILE_NAME}"


@pytest.fixture()
def real_crd() -> bytes:
    return crd.keda_crd().read_bytes()


def test_the_environment_variable_names_the_file(tmp_path, real_crd):
    path = tmp_path / "crd.yaml"
    path.write_bytes(real_crd)
    found = crd.locate({crd.ENV_PATH: str(path)}, shared=tmp_path / "none", cache_dir=tmp_path / "c")
    assert found == path


def test_a_file_with_another_checksum_is_refused(tmp_path, real_crd):
    path = tmp_path / "crd.yaml"
    path.write_bytes(real_crd.replace(b"ScaledObject", b"ScaledThing", 1))
    with pytest.raises(crd.CrdUnavailable, match="sha256") as e:
        crd.locate({crd.ENV_PATH: str(path)}, shared=tmp_path / "none", cache_dir=tmp_path / "c")
    assert "\n" not in str(e.value)


def test_shared_is_used_when_no_variable_is_set(tmp_path, real_crd):
    shared = tmp_path / "shared" / crd.FILE_NAME
    shared.parent.mkdir()
    shared.write_bytes(real_crd)
    assert crd.locate({}, shared=shared, cache_dir=tmp_path / "c") == shared


def test_download_from_a_release_url_is_checked_and_cached(tmp_path, real_crd):
    site = tmp_path / "site"
    site.mkdir()
    (site / crd.FILE_NAME).write_bytes(real_crd)
    cache = tmp_path / "cache"
    with serving(site) as base:
        env = {crd.ENV_URL: f"{base}/{crd.FILE_NAME}"}
        found = crd.locate(env, shared=tmp_path / "none", cache_dir=cache)
    assert found == cache / crd.FILE_NAME
    assert crd.sha256_of(found) == crd.SHA256
    # The server is gone: the cached copy is used, no download is tried.
    assert crd.locate({crd.ENV_URL: closed_port_url()}, shared=tmp_path / "none", cache_dir=cache) == found


def test_a_download_with_the_wrong_checksum_is_not_kept(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / crd.FILE_NAME).write_text("not the CRD\n")
    cache = tmp_path / "cache"
    with serving(site) as base, pytest.raises(crd.CrdUnavailable, match="sha256"):
        crd.locate({crd.ENV_URL: f"{base}/{crd.FILE_NAME}"}, shared=tmp_path / "none", cache_dir=cache)
    assert not (cache / crd.FILE_NAME).exists()


def test_nothing_found_is_one_line_saying_how_to_provide_it(tmp_path):
    with pytest.raises(crd.CrdUnavailable) as e:
        crd.locate({crd.ENV_URL: closed_port_url()}, shared=tmp_path / "none", cache_dir=tmp_path / "c")
    message = str(e.value)
    assert "\n" not in message
    assert crd.ENV_PATH in message and crd.URL in message and "download failed" in message


def test_the_command_line_form_prints_the_path_or_the_problem(tmp_path, real_crd):
    repo = Path(__file__).resolve().parents[2]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICTOR_KEDA")}
    path = tmp_path / "crd.yaml"
    path.write_bytes(real_crd)
    ok = subprocess.run(
        [sys.executable, "-m", "tests.support.keda_crd"],
        cwd=repo,
        env={**base_env, crd.ENV_PATH: str(path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and ok.stdout.strip() == str(path)
    bad = subprocess.run(
        [sys.executable, "-m", "tests.support.keda_crd"],
        cwd=repo,
        env={**base_env, crd.ENV_PATH: str(tmp_path / "missing.yaml")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    (line,) = bad.stderr.splitlines()
    assert line.startswith("error: ") and crd.ENV_PATH in line
