"""The daemon's newer jobs on the movable clock (tests/integration/lifecycle_rig.py): the fit time
budget inside a retrain, self-tuning per target, and capacity observed from vLLM's metrics.

Real processes as `predictor run` wires them, the fake API server, the real Prometheus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.integration.conftest import Backfilled
from tests.integration.daemon_rig import scaled_object, target
from tests.integration.faults.rig import FlakyPrometheus
from tests.integration.lifecycle_rig import SimClock, World
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration

DAY = pd.Timestamp("2026-01-28", tz="UTC")  # a Wednesday inside the backfilled four weeks


def at(hhmm: str, day: pd.Timestamp = DAY) -> pd.Timestamp:
    return day + pd.Timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))


@pytest.fixture()
def worlds(backfilled_prometheus: Backfilled, tmp_path: Path) -> Iterator[callable]:
    made: list[World] = []

    def make(start: pd.Timestamp, *objects: dict, upstream: str | None = None) -> World:
        kube = start_fake_kube(crd=keda_crd())
        prometheus = FlakyPrometheus(upstream or backfilled_prometheus.url).start()
        for obj in objects:
            kube.put_object(obj)
        world = World(kube, prometheus, SimClock(start), tmp_path / f"world-{len(made)}")
        made.append(world)
        return world

    try:
        yield make
    finally:
        for world in made:
            world.close()
            world.prometheus.stop()
            world.kube.stop()


# The fit time budget.


def test_a_slow_history_read_leaves_no_fit_budget_so_the_retrain_drops_candidates_and_succeeds(worlds):
    """The history read (three range queries of a minute's resolution, each answered 2.2 s late)
    takes about 7 s of a 10 s retrain_timeout_s: half the limit is kept in reserve,
    so the model choice has no budget left. The slow candidates are dropped with the reason, the
    fallback (always backtested first) is fitted, and the retrain succeeds instead of being
    abandoned; the note is in the status. With a fast read the same retrain backtests everything."""
    settings_for = {
        "policy": {"model": "auto"},
        "schedule": {"retrain_timeout_s": 10},
        "prometheus": {"timeout_s": 5},
    }
    fast = worlds(at("06:00"), scaled_object("chat"))
    quick = fast.start("a", fast.settings("state", [target("chat")], **settings_for))
    fast.run_until(at("06:01"))
    quick_rt = quick.daemon.targets["chat"]
    assert quick_rt.artifact is not None and quick_rt.fit_note is None
    assert len(quick_rt.artifact.scores) >= 3  # every candidate backtested

    slow = worlds(at("06:00"), scaled_object("chat"))
    slow.prometheus.delay_s = 2.2
    process = slow.start("a", slow.settings("state", [target("chat")], **settings_for))
    slow.run_until(at("06:01"))
    rt = process.daemon.targets["chat"]
    assert rt.retrain.failures == 0 and rt.artifact is not None, rt.retrain.last_error
    assert rt.artifact.trained_at == at("06:00")
    assert rt.artifact.kind == "seasonal_naive"  # the fallback: the only candidate backtested
    assert rt.fit_note is not None and "harmonic" in rt.fit_note
    assert "fit time budget of 0 s used up" in rt.fit_note
    status = json.loads((Path(process.app.settings.state_dir) / "status.json").read_text())
    assert status["targets"]["chat"]["fit_note"] == rt.fit_note
    assert {d.state for _, d in process.decided("chat")} == {"healthy"}


# Self-tuning.

TUNED_POLICY = {
    "tune": True,
    "tune_history_days": 1.0,
    "tune_interval_s": 3_600,
    "tune_quantiles": [0.9, 0.95],
    "tune_buffers": [0.0, 0.5],
    # The configured p80 + 20 % is below the minimum quantile, so not a candidate: any choice is a change.
    "tune_min_quantile": 0.9,
    "forecast_quantile": 0.8,
}


def tuned_target(**policy: object) -> dict:
    return target("chat", policy={**TUNED_POLICY, **policy})


def test_the_daemon_tunes_after_its_first_fit_sizes_with_the_choice_and_shows_it_everywhere(worlds):
    world = worlds(at("06:00"), scaled_object("chat"))
    process = world.start("a", world.settings("state", [tuned_target()], schedule={"retrain_jitter_s": 0}))
    world.run_until(at("06:00"))  # the first pass: retrain, then the tuning in the same worker
    rt = process.daemon.targets["chat"]
    assert rt.artifact is not None and rt.tuned is not None, rt.last_error
    choice = rt.tuned
    assert (choice.quantile, choice.buffer) in {(0.9, 0.0), (0.9, 0.5), (0.95, 0.0), (0.95, 0.5)}
    assert choice.tuned_at == at("06:00") and "over 1.0 d" in choice.reason
    assert rt.policy.quantile == choice.quantile and rt.policy.floor.buffer == choice.buffer
    assert rt.configured_policy.floor.buffer == 0.2  # the configured policy is what is tuned
    assert rt.tune_job.due_at == at("07:00")

    world.run_until(at("06:30"))
    # Sized with the choice: the forecast series is the tuned quantile's, the floor planned with it.
    label = f"p{round(choice.quantile * 100)}"
    assert process.metric("predictor_forecast_quantile_rps", target="chat", quantile=label) is not None
    assert process.metric("predictor_tuned_quantile", target="chat", source="tuned") == choice.quantile
    assert process.metric("predictor_tuned_buffer", target="chat", source="tuned") == choice.buffer
    assert process.metric("predictor_tuned_quantile", target="chat", source="configured") is None
    assert (
        process.metric("predictor_tune_last_success_timestamp_seconds", target="chat")
        == at("06:00").timestamp()
    )
    assert process.metric("predictor_tune_consecutive_failures", target="chat") == 0
    (event,) = world.events("PolicyTuned")
    assert (
        f"sizing with p{choice.quantile * 100:g} + {choice.buffer:.0%} buffer (self-tuned)"
        in event["message"]
    )
    assert "was p80 + 20% buffer (configured)" in event["message"]
    status = json.loads((Path(process.app.settings.state_dir) / "status.json").read_text())["targets"]["chat"]
    assert status["policy"]["source"] == "tuned" and status["policy"]["quantile"] == choice.quantile
    assert status["tuning"]["choice"]["reason"] == choice.reason
    assert status["tuning"]["next_tune_at"] == at("07:00").isoformat()
    assert {d.state for _, d in process.decided("chat")} == {"healthy"}

    # A restart sizes with the stored choice at once and re-tunes when it is due, not at start.
    process.crash()
    again = world.start(
        "a-restarted", world.settings("state", [tuned_target()], schedule={"retrain_jitter_s": 0})
    )
    restored = again.daemon.targets["chat"]
    assert restored.tuned == choice and restored.policy.quantile == choice.quantile
    assert restored.tune_job.due_at == at("07:00")
    assert again.metric("predictor_tuned_buffer", target="chat", source="tuned") == choice.buffer
    world.run_until(at("07:00"))
    assert restored.tuned is not None and restored.tuned.tuned_at == at("07:00")


def test_a_failed_or_timed_out_tuning_keeps_the_policy_in_force_and_backs_off(worlds, caplog):
    world = worlds(at("06:00"), scaled_object("chat"))
    process = world.start("a", world.settings("state", [tuned_target()], schedule={"retrain_jitter_s": 0}))
    world.run_until(at("06:00"))
    rt = process.daemon.targets["chat"]
    first = rt.tuned
    assert first is not None
    floors_before = len(world.floors("chat"))

    world.run_until(at("06:59"))
    world.prometheus.mode = "503"  # down across the 07:00 tuning (the retrain is due at 09:00)
    world.run_until(at("07:10"))
    assert rt.tuned == first and rt.policy.quantile == first.quantile  # the policy in force stays
    assert rt.tune_job.failures >= 3 and "503" in (rt.tune_job.last_error or "")
    assert process.metric("predictor_tune_consecutive_failures", target="chat") == rt.tune_job.failures
    waits = rt.tune_job.due_at - at("07:10")
    assert pd.Timedelta(0) < waits <= pd.Timedelta(seconds=process.app.settings.schedule.retrain_retry_max_s)
    said = [r.getMessage() for r in caplog.records if getattr(r, "job", None) == "tune"]
    assert len(said) == rt.tune_job.failures  # one line per failure
    assert all(m.startswith(f"self-tuning failed (keeping p{first.quantile * 100:g}") for m in said)
    assert {d.state for t, d in process.decided("chat") if t >= at("07:00")} == {"healthy"}
    assert rt.retrain.failures == 0  # the retrain was not due: only the tuning failed

    world.prometheus.mode = None
    world.run_until(at("07:40"))
    assert rt.tune_job.failures == 0 and rt.tuned.tuned_at > at("07:10")
    assert len(world.floors("chat")) >= floors_before

    # A tuning that takes longer than tune_timeout_s is abandoned the same way.
    world.prometheus.delay_s = 1.5
    slow = world.settings("state-slow", [tuned_target()], schedule={"tune_timeout_s": 1})
    other = world.start("b", slow)
    world.run_until(at("07:41"))
    slow_rt = other.daemon.targets["chat"]
    assert slow_rt.artifact is not None and slow_rt.tuned is None
    assert "self-tuning abandoned: it took longer than tune_timeout_s (1 s)" in (
        slow_rt.tune_job.last_error or ""
    )
    assert slow_rt.policy == slow_rt.configured_policy


def test_tune_false_never_tunes(worlds):
    world = worlds(at("06:00"), scaled_object("chat"))
    process = world.start("a", world.settings("state", [tuned_target(tune=False)]))
    world.run_until(at("07:30"))
    rt = process.daemon.targets["chat"]
    assert rt.artifact is not None and rt.tuned is None and rt.tune_job.due_at is None
    assert rt.policy == rt.configured_policy
    assert process.metric("predictor_tuned_quantile", target="chat", source="configured") == 0.8
    assert process.metric("predictor_tune_last_success_timestamp_seconds", target="chat") is None
    assert world.events("PolicyTuned") == []


# Capacity from production, in the daemon.

VLLM_START = pd.Timestamp("2026-03-02", tz="UTC")
VLLM_END = VLLM_START + pd.Timedelta(days=1)
SELECTOR = 'model_name="llama-3-8b",namespace="inference"'


@pytest.fixture(scope="module")
def vllm_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus holding one day of vLLM per-pod metrics (a churning fleet of five slots)."""
    from predictor.sources.synthetic_fleet import churning_fleet, production_samples
    from predictor.sources.synthetic_serving import SyntheticPod
    from tests.support.prometheus_server import build_tsdb, start_prometheus
    from tests.support.vllm_metrics import Exported, write_vllm_openmetrics

    work = tmp_path_factory.mktemp("vllm-daemon")
    fleet = churning_fleet(VLLM_START)
    samples = production_samples(SyntheticPod(), fleet.load_rps, slowdown=fleet.slowdown, seed=1)
    groups = [Exported({"model_name": "llama-3-8b", "namespace": "inference"}, samples)]
    tsdb = build_tsdb(write_vllm_openmetrics(work / "vllm.om", groups), work / "tsdb")
    with start_prometheus(tsdb, work / "server") as server:
        yield server.url


def observed_target(**policy: object) -> dict:
    """History from the built-in trace; capacity observed from the vLLM series in Prometheus."""
    found = target("chat", policy={"capacity_slo": {"ttft_p99_s": 0.5}, **policy})
    del found["query"]
    return {
        **found,
        "history_synthetic": {"seed": 4, "base_rps": 60, "peak_rps": 150},
        "pod_metrics_selector": SELECTOR,
    }


OBSERVED = {"observed_capacity_window_s": 86_400, "capacity_mismatch_margin": 0.1}
FAST_PROMETHEUS = {"timeout_s": 30}
CADENCE = {"reconcile_interval_s": 300, "observe_interval_s": 900}  # a day of cycles at less cost


def test_the_daemon_flags_a_profile_off_from_production_and_sizes_with_it_when_opted_in(
    worlds, vllm_prometheus
):
    """The profile says 12.5 req/s per pod; production crosses the objective about 17 % lower, more
    than the 10 % margin: the OFF flag turns on (metric, status, one Event), and with
    size_with_observed_capacity the observed capacity sizes the floor, the reason saying so. A day
    later the window holds no observation: the flag stays (nothing proves it wrong), the observed
    series is absent (never zero), and sizing goes back to the configured capacity, saying why."""
    world = worlds(VLLM_END, scaled_object("chat"), upstream=vllm_prometheus)
    opted = world.settings(
        "state",
        [observed_target(**OBSERVED, size_with_observed_capacity=True)],
        prometheus=FAST_PROMETHEUS,
        schedule=CADENCE,
    )
    process = world.start("a", opted)
    world.run_until(VLLM_END + pd.Timedelta(minutes=10))
    rt = process.daemon.targets["chat"]
    assert rt.capacity is not None and rt.capacity.observed.status == "measured", rt.last_error
    observed = rt.capacity.observed.rps_per_pod
    assert process.metric("predictor_capacity_configured_rps_per_pod", target="chat") == pytest.approx(12.5)
    assert process.metric("predictor_capacity_observed_rps_per_pod", target="chat") == pytest.approx(observed)
    assert observed < 12.5 * 0.9
    assert process.metric("predictor_capacity_off", target="chat") == 1
    assert rt.capacity_off and rt.pod.limited_by == "observed"
    (event,) = world.events("CapacityProfileOff")
    assert "the profile overstates capacity" in event["message"]
    after = [d for t, d in process.decided("chat") if t > VLLM_END]  # once observed
    sized = f"sized with observed capacity {observed:.3g} req/s per pod (measured)"
    assert after and all(sized in d.reason for d in after)
    status = json.loads((Path(opted.state_dir) / "status.json").read_text())["targets"]["chat"]
    assert status["capacity"]["off"] is True and status["capacity"]["sizing"].startswith("observed capacity")

    # The same target sized with the profile: a lower floor at the same moment.
    control = worlds(VLLM_END, scaled_object("chat"), upstream=vllm_prometheus)
    plain = control.settings(
        "state", [observed_target(**OBSERVED)], prometheus=FAST_PROMETHEUS, schedule=CADENCE
    )
    other = control.start("a", plain)
    control.run_until(VLLM_END + pd.Timedelta(minutes=10))
    assert other.daemon.targets["chat"].pod.limited_by != "observed"
    assert other.metric("predictor_capacity_off", target="chat") == 1  # flagged either way
    assert control.so("chat")["spec"]["minReplicaCount"] < world.so("chat")["spec"]["minReplicaCount"]

    # A process started a day later: its window holds no observation. Missing is not zero: no
    # observed series, the flag not raised, sizing on the configured capacity, saying why.
    later = worlds(VLLM_END + pd.Timedelta(days=1, hours=1), scaled_object("chat"), upstream=vllm_prometheus)
    late = later.start(
        "a",
        later.settings(
            "state",
            [observed_target(**OBSERVED, size_with_observed_capacity=True)],
            prometheus=FAST_PROMETHEUS,
            schedule=CADENCE,
        ),
    )
    later.run_until(VLLM_END + pd.Timedelta(days=1, hours=1, minutes=10))
    late_rt = late.daemon.targets["chat"]
    assert late_rt.capacity is not None and late_rt.capacity.observed.status == "no-data"
    assert late.metric("predictor_capacity_observed_rps_per_pod", target="chat") is None
    assert (
        late.metric("predictor_capacity_off", target="chat") == 0 and later.events("CapacityProfileOff") == []
    )
    assert late_rt.pod == late_rt.configured_pod
    assert late_rt.capacity_note.startswith("configured capacity: no observation")
    last = late.decided("chat")[-1][1]
    assert "sized with configured capacity: no observation" in last.reason
