"""One retrain of one target, bounded in time: read its history, choose and fit a model, and wrap
the model in its envelope (what it was trained on, and ``trained_at`` = the end of its data).

The work runs in a thread of its own and is waited for at most ``retrain_timeout_s`` (wall
time). A retrain that takes longer is abandoned: it counts as failed with a clear reason and is
retried with backoff, and the next target's retrain starts at once. Python cannot stop a thread,
so the abandoned one runs on to its end and its result is thrown away; until then the target's
next retrain waits (runs never pile up). A SIGTERM abandons the running retrain the same way.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd

from predictor import events as ev
from predictor.daemon.state import TargetState
from predictor.errors import ForecastError
from predictor.forecasting.selection import Selection
from predictor.forecasting.store import ModelArtifact
from predictor.planning import Bounds
from predictor.runtime import events as known_events
from predictor.runtime.demand import TokenModels
from predictor.runtime.forecast import ForecastRequest, choose_and_fit, fit_token_series, training_window
from predictor.runtime.targets import read_history, read_token_history, request_from_policy

log = logging.getLogger("predictor.retrain")
T = TypeVar("T")


class RetrainAbandoned(ForecastError):
    """The retrain took longer than its time limit, or the daemon is stopping: abandoned."""


@dataclass(frozen=True)
class Trained:
    """A retrain's result: the artifact, how many points it saw, and why a fallback was fitted."""

    artifact: ModelArtifact
    points: int
    fallback_reason: str | None
    holiday_level: ev.HolidayLevel | None = None  # the history's past holidays against usual days
    token_models: TokenModels | None = None


def train(rt: TargetState, now: pd.Timestamp, *, deadline: float) -> Trained:
    """Read ``rt``'s history up to ``now`` and fit its model. ``deadline`` is the monotonic time by
    which the fit should be done (see :func:`fit`)."""
    request = request_from_policy(
        rt.name,
        rt.policy,
        pod=rt.pod,
        cold_start=rt.cold_start,
        bounds=Bounds(0),
        events=rt.events,
        tokens=rt.tokens,
    )
    history = read_history(rt.source, now, request)
    window = training_window(history, now, request.train_days)
    selection = fit(window, request, deadline=deadline)
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
    return Trained(
        artifact, len(seen), selection.fallback_reason, holiday_level=level, token_models=token_models
    )


def fit(window: pd.Series, request: ForecastRequest, *, deadline: float) -> Selection:
    """Choose and fit the model: the one place where a fit's time budget goes in.

    ``deadline`` (monotonic seconds) is when :func:`run_bounded` abandons the retrain; model
    selection that honours a time budget should stop trying candidates before it, so that it
    returns the best model found rather than being abandoned.
    """
    return choose_and_fit(window, request)


def run_bounded(
    work: Callable[[], T],
    *,
    timeout_s: float,
    stop: threading.Event,
    what: str,
    on_late_finish: Callable[[float], None],
) -> T:
    """Run ``work`` in a thread and wait for it at most ``timeout_s`` seconds, or until ``stop``.

    Raises RetrainAbandoned when it runs out (``on_late_finish(seconds)`` is called from the
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

    thread = threading.Thread(target=body, name=f"retrain {what}", daemon=True)
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
                else f"it took longer than retrain_timeout_s ({timeout_s:g} s)"
            )
            raise RetrainAbandoned(f"retrain abandoned: {why}")
        done.wait(min(left, 0.2))
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, BaseException)
        raise error
    return outcome["value"]  # type: ignore[return-value]
