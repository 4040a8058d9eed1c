"""History sources: Prometheus, files, and the built-in synthetic trace.

Every source returns the same thing (see :mod:`predictor.sources.base`): a regular, tz-aware
UTC ``pandas.Series`` of request rates in req/s, with NaN where data is missing.
"""
