"""Fourier regression on a grid of slots, solved through FFTs: the seasonal curve of ``harmonic``.

A product of two Fourier terms is again a sum of cosines or sines, so the normal equations of a
weighted least squares on Fourier terms are read off the FFT of per-slot sums (:func:`fit_curve`),
with no matrix product; weekend-only terms (:func:`with_weekend`) let a short history give
Saturday and Sunday their own level and shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from predictor.forecasting.base import DAY_S, WEEK_S

DAILY_HARMONICS = 12
WEEKLY_HARMONICS = 20
WEEKEND_HARMONICS = 4
MONDAY_EPOCH_S = 4 * DAY_S  # 1970-01-05, the first Monday of the Unix epoch


def terms(*, step_s: int, weekly: bool, daily: int = DAILY_HARMONICS) -> tuple[np.ndarray, np.ndarray]:
    """The regressors as (frequency in cycles per week, is a sine), intercept first.

    Daily harmonic ``k`` is weekly frequency ``7k``; weekly harmonics that are multiples of 7
    are left out (they are daily ones again).
    """
    daily_k = 7 * np.arange(1, min(daily, DAY_S // step_s // 2 - 1) + 1)
    weekly_k = np.array([k for k in range(1, WEEKLY_HARMONICS + 1) if k % 7] if weekly else [], dtype=int)
    freq = np.concatenate([[0], np.repeat(np.concatenate([daily_k, weekly_k]), 2)]).astype(np.int64)
    is_sin = np.concatenate([[False], np.tile([True, False], len(freq) // 2)])
    return freq, is_sin


def design(seconds: np.ndarray, *, step_s: int, weekly: bool, daily: int = DAILY_HARMONICS) -> np.ndarray:
    """Regressors at Unix ``seconds`` (one row each), in the order of :func:`terms`."""
    freq, is_sin = terms(step_s=step_s, weekly=weekly, daily=daily)
    angle = 2 * np.pi * np.outer((seconds - MONDAY_EPOCH_S) % WEEK_S / WEEK_S, freq)
    return np.where(is_sin, np.sin(angle), np.cos(angle))


class Grid(NamedTuple):
    """The regressors on a grid of ``period`` slots per day or week: term ``j`` is ``cos`` or
    ``sin`` of ``2 pi cycles_j s / period``, on every observation or, with ``part_j``, on
    ``weekend`` ones only. Observation ``t`` is at slot ``slots[t]``."""

    cycles: np.ndarray
    is_sin: np.ndarray
    part: np.ndarray
    period: int
    slots: np.ndarray
    weekend: np.ndarray


def fit_curve(grid: Grid, z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least squares of ``z`` (the first ``len(z)`` observations) on the Fourier terms,
    gaps skipped; the coefficients.

    A product of two Fourier terms is again a sum of cosines or sines, so the normal equations
    ``X'WX`` and ``X'Wz`` are read off the FFT of the per-slot weights and weighted sums (over
    the ``weekend`` observations alone when a weekend-only term is involved): O(P log P), and no
    matrix product. (numpy's ``lstsq`` took
    ~90 ms; a BLAS ``X'WX`` 1 ms on one thread but ~80 ms when OpenBLAS threads fight over busy
    cores.) A tiny ridge keeps the system solvable when some slots were never observed.
    """
    ok = ~np.isnan(z)
    slots, masks = grid.slots[: len(z)], (ok, ok & grid.weekend[: len(z)])
    spectra_w, spectra_z = (
        np.fft.fft([np.bincount(slots[m], weights=v[m], minlength=grid.period) for m in masks])
        for v in (weights, np.where(ok, weights * z, 0.0))
    )
    f, is_sin, period = grid.cycles, grid.is_sin, grid.period
    pair = (grid.part[:, None] | grid.part[None, :]).astype(int)

    def cos_sum(g: np.ndarray) -> np.ndarray:  # sum_s w_s cos(2 pi g s / P)
        return spectra_w.real[pair, g % period]

    def sin_sum(g: np.ndarray) -> np.ndarray:  # sum_s w_s sin(2 pi g s / P)
        return -spectra_w.imag[pair, g % period]

    a, b = f[:, None], f[None, :]
    sa, sb = is_sin[:, None], is_sin[None, :]
    diff, total = cos_sum(a - b), cos_sum(a + b)
    sin_plus, sin_minus = sin_sum(a + b), sin_sum(a - b)
    gram = np.select(
        [sa & sb, sa & ~sb, ~sa & sb],
        [0.5 * (diff - total), 0.5 * (sin_plus + sin_minus), 0.5 * (sin_plus - sin_minus)],
        default=0.5 * (diff + total),
    )
    column_z = spectra_z[grid.part.astype(int), f % period]
    rhs = np.where(is_sin, -column_z.imag, column_z.real)
    gram[np.diag_indices_from(gram)] += 1e-8 * max(float(spectra_w[0, 0].real), 1.0)
    return np.linalg.solve(gram, rhs)


def curve(coef: np.ndarray, grid: Grid, part: bool = False) -> np.ndarray:
    """The fitted curve (or its weekend part) at each slot, by inverse FFT (see :func:`fit_curve`)."""
    spectrum = np.zeros(grid.period, dtype=complex)
    use = grid.part == part
    # a cos(t) + b sin(t) is the real part of (a - ib) e^{it}
    np.add.at(
        spectrum, grid.cycles[use] % grid.period, np.where(grid.is_sin[use], -1j * coef[use], coef[use])
    )
    return (np.fft.ifft(spectrum) * grid.period).real


def fitted(coef: np.ndarray, grid: Grid) -> np.ndarray:
    """The fitted curve at each observation."""
    weekend = np.where(grid.weekend, curve(coef, grid, part=True)[grid.slots], 0.0)
    return curve(coef, grid)[grid.slots] + weekend


def is_weekend(seconds: np.ndarray, shift_s: int) -> np.ndarray:
    """Whether Unix ``seconds`` fall between Saturday and Monday, each ``shift_s`` after midnight UTC."""
    return (seconds - MONDAY_EPOCH_S - shift_s) % WEEK_S >= 5 * DAY_S


def with_weekend(
    grid: Grid, coef: np.ndarray, seconds: np.ndarray, z: np.ndarray, step_s: int
) -> tuple[Grid, int]:
    """The daily ``grid`` with the weekend's own terms if the history can fit them, and ``shift_s``.

    The weekend runs from trough to trough of the daily ``coef`` curve, wherever the data's clock
    puts the trough. It needs a day of weekday data, and weekend data in every hour of the day
    (a shape fitted to part of a day extrapolates wildly); otherwise the grid stays as it is.
    """
    trough_s = int(np.argmin(curve(coef, grid))) * step_s  # slot 0 is midnight UTC
    shift_s = (trough_s + DAY_S // 2) % DAY_S - DAY_S // 2
    weekend, seen, bucket_s = is_weekend(seconds, shift_s), ~np.isnan(z), max(step_s, 3_600)
    hours = np.unique(grid.slots[seen & weekend] * step_s // bucket_s)
    if (seen & ~weekend).sum() * step_s < DAY_S or len(hours) * bucket_s < DAY_S:
        return grid, 0
    extra, extra_sin = terms(step_s=step_s, weekly=False, daily=WEEKEND_HARMONICS)
    cycles, is_sin = np.concatenate([grid.cycles, extra // 7]), np.concatenate([grid.is_sin, extra_sin])
    part = np.concatenate([grid.part, np.ones(len(extra), dtype=bool)])
    return Grid(cycles, is_sin, part, grid.period, grid.slots, weekend), shift_s
