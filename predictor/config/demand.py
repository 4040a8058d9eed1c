"""Token demand signals of a target: where its prompt and output tokens per second come from.

Beside the request rate a target may name two more series, each in tokens per second, read from
the same kind of source as its request rate:

- Prometheus: ``prompt_tokens_query`` and ``output_tokens_query`` (for vLLM
  ``sum(rate(vllm:prompt_tokens_total[5m]))`` and ``sum(rate(vllm:generation_tokens_total[5m]))``);
- a history file: ``history_prompt_tokens_column`` and ``history_output_tokens_column`` (counts
  per bin when ``history_counts`` is true, like the request column);
- the synthetic trace: ``history_synthetic.tokens``.

Either may be left out; that length then comes from the serving profile, and the sizing says so.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field
from pydantic_core import PydanticCustomError

from predictor.config.groups import FROZEN


class SyntheticTokenSettings(BaseModel):
    """Prompt and output lengths of the built-in synthetic token trace (tokens per request)."""

    model_config = FROZEN

    prompt_tokens_night: float = Field(1_000.0, gt=0, description="Mean prompt at night (chat), tokens.")
    prompt_tokens_day: float = Field(
        2_000.0, gt=0, description="Mean prompt in weekday working hours (code, retrieval), tokens."
    )
    output_tokens_night: float = Field(350.0, gt=0, description="Mean output at night, tokens.")
    output_tokens_day: float = Field(250.0, gt=0, description="Mean output in working hours, tokens.")


class _HasTokenSignals(Protocol):
    """The fields read here (a target's or a service's)."""

    @property
    def query(self) -> str | None: ...
    @property
    def history_file(self) -> object: ...
    @property
    def history_value_column(self) -> str | None: ...
    @property
    def prompt_tokens_query(self) -> str | None: ...
    @property
    def output_tokens_query(self) -> str | None: ...
    @property
    def history_prompt_tokens_column(self) -> str | None: ...
    @property
    def history_output_tokens_column(self) -> str | None: ...


def check_token_signals(target: _HasTokenSignals) -> None:
    """Raise the first inconsistency of a target's token signals, naming its field (one line)."""
    problem = _token_signal_problem(target)
    if problem is not None:
        field, message = problem
        raise PydanticCustomError("token_signals", message, {"field": field})


def _token_signal_problem(target: _HasTokenSignals) -> tuple[str, str] | None:
    """The first inconsistency of a target's token signals as (field, problem), or ``None``."""
    for field in ("prompt_tokens_query", "output_tokens_query"):
        value = getattr(target, field)
        if value is not None and not value.strip():
            return field, "is empty; give PromQL returning one series in tokens/s, or leave it out"
        if value is not None and target.query is None:
            return field, "needs query: token rates are read from Prometheus, like the request rate"
    columns: dict[str, str] = {}
    for field in ("history_prompt_tokens_column", "history_output_tokens_column"):
        value = getattr(target, field)
        if value is None:
            continue
        if target.history_file is None:
            return field, "needs history_file: the column is read from the history file"
        if target.history_value_column is None:
            return "history_value_column", "name the request column too when token columns are given"
        if value == target.history_value_column or value in columns.values():
            return field, f"column {value!r} is already read as another series; each needs its own"
        columns[field] = value
    return None
