"""The daemon's lifecycle, scenario by scenario, on the movable clock (tests/integration/lifecycle_rig.py):
real processes as `predictor run` wires them, the fake API server, the real Prometheus with four
weeks of history. Each scenario checks the floor against what an undisturbed daemon does, or
against the rules the operations guide promises (deploy/README.md, "Lifecycle of a target")."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from predictor import events as ev
from predictor.actuation.scaledobject import (
    BASELINE_ANNOTATION,
    DECLARATION_ANNOTATIONS,
    MODE_ANNOTATION,
    OWN_ANNOTATIONS,
    PROFILE_ANNOTATION,
    QUERY_ANNOTATION,
)
from predictor.forecasting.store import ModelStore
from tests.integration.conftest import Backfilled
from tests.integration.daemon_rig import NS, PROFILE, QUERY, scaled_object, target
from tests.integration.faults.rig import FlakyPrometheus, assert_no_wrong_patch
from tests.integration.lifecycle_rig import SimClock, World, floor_at
from tests.support.fake_kube import start_fake_kube
from tests.support.keda_crd import keda_crd

pytestmark = pytest.mark.integration

DAY = pd.Timestamp("2026-01-28", tz="UTC")  # a Wednesday inside the backfilled four weeks
BASELINE = 2
NO_JITTER = {"retrain_jitter_s": 0}  # retrains at the same moments in every world, for comparisons


def at(hhmm: str, day: pd.Timestamp = DAY) -> pd.Timestamp:
    return day + pd.Timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))


@pytest.fixture()
def worlds(backfilled_prometheus: Backfilled, tmp_path: Path) -> Iterator[callable]:
    """Make worlds on demand (a scenario and its undisturbed control each get one)."""
    made: list[tuple[World, object]] = []

    def make(start: pd.Timestamp, *objects: dict) -> World:
        kube = start_fake_kube(crd=keda_crd())
        prometheus = FlakyPrometheus(backfilled_prometheus.url).start()
        for obj in objects:
            kube.put_object(obj)
        world = World(kube, prometheus, SimClock(start), tmp_path / f"world-{len(made)}")
        made.append((world, kube))
        return world

    try:
        yield make
    finally:
        for world, kube in made:
            world.close()
            world.prometheus.stop()
            kube.stop()


def applied_each_minute(world: World, name: str, start: pd.Timestamp, end: pd.Timestamp) -> list[int]:
    history = world.floors(name)
    return [floor_at(history, t, BASELINE) for t in pd.date_range(start, end, freq="1min")]


def lowerings(history: list[tuple[pd.Timestamp, int]]) -> list[tuple[pd.Timestamp, int, int]]:
    return [(t, a, b) for (_, a), (t, b) in itertools.pairwise(history) if b < a]


# Restarts.


def test_a_restart_with_a_stored_model_continues_exactly_where_it_stopped(worlds, undisturbed):
    """Restarted at 12:30, an hour into the ramp to the midday peak, with its model and the
    planner's memory: the floor from then on is exactly an undisturbed daemon's (the failover
    scenarios' control below: held through the cooldown, lowered when that one lowers), and the
    loaded model is retrained when its age calls for it (14:30), not a full interval after the
    restart."""
    control = undisturbed
    world = worlds(FAILOVER_START, scaled_object("chat"))
    settings = world.settings("state", FAILOVER_TARGETS[:1], schedule=NO_JITTER)  # chat, a long cooldown
    first = world.start("a", settings)
    world.run_until(FAILOVER_CRASH)
    first.crash()
    assert world.so("chat")["spec"]["minReplicaCount"] > BASELINE + 10
    again = world.start("a-restarted", settings)
    assert again.daemon.targets["chat"].retrain.due_at == at("14:30")  # data end 11:30 + 3 h
    world.run_until(at("14:45"))
    assert again.daemon.targets["chat"].artifact.trained_at == at("14:30")  # retrained on time
    world.run_until(FAILOVER_END)  # past the lowering three hours after the last raise

    after = applied_each_minute(world, "chat", at("12:31"), FAILOVER_END)
    assert after == applied_each_minute(control, "chat", at("12:31"), FAILOVER_END)
    assert lowerings(world.floors("chat")), "the afternoon should lower the floor once the cooldown ends"
    # The restored memory keeps the cooldown: no lowering within 3 h of the raise before it.
    history = world.floors("chat")
    raises = [t for (_, a), (t, b) in itertools.pairwise(history) if b > a]
    for t, _, _ in lowerings(history):
        last_raise = max(r for r in raises if r < t)
        assert t - last_raise >= pd.Timedelta(hours=3), (t, last_raise, history)
    assert world.events("FallbackToBaseline") == [] and control.events("FallbackToBaseline") == []
    assert_no_wrong_patch(world.kube)


def test_a_lower_sizing_policy_in_force_mid_ramp_lowers_the_floor_only_by_the_lowering_rules(worlds):
    """A new policy takes effect at the next reconcile (a new self-tuned choice, or a config change
    as here: p95 + 50 % until 12:30 mid-ramp, then p80 + 0 %). The floor the old policy raised comes
    down only as any lowering does: not within the cooldown of the last raise (read back from the
    ScaledObject), at most max_step_down_pods at a time, step_down_interval_s apart."""
    high = {"forecast_quantile": 0.95, "spike_buffer": 0.5, "tune": False, "cooldown_s": 3_600}
    low = {**high, "forecast_quantile": 0.8, "spike_buffer": 0.0}
    world = worlds(FAILOVER_START, scaled_object("chat"))
    first = world.start("a", world.settings("state", [target("chat", policy=high)], schedule=NO_JITTER))
    world.run_until(FAILOVER_CRASH)
    first.crash()
    raised = world.so("chat")["spec"]["minReplicaCount"]
    assert raised > BASELINE + 10
    again = world.start("a-lower", world.settings("state", [target("chat", policy=low)], schedule=NO_JITTER))
    rt = again.daemon.targets["chat"]
    assert (rt.policy.quantile, rt.policy.floor.buffer) == (0.8, 0.0)
    world.run_until(at("14:30"))

    history = world.floors("chat")
    rules = rt.policy.floor.rules
    down = [(t, a, b) for t, a, b in lowerings(history) if t >= FAILOVER_CRASH]
    assert down and down[-1][2] < raised - 4, (
        "the lower policy must bring the floor down for this to mean anything"
    )
    raises = [t for (_, a), (t, b) in itertools.pairwise(history) if b > a]
    last_raise = max(r for r in raises if r < down[0][0])
    assert down[0][0] - last_raise >= pd.Timedelta(seconds=rules.cooldown_s), (last_raise, down[0])
    for t, a, b in down:
        assert a - b <= rules.max_step_down_pods, (t, a, b)
    for (t1, _, _), (t2, _, _) in itertools.pairwise(down):
        assert t2 - t1 >= pd.Timedelta(seconds=rules.step_down_interval_s), (t1, t2)
    assert world.events("FallbackToBaseline") == []
    assert_no_wrong_patch(world.kube)


def test_a_restart_mid_ramp_without_a_stored_model_holds_the_floor_until_a_forecast(worlds):
    """An empty state directory (emptyDir) and Prometheus down at the restart: no model, so the
    floor is held exactly as the old process left it, never lowered, until the retrain (retried
    with backoff) succeeds; then it follows the forecast again."""
    targets = [target("chat"), target("code", mode="metric")]
    world = worlds(at("05:00"), scaled_object("chat"), scaled_object("code"))
    first = world.start("a", world.settings("state-a", targets))
    world.run_until(at("08:15"))
    first.crash()
    held = world.so("chat")["spec"]["minReplicaCount"]
    published = first.metric("predictor_recommended_min_replicas", namespace=NS, scaledobject="code")
    assert published > BASELINE + 4
    world.prometheus.mode = "503"
    fresh = world.start("b", world.settings("state-b", targets))  # nothing stored there

    world.run_until(at("08:40"))
    while_down = fresh.decided("chat")
    assert while_down and all(d.state == "no-model" and d.action == "hold" for _, d in while_down)
    assert {d.floor for _, d in while_down} == {held}
    assert world.so("chat")["spec"]["minReplicaCount"] == held
    assert "holding the floor at" in while_down[-1][1].reason and "retrain failed" in while_down[-1][1].reason
    assert fresh.metric("predictor_retrain_consecutive_failures", target="chat") >= 3
    assert fresh.metric("predictor_target_state", target="chat", state="no-model") == 1
    # Metric mode too: the floor KEDA reads stays where the old process left it (recorded on the
    # ScaledObject), instead of dropping to the baseline in one step.
    code = {"namespace": NS, "scaledobject": "code"}
    assert fresh.metric("predictor_recommended_min_replicas", **code) == published

    world.prometheus.mode = None
    world.run_until(at("10:00"))
    after = [d for t, d in fresh.decided("chat") if t >= at("09:00")]
    assert after and all(d.state == "healthy" for d in after)
    assert world.so("chat")["spec"]["minReplicaCount"] >= held  # the ramp goes on: never lowered
    assert world.events("FallbackToBaseline") == []


def test_prometheus_down_across_a_retrain_is_retried_soon_and_never_falls_back(worlds):
    world = worlds(at("05:00"), scaled_object("chat"))
    process = world.start("a", world.settings("state", [target("chat")], schedule=NO_JITTER))
    world.run_until(at("07:55"))
    world.prometheus.mode = "503"  # down from 07:55 to 08:55, across the 08:00 retrain
    world.run_until(at("08:55"))
    rt = process.daemon.targets["chat"]
    assert rt.artifact.trained_at == at("05:00") and rt.retrain.failures >= 4
    stale = [d for t, d in process.decided("chat") if at("08:01") <= t < at("08:55")]
    assert stale and {d.state for d in stale} == {"stale"}  # still forecasting from the 05:00 model
    world.prometheus.mode = None
    world.run_until(at("12:30"))

    assert rt.artifact.trained_at >= at("11:55")  # and it kept its rhythm afterwards
    assert process.metric("predictor_retrain_consecutive_failures", target="chat") == 0
    back = [t for t, d in process.decided("chat") if t >= at("08:55") and d.state == "healthy"]
    assert back and back[0] <= at("08:55") + pd.Timedelta(seconds=1_800)  # within the retry cap
    assert world.events("FallbackToBaseline") == []
    assert {d.state for _, d in process.decided("chat")} <= {"healthy", "stale"}


def test_24_hours_with_no_fault_never_fall_back_and_every_retrain_is_on_time(worlds):
    world = worlds(at("00:00"), scaled_object("chat"))
    every = {"reconcile_interval_s": 120, "observe_interval_s": 900}  # a day of cycles, at half the cost
    process = world.start("a", world.settings("state", [target("chat")], schedule=every))
    trained: list[tuple[pd.Timestamp, pd.Timestamp]] = []  # (when the retrain ran, its data end)

    def note() -> None:
        artifact = process.daemon.targets["chat"].artifact
        if artifact is not None and (not trained or trained[-1][1] != artifact.trained_at):
            trained.append((world.clock.now(), artifact.trained_at))

    world.run_until(at("00:00", DAY + pd.Timedelta(days=1)), each=note)

    schedule = process.app.settings.schedule
    assert 8 <= len(trained) <= 9, trained  # one at start, then every 3 h (and its jitter)
    for (_, previous_end), (ran, end) in itertools.pairwise(trained):
        age_at_retrain = (ran - previous_end).total_seconds()
        # Never before the interval, never after interval + jitter + one retrain tick: no drift.
        assert schedule.retrain_interval_s <= age_at_retrain <= schedule.retrain_interval_s + 300 + 10
        assert end <= ran and (ran - end).total_seconds() < 300  # trained_at: the end of its data
    assert world.events("FallbackToBaseline") == []
    assert {d.state for _, d in process.decided("chat")} == {"healthy"}
    history = world.floors("chat")
    assert max(f for _, f in history) > BASELINE + 4 and lowerings(history)
    assert_no_wrong_patch(world.kube)


# Leader failover and clock skew.


FAILOVER_OBJECTS = (scaled_object("chat"), scaled_object("code"))
LONG_COOLDOWN = {"cooldown_s": 10_800}  # a new leader that forgot the last raise would lower early
FAILOVER_TARGETS = [target("chat", policy=LONG_COOLDOWN), target("code", mode="metric", policy=LONG_COOLDOWN)]
FAILOVER_START, FAILOVER_CRASH, FAILOVER_END = at("11:30"), at("12:30"), at("15:15")
LEASE_S = 30  # the clock skew (120 s) is four lease durations


@pytest.fixture(scope="module")
def undisturbed(backfilled_prometheus: Backfilled, tmp_path_factory) -> Iterator[World]:
    """One replica through the same morning, never failing: what a failover must reproduce."""
    kube = start_fake_kube(crd=keda_crd())
    for obj in FAILOVER_OBJECTS:
        kube.put_object(obj)
    prometheus = FlakyPrometheus(backfilled_prometheus.url).start()
    world = World(kube, prometheus, SimClock(FAILOVER_START), tmp_path_factory.mktemp("undisturbed"))
    try:
        world.start("a", world.settings("state", FAILOVER_TARGETS, schedule=NO_JITTER))
        world.run_until(FAILOVER_END)
        yield world
    finally:
        world.close()
        prometheus.stop()
        kube.stop()


@pytest.mark.parametrize("skew_s", [120.0, -120.0])
def test_failover_between_two_processes_mid_ramp_continues_where_the_leader_stopped(
    worlds, undisturbed, skew_s
):
    """Two replicas, the second one's wall clock 120 s ahead of (or behind) the first's. The first
    leads up the ramp to the midday peak and dies at 12:30 without a word.
    The second takes over within a lease duration and one tick, never while the first still leads,
    and its floors from then on (patch mode and metric mode alike) are exactly what the first would
    have set: held through the cooldown the first started, lowered when it would have lowered."""
    objects, targets, control = FAILOVER_OBJECTS, FAILOVER_TARGETS, undisturbed
    world = worlds(FAILOVER_START, *objects)
    election = {"leader_election": True, "lease_duration_s": LEASE_S}
    a = world.start("a", world.settings("state-a", targets, kubernetes=election, schedule=NO_JITTER))
    b = world.start(
        "b", world.settings("state-b", targets, kubernetes=election, schedule=NO_JITTER), skew_s=skew_s
    )

    def one_leader() -> None:
        assert sum(p.is_leader() for p in (a, b) if not p.crashed) <= 1

    world.run_until(FAILOVER_CRASH, each=one_leader)
    assert a.is_leader() and not b.is_leader()
    a.crash()
    world.run_until(FAILOVER_END, each=one_leader)

    took_over = next(t for t, leading in b.leading if leading)
    assert took_over - FAILOVER_CRASH <= pd.Timedelta(seconds=LEASE_S + LEASE_S / 3)
    since = FAILOVER_CRASH + pd.Timedelta(minutes=1)
    assert applied_each_minute(world, "chat", since, FAILOVER_END) == applied_each_minute(
        control, "chat", since, FAILOVER_END
    )
    history = [(FAILOVER_START, BASELINE), *world.floors("chat")]
    raises = [t for (_, a), (t, b) in itertools.pairwise(history) if b > a]
    assert lowerings(history), "the afternoon should lower the floor once the cooldown ends"
    for t, _, _ in lowerings(history):  # the new leader keeps the cooldown the old one started
        last_raise = max(r for r in raises if r < t)
        assert t - last_raise >= pd.Timedelta(seconds=LONG_COOLDOWN["cooldown_s"]), (t, last_raise)
    published = {t: d.floor for t, d in b.decided("code") if t >= since}
    expected = {t: d.floor for t, d in control.processes[0].decided("code") if t in published}
    assert published == expected and len(published) > 120
    instances = {e["reportingInstance"] for e in world.events() if pd.Timestamp(e["lastTimestamp"]) > since}
    assert instances == {"b"}
    assert_no_wrong_patch(world.kube)


# Discovery churn.


def declared(name: str, mode: str) -> dict:
    obj = scaled_object(name)
    obj["metadata"]["labels"] = {"predictor.io/enabled": "true"}
    obj["metadata"]["annotations"] = {
        QUERY_ANNOTATION: QUERY,
        PROFILE_ANNOTATION: PROFILE,
        MODE_ANNOTATION: mode,
    }
    return obj


def test_discovery_churn_opt_in_opt_out_mode_change_delete_and_recreate(worlds):
    world = worlds(at("07:00"), declared("alpha", "patch"), declared("beta", "metric"))
    settings = world.settings("state", [], kubernetes={"namespaces": [NS]})
    process = world.start("a", settings)
    alpha, beta = f"{NS}.alpha", f"{NS}.beta"
    beta_series = {"namespace": NS, "scaledobject": "beta"}

    world.run_until(at("07:50"))
    assert world.so("alpha")["spec"]["minReplicaCount"] > BASELINE
    assert process.metric("predictor_recommended_min_replicas", **beta_series) > BASELINE

    out = world.so("alpha")  # 07:50: alpha opts out
    out["metadata"]["labels"]["predictor.io/enabled"] = "false"
    world.kube.put_object(out)
    world.run_until(at("08:00"))
    handed_back = world.so("alpha")
    assert handed_back["spec"]["minReplicaCount"] == BASELINE
    assert not set(handed_back["metadata"]["annotations"]) & set(OWN_ANNOTATIONS)
    assert set(handed_back["metadata"]["annotations"]) == {
        QUERY_ANNOTATION,
        PROFILE_ANNOTATION,
        MODE_ANNOTATION,
    }
    assert process.metric("predictor_floor_applied_replicas", target=alpha) is None
    patches = len(world.floors("alpha"))

    dry = world.so("beta")  # 08:00: beta switches to dry-run
    dry["metadata"]["annotations"][MODE_ANNOTATION] = "dry-run"
    world.kube.put_object(dry)
    world.run_until(at("08:10"))
    assert process.metric("predictor_recommended_min_replicas", **beta_series) is None
    assert process.daemon.targets[beta].mode == "dry-run"
    writes = len(world.kube.requests_for("patch", "scaledobjects"))

    world.kube.delete_object("ScaledObject", NS, "beta")  # 08:10: deleted
    world.run_until(at("08:20"))
    assert beta not in process.daemon.targets
    assert process.metric("predictor_floor_recommended_replicas", target=beta) is None
    assert len(world.floors("alpha")) == patches  # alpha was never patched again
    assert len(world.kube.requests_for("patch", "scaledobjects")) == writes  # nor beta written in dry-run

    world.kube.put_object(declared("beta", "patch"))  # 08:20: recreated, now in patch mode
    back = world.so("alpha")
    back["metadata"]["labels"]["predictor.io/enabled"] = "true"  # and alpha opts in again
    world.kube.put_object(back)
    world.run_until(at("09:00"))
    for name in ("alpha", "beta"):
        so = world.so(name)
        assert so["spec"]["minReplicaCount"] > BASELINE, name  # managed again, pre-warmed
        assert so["metadata"]["annotations"][BASELINE_ANNOTATION] == str(BASELINE)
        assert set(DECLARATION_ANNOTATIONS) & set(so["metadata"]["annotations"])
    assert {alpha, beta} <= set(process.daemon.targets.names())
    assert world.events("FallbackToBaseline") == []
    assert_no_wrong_patch(world.kube)


# A change of the configuration.


def test_a_changed_step_retrains_first_and_never_fails_on_the_old_grid(worlds):
    world = worlds(at("05:00"), scaled_object("chat"))
    first = world.start("a", world.settings("state", [target("chat")]))
    world.run_until(at("07:30"))
    first.crash()
    held = world.so("chat")["spec"]["minReplicaCount"]

    world.prometheus.mode = "503"  # the retrain cannot run at once: the old model must not be used
    coarse = target("chat", policy={"model_step_s": 600})
    restarted = world.start("b", world.settings("state", [coarse]))
    rt = restarted.daemon.targets["chat"]
    assert rt.artifact.step_s == 300 and rt.retrain.due_at == at("07:30")
    assert rt.stale_inputs() == ["step 300 s, now 600 s"]
    world.run_until(at("07:40"))
    waiting = restarted.decided("chat")
    assert waiting and all(
        d.state == "no-model" and d.action == "hold" and d.floor == held for _, d in waiting
    )
    assert "the model's step is 300 s, the config's 600 s" in waiting[-1][1].reason

    world.prometheus.mode = None
    world.run_until(at("09:00"))
    assert rt.artifact.step_s == 600 and rt.artifact.inputs.step_s == 600
    assert not [d for _, d in restarted.decided("chat") if d.action == "failed"]
    assert [d.state for t, d in restarted.decided("chat") if t >= at("08:00")] == ["healthy"] * 61


# Known events.


def test_a_min_floor_event_raises_one_lead_time_ahead_and_steps_down_after(worlds):
    """A launch from 03:00 to 04:00 asks for at least 25 pods at night, when the forecast asks for
    a few: the floor rises one lead time (cold start 10 min + margin 2 min) before 03:00, at the
    model step's grain, holds through the window, and after 04:00 comes down by the usual step
    rules (at most 2 pods per 5 min, after the cooldown). The window's start and end are
    Kubernetes Events and ``predictor_event_active`` follows it."""
    launch = {
        "name": "launch",
        "start": "2026-01-28T03:00:00Z",
        "end": "2026-01-28T04:00:00Z",
        "min_floor": 25,
    }
    chat = target("chat", events=[launch], policy={"cooldown_s": 600})
    world = worlds(at("01:00"), scaled_object("chat"))
    process = world.start("a", world.settings("state", [chat], schedule=NO_JITTER))
    world.run_until(at("02:30"))
    assert world.so("chat")["spec"]["minReplicaCount"] < 25  # the night's own need is far below
    assert process.metric("predictor_event_active", target="chat", event="launch") == 0
    world.run_until(at("03:30"))
    assert process.metric("predictor_event_active", target="chat", event="launch") == 1
    status = json.loads((world.tmp_path / "state" / "status.json").read_text())["targets"]["chat"]
    assert [w["text"] for w in status["events"]["active"]] == ["launch: at least 25 pods from 03:00 to 04:00"]
    assert status["events"]["upcoming"] == []
    world.run_until(at("05:30"))

    history = world.floors("chat")
    raised = [t for (_, a), (t, b) in itertools.pairwise([(at("01:00"), 0), *history]) if b >= 25 > a]
    lead = pd.Timedelta(minutes=12)
    assert len(raised) == 1, history
    assert at("03:00") - lead - pd.Timedelta(minutes=5) <= raised[0] <= at("03:00") - lead, history
    during = applied_each_minute(world, "chat", at("03:00"), at("03:59"))
    assert min(during) >= 25
    after = [(t, a, b) for t, a, b in lowerings(history) if t >= at("04:00")]
    assert after, history
    assert all(a - b <= 2 for _, a, b in after)  # max_step_down_pods
    assert all(
        later - earlier >= pd.Timedelta(seconds=300)
        for (earlier, _, _), (later, _, _) in itertools.pairwise(after)
    )
    assert world.so("chat")["spec"]["minReplicaCount"] < 25
    reasons = [e["message"] for e in world.events("PrewarmRaised") if "launch" in e["message"]]
    assert reasons and reasons[0].startswith("launch: at least 25 pods from 03:00 to 04:00; "), reasons
    started = [e["message"] for e in world.events("KnownEventStarted")]
    ended = [e["message"] for e in world.events("KnownEventEnded")]
    assert started == ["launch started: at least 25 pods from 03:00 to 04:00"], started
    assert ended == ["launch ended: at least 25 pods from 03:00 to 04:00"], ended
    assert process.metric("predictor_event_active", target="chat", event="launch") == 0
    assert_no_wrong_patch(world.kube)


def test_a_change_of_known_events_retrains_and_an_older_model_without_them_loads(worlds):
    """A model stored before events were recorded (no ``events`` in its inputs) loads and serves
    until its usual retrain; a campaign added to the target's events in the config makes it stale:
    retrained at the restart, and the new model records the events it was trained under."""
    world = worlds(at("05:00"), scaled_object("chat"))
    plain = world.settings("state", [target("chat")], schedule=NO_JITTER)
    first = world.start("a", plain)
    world.run_until(at("06:00"))
    first.crash()
    stored = ModelStore(world.tmp_path / "state").path("chat")
    doc = json.loads(stored.read_text())
    assert doc["inputs"].pop("events") == ""  # written as an older predictor wrote it
    stored.write_text(json.dumps(doc))

    older = world.start("b", plain)
    rt = older.daemon.targets["chat"]
    assert rt.artifact.trained_at == at("05:00") and rt.artifact.inputs.events == ""
    assert rt.stale_inputs() == [] and rt.retrain.due_at == at("08:00")  # kept to its rhythm
    older.crash()

    campaign = {"name": "campaign", "cron": "0 14 * * *", "duration_s": 5_400, "multiply": 1.5}
    with_campaign = [target("chat", events=[campaign])]
    changed = world.start("c", world.settings("state", with_campaign, schedule=NO_JITTER))
    rt = changed.daemon.targets["chat"]
    assert rt.stale_inputs() == ["known events changed"] and rt.retrain.due_at == at("06:00")
    assert rt.inputs.events == ev.fingerprint(rt.events) != ""
    world.run_until(at("06:30"))
    assert rt.artifact.trained_at == at("06:00") and rt.artifact.inputs == rt.inputs
    assert rt.stale_inputs() == []
    assert json.loads(stored.read_text())["inputs"]["events"] == rt.inputs.events
    assert {d.state for _, d in changed.decided("chat")} == {"healthy"}
    assert_no_wrong_patch(world.kube)
