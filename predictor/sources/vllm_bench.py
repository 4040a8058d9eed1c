"""Load-test results: the JSON files ``vllm bench serve --save-result`` writes, and the older
``benchmarks/benchmark_serving.py --save-result``.

Both generations write one JSON object per run with the same result keys (``duration``,
``completed``, ``total_input_tokens``, ``total_output_tokens``, ``request_throughput``,
``output_throughput``, and per latency metric ``mean_<m>_ms``, ``median_<m>_ms``, ``std_<m>_ms``
and ``p<P>_<m>_ms``). They differ around the edges, and each is accepted:

- ``vllm bench serve`` adds ``endpoint_type``, ``label``, ``failed``, ``max_output_tokens_per_s``
  and ``max_concurrent_requests``;
- ``benchmark_serving.py`` has ``burstiness`` and ``max_concurrency`` but none of those;
- its oldest versions have ``best_of``, ``use_beam_search`` and ``input_throughput``, and no
  ``total_token_throughput``, ``burstiness`` or ``max_concurrency``.

``request_rate`` is a number or ``"inf"`` (every request sent at once, usually with
``--max-concurrency``). With ``--append-result`` a file holds one run per line (JSON lines); each
line is a run, named ``FILE#LINE``. Per-request lists (``--save-detailed``) are ignored.

Any other file is bad input: a :class:`~predictor.errors.ConfigError` of one line naming the file
and the missing or malformed key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from predictor.capacity.calibration import BenchRun
from predictor.errors import ConfigError

_REQUIRED = (
    "request_rate",
    "duration",
    "completed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
)
_LATENCY_KEY = re.compile(r"^(mean|median|std|p\d+(?:\.\d+)?)_[a-z0-9]+_ms$")
_NOT_A_RESULT = "not a result of `vllm bench serve --save-result` or `benchmark_serving.py --save-result`"


def generation_of(result: dict[str, Any]) -> str:
    """Which tool wrote ``result``: ``vllm bench serve``, ``benchmark_serving.py`` or its oldest form."""
    if "endpoint_type" in result or "max_concurrent_requests" in result:
        return "vllm bench serve"
    if "burstiness" in result or "max_concurrency" in result:
        return "benchmark_serving.py"
    return "benchmark_serving.py (oldest)"


def _number(where: str, key: str, value: Any, *, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key}: expected a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: {key}: expected a finite number >= 0, got {value!r}")
    if whole and float(value) != int(value):
        raise ConfigError(f"{where}: {key}: expected a whole number, got {value!r}")
    return float(value)


def _rate(where: str, value: Any) -> float:
    if isinstance(value, str) and value.strip().lower() in {"inf", "infinity"}:
        return math.inf
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return math.inf  # json reads Infinity as a float
    rate = _number(where, "request_rate", value)
    if rate == 0:
        raise ConfigError(f'{where}: request_rate: must be > 0 or "inf", got 0')
    return rate


def run_from_result(result: Any, where: str) -> BenchRun:
    """One run from one parsed result object; ``where`` names it in every error."""
    if not isinstance(result, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(result).__name__}; {_NOT_A_RESULT}")
    for key in _REQUIRED:
        if key not in result:
            raise ConfigError(f"{where}: missing key {key!r}; {_NOT_A_RESULT}")
    latencies = {
        key: _number(where, key, value)
        for key, value in result.items()
        if _LATENCY_KEY.match(key) and value is not None
    }
    if not latencies:
        raise ConfigError(
            f"{where}: no latency statistics (keys like mean_ttft_ms, p99_ttft_ms); {_NOT_A_RESULT}"
        )
    completed = int(_number(where, "completed", result["completed"], whole=True))
    if completed == 0:
        raise ConfigError(f"{where}: completed is 0: no request of this run finished, so it measured nothing")
    max_concurrency = result.get("max_concurrency")
    failed = result.get("failed")
    num_prompts = result.get("num_prompts")
    output_throughput = result.get("output_throughput")
    return BenchRun(
        source=where,
        request_rate=_rate(where, result["request_rate"]),
        max_concurrency=None
        if max_concurrency is None
        else int(_number(where, "max_concurrency", max_concurrency, whole=True)),
        duration_s=_number(where, "duration", result["duration"]),
        completed=completed,
        failed=None if failed is None else int(_number(where, "failed", failed, whole=True)),
        request_throughput=_number(where, "request_throughput", result["request_throughput"]),
        total_input_tokens=int(
            _number(where, "total_input_tokens", result["total_input_tokens"], whole=True)
        ),
        total_output_tokens=int(
            _number(where, "total_output_tokens", result["total_output_tokens"], whole=True)
        ),
        latencies_ms=latencies,
        num_prompts=None
        if num_prompts is None
        else int(_number(where, "num_prompts", num_prompts, whole=True)),
        output_throughput=None
        if output_throughput is None
        else _number(where, "output_throughput", output_throughput),
        date=str(result["date"]) if result.get("date") is not None else None,
        model_id=str(result["model_id"]) if result.get("model_id") else None,
        generation=generation_of(result),
    )


def _objects(path: Path, text: str) -> list[tuple[str, Any]]:
    """The JSON documents of a file: one object, or one per line (``--append-result``)."""
    try:
        return [(str(path), json.loads(text))]
    except json.JSONDecodeError as whole:
        if whole.msg != "Extra data":
            raise ConfigError(
                f"{path}: not JSON (line {whole.lineno}, column {whole.colno}: {whole.msg}); {_NOT_A_RESULT}"
            ) from whole
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append((f"{path}#{number}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {number}: not JSON ({e.msg}); {_NOT_A_RESULT}") from e
    return found


def read_bench_file(path: str | Path) -> list[BenchRun]:
    """The runs in one result file (usually one)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    if not text.strip():
        raise ConfigError(f"{path}: the file is empty; {_NOT_A_RESULT}")
    return [run_from_result(result, where) for where, result in _objects(path, text)]


def read_bench_files(paths: Iterable[str | Path]) -> list[BenchRun]:
    """Every run in ``paths``, in the order given; a folder stands for the ``*.json`` files in it."""
    runs: list[BenchRun] = []
    for path in map(Path, paths):
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise ConfigError(f"{path}: a folder with no *.json result files")
        for file in files:
            runs.extend(read_bench_file(file))
    return runs
