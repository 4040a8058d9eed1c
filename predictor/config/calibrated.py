"""Write a serving profile from a calibration: the measured numbers, and where each came from.

A load test measures what one pod does at its knee (TTFT, TPOT, request shape, concurrency). It
cannot see the KV-cache size nor how long a pod takes to start, so those come from a base
profile or a flag, and the profile says which. Calibration covers aggregated serving: a load test
sends whole requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import yaml

from predictor.capacity import CapacityParams
from predictor.capacity.calibration import Calibration
from predictor.config.calibration import CalibrationKnee, CalibrationRun, ProfileCalibration
from predictor.config.coldstart import ColdStartSettings
from predictor.config.profiles import ServingProfile
from predictor.errors import ConfigError


def calibrated_profile(
    calibration: Calibration,
    *,
    name: str,
    now: datetime,
    hashes: Mapping[str, str],
    base: ServingProfile | None = None,
    kv_capacity_tokens: int | None = None,
    cold_start_s: float | None = None,
    model: str | None = None,
    hardware: str | None = None,
) -> ServingProfile:
    """The profile the calibration implies; flags win over the base profile. ``hashes`` maps a
    run's source to the SHA-256 of its file; ``now`` is when the profile is written (UTC)."""
    knee = calibration.require_knee()
    if base is not None and base.role != "aggregated":
        raise ConfigError(
            f"--base {base.name} is a {base.role} role; a load test measures aggregated serving"
        )
    numbers = calibration.capacity_numbers()
    source = knee.run.source
    sources = {
        "ttft_s": f"mean_ttft_ms at the knee ({source})",
        "tpot_s": f"mean_tpot_ms at the knee ({source})",
        "prompt_tokens": f"total_input_tokens / completed at the knee ({source})",
        "output_tokens": f"total_output_tokens / completed at the knee ({source})",
        "max_concurrency": (
            f"Little's law at the knee: request_throughput {knee.rps:.4g} req/s × mean end-to-end "
            f"latency {knee.e2e_s:.4g} s{' (derived)' if knee.e2e_derived else ''} = "
            f"{knee.concurrency:.4g}, rounded down"
        ),
    }
    if kv_capacity_tokens is None and base is not None:
        kv_capacity_tokens = base.capacity.kv_capacity_tokens
        sources["kv_capacity_tokens"] = f"profile {base.name} (a load test does not measure it)"
    elif kv_capacity_tokens is not None:
        sources["kv_capacity_tokens"] = "--kv-capacity-tokens"
    if kv_capacity_tokens is None:
        raise ConfigError(
            "--kv-capacity-tokens or --base PROFILE is needed: a load test does not measure the KV-cache "
            "size (vLLM logs it at start-up: 'GPU KV cache size: N tokens')"
        )
    cold_start = _cold_start(base, cold_start_s, sources)
    extra: dict[str, float] = {}
    if base is not None and base.capacity.prefix_cache_hit_rate:
        extra["prefix_cache_hit_rate"] = base.capacity.prefix_cache_hit_rate
        sources["prefix_cache_hit_rate"] = f"profile {base.name}"
    capacity = CapacityParams(**numbers, kv_capacity_tokens=kv_capacity_tokens, **extra)  # type: ignore[arg-type]
    served = model or (base.model if base else None) or knee.run.model_id or "unknown"
    return ServingProfile(
        name=name,
        description=(
            f"calibrated at {calibration.slo_label}: knee {knee.rps:.3g} req/s per pod "
            f"({'at least; ' if calibration.lower_bound else ''}{len(calibration.points)} runs)"
        ),
        model=served,
        hardware=hardware or (base.hardware if base else "not recorded (set with --hardware)"),
        role="aggregated",
        capacity=capacity,
        cold_start=cold_start,
        calibration=_section(calibration, now=now, hashes=hashes, sources=sources),
    )


def _cold_start(
    base: ServingProfile | None, cold_start_s: float | None, sources: dict[str, str]
) -> ColdStartSettings:
    if cold_start_s is not None:
        sources["cold_start"] = "--cold-start"
        return ColdStartSettings(total_s=cold_start_s)
    if base is not None:
        sources["cold_start"] = f"profile {base.name} (a load test does not measure it)"
        return base.cold_start
    raise ConfigError(
        "--cold-start DURATION or --base PROFILE is needed: a load test does not measure how long a "
        "pod takes to become ready"
    )


def _section(
    calibration: Calibration, *, now: datetime, hashes: Mapping[str, str], sources: dict[str, str]
) -> ProfileCalibration:
    knee = calibration.require_knee()
    runs = [
        CalibrationRun(
            file=p.run.source,
            sha256=hashes.get(p.run.source.split("#")[0], ""),
            generation=p.run.generation,
            date=p.run.date,
            request_rate="inf" if math.isinf(p.run.request_rate) else p.run.request_rate,
            max_concurrency=p.run.max_concurrency,
            rps=round(p.rps, 6),
            meets=p.meets,
        )
        for p in calibration.points
    ]
    crossing = calibration.crossing_rps()
    return ProfileCalibration(
        method="vllm-bench-serve",
        calibrated_at=now,
        slo={slo.key: slo.limit_s for slo in calibration.slos},
        knee=CalibrationKnee(
            file=knee.run.source,
            rps_per_pod=round(knee.rps, 6),
            concurrency=round(knee.concurrency, 6),
            e2e_latency_s=round(knee.e2e_s, 6),
            e2e_derived=knee.e2e_derived,
            lower_bound=calibration.lower_bound,
            crossing_rps=None if crossing is None else round(crossing, 6),
            values_s={slo.key: round(v, 6) for slo, v in zip(calibration.slos, knee.values_s, strict=True)},
        ),
        runs=runs,
        sources=sources,
        notes=list(calibration.notes),
    )


def profile_yaml(profile: ServingProfile) -> str:
    """The profile as YAML, with a header saying it was measured and how to redo it."""
    assert profile.calibration is not None
    c = profile.calibration
    header = [
        f"# {profile.name}: calibrated from a load test, {c.calibrated_at:%Y-%m-%d %H:%M} UTC.",
        f"# MEASURED at {c.slo_label}: the knee is {c.knee.rps_per_pod:.4g} req/s per pod ({c.knee.file}).",
        "# calibration.sources says where each number came from; calibration.runs lists the sweep.",
        "# Recalibrate after a change of model, hardware, vLLM version or request shape:",
        "#   predictor profiles calibrate FILES... --slo-... S --out THIS_FILE --force",
    ]
    body = profile.model_dump(mode="json", exclude_none=True)
    # Only the numbers that were set: defaults would read as if they had been chosen.
    body["capacity"] = profile.capacity.model_dump(mode="json", exclude_unset=True)
    body["cold_start"] = profile.cold_start.model_dump(mode="json", exclude_unset=True)
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def write_profile(profile: ServingProfile, path: Path, *, force: bool = False) -> Path:
    """Write ``profile`` to ``path``; an existing file is kept unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"{path}: exists; pass --force to replace it")
    if path.stem != profile.name:
        raise ConfigError(f"{path}: a profile's file is named after it: {profile.name}.yaml")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profile_yaml(profile), encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot write: {e.strerror}") from e
    return path
