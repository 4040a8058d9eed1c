"""``predictor profiles``: list the serving profiles; calibrate one from a load test; compare one
with production.

- ``predictor profiles`` (or ``profiles list``): the profiles, what one pod serves, which limit binds;
- ``profiles calibrate FILES... --slo-ttft-p99 S --out P.yaml``: the knee of a ``vllm bench serve``
  sweep and a profile measured there;
- ``profiles observe --config F --target T``: configured against observed capacity per pod;
- ``profiles sweep-example DIR``: a synthetic sweep to try ``calibrate`` without a GPU.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from predictor.capacity.calibration import calibrate as find_knee
from predictor.capacity.slo import Slo, slo_from_key
from predictor.cli.capacity_view import calibration_summary, check_view, sweep_table
from predictor.cli.common import console, parse_duration, parse_time, print_json, reported_errors
from predictor.cli.profiles_list import Output, Output_, show_profiles
from predictor.config import load_profile, load_settings
from predictor.config.calibrated import calibrated_profile, write_profile
from predictor.errors import CapacityError, ConfigError, SourceError
from predictor.runtime.capacity_check import check_capacity, metrics_source_for
from predictor.runtime.targets import find_target
from predictor.sources import synthetic_loadtest
from predictor.sources.synthetic_serving import SyntheticPod
from predictor.sources.vllm_bench import read_bench_files

app = typer.Typer(
    help="Serving profiles: list them, calibrate one from a load test, compare one with production.",
    no_args_is_help=False,
)

ProfilesDir = Annotated[Path | None, typer.Option(help="Extra folder of serving profiles.")]
SLO_PANEL = "Objectives (at least one; all must hold)"


@app.callback(invoke_without_command=True)
def profiles(ctx: typer.Context, profiles_dir: ProfilesDir = None, output: Output_ = Output.table) -> None:
    """List the serving profiles (models/): capacity per pod and cold start."""
    if ctx.invoked_subcommand is None:
        list_(profiles_dir, output)


@app.command("list")
def list_(profiles_dir: ProfilesDir = None, output: Output_ = Output.table) -> None:
    """List the serving profiles (models/): capacity per pod and cold start."""
    with reported_errors():
        show_profiles(profiles_dir, output)


def _objectives(given: dict[str, float | None], extra: list[str]) -> list[Slo]:
    slos = [slo_from_key(key, value) for key, value in given.items() if value is not None]
    for text in extra:
        key, sep, value = text.partition("=")
        try:
            limit = float(value)
        except ValueError:
            limit = float("nan")
        if not sep or limit != limit:
            raise ConfigError(f"--slo {text!r}: expected METRIC_pPERCENTILE=SECONDS, e.g. ttft_p90=0.3")
        try:
            slos.append(slo_from_key(f"{key.strip()}_s", limit))
        except CapacityError as e:
            raise ConfigError(f"--slo {text!r}: {e}") from e
    if not slos:
        raise ConfigError("give an objective, e.g. --slo-ttft-p99 0.5 (seconds)")
    return slos


def _sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@app.command("calibrate")
def calibrate(
    files: Annotated[
        list[Path], typer.Argument(help="Result files of `vllm bench serve --save-result` (or folders).")
    ],
    out: Annotated[Path | None, typer.Option(help="Write the calibrated profile here (NAME.yaml).")] = None,
    slo_ttft_p99: Annotated[
        float | None, typer.Option(help="TTFT p99 limit, s.", rich_help_panel=SLO_PANEL)
    ] = None,
    slo_ttft_p95: Annotated[
        float | None, typer.Option(help="TTFT p95 limit, s.", rich_help_panel=SLO_PANEL)
    ] = None,
    slo_tpot_p99: Annotated[
        float | None, typer.Option(help="TPOT p99 limit, s.", rich_help_panel=SLO_PANEL)
    ] = None,
    slo_tpot_p95: Annotated[
        float | None, typer.Option(help="TPOT p95 limit, s.", rich_help_panel=SLO_PANEL)
    ] = None,
    slo_itl_p99: Annotated[
        float | None, typer.Option(help="ITL p99 limit, s.", rich_help_panel=SLO_PANEL)
    ] = None,
    slo_e2el_p99: Annotated[
        float | None, typer.Option(help="End-to-end latency p99 limit, s.", rich_help_panel=SLO_PANEL)
    ] = None,
    slo: Annotated[
        list[str] | None,
        typer.Option(
            help="Any other objective, METRIC_pP=SECONDS (e.g. ttft_p90=0.3).", rich_help_panel=SLO_PANEL
        ),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(help="Profile supplying what a load test cannot measure (KV cache, cold start)."),
    ] = None,
    kv_capacity_tokens: Annotated[int | None, typer.Option(help="KV-cache size of one pod, tokens.")] = None,
    cold_start: Annotated[str | None, typer.Option(help="Cold start of one pod, e.g. 10m.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (default: the runs' model_id).")] = None,
    hardware: Annotated[str | None, typer.Option(help="Accelerators per pod, e.g. '2x L40S, TP2'.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write latency against load per pod (PNG).")] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    profiles_dir: ProfilesDir = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the profile (or the sweep) as JSON.")
    ] = False,
) -> None:
    """Find the knee of a load-test sweep of one pod and write a profile measured there.

    Each file is one run of `vllm bench serve --save-result` (or `benchmark_serving.py`) at one
    request rate or concurrency level. The knee is the highest load per pod (throughput achieved)
    that meets every objective; TTFT, TPOT and the request shape are the means there, concurrency
    is throughput × mean end-to-end latency (Little's law).

    Example: predictor profiles calibrate sweep/*.json --slo-ttft-p99 0.5
    --base llama-3-8b-l40s-tp2 --out my-llama.yaml --plot knee.png
    """
    with reported_errors():
        slos = _objectives(
            {
                "ttft_p99_s": slo_ttft_p99,
                "ttft_p95_s": slo_ttft_p95,
                "tpot_p99_s": slo_tpot_p99,
                "tpot_p95_s": slo_tpot_p95,
                "itl_p99_s": slo_itl_p99,
                "e2el_p99_s": slo_e2el_p99,
            },
            slo or [],
        )
        if out is not None and out.exists() and not force:
            raise ConfigError(f"{out}: exists; pass --force to replace it")
        base_profile = load_profile(base, profiles_dir) if base else None
        cold_start_s = parse_duration(cold_start) if cold_start else None
        calibration = find_knee(read_bench_files(files), slos)
        if plot is not None:
            from predictor.cli.capacity_plot import calibration_plot  # matplotlib loads only when asked

            calibration_plot(calibration, plot)
        if not as_json:
            console.print(sweep_table(calibration))
        if calibration.knee is None:
            if as_json:
                print_json({"knee": None, "slos": [s.to_dict() for s in slos]})
            calibration.require_knee()
        profile = calibrated_profile(
            calibration,
            name=out.stem if out is not None else "calibrated",
            now=datetime.now(UTC).replace(microsecond=0),
            hashes={
                p.run.source.split("#")[0]: _sha256(p.run.source.split("#")[0]) for p in calibration.points
            },
            base=base_profile,
            kv_capacity_tokens=kv_capacity_tokens,
            cold_start_s=cold_start_s,
            model=model,
            hardware=hardware,
        )
        if as_json:
            print_json(profile.model_dump(mode="json", exclude_none=True))
        else:
            console.print(calibration_summary(calibration, profile))
        if out is not None:
            write_profile(profile, out, force=force)
            if not as_json:
                console.print(f"wrote {out}" + (f" and {plot}" if plot else ""))


@app.command("observe")
def observe(
    config: Annotated[Path | None, typer.Option(help="Config file (default $PREDICTOR_CONFIG).")] = None,
    target: Annotated[str | None, typer.Option(help="The target to compare (name in the config).")] = None,
    window: Annotated[
        str | None, typer.Option(help="How far back to look, e.g. 7d (default: the policy's).")
    ] = None,
    at: Annotated[str | None, typer.Option(help="Observe as if now were this time (UTC).")] = None,
    selector: Annotated[
        str | None,
        typer.Option(help="Label matchers of the target's vLLM pods (default: pod_metrics_selector)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the tables.")
    ] = False,
) -> None:
    """Configured against observed capacity per pod, from vLLM's per-pod metrics in Prometheus.

    Leaves out each pod's first policy.observed_capacity_warmup_s after its metrics appear, bins the
    rest by load per pod, and finds the load where the share of requests within the objective
    falls below its percentile. The profile is flagged OFF when the two differ by more than
    policy.capacity_mismatch_margin. No samples at all is a failure (exit 1), never zero capacity.
    """
    with reported_errors():
        settings = load_settings(config)
        if target is None:
            names = ", ".join(t.name for t in settings.targets) or "none configured"
            raise ConfigError(f"--target is required (targets: {names})")
        chosen = find_target(settings, target)
        window_s = parse_duration(window) if window else None
        now = parse_time(at) if at else pd.Timestamp.now(tz="UTC")
        source = metrics_source_for(settings, chosen, selector)
        check = check_capacity(settings, chosen, now, source=source, window_s=window_s)
        if check.observed.status == "no-data":
            raise SourceError(f"target {chosen.name}: {check.observed.reason}")
        if as_json:
            print_json(check.to_dict())
        else:
            console.print(check_view(check))


@app.command("sweep-example")
def sweep_example(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the result files into.")],
    rates: Annotated[
        str, typer.Option(help="Request rates, req/s, comma-separated.")
    ] = "1,2,4,6,8,9,10,11,12,14,16",
    generation: Annotated[
        str, typer.Option(help="Format: 'vllm bench serve', 'benchmark_serving.py' or its oldest form.")
    ] = synthetic_loadtest.GENERATIONS[0],
    num_prompts: Annotated[int, typer.Option(help="Requests per run.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the run-to-run noise.")] = 0,
) -> None:
    """Write a synthetic load-test sweep of one pod (Llama-3-8B on 2x L40S-like), one file per rate.

    The pod is a queue with 64 slots whose TPOT grows with the batch; latency is flat, then rises
    past saturation (about 12.8 req/s). Try: predictor profiles calibrate DIR --slo-ttft-p99 0.5
    --base llama-3-8b-l40s-tp2 --out my-llama.yaml --plot knee.png
    """
    with reported_errors():
        try:
            chosen = [float(r) for r in rates.split(",") if r.strip()]
        except ValueError:
            raise ConfigError(
                f"--rates {rates!r}: expected numbers separated by commas, e.g. 1,2,4"
            ) from None
        if not chosen or any(not r > 0 for r in chosen):
            raise ConfigError(f"--rates {rates!r}: every rate must be > 0 req/s")
        if generation not in synthetic_loadtest.GENERATIONS:
            raise ConfigError(
                f"--generation {generation!r}: expected one of {', '.join(synthetic_loadtest.GENERATIONS)}"
            )
        if num_prompts < 1:
            raise ConfigError("--num-prompts: must be at least 1")
        pod = SyntheticPod()
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, result in synthetic_loadtest.sweep(
            pod, chosen, generation=generation, num_prompts=num_prompts, seed=seed
        ):
            (out_dir / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {len(chosen)} result files to {out_dir} ({generation} format)")
