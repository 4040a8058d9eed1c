"""Turn pydantic validation errors into one readable line each: ``key.path[0].field: problem``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


def key_path(loc: Iterable[str | int]) -> str:
    """``("targets", 0, "query")`` -> ``targets[0].query``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _model_at(root: type[BaseModel] | None, loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (used to list allowed keys)."""
    model: Any = root
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Dig the model class out of ``Model``, ``list[Model]`` or ``Model | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _clean_loc(loc: Sequence[str | int]) -> list[str | int]:
    # pydantic adds pseudo-steps for unions and tagged types ("function-after[...]", "float");
    # a reader only wants the keys they wrote.
    return [p for p in loc if isinstance(p, int) or ("[" not in p and p not in {"float", "int", "str"})]


def describe_validation_error(error: ValidationError, root: type[BaseModel] | None = None) -> list[str]:
    """One line per problem, each naming the key path and what is wrong with it."""
    return [f"{key_path(loc)}: {message}" for loc, message in validation_problems(error, root)]


def validation_problems(
    error: ValidationError, root: type[BaseModel] | None = None
) -> list[tuple[list[str | int], str]]:
    """Each problem as (key path, message), for callers that say where a value came from."""
    problems = []
    for item in error.errors():
        loc = _clean_loc(item["loc"])
        ctx = item.get("ctx") or {}
        if "path" in ctx:
            loc = list(ctx["path"])
        elif "field" in ctx:
            loc = [*loc, ctx["field"]]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            model = _model_at(root, loc)
            if model is not None:
                allowed = sorted(model.model_fields)
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                message = f"unknown key{hint} (allowed: {', '.join(allowed)})"
            else:
                message = "unknown key"
        elif item["type"] not in {"missing", "value_error"} and "input" in item:
            shown = repr(item["input"])
            if len(shown) <= 60:
                message = f"{message} (got {shown})"
        problems.append((loc, message))
    return problems
