"""predictor: a predictive autoscaler for LLM inference on Kubernetes.

The package reads as the pipeline it implements::

    sources -> forecasting -> capacity -> planning -> actuation
                                                  (daemon and cli on top)
"""

__version__ = "0.1.0"
