"""Benchmark: one reconcile cycle for 500 targets against the fake API server; RSS with 200 trained targets.

Targets (issue "The daemon"): under 5 s per reconcile cycle for 500 targets; RSS under 500 MB
with 200 trained targets.

The fake API server runs in its own process (as a real API server would), seeded with the
ScaledObjects over HTTP. The daemon is the real one (predictor.daemon.jobs.Daemon) with the
real Kubernetes adapter, in patch mode, on the built-in synthetic history.

    python bench/daemon_scale.py --out /tmp/daemon.md

Takes about 3 minutes on 2 cores (most of it training the 200 targets for the memory figure).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CRD = REPO.parent / "shared" / "keda" / "keda.sh_scaledobjects.yaml"
NS = "inference"
CTX = multiprocessing.get_context("spawn")  # fresh interpreters: no state shared with the parent


def serve_fake(count: int, ready, stop) -> None:
    from tests.support.fake_kube import start_fake_kube

    with start_fake_kube(crd=CRD if CRD.is_file() else None) as kube:
        for i in range(count):
            kube.put_object(
                {
                    "apiVersion": "keda.sh/v1alpha1",
                    "kind": "ScaledObject",
                    "metadata": {"name": f"llm-{i:03d}", "namespace": NS, "annotations": {}},
                    "spec": {
                        "scaleTargetRef": {"name": f"llm-{i:03d}"},
                        "minReplicaCount": 2,
                        "maxReplicaCount": 40,
                        "triggers": [{"type": "prometheus", "metadata": {}}],
                    },
                }
            )
        ready.put(kube.url)
        stop.wait()


def settings(count: int, state_dir: Path, seeds: int):
    from predictor.config import Settings

    targets = [
        {
            "name": f"llm-{i:03d}",
            "scaled_object": f"{NS}/llm-{i:03d}",
            "history_synthetic": {"seed": i % seeds},
            "capacity": {"profile": "llama-3-8b-l40s-tp2"},
            "cold_start": 600,
            "policy": {"actuation_mode": "patch"},
        }
        for i in range(count)
    ]
    return Settings(state_dir=str(state_dir), targets=targets)


class Clock:
    def __init__(self, now) -> None:
        self.moment = now

    def now(self):
        return self.moment


def build(url: str | None, count: int, state_dir: Path, clock: Clock, seeds: int):
    from prometheus_client import CollectorRegistry

    from predictor.actuation.cluster import Cluster
    from predictor.daemon.jobs import Daemon
    from predictor.daemon.metrics import DaemonMetrics
    from predictor.forecasting.store import ModelStore

    s = settings(count, state_dir, seeds)
    cluster = Cluster.connect(s.kubernetes, host=url) if url else None
    return Daemon(
        s,
        cluster=cluster,
        store=ModelStore(s.state_dir),
        metrics=DaemonMetrics(CollectorRegistry()),
        clock=clock,
    )


def reconcile_bench(count: int, cycles: int, state_dir: Path) -> dict:
    import pandas as pd

    ready = CTX.Queue()
    stop = CTX.Event()
    server = CTX.Process(target=serve_fake, args=(count, ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=120)
    try:
        clock = Clock(pd.Timestamp("2026-11-18 05:00", tz="UTC"))
        # Train 10 distinct histories and share the fitted models: the reconcile cost does not
        # depend on which history a model came from, and 500 fits would only lengthen the set-up.
        trainer = build(url, 10, state_dir / "train", clock, seeds=10)
        trainer.retrain_all()
        daemon = build(url, count, state_dir / "run", clock, seeds=10)
        for i, rt in enumerate(daemon.targets.snapshot()):
            rt.artifact = trainer.targets[f"llm-{i % 10:03d}"].artifact
        timings = {}
        for label, hour in (
            ("no change (night)", "05:00"),
            ("raising (morning ramp)", "07:50"),
            ("steady (mid-morning)", "10:30"),
        ):
            clock.moment = pd.Timestamp(f"2026-11-18 {hour}", tz="UTC")
            runs, actions = [], set()
            for k in range(cycles):
                clock.moment += pd.Timedelta(seconds=60 * k)
                started = time.perf_counter()
                decisions = daemon.reconcile_all(write_status=False)
                runs.append(time.perf_counter() - started)
                actions |= {d.action for d in decisions}
            timings[label] = {
                "median_s": statistics.median(runs),
                "runs_s": [round(r, 3) for r in runs],
                "actions": sorted(actions),
            }
        return {"targets": count, "cycles": timings}
    finally:
        stop.set()
        server.join(timeout=10)


def memory_bench(count: int, state_dir: Path) -> dict:
    """In a fresh process: train ``count`` targets in one daemon, then measure its RSS."""
    import pandas as pd

    clock = Clock(pd.Timestamp("2026-11-18 05:00", tz="UTC"))
    daemon = build(None, count, state_dir, clock, seeds=count)  # offline: training and memory only
    started = time.perf_counter()
    daemon.retrain_all()
    trained = sum(rt.artifact is not None for rt in daemon.targets.snapshot())
    elapsed = time.perf_counter() - started
    rss_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "targets": count,
        "trained": trained,
        "train_s": round(elapsed, 1),
        "rss_mb": round(rss_kb / 1024, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def _memory_worker(count: int, state_dir: str, out) -> None:
    out.put(memory_bench(count, Path(state_dir)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--memory-targets", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        reconcile = reconcile_bench(args.targets, args.cycles, Path(tmp))
        out = CTX.Queue()
        worker = CTX.Process(target=_memory_worker, args=(args.memory_targets, str(Path(tmp) / "mem"), out))
        worker.start()
        memory = out.get(timeout=1800)
        worker.join()
    lines = [
        f"| reconcile cycle, {args.targets} targets | median s | runs s | actions |",
        "|---|---:|---|---|",
        *(
            f"| {label} | {t['median_s']:.2f} | {', '.join(map(str, t['runs_s']))} "
            f"| {', '.join(t['actions'])} |"
            for label, t in reconcile["cycles"].items()
        ),
        "",
        "| memory | targets trained | train s | RSS MB | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
        f"| one daemon, {memory['targets']} targets | {memory['trained']} | {memory['train_s']} "
        f"| {memory['rss_mb']} | {memory['peak_rss_mb']} |",
    ]
    table = "\n".join(lines)
    print(table)
    print(json.dumps({"reconcile": reconcile, "memory": memory}), file=sys.stderr)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
