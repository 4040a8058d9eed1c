"""The project's own error tree. Client-library errors are chained (``raise X(...) from e``)."""


class PredictorError(Exception):
    """Base of every error predictor raises on purpose."""


class ConfigError(PredictorError):
    """The configuration (file, environment or a serving profile) is invalid."""


class CapacityError(PredictorError):
    """Capacity parameters cannot size a pod (zero, negative or missing values)."""


class SourceError(PredictorError):
    """History could not be read from a source (Prometheus, a file)."""


class ForecastError(PredictorError):
    """A model cannot be fitted or cannot predict (too little history, bad values)."""


class PlanningError(PredictorError):
    """The planner was given inconsistent bounds or inputs."""


class ActuationError(PredictorError):
    """A ScaledObject could not be read or changed."""
