"""LLM serving profiles: one YAML per model x hardware in ``models/``.

A profile holds what one pod can serve (:class:`~predictor.capacity.CapacityParams`) and how long
it takes to become ready (named cold-start stages). A calibrated profile also records where each
number came from (:class:`~predictor.config.calibration.ProfileCalibration`). A target names a
profile and may override any field. Profiles are looked up in, in order: the configured ``profiles_dir``, the
repository's ``models/`` folder, and the copy bundled in an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from predictor.capacity import CapacityParams, Role
from predictor.capacity.formula import missing_fields
from predictor.config.calibration import ProfileCalibration
from predictor.config.coldstart import ColdStartSettings
from predictor.config.errors import describe_validation_error
from predictor.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
# A source checkout (editable install) reads models/ beside the package; an installed wheel
# reads the copy bundled inside it. The pyproject.toml check keeps us from picking up some
# other "models" folder that happens to sit next to the package in site-packages.
_CHECKOUT_MODELS = _PACKAGE_DIR.parent / "models"
DEFAULT_PROFILE_DIRS: tuple[Path, ...] = (
    *((_CHECKOUT_MODELS,) if (_PACKAGE_DIR.parent / "pyproject.toml").is_file() else ()),
    _PACKAGE_DIR / "_bundled" / "models",
)


class ServingProfile(BaseModel):
    """One model on one kind of hardware, as served by one pod."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Profile name; equals the file name without .yaml.")
    description: str = Field(description="One line a person reads in `predictor plan --profile`.")
    model: str = Field(description="The served model (e.g. a Hugging Face id).")
    hardware: str = Field(description="Accelerators per pod and parallelism, e.g. '8x H100 80GB, TP8'.")
    role: Role = Field("aggregated", description="aggregated, prefill or decode.")
    capacity: CapacityParams
    cold_start: ColdStartSettings
    calibration: ProfileCalibration | None = Field(
        None,
        description="Where the numbers came from when they were measured by a load test "
        "(`predictor profiles calibrate`); absent for hand-written starting points.",
    )

    @model_validator(mode="after")
    def _role_has_its_numbers(self) -> ServingProfile:
        missing = missing_fields(self.capacity, self.role)
        if missing:
            raise ValueError(f"role {self.role!r} needs capacity fields {', '.join(missing)}")
        return self


def _search_dirs(extra_dir: Path | None) -> list[Path]:
    dirs = [extra_dir] if extra_dir is not None else []
    return [d for d in (*dirs, *DEFAULT_PROFILE_DIRS) if d.is_dir()]


def list_profiles(extra_dir: Path | None = None) -> dict[str, Path]:
    """Profile name -> file, earlier search directories winning."""
    found: dict[str, Path] = {}
    for directory in _search_dirs(extra_dir):
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def read_profile_file(path: Path) -> ServingProfile:
    """Parse and validate one profile file; errors name the file and the key path."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read serving profile: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a serving profile must be a mapping")
    try:
        profile = ServingProfile.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("\n".join(f"{path}: {line}" for line in describe_validation_error(e))) from e
    if profile.name != path.stem:
        raise ConfigError(f"{path}: name: {profile.name!r} must equal the file name {path.stem!r}")
    return profile


def load_profile(name: str, extra_dir: Path | None = None) -> ServingProfile:
    """Find a profile by name; an unknown name lists the known ones."""
    profiles = list_profiles(extra_dir)
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none found"
        raise ConfigError(f"unknown serving profile {name!r} (known: {known})")
    return read_profile_file(profiles[name])
