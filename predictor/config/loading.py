"""Read the configuration file, apply the environment, and report problems one line each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from predictor.config.errors import describe_validation_error
from predictor.config.settings import Settings
from predictor.errors import ConfigError

CONFIG_ENV = "PREDICTOR_CONFIG"

# Keys holding paths; a relative path in the file is relative to the file's own folder.
_PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("prometheus", "bearer_token_file"),
    ("prometheus", "ca_bundle_file"),
    ("kubernetes", "kubeconfig_path"),
    ("profiles_dir",),
    ("state_dir",),
)


def read_yaml(path: Path) -> dict[str, Any]:
    """The file's top-level mapping; an empty file is an empty mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: file not found") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings, got {type(data).__name__}")
    return data


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(base / value)
        return value

    for keys in _PATH_KEYS:
        node: Any = data
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and keys[-1] in node:
            node[keys[-1]] = fix(node[keys[-1]])
    for target in data.get("targets") or []:
        if isinstance(target, dict) and "history_file" in target:
            target["history_file"] = fix(target["history_file"])
    for service in data.get("services") or []:
        if isinstance(service, dict) and "history_file" in service:
            service["history_file"] = fix(service["history_file"])
    return data


def config_path(path: Path | str | None) -> Path | None:
    """The file to read: the argument, else $PREDICTOR_CONFIG, else none (defaults only)."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def load_settings(path: Path | str | None = None) -> Settings:
    """Load and validate the configuration; every problem is named in one :class:`ConfigError`."""
    source = config_path(path)
    data: dict[str, Any] = {}
    label = "(defaults and environment)"
    if source is not None:
        data = _resolve_relative_paths(read_yaml(source), source.resolve().parent)
        label = str(source)
    try:
        return Settings(**data)
    except ValidationError as e:
        lines = describe_validation_error(e, Settings)
        raise ConfigError("\n".join(f"{label}: {line}" for line in lines)) from e


def format_settings(settings: Settings) -> str:
    """The effective configuration as YAML, secrets masked."""
    dumped = settings.model_dump(mode="json")
    return yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True)
