"""A disaggregated service in the daemon: one fit per retrain for both roles, each role planned on
its own work from the shared token forecasts, against the fake API server on the movable clock."""

from __future__ import annotations

from predictor.config import Settings
from tests.unit.daemon.conftest import NS, scaled_object


def service_settings(tmp_path, **synthetic) -> Settings:
    return Settings(
        state_dir=str(tmp_path / "state"),
        services=[
            {
                "name": "qwen",
                "history_synthetic": {"seed": 3, "tokens": {}, **synthetic},
                "policy": {"actuation_mode": "patch", "model": "harmonic", "history_window_days": 14},
                "roles": {
                    "prefill": {
                        "scaled_object": f"{NS}/qwen-prefill",
                        "capacity": {"profile": "qwen3-32b-h100-tp2-prefill"},
                        "cold_start": 600,
                    },
                    "decode": {
                        "scaled_object": f"{NS}/qwen-decode",
                        "capacity": {"profile": "qwen3-32b-h100-tp2-decode"},
                        "cold_start": 900,
                    },
                },
            }
        ],
    )


def test_both_roles_share_one_fit_and_plan_each_on_its_own_tokens(rig):
    for name in ("qwen-prefill", "qwen-decode"):
        rig.kube.put_object(scaled_object(name, min_replicas=1, max_replicas=40))
    daemon = rig.daemon(service_settings(rig.tmp_path))
    assert daemon.retrain_all() == 2
    prefill, decode = daemon.targets["qwen-prefill"], daemon.targets["qwen-decode"]
    assert prefill.artifact is decode.artifact  # fitted once for the service
    assert prefill.token_models is decode.token_models is not None
    assert prefill.token_models.prompt is not None and prefill.token_models.output is not None

    rig.clock.set("07:45")
    decisions = {d.target: d for d in daemon.reconcile_all()}
    assert decisions["qwen-prefill"].action == "raise" and decisions["qwen-decode"].action == "raise"
    assert "prefill sized on the forecast prompt tokens/s" in decisions["qwen-prefill"].reason
    assert "decode sized on the forecast output tokens/s × TPOT" in decisions["qwen-decode"].reason
    # Each role its own ScaledObject and its own floor.
    floors = {name: rig.so(name)["spec"]["minReplicaCount"] for name in ("qwen-prefill", "qwen-decode")}
    assert floors == {
        "qwen-prefill": decisions["qwen-prefill"].floor,
        "qwen-decode": decisions["qwen-decode"].floor,
    }


def test_a_restarted_daemon_retrains_a_token_aware_target_at_once(rig):
    for name in ("qwen-prefill", "qwen-decode"):
        rig.kube.put_object(scaled_object(name, min_replicas=1, max_replicas=40))
    settings = service_settings(rig.tmp_path)
    first = rig.daemon(settings)
    first.retrain_all()
    again = rig.daemon(settings)
    assert again.restore() == 2  # the stored request-rate models load
    # Token models live in memory: until the retrain that is due at once, the profile's lengths.
    assert all(again.targets[n].retrain.due_at == rig.clock.now() for n in ("qwen-prefill", "qwen-decode"))
    rig.clock.set("07:45")
    decision = {d.target: d for d in again.reconcile_all()}["qwen-prefill"]
    assert "the token series have no fitted model yet" in decision.reason
    assert "sized on the profile's fixed length, 2,000 prompt tokens per request" in decision.reason
