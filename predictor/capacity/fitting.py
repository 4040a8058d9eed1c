"""Two small statistics the observed-capacity estimate rests on (pure).

- :func:`share_within`: how many requests of a cumulative latency histogram are at or below a
  limit, the count between two bucket bounds taken as spread evenly (as ``histogram_quantile``
  assumes);
- :func:`isotonic_decreasing`: the weighted least-squares non-increasing fit of a sequence (pool
  adjacent violators), because more load never makes a pod faster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from predictor.errors import CapacityError


def share_within(bucket_rps: Mapping[float, np.ndarray], limit_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Requests at or below ``limit_s`` and all requests (same shape as the bucket arrays), the
    count between two bucket bounds taken as spread evenly, as ``histogram_quantile`` assumes."""
    bounds = sorted(bucket_rps)
    if not bounds or not math.isinf(bounds[-1]):
        raise CapacityError("a latency histogram needs its +Inf bucket (the count of all requests)")
    total = np.asarray(bucket_rps[bounds[-1]], dtype=float)
    lower, lower_value = 0.0, np.zeros_like(total)
    for bound in bounds:
        value = np.asarray(bucket_rps[bound], dtype=float)
        if bound >= limit_s:
            if math.isinf(bound):
                # Above the last finite bound nothing is known; count none of it as within.
                return lower_value, total
            share = (limit_s - lower) / (bound - lower)
            return lower_value + share * (value - lower_value), total
        lower, lower_value = bound, value
    return lower_value, total  # pragma: no cover - the +Inf bound always ends the loop


def isotonic_decreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-increasing fit of ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), v) for v, _, n in blocks]) if blocks else np.array([])
