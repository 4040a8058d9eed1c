"""KEDA trigger thresholds on queue depth, derived from a TTFT SLO.

A request that joins the queue waits until the pod drains the requests ahead of it. With a
p95 TTFT objective ``slo`` and a prefill time ``prefill``, the queue may cost at most
``budget = slo - prefill`` seconds. The queue depth at which a new request just meets the SLO
is ``budget * drain_rate``. Above that depth the SLO is being missed (critical).

How fast a pod drains its queue depends on what holds the slots:

- **prefill-bound**: if a slot freed every engine step, ``max_num_seqs / step_time`` requests
  per second would start (an upper bound, reached only when requests are short);
- **decode-bound**: under continuous batching a waiting request gets a slot only when a running
  one finishes, and a running one holds its slot for ``output_tokens × TPOT`` seconds, so a full
  pod starts ``max_num_seqs / (output_tokens × TPOT)`` requests per second.

The thresholds use the slower of the two (with 32 slots, 300 output tokens and 50 ms per token,
2.1/s against 640/s: a queue of 128 waits about 60 s, not 0.2 s). Without output tokens and TPOT
only the prefill-bound rate is known, and it is used alone.

Scaling must start well before that, because new pods take minutes to become ready, so the
scale-up level is a fraction of it (default one half) and the warning level sits between.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from predictor.errors import CapacityError


@dataclass(frozen=True)
class QueueThresholds:
    """Queue-depth levels per pod (requests waiting), with the numbers they come from."""

    slo_ttft_p95_s: float
    prefill_time_s: float
    step_time_s: float
    max_num_seqs: int
    output_tokens: int | None
    tpot_s: float | None
    queue_wait_budget_s: float
    prefill_drain_per_s: float
    decode_drain_per_s: float | None
    drain_rate_per_s: float
    bound: str  # "prefill" or "decode": which drain rate the thresholds use
    queue_depth_threshold: float
    scale_up: int
    warning: int
    critical: int
    scale_up_fraction: float
    warning_fraction: float

    def to_dict(self) -> dict[str, object]:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise CapacityError(f"{name} must be a finite number > 0, got {value}")


def queue_thresholds(
    *,
    slo_ttft_p95_s: float,
    prefill_time_s: float,
    step_time_s: float,
    max_num_seqs: int,
    output_tokens: int | None = None,
    tpot_s: float | None = None,
    scale_up_fraction: float = 0.5,
    warning_fraction: float = 0.8,
) -> QueueThresholds:
    """Queue-depth thresholds per pod for a TTFT SLO (see the module docstring).

    ``output_tokens`` and ``tpot_s`` (seconds per output token) give the decode-bound drain rate;
    both or neither.
    """
    _positive("slo_ttft_p95_s", slo_ttft_p95_s)
    _positive("step_time_s", step_time_s)
    _positive("max_num_seqs", max_num_seqs)
    if (output_tokens is None) != (tpot_s is None):
        raise CapacityError("the decode-bound drain rate needs both output_tokens and tpot_s")
    if output_tokens is not None and tpot_s is not None:
        _positive("output_tokens", output_tokens)
        _positive("tpot_s", tpot_s)
    if not (math.isfinite(prefill_time_s) and prefill_time_s >= 0):
        raise CapacityError(f"prefill_time_s must be a finite number >= 0, got {prefill_time_s}")
    if prefill_time_s >= slo_ttft_p95_s:
        raise CapacityError(
            f"prefill time {prefill_time_s} s leaves no queue-wait budget under the TTFT SLO "
            f"{slo_ttft_p95_s} s; the SLO cannot be met by scaling"
        )
    if not 0 < scale_up_fraction <= warning_fraction <= 1:
        raise CapacityError(
            "need 0 < scale_up_fraction <= warning_fraction <= 1, got "
            f"{scale_up_fraction} and {warning_fraction}"
        )
    budget = slo_ttft_p95_s - prefill_time_s
    prefill_drain = max_num_seqs / step_time_s
    decode_drain = (
        max_num_seqs / (output_tokens * tpot_s) if output_tokens is not None and tpot_s is not None else None
    )
    bound = "decode" if decode_drain is not None and decode_drain < prefill_drain else "prefill"
    drain = decode_drain if bound == "decode" and decode_drain is not None else prefill_drain
    depth = budget * drain
    return QueueThresholds(
        slo_ttft_p95_s=slo_ttft_p95_s,
        prefill_time_s=prefill_time_s,
        step_time_s=step_time_s,
        max_num_seqs=max_num_seqs,
        output_tokens=output_tokens,
        tpot_s=tpot_s,
        queue_wait_budget_s=budget,
        prefill_drain_per_s=prefill_drain,
        decode_drain_per_s=decode_drain,
        drain_rate_per_s=drain,
        bound=bound,
        queue_depth_threshold=depth,
        scale_up=max(1, math.floor(depth * scale_up_fraction + 1e-9)),
        warning=max(1, math.floor(depth * warning_fraction + 1e-9)),
        critical=max(1, math.floor(depth + 1e-9)),
        scale_up_fraction=scale_up_fraction,
        warning_fraction=warning_fraction,
    )
