"""predictor: a predictive autoscaler for LLM inference on Kubernetes.

The package reads as the pipeline it implements::

    sources -> forecasting -> planning -> actuation
                                       (daemon and cli on top)
"""

import os

# Our models fit small matrices; BLAS thread pools only add contention on the few cores a
# daemon gets (measured: a small product 70x slower on a busy 2-core machine). Set before numpy
# loads; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
