"""The baseline never ratchets up on predictor's own floor: not when someone removes its bookkeeping
by hand, and not when an operator caps maxReplicaCount below the floor during an incident. A change
of minReplicaCount by someone else still becomes the new baseline."""

from __future__ import annotations

import pandas as pd

from predictor.actuation.scaledobject import APPLIED_ANNOTATION, BASELINE_ANNOTATION
from tests.unit.daemon.conftest import NS, scaled_object, settings_for


def raised(rig):
    """A daemon that raised the floor of ``chat`` (baseline 2) before the morning ramp."""
    rig.kube.put_object(scaled_object())
    daemon = rig.daemon(settings_for(rig.tmp_path, "chat"))
    daemon.restore()
    daemon.retrain_all()
    rig.clock.set("08:30")
    decision = daemon.reconcile_all()[0]
    assert decision.action == "raise" and decision.floor > 4, decision
    return daemon, decision.floor


def edit(rig, change) -> None:
    obj = rig.so()
    change(obj)
    rig.kube.put_object(obj)


def test_a_hand_removed_baseline_annotation_is_written_back_not_replaced_by_the_floor(rig):
    daemon, _floor = raised(rig)
    edit(rig, lambda o: o["metadata"]["annotations"].pop(BASELINE_ANNOTATION))
    rig.clock.set("08:31")
    decision = daemon.reconcile_all()[0]
    assert decision.baseline == 2
    assert rig.so()["metadata"]["annotations"][BASELINE_ANNOTATION] == "2"  # the record, repaired
    rig.clock.set("23:30")  # the night: the floor comes down towards the user's 2, not to the old floor
    daemon.retrain_all()
    assert daemon.reconcile_all()[0].baseline == 2


def test_a_hand_removed_applied_annotation_does_not_make_the_floor_the_baseline(rig):
    daemon, floor = raised(rig)
    edit(rig, lambda o: o["metadata"]["annotations"].pop(APPLIED_ANNOTATION))
    rig.clock.set("08:31")
    assert daemon.reconcile_all()[0].baseline == 2
    assert rig.so()["metadata"]["annotations"][APPLIED_ANNOTATION] == str(floor)


def test_the_bookkeeping_survives_a_restart_through_the_state_dir(rig):
    _daemon, _floor = raised(rig)

    def forget(obj: dict) -> None:
        for key in (BASELINE_ANNOTATION, APPLIED_ANNOTATION):
            del obj["metadata"]["annotations"][key]

    edit(rig, forget)
    restarted = rig.daemon(settings_for(rig.tmp_path, "chat"))
    restarted.restore()
    rig.clock.set("08:31")
    assert restarted.reconcile_all()[0].baseline == 2


def test_an_incident_cap_on_max_replicas_is_no_new_baseline(rig):
    daemon, _floor = raised(rig)
    # The operator caps maxReplicaCount at 5 during an incident; KEDA's rule min <= max forces min down.
    edit(rig, lambda o: o["spec"].update(maxReplicaCount=5, minReplicaCount=5))
    rig.clock.set("08:35")
    capped = daemon.reconcile_all()[0]
    assert (capped.baseline, rig.so()["spec"]["minReplicaCount"]) == (2, 5)  # held at the cap
    assert rig.so()["metadata"]["annotations"][BASELINE_ANNOTATION] == "2"
    # The incident is over: the cap goes, minReplicaCount stays at 5 as the operator left it.
    edit(rig, lambda o: o["spec"].update(maxReplicaCount=30))
    rig.clock.set("09:30")
    after = daemon.reconcile_all()[0]
    assert after.baseline == 2 and after.action == "raise" and after.floor > 5
    rig.clock.set("23:59")  # and at night it comes down towards 2, not 5
    daemon.retrain_all()
    for _ in range(24):  # two hours of cycles, five minutes apart
        rig.clock.moment += pd.Timedelta(minutes=5)
        daemon.reconcile_all()
    assert rig.so()["spec"]["minReplicaCount"] < 5


def test_someone_elses_change_of_min_replicas_still_becomes_the_baseline(rig):
    daemon, floor = raised(rig)
    edit(rig, lambda o: o["spec"].update(minReplicaCount=floor + 2))  # a person raises it further
    rig.clock.set("08:31")
    decision = daemon.reconcile_all()[0]
    assert decision.baseline == floor + 2
    assert rig.kube.get_object("ScaledObject", NS, "chat")["spec"]["minReplicaCount"] >= floor + 2


def test_an_object_replaced_without_predictors_notes_takes_its_new_min_replicas_as_the_baseline(rig):
    """A GitOps tool that replaces the whole object (its notes gone, minReplicaCount 4 from Git):
    that is someone else's change, and 4 is the new baseline, not predictor's remembered 2."""
    daemon, _ = raised(rig)

    def replace_from_git(obj: dict) -> None:
        obj["metadata"]["annotations"] = {}
        obj["spec"]["minReplicaCount"] = 4

    edit(rig, replace_from_git)
    rig.clock.set("08:31")
    decision = daemon.reconcile_all()[0]
    assert decision.baseline == 4
    assert rig.so()["metadata"]["annotations"].get(BASELINE_ANNOTATION) in (None, "4")
