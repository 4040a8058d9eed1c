"""Forecaster families, one module each; :mod:`predictor.forecasting.registry` lists them."""
