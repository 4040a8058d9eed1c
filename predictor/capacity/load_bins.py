"""Load bins of observed capacity: pooling, the monotone fit, and where an objective is crossed (pure).

Used by :func:`predictor.capacity.observed.estimate_observed_capacity`; see its module for the method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from predictor.capacity.fitting import isotonic_decreasing
from predictor.capacity.slo import Slo


@dataclass(frozen=True)
class LoadBin:
    """One bin of load per pod: its request-weighted mean load and the share within each limit."""

    load_rps: float
    samples: int
    requests: float
    within: tuple[float, ...]  # measured share of requests within each objective's limit
    fitted: tuple[float, ...]  # the monotone fit of it
    in_flight: float | None
    kv_usage: float | None


@dataclass(frozen=True)
class BinSamples:
    """The samples an estimate uses: load per pod, and per objective the requests within the
    limit and all requests (counts over a step), plus the optional gauges."""

    load: np.ndarray
    within: tuple[np.ndarray, ...]
    total: tuple[np.ndarray, ...]
    in_flight: np.ndarray | None
    kv_usage: np.ndarray | None


def weighted_mean(values: np.ndarray | None, members: np.ndarray, weight: np.ndarray) -> float | None:
    if values is None:
        return None
    chosen = values[members]
    present = np.isfinite(chosen)
    if not present.any() or weight[present].sum() <= 0:
        return None
    return float(np.sum(chosen[present] * weight[present]) / weight[present].sum())


def load_bins(samples: BinSamples, slos: Sequence[Slo], *, bins: int, min_samples: int) -> list[LoadBin]:
    x = samples.load
    edges = np.linspace(float(x.min()), float(x.max()), bins + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    needed = 10.0 / (1.0 - max(slo.quantile for slo in slos))  # enough requests to see the tail
    kept: list[tuple[float, int, float, tuple[float, ...], float | None, float | None]] = []
    for b in range(bins):
        members = which == b
        totals = [t[members].sum() for t in samples.total]
        if members.sum() < min_samples or min(totals) < needed:
            continue
        weight = samples.total[0][members]
        shares = tuple(float(w[members].sum() / t) for w, t in zip(samples.within, totals, strict=True))
        kept.append((
            float(np.sum(x[members] * weight) / weight.sum()),
            int(members.sum()),
            float(totals[0]),
            shares,
            weighted_mean(samples.in_flight, members, weight),
            weighted_mean(samples.kv_usage, members, weight),
        ))  # fmt: skip
    if not kept:
        return []
    weights = np.array([k[2] for k in kept])
    fits = [isotonic_decreasing(np.array([k[3][i] for k in kept]), weights) for i in range(len(slos))]
    return [
        LoadBin(
            load_rps=load,
            samples=n,
            requests=requests,
            within=shares,
            fitted=tuple(float(fit[j]) for fit in fits),
            in_flight=in_flight,
            kv_usage=kv,
        )
        for j, (load, n, requests, shares, in_flight, kv) in enumerate(kept)
    ]


def interpolate(a: float | None, b: float | None, share: float) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return a + share * (b - a)


@dataclass(frozen=True)
class Crossing:
    """Where one objective is crossed: ``kind`` measured (at ``rps``), exceeded (missed at the
    lowest load, ``rps``), or gap (met up to ``rps``, missed at ``upper``, nothing seen between)."""

    rps: float
    slo: Slo
    in_flight: float | None
    kv_usage: float | None
    kind: str
    upper: float | None = None


def crossing_of(found: list[LoadBin], i: int, slo: Slo, max_gap_rps: float) -> Crossing | None:
    below = [j for j, b in enumerate(found) if b.fitted[i] < slo.quantile]
    if not below:
        return None
    j = below[0]
    if j == 0:
        return Crossing(found[0].load_rps, slo, found[0].in_flight, found[0].kv_usage, "exceeded")
    lo, hi = found[j - 1], found[j]
    if hi.load_rps - lo.load_rps > max_gap_rps:
        # The loads where the knee lies were never seen: interpolating across would invent it.
        return Crossing(lo.load_rps, slo, lo.in_flight, lo.kv_usage, "gap", upper=hi.load_rps)
    share = (lo.fitted[i] - slo.quantile) / (lo.fitted[i] - hi.fitted[i])
    return Crossing(
        lo.load_rps + share * (hi.load_rps - lo.load_rps),
        slo,
        interpolate(lo.in_flight, hi.in_flight, share),
        interpolate(lo.kv_usage, hi.kv_usage, share),
        "measured",
    )
