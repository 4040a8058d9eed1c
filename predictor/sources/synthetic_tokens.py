"""A seeded synthetic LLM token trace: request rate plus prompt and output tokens per second.

The request rate is the built-in synthetic trace (:func:`~predictor.sources.synthetic.synthetic_trace`,
same arguments, same seed, the same values). On top of it the traffic is a mix of two workloads
whose share follows the working day, UTC:

- long prompts in working hours (code completion, retrieval), on weekdays from the 08:00 ramp
  to about 18:00;
- short chat at night and at weekends, which keep a quarter of the working-hours mix.

So by default the mean prompt length doubles each weekday, from 1,000 tokens at night to 2,000 in
working hours, while the mean output shortens from 350 to 250 tokens (see :class:`TokenMix`).
Each bin's mean lengths carry independent log-normal noise (the mix of a few minutes of requests
is not exact). Token rates are req/s × tokens per request. Same arguments, same seed -> the same
frame, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS
from predictor.sources.synthetic import SyntheticSource, synthetic_trace

COLUMNS = (REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS)


@dataclass(frozen=True)
class TokenMix:
    """Mean tokens per request of the two workloads, and how they mix (tokens; shares 0..1)."""

    prompt_tokens_night: float = 1_000.0
    prompt_tokens_day: float = 2_000.0
    output_tokens_night: float = 350.0
    output_tokens_day: float = 250.0
    weekend_day_share: float = 0.25  # share of the working-hours mix kept at weekends
    length_noise: float = 0.03  # standard deviation of the log of a bin's mean length


def working_hours_share(hour_of_day: np.ndarray) -> np.ndarray:
    """Share of working-hours traffic in the mix, 0..1: near 0 at night, near 1 from 10:00 to 16:00 UTC."""
    h = np.asarray(hour_of_day, dtype=float)
    rise = 1.0 / (1.0 + np.exp(-(h - 8.5) * 2.0))
    fall = 1.0 / (1.0 + np.exp(-(h - 18.0) * 1.5))
    return np.clip(rise - fall, 0.0, 1.0)


def synthetic_token_trace(*, seed: int = 0, mix: TokenMix = TokenMix(), **trace: Any) -> pd.DataFrame:
    """Columns ``requests_per_s``, ``prompt_tokens_per_s`` and ``output_tokens_per_s``, one row per
    step (UTC, labelled by bin start, ``freq`` set).

    ``trace`` are the other keyword arguments of :func:`~predictor.sources.synthetic.synthetic_trace`
    (``start``, ``days``, ``step_s``, ``base_rps``, ``peak_rps``, ...), with its defaults: the
    ``requests_per_s`` column is that trace. ``seed`` seeds it and, in a stream of its own, the
    lengths' noise; ``mix`` (frozen, so one shared default is safe) shapes the lengths.
    """
    rps = synthetic_trace(seed=seed, **trace)
    index = rps.index
    hours = index.hour.to_numpy() + index.minute.to_numpy() / 60.0 + index.second.to_numpy() / 3600.0
    share = working_hours_share(hours)
    share = np.where(index.day_of_week.to_numpy() >= 5, share * mix.weekend_day_share, share)
    # Its own stream, so the request rate stays the plain synthetic trace of the same seed.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    jitter = np.exp(rng.normal(0.0, mix.length_noise, size=(2, len(index))))
    prompt = mix.prompt_tokens_night + (mix.prompt_tokens_day - mix.prompt_tokens_night) * share
    output = mix.output_tokens_night + (mix.output_tokens_day - mix.output_tokens_night) * share
    prompt, output = prompt * jitter[0], output * jitter[1]
    values = rps.to_numpy()
    frame = pd.DataFrame(
        {REQUESTS: values, PROMPT_TOKENS: values * prompt, OUTPUT_TOKENS: values * output}, index=index
    )
    frame.index.freq = index.freq
    return frame


class SyntheticTokenSource(SyntheticSource):
    """One column of the synthetic token trace as a history source that follows the clock.

    Week by week like :class:`~predictor.sources.synthetic.SyntheticSource` (whose request rate
    the ``requests_per_s`` column equals for the same seed and rates).
    """

    def __init__(
        self,
        column: str,
        *,
        seed: int = 0,
        base_rps: float = 6.0,
        peak_rps: float = 120.0,
        mix: TokenMix | None = None,
    ) -> None:
        if column not in COLUMNS:
            raise ValueError(f"unknown column {column!r}; expected one of {', '.join(COLUMNS)}")
        super().__init__(seed=seed, base_rps=base_rps, peak_rps=peak_rps)
        self.column = column
        self.mix = mix or TokenMix()

    def week(self, monday: pd.Timestamp) -> pd.Series:
        """One week of the column at one-minute resolution, starting at ``monday`` 00:00 UTC."""
        frame = synthetic_token_trace(mix=self.mix, **self.week_arguments(monday))
        return frame[self.column]

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.Series:
        """The column over the ``step_s`` bins wholly inside ``[start, end)``."""
        return super().fetch(start, end, step_s).rename(self.column)
