"""Floors for the replay: reactive (the baseline only) and oracle (perfect foresight).

The predictive floor, which needs forecasts, is in :mod:`predictor.simulation.predictive`.
"""

from __future__ import annotations

import math

import numpy as np

from predictor.simulation.cluster import Cluster


def reactive_floor(n: int, cluster: Cluster) -> np.ndarray:
    """KEDA alone: the floor is the declared minReplicaCount throughout."""
    return np.full(n, cluster.min_replicas, dtype=float)


def oracle_floor(load: np.ndarray, cluster: Cluster) -> np.ndarray:
    """The cheapest floor with no shortfall under the same cold start, knowing the future.

    A pod asked for at ``t`` is Ready at ``t + cold_start``, so the floor at ``t`` is the most
    pods the load needs at 100 % anywhere in ``[t, t + cold_start]``. Missing load asks for
    nothing; the floor then falls back to the minimum.
    """
    load = np.asarray(load, dtype=float)
    need = np.ceil(np.nan_to_num(load, nan=0.0) / cluster.pod_rps - 1e-9)
    width = math.ceil(cluster.cold_start_s / cluster.step_s) + 1
    padded = np.concatenate([need, np.full(width - 1, need[-1] if len(need) else 0.0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.clip(windows.max(axis=1), cluster.min_replicas, cluster.max_replicas)
