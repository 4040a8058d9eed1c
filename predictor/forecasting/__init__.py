"""Forecasting: seasonal models behind one interface, automatic choice, persistence."""
