"""Read the configuration file, apply the environment, and report problems one line each."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from predictor import events as ev
from predictor.config.errors import key_path, validation_problems
from predictor.config.events import EventsFile
from predictor.config.secrets import mask_headers, mask_url
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
    except IsADirectoryError as e:
        raise ConfigError(f"{path}: is a directory, not a config file") from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
            "a config file is YAML text"
        ) from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    if "\x00" in text:
        raise ConfigError(f"{path}: a binary file (it holds NUL bytes); a config file is YAML text")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from e
    if data is None:
        what = "empty" if not text.strip() else "only comments"
        raise ConfigError(
            f"{path}: the file is {what}: no settings; start from config/predictor.example.yaml"
        )
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
        raise ConfigError("\n".join(_problem_lines(e, data, label))) from e


def load_events(path: Path) -> list[ev.Event]:
    """Known events from a file holding ``events:`` and/or ``holidays:`` only (the config's keys).

    Every problem is one line of a :class:`ConfigError`, naming the file and the key path.
    """
    data = read_yaml(path)
    try:
        return EventsFile(**data).to_events()
    except ValidationError as e:
        lines = [f"{path}: {key_path(loc)}: {message}" for loc, message in validation_problems(e, EventsFile)]
        raise ConfigError("\n".join(dict.fromkeys(lines))) from e


def _problem_lines(error: ValidationError, data: dict[str, Any], label: str) -> list[str]:
    """One line per problem, blamed on the environment variable that set the value when one did.

    A bad top-level ``policy`` value is copied into every target that does not set it; it is
    reported once, at ``policy.<key>``, not again per target.
    """
    problems = validation_problems(error, Settings)
    top_policy = {loc[1] for loc, _ in problems if len(loc) > 1 and loc[0] == "policy"}
    lines: list[str] = []
    for loc, message in problems:
        if _inherited_policy_problem(loc, data, top_policy):
            continue
        variable = _env_variable(loc)
        where = f"${variable}" if variable else f"{label}: {key_path(loc)}"
        line = f"{where}: {message}"
        if line not in lines:
            lines.append(line)
    return lines


def _inherited_policy_problem(loc: list[str | int], data: dict[str, Any], top_policy: set[Any]) -> bool:
    if len(loc) < 4 or loc[0] != "targets" or loc[2] != "policy" or loc[3] not in top_policy:
        return False
    targets = data.get("targets")
    index = loc[1]
    if not isinstance(targets, list) or not isinstance(index, int) or index >= len(targets):
        return False
    own = targets[index].get("policy") if isinstance(targets[index], dict) else None
    return not (isinstance(own, dict) and loc[3] in own)


def _env_variable(loc: list[str | int]) -> str | None:
    """The ``PREDICTOR_...`` variable that holds the value at ``loc`` (or a parent of it), if set."""
    if not loc or not all(isinstance(part, str) for part in loc):
        return None
    environment = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        name = "PREDICTOR_" + "__".join(str(part).upper() for part in loc[:depth])
        if name in environment:
            return environment[name]
    return None


def format_settings(settings: Settings) -> str:
    """The effective configuration as YAML, secrets masked (the URL's password, secret headers)."""
    dumped = settings.model_dump(mode="json")
    prometheus = dumped["prometheus"]
    prometheus["url"] = mask_url(prometheus["url"])
    prometheus["headers"] = mask_headers(prometheus["headers"])
    return yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True)
