"""``predictor plan --prompt-tokens-rate/--output-tokens-rate``: size a role on token rates.

The mean lengths come from the rates (tokens/s ÷ req/s) instead of the profile, and the role is
sized on its own work at those lengths (see :mod:`predictor.capacity.demand`).
"""

from __future__ import annotations

import math

from rich.table import Table

from predictor.capacity import CapacityParams
from predictor.capacity.demand import MIN_RPS_FOR_LENGTHS, TokenSizing, size_tokens
from predictor.cli.common import console, fmt, print_json
from predictor.errors import CapacityError


def _check_flags(rates: tuple[float | None, float | None], lengths: tuple[int | None, int | None]) -> None:
    """A token rate must be finite and >= 0, and not given beside the length it replaces."""
    for name, rate, length in zip(("prompt", "output"), rates, lengths, strict=True):
        if rate is not None and not (math.isfinite(rate) and rate >= 0):
            raise CapacityError(f"--{name}-tokens-rate must be a finite number of tokens/s >= 0, got {rate}")
        if rate is not None and length is not None:
            raise CapacityError(
                f"--{name}-tokens-rate and --{name}-tokens both set the mean length; give one"
            )


def plan_token_rates(
    rps: float,
    params: CapacityParams,
    role: str,
    *,
    profile: str | None,
    rates: tuple[float | None, float | None],
    length_flags: tuple[int | None, int | None] = (None, None),
    utilization: float,
    buffer: float,
    as_json: bool,
) -> None:
    """Print the sizing of ``role`` for ``rps`` and its (prompt, output) token rates, as a table or
    one JSON object. ``length_flags`` are --prompt-tokens/--output-tokens, which a rate replaces."""
    _check_flags(rates, length_flags)
    sizing = size_tokens(
        rps,
        params,
        role,
        prompt_tokens_per_s=rates[0],
        output_tokens_per_s=rates[1],
        utilization=utilization,
        buffer=buffer,
    )
    if as_json:
        print_json({**sizing.to_dict(), "profile": profile, "capacity": params.model_dump(exclude_none=True)})
        return
    console.print(token_table(sizing, params, profile))
    if sizing.reason:
        console.print(sizing.reason)


def _length_row(table: Table, s: TokenSizing, name: str) -> None:
    rate = s.prompt_tokens_per_s if name == "prompt" else s.output_tokens_per_s
    length = s.prompt_tokens if name == "prompt" else s.output_tokens
    source = s.prompt_tokens_from if name == "prompt" else s.output_tokens_from
    if source == "rates":
        formula = f"{name} tokens/s ÷ λ = {fmt(rate)} / {fmt(s.rps)}"
    elif rate is not None:
        formula = f"the profile's (λ below {fmt(MIN_RPS_FOR_LENGTHS)} req/s)"
    else:
        formula = f"the profile's (no --{name}-tokens-rate)"
    table.add_row(f"mean {name} length", formula, fmt(length, "tok"))


def token_table(s: TokenSizing, p: CapacityParams, profile: str | None) -> Table:
    """The arithmetic of a token-rate sizing, step by step."""
    title = f"Capacity plan from token rates: {s.role} serving" + (f" (profile {profile})" if profile else "")
    table = Table(title=title, title_justify="left")
    table.add_column("step")
    table.add_column("formula")
    table.add_column("value", justify="right")
    _length_row(table, s, "prompt")
    if s.role != "prefill":
        _length_row(table, s, "output")
    u = s.utilization
    if s.role == "prefill":
        hit = p.prefix_cache_hit_rate
        work = s.rps * (s.prompt_tokens or 0.0) * (1 - hit)
        table.add_row(
            "prefill work",
            f"λ × prompt × (1 − hit) = {fmt(s.rps)} × {fmt(s.prompt_tokens)} × {fmt(1 - hit)}",
            fmt(work, "tok/s"),
        )
        table.add_row(
            "pods",
            f"ceil(work / (prefill_tps × u)) = ceil({fmt(work)} / ({fmt(p.prefill_tokens_per_s)} × {fmt(u)}))"
            f" = ceil({s.exact_pods:.2f})",
            f"[bold]{s.pods}[/bold]",
        )
    else:
        if s.role == "aggregated":
            formula = f"TTFT + output × TPOT = {fmt(p.ttft_s)} + {fmt(s.output_tokens)} × {fmt(p.tpot_s)}"
            label = "duration per request D"
        else:
            formula = f"output × TPOT = {fmt(s.output_tokens)} × {fmt(p.tpot_s)}"
            label = "decode time per request D"
        table.add_row(label, formula, fmt(s.duration_s, "s"))
        total = (s.prompt_tokens or 0.0) + (s.output_tokens or 0.0)
        table.add_row(
            "KV-cache bound",
            f"kv / (prompt + output) = {fmt(p.kv_capacity_tokens)} / {fmt(total)}",
            fmt(s.kv_bound, "req"),
        )
        table.add_row("compute bound", "max_concurrency", fmt(s.compute_bound, "req"))
        binds = {"kv_cache": "KV cache binds", "compute": "compute binds"}.get(
            s.limited_by or "", "no requests, nothing binds"
        )
        table.add_row(
            "concurrency per pod C",
            f"min({fmt(s.kv_bound)}, {fmt(s.compute_bound)}): {binds}",
            fmt(s.per_pod_concurrency, "req"),
        )
        table.add_row("in flight", f"λ × D = {fmt(s.rps)} × {fmt(s.duration_s)}", fmt(s.in_flight, "req"))
        table.add_row(
            "pods",
            f"ceil(λD / (C × u)) = ceil({fmt(s.in_flight)} / ({fmt(s.per_pod_concurrency)} × {fmt(u)}))"
            f" = ceil({s.exact_pods:.2f})",
            f"[bold]{s.pods}[/bold]",
        )
    b = s.buffer
    table.add_row(
        "pods with spike buffer",
        f"ceil(pods × (1 + b)) = ceil({s.pods} × {fmt(1 + b)}) = ceil({s.pods * (1 + b):.2f})",
        f"[bold]{s.pods_with_buffer}[/bold]",
    )
    return table
