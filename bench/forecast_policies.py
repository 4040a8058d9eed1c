"""How ``auto``'s choices were made: selection and band policies scored on cached backtests.

A benchmark, not a test. At every day-ahead and lead-time origin of ``forecast_accuracy.py``
(the same traces, origins and 28-day training windows), the default candidates' rolling-origin
backtests (every fold's forecast and actuals) and their final fits are computed once; each
policy below then combines, selects and calibrates from those same forecasts, so the policies
differ only in the rule. The mean policies reproduce ``auto``'s selection and ensemble; the
band policies reproduce :mod:`predictor.forecasting.calibration` on arrays. Beside them, the
alternatives that were measured and not shipped: a median ensemble, selections that bound the
regret against seasonal naive (the worst backtest origin as a ratio to its error), and seasonal
naive blended into the choice at a share picked per origin by the backtest. The shipped rule
anchors the choice on yesterday by weekday (:mod:`predictor.forecasting.anchor`, the product's
own shares on each origin's training window). Printed
per policy: geomean MASE day-ahead / 15 min / 1 h, the share of cases more than 5 % worse than
seasonal naive (and the counts per horizon), p90 coverage range over traces (and how many
traces are inside 0.85-0.95), and the leave-one-trace-out choice of the selection policy
(geomean MASE over the three horizons). ``--anchor-grid`` chooses the anchor's constants and
``--band-loto`` the rule for its seasonal naive band, each by leave-one-trace-out.

    python bench/forecast_policies.py --workers 2 --cache /tmp/policies.pkl
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import pickle
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from forecast_accuracy import DAY, TRACES, lead_case, load, tasks_for  # bench/ is on sys.path as a script

from predictor.forecasting import anchor, backtest, calibration, metrics, selection
from predictor.forecasting.base import DAY_S
from predictor.forecasting.models import common
from predictor.forecasting.quantiles import LEVELS, MIN_RESIDUALS, ResidualQuantiles, log_residuals

SN = selection.FALLBACK
EDGES = calibration.CALIBRATION_EDGES_S
FIRST, MID, LAST = 3, 12, 48  # the backtest's scored steps: 15 min, 1 h, 4 h at 5 minutes
Record = dict


def cache_task(task: tuple[Path, str, pd.Timestamp, int]) -> Record:
    """One origin: every default candidate's backtest folds and final-fit centre."""
    path, mode, origin, days = task
    history = load(path)
    train = history.iloc[
        history.index.searchsorted(origin - pd.Timedelta(days=days)) : history.index.searchsorted(origin)
    ]
    periods = DAY if mode == "day" else 13
    index = pd.date_range(origin, periods=periods, freq="300s")
    settings = selection.SelectionSettings()
    forecasters = selection.default_forecasters(tuple(dict.fromkeys((*settings.candidates, SN))))
    window = settings.window()
    span_s = backtest.data_span_s(train, 300)
    eligible = []
    for kind, f in forecasters.items():
        need = max(f.min_history_s, settings.min_history_s)
        if selection._is_weekly(kind, f, settings):
            need = max(need, settings.weekly_min_history_s)
        if span_s >= need:
            eligible.append(kind)
    at: list[pd.Timestamp] = []
    while eligible:
        at = backtest.origins(
            train, window, min_train_s=max(max(forecasters[k].min_history_s for k in eligible), DAY_S)
        )
        if at:
            break
        eligible.remove(max(eligible, key=lambda k: (forecasters[k].min_history_s, k != SN)))
    offset = max(0.1 * float(np.nanmean(train.to_numpy(dtype=float))), 1e-9)
    record: Record = dict(trace=path.name, mode=mode, origin=origin, train=train, offset=offset, cands={})
    # a case: one day-ahead origin, or a 24-hour block of lead-time refits, labelled as forecast_accuracy does
    record["case"] = str(origin) if mode == "day" else lead_case(history, origin)
    record["actual"] = history.reindex(index).to_numpy(dtype=float)
    record["scale"] = metrics.naive_scale(train.to_numpy(dtype=float), DAY)
    for kind in eligible:
        try:
            result = backtest.run(
                forecasters[kind],
                train,
                at,
                window,
                quantile=0.9,
                seed=0,
                timer=time.perf_counter,
                keep_s=DAY_S,
            )
            model = forecasters[kind].fit(train, seed=0)
        except Exception:  # a failing candidate is out, as in ``auto``
            continue
        steps = np.arange(periods) + int((origin - model.end).total_seconds() // 300)
        record["cands"][kind] = dict(
            folds=[(f.origin, f.mean, f.actual) for f in result.folds],
            mu=model.centre(index, steps),
            off=model.offset,
            own=model.residuals,
        )
    return record


def fold_mae(means: list[np.ndarray], actuals: list[np.ndarray], halflife: float | None) -> float:
    """``backtest.score``'s ranking error, origins weighted by recency (latest first)."""
    w = np.ones(len(means)) if halflife is None else 0.5 ** (np.arange(len(means)) / halflife)
    buckets = []
    for lo, hi in ((FIRST, MID), (MID, LAST)):
        e = np.stack([np.abs(a[lo:hi] - m[lo:hi]) for m, a in zip(means, actuals, strict=True)])
        ww = np.broadcast_to(w[:, None], e.shape)
        ok = ~np.isnan(e)
        if ok.any():
            buckets.append(float(np.sum(ww[ok] * e[ok]) / np.sum(ww[ok])))
    return float(np.mean(buckets)) if buckets else math.nan


def choose(
    record: Record,
    *,
    margin: float,
    halflife: float | None,
    power: float = 2.0,
    median: bool = False,
    minimax: bool = False,
    regret_cap: float | None = None,
    blend: tuple[float, ...] = (),
) -> tuple[str, dict] | None:
    """``auto``'s choice among the candidates and their ensemble: (kind, fitted arrays).

    ``median``: the ensemble is the per-step median of the candidates in log space instead of
    their weighted geometric mean. ``minimax``: the choice is the row whose worst backtest origin,
    as a ratio to seasonal naive's error at that origin, is smallest (the least regret).
    ``regret_cap``: the lowest-error row among those whose worst origin is at most this ratio.
    ``blend``: after the choice, the share (one of these) of seasonal naive mixed into it in log
    space, the share chosen per origin by the same recency-weighted backtest error.
    """
    cands = {}
    for kind, c in record["cands"].items():
        if c["folds"]:
            means, actuals = [f[1] for f in c["folds"]], [f[2] for f in c["folds"]]
            cands[kind] = dict(c, means=means, actuals=actuals, mae=fold_mae(means, actuals, halflife))
    cands = {k: c for k, c in cands.items() if np.isfinite(c["mae"]) and c["mae"] > 0}
    if not cands:
        return None
    kinds = sorted(cands)
    if len(kinds) >= 2:
        w = np.array([cands[k]["mae"] ** -power for k in kinds])
        w /= w.sum()
        off = record["offset"]
        if median:
            means = [
                np.exp(np.median([np.log(cands[k]["means"][i] + off) for k in kinds], axis=0)) - off
                for i in range(len(cands[kinds[0]]["means"]))
            ]
            mu = np.median([_log_centre(cands[k], off) for k in kinds], axis=0)
        else:
            means = [
                _geo_mix([cands[k]["means"][i] for k in kinds], w, off)
                for i in range(len(cands[kinds[0]]["means"]))
            ]
            mu = sum(wi * _log_centre(cands[k], off) for k, wi in zip(kinds, w, strict=True))
        heaviest = kinds[int(np.argmax(w))]
        actuals = cands[kinds[0]]["actuals"]
        cands["ensemble"] = dict(
            means=means,
            actuals=actuals,
            mu=mu,
            off=off,
            own=cands[heaviest]["own"],
            mae=fold_mae(means, actuals, halflife),
        )
    best = min(cands, key=lambda k: (cands[k]["mae"], k != SN, k))
    if (minimax or regret_cap) and SN in cands:
        sn = cands[SN]

        def regret(k: str) -> float:
            ratios = [
                fold_mae([m], [a], None) / max(fold_mae([n], [b], None), 1e-12)
                for m, a, n, b in zip(
                    cands[k]["means"], cands[k]["actuals"], sn["means"], sn["actuals"], strict=True
                )
            ]
            finite = [r for r in ratios if np.isfinite(r)]
            return max(finite) if finite else math.inf

        if regret_cap:
            allowed = [k for k in cands if k == SN or regret(k) <= regret_cap]
            best = min(allowed, key=lambda k: (cands[k]["mae"], k != SN, k))
        else:
            best = min(cands, key=lambda k: (regret(k), cands[k]["mae"], k))
    if SN in cands and best != SN and cands[best]["mae"] > cands[SN]["mae"] * (1 - margin):
        best = SN
    if blend and SN in cands and best != SN:
        return best, _blend(cands[best], cands[SN], record["offset"], blend, halflife)
    return best, cands[best]


def _log_centre(c: dict, off: float) -> np.ndarray:
    """A row's final-fit centre as ``log(forecast + off)``, whatever offset its model used."""
    return np.log(np.maximum(np.exp(c["mu"]) - c["off"], 0) + off)


def _geo_mix(arrays: list[np.ndarray], weights, off: float) -> np.ndarray:
    """The weighted geometric mean of forecasts with the log offset ``off``."""
    return np.exp(sum(w * np.log(a + off) for a, w in zip(arrays, weights, strict=True))) - off


def _blend(row: dict, sn: dict, off: float, shares: tuple[float, ...], halflife: float | None) -> dict:
    """``row`` mixed with seasonal naive in log space at the share with the lowest backtest error."""
    tried = {}
    for lam in shares:
        means = [
            _geo_mix([m, n], (1 - lam, lam), off) for m, n in zip(row["means"], sn["means"], strict=True)
        ]
        tried[lam] = (fold_mae(means, row["actuals"], halflife), means)
    lam = min(tried, key=lambda x: (tried[x][0], x))
    mu = (1 - lam) * _log_centre(row, off) + lam * _log_centre(sn, off)
    return dict(row, means=tried[lam][1], mu=mu, off=off, mae=tried[lam][0])


def band(chosen: dict, record: Record, rule: str) -> ResidualQuantiles:
    """The residual table of ``rule``: ``own``, ``union`` (round 1), ``round four``, ``final`` (shipped)."""
    own = ResidualQuantiles.widest([chosen["own"]], EDGES)
    r = np.concatenate(
        [log_residuals(a, m, chosen["off"]) for m, a in zip(chosen["means"], chosen["actuals"], strict=True)]
    )
    h = np.concatenate([np.arange(len(a)) * 300.0 for a in chosen["actuals"]])
    ok = np.isfinite(r)
    if rule == "own" or ok.sum() < calibration.MIN_CALIBRATION_RESIDUALS:
        table = own
    else:
        seen = ResidualQuantiles.from_residuals(r[ok], h[ok], EDGES)
        if rule == "union":
            return ResidualQuantiles.widest([own, seen], EDGES)
        rows = []
        pool_from_s = calibration.BACKTEST_FROM_S
        if rule == "final" and calibration.is_short_history(record["train"]):
            pool_from_s = 0.0
        for edge, a, b in zip(EDGES, own.table, seen.table, strict=True):
            row = np.asarray(a)
            if edge >= pool_from_s:
                row = calibration.BACKTEST_WEIGHT * np.asarray(b) + (1 - calibration.BACKTEST_WEIGHT) * row
            rows.append(tuple(np.maximum.accumulate(row)))
        table = ResidualQuantiles(EDGES, tuple(rows))
    if rule in ("final", "round four"):
        table = _floor(table, record, chosen["off"])
    return table


def _floor(table: ResidualQuantiles, record: Record, offset: float) -> ResidualQuantiles:
    train = record["train"]
    if not calibration.is_short_history(train):
        return table
    spread = calibration.daily_level_range(train, offset)
    if not spread:
        return table
    levels, rows = np.asarray(LEVELS), []
    for edge, row in zip(table.edges_s, table.table, strict=True):
        v = np.asarray(row)
        if edge >= calibration.FLOOR_FROM_S:
            r50 = np.interp(0.5, levels, v)
            floor = r50 + calibration.FLOOR_RANGES * spread * np.clip((levels - 0.5) / 0.4, 0, None)
            v = np.where(levels >= 0.5, np.maximum(v, floor), v)
        rows.append(tuple(np.maximum.accumulate(v)))
    return ResidualQuantiles(table.edges_s, tuple(rows))


Policy = Callable[[Record], tuple[np.ndarray, np.ndarray] | None]

#: Where the anchored forecast's seasonal naive takes its own residuals: (which days, how many
#: days back). ``None``: every day of the last week (its own fit, round seven). ``anchored``:
#: the anchored weekdays only; ``weekday``: the weekday of the step only.
NAIVE_BANDS: dict[str, tuple[str, int] | None] = {
    "every day, last week (round seven)": None,
    "the same weekday, last 3 weeks": ("weekday", 21),
    "the anchored weekdays, last week (shipped)": ("anchored", 7),
    "the anchored weekdays, last 2 weeks": ("anchored", 14),
    "the anchored weekdays, last 3 weeks": ("anchored", 21),
}
SHIPPED_NAIVE_BAND = NAIVE_BANDS["the anchored weekdays, last week (shipped)"]


def naive_table(record: Record, weekdays: tuple[int, ...], days: int) -> ResidualQuantiles:
    """Seasonal naive's own table from its residuals on ``weekdays`` over the last ``days`` days,
    as :class:`~predictor.forecasting.models.naive.SeasonalNaive` computes them (the last week
    of every day with fewer than ``MIN_RESIDUALS``); ``days`` 7 is the product's fit."""
    data = common.prepare(record["train"], kind=SN, min_history_s=DAY_S, clip_spikes=True)
    z, per = data.log_values, DAY_S // data.step_s
    n = min(len(z) - per, days * per)
    residuals = z[len(z) - n :] - z[len(z) - n - per : len(z) - per]
    at = pd.date_range(
        data.start + pd.Timedelta(seconds=(len(z) - n) * data.step_s), periods=n, freq=f"{data.step_s}s"
    )
    mine = residuals[np.isin(at.dayofweek, weekdays)]
    if np.isfinite(mine).sum() < MIN_RESIDUALS:
        mine = residuals[-7 * per :]
    return ResidualQuantiles.from_residuals(mine, np.zeros(len(mine)))


def naive_p90(
    record: Record, sn: dict, shares: np.ndarray, naive_band: tuple[str, int] | None, rule: str
) -> np.ndarray:
    """The p90 log residual per step of the anchored forecast's seasonal naive member."""
    lead = np.arange(len(record["actual"])) * 300.0
    if naive_band is None:
        return band(sn, record, rule).residual(0.9, lead)
    which, days = naive_band
    if which == "anchored":
        table = naive_table(record, anchor.anchored_weekdays(shares), days)
        return band(dict(sn, own=table), record, rule).residual(0.9, lead)
    steps = pd.date_range(record["origin"], periods=len(lead), freq="300s").dayofweek
    out = np.empty(len(lead))
    for day in set(steps):
        table = naive_table(record, (int(day),), days)
        out[steps == day] = band(dict(sn, own=table), record, rule).residual(0.9, lead)[steps == day]
    return out


def _mixed(
    la: np.ndarray, ls: np.ndarray, pa: np.ndarray, ps: np.ndarray, s: np.ndarray, off: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and p90 of the anchored mix: log centres ``la`` (the choice) and ``ls`` (seasonal
    naive), their p90 log residuals ``pa`` and ``ps``, seasonal naive's share ``s`` per step."""
    mu, p90 = (1 - s) * la + s * ls, (1 - s) * pa + s * ps
    mean = np.maximum(np.exp(mu) - off, 0)
    return mean, np.maximum(np.exp(mu + p90) - off, mean)


def _rows(record: Record, kind: str) -> dict:
    """One candidate's cached arrays with its folds' means and actuals as lists."""
    c = record["cands"][kind]
    return dict(c, means=[f[1] for f in c["folds"]], actuals=[f[2] for f in c["folds"]])


def policy(
    margin: float,
    halflife: float | None,
    rule: str,
    single: str | None = None,
    median: bool = False,
    minimax: bool = False,
    regret_cap: float | None = None,
    blend: tuple[float, ...] = (),
    anchored: tuple[float, float, float] | None = None,
    naive_band: tuple[str, int] | None = SHIPPED_NAIVE_BAND,
) -> Policy:
    """``anchored``: (low, high, share) of :mod:`predictor.forecasting.anchor`, applied after the
    choice, with seasonal naive's own table from ``naive_band`` (see :func:`naive_table`)."""

    def run(record: Record) -> tuple[np.ndarray, np.ndarray] | None:
        if single:
            if record["cands"].get(single) is None and record["cands"].get(SN) is None:
                return None
            got = (single, _rows(record, single if single in record["cands"] else SN))
        else:
            got = choose(
                record,
                margin=margin,
                halflife=halflife,
                median=median,
                minimax=minimax,
                regret_cap=regret_cap,
                blend=blend,
            )
        if got is None:
            return None
        chosen = got[1]
        periods = len(record["actual"])
        lead = np.arange(periods) * 300.0
        p90 = band(chosen, record, rule).residual(0.9, lead)
        if anchored and got[0] != SN:
            low, high, share = anchored
            shares = np.asarray(anchor.weekday_shares(record["train"], low=low, high=high, share=share))
            s = shares[pd.date_range(record["origin"], periods=periods, freq="300s").dayofweek]
            sn, off = _rows(record, SN), record["offset"]
            ps = naive_p90(record, sn, shares, naive_band, rule)
            return _mixed(_log_centre(chosen, off), _log_centre(sn, off), p90, ps, s, off)
        base = np.exp(chosen["mu"])
        mean = np.maximum(base - chosen["off"], 0)
        return mean, np.maximum(base * np.exp(p90) - chosen["off"], mean)

    return run


def score(records: list[Record], run: Policy, keep_cases: bool = False) -> dict:
    err: dict = defaultdict(lambda: [0.0, 0])
    cover: dict = defaultdict(lambda: [0, 0])
    pinball: dict = defaultdict(lambda: [0.0, 0])
    cases: dict = defaultdict(lambda: [0.0, 0.0])
    for record in records:
        out = run(record)
        if out is None:
            continue
        mean, p90 = out
        sn = record["cands"][SN]
        naive = np.maximum(np.exp(sn["mu"]) - sn["off"], 0)
        a, scale = record["actual"], record["scale"]
        picks = {"day": slice(None)} if record["mode"] == "day" else {"15m": [3], "1h": [12]}
        for mode, pick in picks.items():
            ok = ~np.isnan(a[pick])
            e = np.abs(a[pick][ok] - mean[pick][ok]).sum() / scale
            err[(record["trace"], mode)][0] += e
            err[(record["trace"], mode)][1] += int(ok.sum())
            case = cases[(record["trace"], mode, record["case"])]
            case[0] += e
            case[1] += np.abs(a[pick][ok] - naive[pick][ok]).sum() / scale
        span = slice(None) if record["mode"] == "day" else slice(3, 13)
        ok = ~np.isnan(a[span])
        key = (record["trace"], "day" if record["mode"] == "day" else "lead")
        cover[key][0] += int((a[span][ok] <= p90[span][ok]).sum())
        cover[key][1] += int(ok.sum())
        e = a[span][ok] - p90[span][ok]
        pinball[key][0] += float(np.maximum(0.9 * e, -0.1 * e).sum()) / scale
        pinball[key][1] += int(ok.sum())
    traces = sorted({t for t, _ in err})
    mase = {t: {m: _ratio(*err[(t, m)]) for m in ("day", "15m", "1h")} for t in traces}
    cov = {m: [_ratio(*cover[(t, m)]) for t in traces] for m in ("day", "lead")}
    pin = {m: [_ratio(*pinball[(t, m)]) for t in traces] for m in ("day", "lead")}
    worse = sum(e > 1.05 * n for e, n in cases.values()) / len(cases)
    by_mode = {
        m: f"{sum(e > 1.05 * n for k, (e, n) in cases.items() if k[1] == m)}/{sum(k[1] == m for k in cases)}"
        for m in ("day", "15m", "1h")
    }
    out = dict(mase=mase, cov=cov, pin=pin, worse=worse, by_mode=by_mode, traces=traces)
    if keep_cases:
        out["case_worse"] = {k: bool(e > 1.05 * n) for k, (e, n) in cases.items()}
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan  # a horizon without origins (a cut-history cache)


def geomean(values: list[float]) -> float:
    return math.exp(float(np.mean(np.log(values))))


GRID = [
    (low, high, share)
    for low in (0.0, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5)
    for high in (2.0, 3.0, math.inf)
    for share in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9)
    if high > low
]
CAPS = (0.05, 0.04, 0.03, 0.02)


def anchor_loto(records: list[Record]) -> None:
    """The anchor's (low, high, share) by leave-one-trace-out: on the other traces, the lowest
    geomean MASE among the settings with at most ``cap`` of cases worse than seasonal naive."""
    pre = {}
    for r in records:
        got = choose(r, margin=0.0, halflife=1.0)
        if got is None:
            continue
        periods, off = len(r["actual"]), r["offset"]
        sn = _rows(r, SN)
        lead = np.arange(periods) * 300.0
        days = pd.date_range(r["origin"], periods=periods, freq="300s").dayofweek
        medians = np.array([np.median(e) if e else np.nan for e in anchor.weekday_evidence(r["train"])])
        pre[id(r)] = (
            got[0] != SN,
            _log_centre(got[1], off),
            _log_centre(sn, off),
            band(got[1], r, "final").residual(0.9, lead),
            band(sn, r, "final").residual(0.9, lead),
            off,
            medians[days],
        )

    def anchored(low: float, high: float, share: float) -> Policy:
        def run(r: Record) -> tuple[np.ndarray, np.ndarray] | None:
            if id(r) not in pre:
                return None
            mixable, la, ls, pa, ps, off, m = pre[id(r)]
            s = anchor.share_of(m, low=low, high=high, share=share) if mixable else np.zeros(len(la))
            return _mixed(la, ls, pa, ps, s, off)

        return run

    choices = [(math.inf, math.inf, 0.0), *GRID]  # the first: no anchor
    scored = {g: score(records, anchored(*g), keep_cases=True) for g in choices}
    traces = scored[GRID[0]]["traces"]

    def on(g: tuple, keep: list[str]) -> tuple[float, float]:
        s = scored[g]
        cases = [w for (t, _, _), w in s["case_worse"].items() if t in keep]
        return geomean([geomean(list(s["mase"][t].values())) for t in keep]), sum(cases) / len(cases)

    print(
        "\n| anchor (low / high / share) | MASE day / 15 min / 1 h | worse than seasonal naive |"
        "\n|---|---|---|"
    )
    for g, s in scored.items():
        gm = [geomean([s["mase"][t][m] for t in traces]) for m in ("day", "15m", "1h")]
        print(
            f"| {g[0]:g} / {g[1]:g} / {g[2]:g} | {gm[0]:.3f} / {gm[1]:.3f} / {gm[2]:.3f} | {s['worse']:.1%} |"
        )
    print(
        "\n| cap on the other traces | held-out cases worse | held-out geomean MASE "
        "| chosen per left-out trace |"
    )
    print("|---|---|---|---|")
    for cap in CAPS:
        worse, total, held, picks = 0, 0, [], []
        for t in traces:
            keep = [u for u in traces if u != t]
            measured = {g: on(g, keep) for g in choices}
            feasible = [g for g in choices if measured[g][1] <= cap]
            best = min(feasible or choices, key=lambda g: measured[g] if feasible else measured[g][::-1])
            picks.append("/".join(f"{v:g}" for v in best))
            mine = [w for (u, _, _), w in scored[best]["case_worse"].items() if u == t]
            worse, total = worse + sum(mine), total + len(mine)
            held.append(geomean(list(scored[best]["mase"][t].values())))
        print(
            f"| {cap:.0%} | {worse}/{total} = {worse / total:.1%} | {geomean(held):.3f} "
            f"| {', '.join(picks)} |"
        )


def band_loto(records: list[Record]) -> None:
    """Seasonal naive's band in the shipped anchor, by leave-one-trace-out: on the other traces,
    (a) among the rules with every trace inside 0.85-0.95 at both horizons, the lowest pinball
    loss at 0.9; (b) the smallest worst distance of a trace's coverage from 0.9."""
    low, high, share = anchor.LOW, anchor.HIGH, anchor.SHARE
    scored = {}
    for name, rule in NAIVE_BANDS.items():
        print(f"  scoring the naive band: {name}", file=sys.stderr)
        scored[name] = score(records, policy(0.0, 1.0, "final", anchored=(low, high, share), naive_band=rule))
    traces = scored[next(iter(scored))]["traces"]
    cells = [(i, m) for i in range(len(traces)) for m in ("day", "lead")]
    print("\n| naive band | " + " | ".join(t.split(".")[0] for t in traces) + " | inside | pinball |")
    print("|---|" + "---|" * (len(traces) + 2))
    for name, s in scored.items():
        for m in ("day", "lead"):
            count = sum(0.85 <= c <= 0.95 for c in s["cov"][m])
            print(
                f"| {name}, {m} | "
                + " | ".join(f"{c:.3f}" for c in s["cov"][m])
                + f" | {count} | {geomean(s['pin'][m]):.4f} |"
            )

    def inside(name: str, keep: list[int]) -> bool:
        return all(0.85 <= scored[name]["cov"][m][i] <= 0.95 for i, m in cells if i in keep)

    def pinball(name: str, keep: list[int]) -> float:
        return geomean([scored[name]["pin"][m][i] for i, m in cells if i in keep])

    def worst(name: str, keep: list[int]) -> float:
        return max(abs(scored[name]["cov"][m][i] - 0.9) for i, m in cells if i in keep)

    criteria = {
        "inside, then pinball": lambda n, keep: (not inside(n, keep), pinball(n, keep)),
        "worst distance from 0.9": lambda n, keep: (worst(n, keep), pinball(n, keep)),
    }
    print("\n| criterion on the other traces | left out: chosen, held-out coverage day / lead |\n|---|---|")
    for label, key in criteria.items():
        held = []
        for i, t in enumerate(traces):
            keep = [j for j in range(len(traces)) if j != i]
            best = min(scored, key=lambda n: key(n, keep))
            cov = scored[best]["cov"]
            held.append(f"{t.split('.')[0]}: {best}, {cov['day'][i]:.3f} / {cov['lead'][i]:.3f}")
        print(f"| {label} | {'; '.join(held)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14, help="day-ahead origins (as forecast_accuracy)")
    parser.add_argument("--lead-days", type=int, default=7, help="days of hourly refits (idem)")
    parser.add_argument("--lead-every", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated substrings of trace names")
    parser.add_argument(
        "--history-days", type=int, default=28, help="train on at most this many days (cut-history study)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="keep the cached backtests here (reused when present)")
    parser.add_argument(
        "--policies", default="", help="score only the policies whose names hold one of these"
    )
    parser.add_argument(
        "--anchor-grid", action="store_true", help="also choose the anchor's constants by leave-one-trace-out"
    )
    parser.add_argument(
        "--band-loto", action="store_true", help="also choose the anchored naive band by leave-one-trace-out"
    )
    args = parser.parse_args(argv)
    if args.cache and args.cache.exists():
        try:
            records = pickle.loads(args.cache.read_bytes())
        except Exception as exc:  # a cache pickled by other library versions
            print(
                f"--cache {args.cache}: cannot be read ({type(exc).__name__}); delete it to rebuild",
                file=sys.stderr,
            )
            return 1
    else:
        paths = sorted(TRACES.glob("*.csv"))
        if args.only:
            paths = [p for p in paths if any(s in p.name for s in args.only.split(","))]
        tasks = [
            (p, mode, origin, args.history_days)
            for p in paths
            for _, mode, origin, _ in tasks_for(p, args.days, args.lead_days, args.lead_every)
            if mode != "short"
        ]
        print(f"caching the backtests of {len(tasks)} origins", file=sys.stderr)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            records = []
            for record in pool.imap_unordered(cache_task, tasks):
                records.append(record)
                if len(records) % 100 == 0 or len(records) == len(tasks):
                    print(f"  {len(records)} of {len(tasks)} origins", file=sys.stderr)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(records))
    policies = {
        "round 1: margin 2 %, origins alike, the wider band": policy(0.02, None, "union"),
        "harmonic alone, own band": policy(0.0, None, "own", single="harmonic"),
        "margin 0, origins alike, own band": policy(0.0, None, "own"),
        "margin 0, half-life 1, own band": policy(0.0, 1.0, "own"),
        "margin 0, half-life 2, own band": policy(0.0, 2.0, "own"),
        "margin 0, half-life 4, own band": policy(0.0, 4.0, "own"),
        "margin 0, half-life 1, the wider band": policy(0.0, 1.0, "union"),
        "round four: margin 0, half-life 1, own < 1 h, mean from 1 h, floor": policy(0.0, 1.0, "round four"),
        "final: as round four, and under a week the mean at every lead time": policy(0.0, 1.0, "final"),
        "median ensemble, half-life 1, final band": policy(0.0, 1.0, "final", median=True),
        "least regret against seasonal naive, final band": policy(0.0, 1.0, "final", minimax=True),
        **{
            f"worst origin at most {cap}x seasonal naive, final band": policy(
                0.0, 1.0, "final", regret_cap=cap
            )
            for cap in (1.1, 1.25, 1.5, 2.0)
        },
        "seasonal naive blended in, share 0-50 % by backtest, final band": policy(
            0.0, 1.0, "final", blend=(0.0, 0.25, 0.5)
        ),
        "seasonal naive blended in, share 0-100 % by backtest, final band": policy(
            0.0, 1.0, "final", blend=(0.0, 0.25, 0.5, 0.75, 1.0)
        ),
        **{
            f"anchored on yesterday ({low:g} / {high:g} / {share:g}), final band": policy(
                0.0, 1.0, "final", anchored=(low, high, share)
            )
            for low, high, share in (
                (99.0, 2.0, 0.0),
                (1.0, 2.0, 0.5),
                (0.8, 3.0, 0.7),
                (0.7, 3.0, 0.7),
                (0.6, 3.0, 0.8),
            )
        },
    }
    if args.policies:
        policies = {n: p for n, p in policies.items() if any(w in n for w in args.policies.split(","))}
    print(
        "| policy | MASE day / 15 min / 1 h | worse than seasonal naive "
        "| p90 cov day-ahead (inside) | p90 cov 15 min-1 h (inside) |"
    )
    print("|---|---|---|---|---|")
    scored = {}
    for name, run in policies.items():
        s = scored[name] = score(records, run)
        g = [geomean([s["mase"][t][m] for t in s["traces"]]) for m in ("day", "15m", "1h")]
        inside = {m: sum(0.85 <= c <= 0.95 for c in s["cov"][m]) for m in ("day", "lead")}
        print(
            f"| {name} | {g[0]:.3f} / {g[1]:.3f} / {g[2]:.3f} | "
            f"{s['worse']:.1%} ({' / '.join(s['by_mode'].values())}) | "
            f"{min(s['cov']['day']):.2f}-{max(s['cov']['day']):.2f} ({inside['day']}) | "
            f"{min(s['cov']['lead']):.2f}-{max(s['cov']['lead']):.2f} ({inside['lead']}) |"
        )
    selectors = [n for n in policies if "band" in n and "wider" not in n and "alone" not in n]
    per = {
        n: {t: geomean(list(scored[n]["mase"][t].values())) for t in scored[n]["traces"]} for n in selectors
    }
    traces = scored[selectors[0]]["traces"]
    held = []
    print("\n| left out | chosen on the others | held-out geomean MASE |\n|---|---|---|")
    for t in traces:
        best = min(selectors, key=lambda n: geomean([per[n][u] for u in traces if u != t]))
        held.append(per[best][t])
        print(f"| {t} | {best} | {per[best][t]:.3f} |")
    print(
        f"\nLOTO geomean {geomean(held):.3f}; fixed: "
        + ", ".join(f"{n} {geomean(list(per[n].values())):.3f}" for n in selectors)
    )
    if args.anchor_grid:
        anchor_loto(records)
    if args.band_loto:
        band_loto(records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
