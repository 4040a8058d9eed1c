"""Actuation: apply floors to KEDA ScaledObjects (patch), publish them (metric), or log (dry-run)."""
