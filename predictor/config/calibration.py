"""The ``calibration`` section of a serving profile: where its numbers came from.

``predictor profiles calibrate`` writes it: the load-test files (with their SHA-256, so a reader
can tell whether they changed), the objectives, when, the knee the numbers were taken at, and one
line per number saying how it was obtained. The loader accepts it and checks it is consistent;
profiles without it (hand-written starting points) load as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from predictor.capacity.slo import Slo, slo_from_key
from predictor.errors import CapacityError

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def parse_slos(objectives: dict[str, float]) -> tuple[Slo, ...]:
    """``{"ttft_p99_s": 0.5}`` -> the objectives; a ValueError names a malformed key (for pydantic)."""
    try:
        return tuple(slo_from_key(key, limit) for key, limit in objectives.items())
    except CapacityError as e:
        raise ValueError(str(e)) from e


def _objectives(value: dict[str, float]) -> dict[str, float]:
    parse_slos(value)
    return value


# Objectives as configuration writes them: {"ttft_p99_s": 0.5, "tpot_p95_s": 0.03}.
Objectives = Annotated[dict[str, float], AfterValidator(_objectives)]


class CalibrationRun(BaseModel):
    """One run of the sweep, as the calibration judged it."""

    model_config = _FROZEN

    file: str = Field(description="The result file (FILE#LINE for one line of a JSON-lines file).")
    sha256: str = Field(description="SHA-256 of the file's bytes when the profile was written.")
    generation: str = Field(description="The tool that wrote it: vllm bench serve or benchmark_serving.py.")
    date: str | None = Field(None, description="The run's own date (YYYYMMDD-HHMMSS), as the tool wrote it.")
    request_rate: float | Literal["inf"] = Field(description="Offered request rate, req/s, or inf.")
    max_concurrency: int | None = Field(None, description="The run's --max-concurrency, if any.")
    rps: float = Field(ge=0, description="Load per pod the run achieved (request_throughput), req/s.")
    meets: bool = Field(description="Whether the run met every objective.")


class CalibrationKnee(BaseModel):
    """The run the numbers were taken at."""

    model_config = _FROZEN

    file: str = Field(description="The knee's result file.")
    rps_per_pod: float = Field(gt=0, description="Load per pod at the knee (request_throughput), req/s.")
    concurrency: float = Field(gt=0, description="Requests in the pod at the knee (Little's law).")
    e2e_latency_s: float = Field(gt=0, description="Mean end-to-end latency at the knee, seconds.")
    e2e_derived: bool = Field(description="True when derived as TTFT + (output - 1) x TPOT.")
    lower_bound: bool = Field(
        description="True when every run met the objectives: the knee is at least this."
    )
    crossing_rps: float | None = Field(
        None, description="Interpolated load where the objective is crossed above the knee, req/s."
    )
    values_s: dict[str, float] = Field(description="Each objective's measured value at the knee, seconds.")


class ProfileCalibration(BaseModel):
    """Where a calibrated profile's numbers came from."""

    model_config = _FROZEN

    method: Literal["vllm-bench-serve"] = Field(description="How the numbers were measured.")
    calibrated_at: datetime = Field(description="When the profile was written (UTC).")
    slo: Objectives = Field(min_length=1, description="The objectives, {<metric>_p<percentile>_s: seconds}.")
    knee: CalibrationKnee
    runs: list[CalibrationRun] = Field(min_length=1, description="Every run of the sweep, by load.")
    sources: dict[str, str] = Field(description="Each capacity and cold-start number: where it came from.")
    notes: list[str] = Field(default_factory=list, description="What the calibration noticed.")

    @property
    def slos(self) -> tuple[Slo, ...]:
        return parse_slos(self.slo)

    @property
    def slo_label(self) -> str:
        return " and ".join(slo.label for slo in self.slos)
