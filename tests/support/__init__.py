"""Helpers shared by the tests: real external servers (Prometheus) and their data."""
