"""A target's demand history: its request rate and, when configured, its prompt and output token rates.

:func:`demand_sources_for` builds one history source per configured series from the target's
settings (Prometheus queries, columns of one history file, or the synthetic token trace);
:meth:`DemandSources.fetch` reads them over the same bins into one frame whose columns are named
as in :mod:`predictor.capacity.demand`. A series that is not configured is not a column at all
(absent, and sized on the profile's length), which is different from a configured series with
gaps (NaN bins: missing, never zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from predictor.capacity.demand import OUTPUT_TOKENS, PROMPT_TOKENS, REQUESTS
from predictor.config import PrometheusSettings, TargetSettings
from predictor.sources.base import HistorySource
from predictor.sources.files import FileSource
from predictor.sources.prometheus import PrometheusSource
from predictor.sources.synthetic import SyntheticSource
from predictor.sources.synthetic_tokens import SyntheticTokenSource, TokenMix


@dataclass(frozen=True)
class DemandSources:
    """One source per series; ``None`` for a token series the target does not configure."""

    requests: HistorySource
    prompt_tokens: HistorySource | None = None
    output_tokens: HistorySource | None = None

    def named(self) -> dict[str, HistorySource]:
        """The configured sources by column name, request rate first."""
        pairs = (
            (REQUESTS, self.requests),
            (PROMPT_TOKENS, self.prompt_tokens),
            (OUTPUT_TOKENS, self.output_tokens),
        )
        return {name: source for name, source in pairs if source is not None}

    def fetch(self, start: pd.Timestamp, end: pd.Timestamp, step_s: int) -> pd.DataFrame:
        """Every configured series over the ``step_s`` bins wholly inside ``[start, end)``, as columns.

        Each series keeps the history contract (UTC bins labelled by their start, NaN for gaps);
        a failing read raises the source's :class:`~predictor.errors.SourceError`.
        """
        columns = {name: source.fetch(start, end, step_s) for name, source in self.named().items()}
        frame = pd.DataFrame(columns)
        frame.index.freq = columns[REQUESTS].index.freq
        return frame


def demand_sources_for(prometheus: PrometheusSettings, target: TargetSettings) -> DemandSources:
    """The sources of a target's request, prompt-token and output-token series."""
    synthetic = target.history_synthetic
    if synthetic is not None:
        if synthetic.tokens is None:
            plain = SyntheticSource(
                seed=synthetic.seed, base_rps=synthetic.base_rps, peak_rps=synthetic.peak_rps
            )
            return DemandSources(plain)
        mix = TokenMix(**synthetic.tokens.model_dump())
        sources = [
            SyntheticTokenSource(
                column, seed=synthetic.seed, base_rps=synthetic.base_rps, peak_rps=synthetic.peak_rps, mix=mix
            )
            for column in (REQUESTS, PROMPT_TOKENS, OUTPUT_TOKENS)
        ]
        return DemandSources(*sources)
    if target.history_file is not None:
        path, counts = target.history_file, target.history_counts

        def column(name: str | None) -> FileSource | None:
            return None if name is None else FileSource(path, value_column=name, counts=counts)

        return DemandSources(
            FileSource(path, value_column=target.history_value_column, counts=counts),
            column(target.history_prompt_tokens_column),
            column(target.history_output_tokens_column),
        )
    assert target.query is not None  # the settings guarantee one of the three

    def query(text: str | None) -> PrometheusSource | None:
        return None if text is None else PrometheusSource(prometheus, text)

    return DemandSources(
        PrometheusSource(prometheus, target.query),
        query(target.prompt_tokens_query),
        query(target.output_tokens_query),
    )
