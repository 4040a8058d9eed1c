"""One retrain of one target, bounded in time: read its history, choose and fit a model, and wrap
the model in its envelope (what it was trained on, and ``trained_at`` = the end of its data).

The work runs in a thread of its own and is waited for at most ``retrain_timeout_s`` (wall
time). A retrain that takes longer is abandoned: it counts as failed with a clear reason and is
retried with backoff, and the next target's retrain starts at once. Python cannot stop a thread,
so the abandoned one runs on to its end and its result is thrown away; until then the target's
next retrain waits (runs never pile up). A SIGTERM abandons the running retrain the same way.

Within that limit the model choice has a time budget, so that a slow candidate is dropped with a
stated reason rather than the whole retrain abandoned: when the fit starts, whatever is left of
``retrain_timeout_s`` minus the half of it kept in reserve (for a candidate already running and the
final refit, which are not cut short) is the backtest's budget. Seasonal naive is always
backtested, so a retrain whose history read took most of the limit still ends with a model.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pandas as pd

from predictor import events as ev
from predictor.daemon.state import JobTimer, TargetState
from predictor.errors import ForecastError
from predictor.forecasting.selection import Selection
from predictor.forecasting.store import ModelArtifact
from predictor.planning import Bounds
from predictor.runtime import events as known_events
from predictor.runtime.demand import TokenModels
from predictor.runtime.forecast import ForecastRequest, choose_and_fit, fit_token_series, training_window
from predictor.runtime.targets import read_token_history, read_training_history, request_from_policy

log = logging.getLogger("predictor.retrain")
T = TypeVar("T")
RESERVE_SHARE = 0.5  # of retrain_timeout_s, kept for the candidate in flight and the final refit


class RetrainAbandoned(ForecastError):
    """The retrain took longer than its time limit, or the daemon is stopping: abandoned."""


@dataclass(frozen=True)
class Trained:
    """A retrain's result: the artifact, how many points it saw, why a fallback was fitted, and
    the candidates the fit time budget skipped (kind -> reason)."""

    artifact: ModelArtifact
    points: int
    fallback_reason: str | None
    holiday_level: ev.HolidayLevel | None = None  # the history's past holidays against usual days
    token_models: TokenModels | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    budget_s: float | None = None


def train(rt: TargetState, now: pd.Timestamp, *, deadline: float, timeout_s: float) -> Trained:
    """Read ``rt``'s history up to ``now`` and fit its model. ``deadline`` is the monotonic time at
    which the retrain is abandoned, ``timeout_s`` its whole limit (see :func:`fit_budget_s`)."""
    # The configured policy, not the self-tuned one: the model is chosen as the tuning's replay
    # chose it, so that a tuned quantile never changes which model it was tuned on.
    request = request_from_policy(
        rt.name,
        rt.configured_policy,
        pod=rt.pod,
        cold_start=rt.cold_start,
        bounds=Bounds(0),
        events=rt.events,
        tokens=rt.tokens,
    )
    history = read_training_history(rt.source, now, request)
    window = training_window(history, now, request.train_days)
    budget_s = fit_budget_s(deadline, timeout_s)
    selection = fit(window, request, budget_s=budget_s)
    token_models = None
    if request.tokens is not None and rt.demand is not None:
        # The token series with the rate's model kind: a failed one is absent, said in the reason.
        frame, problems = read_token_history(rt.demand, now, request)
        token_models = fit_token_series(selection, frame, request, now, problems=problems)
    step = pd.Timedelta(seconds=request.step_s)
    seen = window.dropna()
    scores = {k: s.mase for k, s in selection.scores.items() if s.status == "ok" and math.isfinite(s.mase)}
    artifact = ModelArtifact(
        kind=selection.kind,
        trained_at=seen.index[-1] + step,  # the end of the data the model saw
        data_start=window.index[0],
        data_end=window.index[-1] + step,
        step_s=request.step_s,
        model=selection.model,
        scores=scores,
        inputs=rt.inputs,
        fitted_at=now,
    )
    level = known_events.holiday_level(window, rt.events)
    skipped = {
        kind: s.error or "skipped"
        for kind, s in selection.scores.items()
        if selection.budget_hit and s.status == "skipped" and "budget" in (s.error or "")
    }
    return Trained(
        artifact,
        len(seen),
        selection.fallback_reason,
        holiday_level=level,
        token_models=token_models,
        skipped=skipped,
        budget_s=budget_s,
    )


def fit_budget_s(deadline: float, timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> float:
    """Seconds the model choice may spend backtesting: what is left before ``deadline`` (monotonic
    seconds) less the reserve (:data:`RESERVE_SHARE` of ``timeout_s``), never below zero."""
    return max(0.0, deadline - clock() - RESERVE_SHARE * timeout_s)


def fit(window: pd.Series, request: ForecastRequest, *, budget_s: float | None) -> Selection:
    """Choose and fit the model: the one place where a fit's time budget goes in."""
    return choose_and_fit(window, request, budget_s=budget_s)


def run_bounded(
    work: Callable[[], T],
    *,
    timeout_s: float,
    stop: threading.Event,
    what: str,
    on_late_finish: Callable[[float], None],
    job: str = "retrain",
    limit: str = "retrain_timeout_s",
) -> T:
    """Run ``work`` in a thread and wait for it at most ``timeout_s`` seconds, or until ``stop``.

    Raises RetrainAbandoned (saying ``job`` and the ``limit`` setting) when it runs out
    (``on_late_finish(seconds)`` is called from the
    thread when the abandoned work ends); any error of ``work`` is raised here.
    """
    done = threading.Event()
    outcome: dict[str, object] = {}
    abandoned = threading.Event()
    started = time.monotonic()

    def body() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the waiting thread, or logged if abandoned
            outcome["error"] = error
        finally:
            done.set()
            if abandoned.is_set():
                on_late_finish(time.monotonic() - started)

    thread = threading.Thread(target=body, name=f"{job} {what}", daemon=True)
    thread.start()
    deadline = started + timeout_s
    while not done.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or stop.is_set():
            abandoned.set()
            if done.is_set():  # finished in the same instant: take it
                break
            why = (
                "the daemon is stopping"
                if stop.is_set()
                else f"it took longer than {limit} ({timeout_s:g} s)"
            )
            raise RetrainAbandoned(f"{job} abandoned: {why}")
        done.wait(min(left, 0.2))
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, BaseException)
        raise error
    return outcome["value"]  # type: ignore[return-value]


def run_exclusive(
    timer: JobTimer,
    work: Callable[[], T],
    *,
    noun: str,
    timeout_s: float,
    stop: threading.Event,
    what: str,
    job: str = "retrain",
    limit: str = "retrain_timeout_s",
) -> T:
    """:func:`run_bounded` for a job of one target that runs once at a time (a retrain, a tuning).

    ``timer.running`` is set while ``work`` runs and cleared when it ends, or, once abandoned,
    when the abandoned work ends later (its result discarded and logged). Raises ForecastError
    while an abandoned run of the same job is still going; ``noun`` names the job in messages.
    """
    if timer.running:
        raise ForecastError(f"the previous, abandoned {noun} is still running")
    timer.running = True

    def late(seconds: float) -> None:
        timer.running = False
        log.warning(
            "an abandoned %s ended after %.0f s; its result is discarded",
            noun,
            seconds,
            extra={"target": what},
        )

    abandoned = False
    try:
        return run_bounded(
            work, timeout_s=timeout_s, stop=stop, what=what, on_late_finish=late, job=job, limit=limit
        )
    except RetrainAbandoned:
        abandoned = True  # its thread clears ``running`` when it ends
        raise
    finally:
        if not abandoned:
            timer.running = False
