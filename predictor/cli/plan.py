"""``predictor plan``: the capacity formula by hand, and KEDA queue thresholds from an SLO."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Group
from rich.text import Text

from predictor.capacity import CapacityParams, Sizing, pod_model, queue_thresholds, size
from predictor.capacity.thresholds import QueueThresholds
from predictor.cli import plan_tokens
from predictor.cli.common import console, fmt, new_table, print_json, reported_errors
from predictor.cli.plan_benchmark import comparison_json, comparison_view, formula_against_benchmark
from predictor.config import load_profile
from predictor.config.errors import describe_validation_error
from predictor.errors import CapacityError

app = typer.Typer(
    help="Size pods for a request rate (Little's law with KV-cache and compute bounds).",
    no_args_is_help=False,
)

_FLAG_FIELDS = {
    "ttft": "ttft_s",
    "tpot": "tpot_s",
    "prompt_tokens": "prompt_tokens",
    "output_tokens": "output_tokens",
    "kv_capacity_tokens": "kv_capacity_tokens",
    "max_concurrency": "max_concurrency",
    "prefill_tokens_per_s": "prefill_tokens_per_s",
    "prefix_cache_hit_rate": "prefix_cache_hit_rate",
}


def _capacity(profile: str | None, role: str | None, profiles_dir: Path | None, flags: dict[str, Any]):
    base: dict[str, Any] = {}
    profile_role = "aggregated"
    if profile:
        loaded = load_profile(profile, profiles_dir)
        base = loaded.capacity.model_dump(exclude_unset=True)
        profile_role = loaded.role
    overrides = {_FLAG_FIELDS[k]: v for k, v in flags.items() if v is not None}
    try:
        params = CapacityParams(**{**base, **overrides})
    except ValidationError as e:
        raise CapacityError("; ".join(describe_validation_error(e))) from e
    return params, role or profile_role


@app.callback(invoke_without_command=True)
def plan(
    ctx: typer.Context,
    rps: Annotated[float | None, typer.Option(help="Request rate λ, requests per second.")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Serving profile from models/ (flags override it).")
    ] = None,
    role: Annotated[
        str | None, typer.Option(help="aggregated, prefill or decode; default is the profile's role.")
    ] = None,
    ttft: Annotated[float | None, typer.Option(help="Time to first token, seconds.")] = None,
    tpot: Annotated[float | None, typer.Option(help="Time per output token, seconds.")] = None,
    prompt_tokens: Annotated[int | None, typer.Option(help="Average prompt length, tokens.")] = None,
    output_tokens: Annotated[int | None, typer.Option(help="Average output length, tokens.")] = None,
    kv_capacity_tokens: Annotated[
        int | None, typer.Option(help="KV-cache capacity of one pod, tokens.")
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(help="Compute-limited concurrency of one pod, requests.")
    ] = None,
    prefill_tokens_per_s: Annotated[
        float | None, typer.Option(help="Prefill throughput of one prefill pod, tokens/s.")
    ] = None,
    prefix_cache_hit_rate: Annotated[
        float | None, typer.Option(help="Share of prompt tokens served from the prefix cache, 0..1.")
    ] = None,
    prompt_tokens_rate: Annotated[
        float | None,
        typer.Option(help="Prompt tokens per second; the mean prompt length is this ÷ --rps."),
    ] = None,
    output_tokens_rate: Annotated[
        float | None,
        typer.Option(help="Output tokens per second; the mean output length is this ÷ --rps."),
    ] = None,
    utilization: Annotated[float, typer.Option(help="Target utilisation u, in (0, 1].")] = 0.7,
    buffer: Annotated[
        float, typer.Option(help="Spike buffer b: pods_with_buffer = ceil(pods × (1 + b)).")
    ] = 0.2,
    profiles_dir: Annotated[Path | None, typer.Option(help="Extra folder of serving profiles.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.")
    ] = False,
) -> None:
    """Pods needed for a request rate, with the arithmetic shown step by step.

    Example (the worked example of the README):

      predictor plan --rps 100 --ttft 0.2 --tpot 0.03 --prompt-tokens 500 --output-tokens 300
      --kv-capacity-tokens 1000000 --max-concurrency 200 --utilization 0.7 --buffer 0.3

    With --prompt-tokens-rate/--output-tokens-rate (tokens/s) the mean lengths are derived from
    them and --rps, and the role is sized on its own work at those lengths.
    """
    if ctx.invoked_subcommand is not None:
        return
    with reported_errors():
        if rps is None:
            raise CapacityError("--rps is required (the request rate to size for, req/s)")
        flags = {k: v for k, v in locals().items() if k in _FLAG_FIELDS}
        params, chosen_role = _capacity(profile, role, profiles_dir, flags)
        if prompt_tokens_rate is not None or output_tokens_rate is not None:
            rates, lengths = (prompt_tokens_rate, output_tokens_rate), (prompt_tokens, output_tokens)
            plan_tokens.plan_token_rates(
                rps, params, chosen_role, profile=profile, rates=rates, length_flags=lengths,
                utilization=utilization, buffer=buffer, as_json=as_json,
            )  # fmt: skip
            return
        sizing = size(rps, pod_model(params, chosen_role), utilization=utilization, buffer=buffer)
        given = [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
        benchmark = formula_against_benchmark(profile, profiles_dir, sizing, flags_given=given)
        if as_json:
            used = benchmark.used if benchmark else sizing
            print_json(
                {**used.to_dict(), "profile": profile, "capacity": params.model_dump(exclude_none=True)}
                | (comparison_json(benchmark) if benchmark else {})
            )
        else:
            console.print(_sizing_table(sizing, params, profile))
            if benchmark:
                console.print(comparison_view(benchmark))


def _sizing_table(s: Sizing, p: CapacityParams, profile: str | None) -> Group:
    title = f"Capacity plan: {s.role} serving" + (f" (profile {profile})" if profile else "")
    table = new_table(title, "step", "arithmetic", "value")
    table.columns[0].no_wrap = True
    table.columns[2].justify = "right"
    table.columns[2].no_wrap = True
    u, b = s.utilization, s.buffer
    if s.role == "prefill":
        table.add_row(
            "prefill s/request",
            f"prompt × (1 − hit) / prefill_tps = {fmt(p.prompt_tokens)} × {fmt(1 - p.prefix_cache_hit_rate)}"
            f" / {fmt(p.prefill_tokens_per_s)}",
            fmt(s.duration_s, "s"),
        )
    else:
        if s.role == "aggregated":
            formula = f"TTFT + output × TPOT = {fmt(p.ttft_s)} + {fmt(p.output_tokens)} × {fmt(p.tpot_s)}"
            label = "D per request"
        else:
            formula = f"output × TPOT = {fmt(p.output_tokens)} × {fmt(p.tpot_s)}"
            label = "D (decode)"
        table.add_row(label, formula, fmt(s.duration_s, "s"))
        assert p.prompt_tokens is not None and p.output_tokens is not None
        table.add_row(
            "KV-cache bound",
            f"kv / (prompt + output) = {fmt(p.kv_capacity_tokens)}"
            f" / {fmt(p.prompt_tokens + p.output_tokens)}",
            fmt(s.kv_bound, "req"),
        )
        table.add_row("compute bound", "max_concurrency", fmt(s.compute_bound, "req"))
        binds = "KV cache binds" if s.limited_by == "kv_cache" else "compute binds"
        table.add_row(
            "C per pod",
            f"min({fmt(s.kv_bound)}, {fmt(s.compute_bound)}): {binds}",
            fmt(s.per_pod_concurrency, "req"),
        )
    table.add_row("in flight", f"λ × D = {fmt(s.rps)} × {fmt(s.duration_s)}", fmt(s.in_flight, "req"))
    table.add_row(
        "pods",
        f"ceil({fmt(s.in_flight)} / ({fmt(s.per_pod_concurrency)} × {fmt(u)})) = ceil({s.exact_pods:.2f})",
        f"[bold]{s.pods}[/bold]",
    )
    table.add_row(
        "with buffer",
        f"ceil({s.pods} × {fmt(1 + b)}) = ceil({s.pods * (1 + b):.2f})",
        f"[bold]{s.pods_with_buffer}[/bold]",
    )
    note = f"pods = ceil(λ × D / (C × u)) with u = {fmt(u)}; with buffer = ceil(pods × (1 + b)), b = {fmt(b)}"
    return Group(table, Text(note))


@app.command()
def thresholds(
    slo_ttft_p95: Annotated[float, typer.Option(help="TTFT objective at p95, seconds.")],
    prefill_time: Annotated[float, typer.Option(help="Prefill time of a typical prompt, seconds.")],
    step_time: Annotated[float, typer.Option(help="Time of one engine step (a decode iteration), seconds.")],
    max_num_seqs: Annotated[
        int | None, typer.Option(help="vLLM max_num_seqs: sequences per step (default: the profile's).")
    ] = None,
    output_tokens: Annotated[
        int | None, typer.Option(help="Average output length, tokens: the decode-bound drain rate.")
    ] = None,
    tpot: Annotated[
        float | None, typer.Option(help="Time per output token, seconds: the decode-bound drain rate.")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="Serving profile for max_num_seqs, output tokens and TPOT.")
    ] = None,
    profiles_dir: Annotated[Path | None, typer.Option(help="Extra folder of serving profiles.")] = None,
    scale_up_fraction: Annotated[
        float, typer.Option(help="Scale-up level as a fraction of the SLO queue depth.")
    ] = 0.5,
    warning_fraction: Annotated[
        float, typer.Option(help="Warning level as a fraction of the SLO queue depth.")
    ] = 0.8,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.")
    ] = False,
) -> None:
    """KEDA queue-depth thresholds per pod (vllm:num_requests_waiting) from a TTFT SLO.

    The drain rate is the slower of the prefill-bound max_num_seqs / step_time and the
    decode-bound max_num_seqs / (output_tokens × TPOT): under continuous batching a waiting
    request gets a slot only when a running one finishes.
    """
    with reported_errors():
        if profile:
            capacity = load_profile(profile, profiles_dir).capacity
            max_num_seqs = max_num_seqs if max_num_seqs is not None else capacity.max_concurrency
            output_tokens = output_tokens if output_tokens is not None else capacity.output_tokens
            tpot = tpot if tpot is not None else capacity.tpot_s
        if max_num_seqs is None:
            raise CapacityError("--max-num-seqs is required (or a --profile with max_concurrency)")
        if (output_tokens is None) != (tpot is None):
            missing = "--tpot" if tpot is None else "--output-tokens"
            raise CapacityError(f"{missing} is needed too: the decode-bound drain rate uses both")
        t = queue_thresholds(
            slo_ttft_p95_s=slo_ttft_p95,
            prefill_time_s=prefill_time,
            step_time_s=step_time,
            max_num_seqs=max_num_seqs,
            output_tokens=output_tokens,
            tpot_s=tpot,
            scale_up_fraction=scale_up_fraction,
            warning_fraction=warning_fraction,
        )
        if as_json:
            print_json(t.to_dict())
        else:
            console.print(_thresholds_table(t))


def _thresholds_table(t: QueueThresholds) -> Group:
    table = new_table("Queue-depth thresholds per pod from the TTFT SLO", "quantity", "arithmetic", "value")
    # seqs: max_num_seqs, the sequences one engine step runs (vLLM's --max-num-seqs)
    table.columns[0].no_wrap = True
    table.columns[2].justify = "right"
    table.columns[2].no_wrap = True
    table.add_row(
        "queue-wait budget",
        f"SLO − prefill = {fmt(t.slo_ttft_p95_s)} − {fmt(t.prefill_time_s)}",
        fmt(t.queue_wait_budget_s, "s"),
    )
    used = {"prefill": "", "decode": ""}
    used[t.bound] = " ◀"
    table.add_row(
        f"drain, prefill{used['prefill']}",
        f"seqs / step = {t.max_num_seqs} / {fmt(t.step_time_s)}",
        fmt(t.prefill_drain_per_s, "/s"),
    )
    if t.decode_drain_per_s is not None:
        table.add_row(
            f"drain, decode{used['decode']}",
            f"seqs / (output × TPOT) = {t.max_num_seqs} / ({t.output_tokens} × {fmt(t.tpot_s)})",
            fmt(round(t.decode_drain_per_s, 2), "/s"),
        )
    table.add_row(
        "SLO queue depth",
        f"budget × slower drain = {fmt(t.queue_wait_budget_s)} × {fmt(round(t.drain_rate_per_s, 2))}",
        fmt(round(t.queue_depth_threshold, 1)),
    )
    table.add_row(
        "[green]scale-up[/green]", f"{fmt(t.scale_up_fraction)} × depth", f"[bold]{t.scale_up}[/bold]"
    )
    table.add_row(
        "[yellow]warning[/yellow]", f"{fmt(t.warning_fraction)} × depth", f"[bold]{t.warning}[/bold]"
    )
    table.add_row("[red]critical[/red]", "depth", f"[bold]{t.critical}[/bold]")
    depth = fmt(round(t.queue_depth_threshold, 1))
    if t.decode_drain_per_s is None:
        bound = (
            "Only the prefill-bound drain rate is known: it assumes a slot frees every engine step. "
            "Under continuous batching a slot frees when a request finishes; give --output-tokens and "
            "--tpot (or --profile) for the decode-bound rate, usually far slower.\n"
        )
    elif t.bound == "decode":
        bound = (
            "Decode binds (◀): a waiting request gets a slot only when a running one finishes its "
            f"{t.output_tokens} output tokens, so a pod starts {fmt(round(t.decode_drain_per_s, 2))} "
            "requests per second, not one batch per step.\n"
        )
    else:
        bound = "Prefill binds (◀): requests are short enough that slots free about every step.\n"
    explanation = (
        f"{bound}A request that arrives behind {depth} waiting requests waits the whole "
        f"{fmt(t.queue_wait_budget_s)} s budget, so its TTFT just meets the SLO.\n"
        f"[green]scale-up {t.scale_up}[/green]: the KEDA trigger threshold on vllm:num_requests_waiting "
        "per pod, below the SLO depth because new pods take minutes to become ready.\n"
        f"[yellow]warning {t.warning}[/yellow]: alert; the queue is using most of its budget.\n"
        f"[red]critical {t.critical}[/red]: alert; requests behind this depth miss the TTFT SLO."
    )
    return Group(table, Text.from_markup(explanation))
