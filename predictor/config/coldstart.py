"""How long a new pod takes to become ready: a total, named stages, or learned from the cluster."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ColdStartSettings(BaseModel):
    """Cold start of one pod, creation to Ready.

    Shorthands in YAML: ``cold_start: 600`` (a total in seconds) and ``cold_start: learn``
    (learn from observed pod start-ups, using the profile's stages until enough are seen).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_s: float | None = Field(
        None, gt=0, description="Total cold start, seconds. Takes precedence over stages_s."
    )
    stages_s: dict[str, float] | None = Field(
        None,
        description="Named stages and their seconds (scheduling, image_pull, weight_download, "
        "profile_run, torch_compile, cuda_graph_capture, warmup); the cold start is their sum.",
    )
    learn: bool = Field(
        False, description="Learn the cold start from observed pod start-ups (creation -> Ready)."
    )
    learn_percentile: float = Field(
        0.95, gt=0, le=1, description="Percentile of observed start-ups used as the learned cold start, 0..1."
    )
    learn_min_samples: int = Field(
        5, ge=1, description="Observed start-ups needed before the learned value replaces the configured one."
    )
    learn_max_s: float = Field(
        3_600,
        gt=0,
        description="Longest start-up believed, seconds: a pod that took longer is not counted (its "
        "readiness history is taken for a flap), and the learned cold start never exceeds it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("expected seconds, 'learn' or a mapping")
        if isinstance(data, int | float):
            return {"total_s": data}
        if data == "learn":
            return {"learn": True}
        if isinstance(data, str):
            raise ValueError(f"expected seconds, 'learn' or a mapping, got {data!r}")
        return data

    @model_validator(mode="after")
    def _stages_are_durations(self) -> ColdStartSettings:
        for stage, seconds in (self.stages_s or {}).items():
            if not seconds >= 0:
                raise ValueError(f"stage {stage!r} must be >= 0 seconds, got {seconds}")
        return self

    @property
    def configured_s(self) -> float | None:
        """The configured cold start in seconds: the total, else the sum of the stages."""
        if self.total_s is not None:
            return self.total_s
        if self.stages_s:
            return float(sum(self.stages_s.values()))
        return None
