"""Replay simulation (pure): what a policy would have done on a recorded load, minute by minute."""

from predictor.simulation.cluster import Cluster, Outcome, simulate
from predictor.simulation.floors import oracle_floor, reactive_floor

__all__ = ["Cluster", "Outcome", "oracle_floor", "reactive_floor", "simulate"]
