"""The model rows the forecasting benchmarks compare: row name -> (registry kind, options).

``prophet_defaults`` is Prophet exactly as the library ships it, the reference the targets name.
"""

from __future__ import annotations

MODELS: dict[str, tuple[str, dict]] = {
    "seasonal_naive": ("seasonal_naive", {}),
    "seasonal_naive_weekly": ("seasonal_naive_weekly", {}),
    "holt_winters": ("holt_winters", {}),
    "mstl": ("mstl", {}),
    "prophet": ("prophet", {}),
    "prophet_defaults": ("prophet", {"library_defaults": True}),
    "harmonic": ("harmonic", {}),
}
AUTO = "auto"
