"""The scorer registry: `@scorer("name")` registers a class; tasks name scorers in YAML.

A scorer turns model outputs into per-item values, each with a short explanation. It declares
whether higher is better and whether its values are binary (0/1), which decides the paired
test the gate uses (McNemar for binary, bootstrap otherwise). A value of None means the item
could not be scored; it is stored with the reason and counts against coverage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from evalgate.errors import ConfigError
from evalgate.registry import Registry, UnknownName, registry
from evalgate.yamlconf import StrictModel, format_validation_error


@dataclass(frozen=True)
class Score:
    value: float | None
    explanation: str


class NoParams(StrictModel):
    pass


class Scorer:
    """Base class. Subclasses set the class attributes and implement `score`."""

    name: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    binary: ClassVar[bool] = False
    value_range: ClassVar[tuple[float, float] | None] = None
    """The lowest and highest value a score can take (None: unbounded). The gate uses the worst
    end to tell a comparison that could not have shown a drop (the reference already at worst)."""
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel):
        self.params = params

    def score(self, outputs: Sequence[str], references: Sequence[Any], records: Sequence[dict[str, Any]]) -> list[Score]:
        """One Score per output. `references[i]` is the golden record's reference (any JSON
        value, may be None); `records[i]` is the whole golden record."""
        raise NotImplementedError


S = TypeVar("S", bound=type[Scorer])
SCORERS: Registry[type[Scorer]] = registry("scorer")
"""Every scorer class, by name: the built-ins (evalgate.scorers.builtin, imported on the first
lookup) and any a plugin registers."""


def scorer(
    name: str, *, higher_is_better: bool = True, binary: bool = False, value_range: tuple[float, float] | None = None
) -> Callable[[S], S]:
    """Register a Scorer subclass. Binary scorers range over [0, 1] unless told otherwise."""

    def register(cls: S) -> S:
        if name in SCORERS and SCORERS[name] is not cls:
            raise ValueError(f"scorer '{name}' is already registered by {SCORERS[name].__qualname__}")
        cls.name = name
        cls.higher_is_better = higher_is_better
        cls.binary = binary
        cls.value_range = value_range if value_range is not None else ((0.0, 1.0) if binary else None)
        SCORERS[name] = cls
        return cls

    return register


def available() -> list[str]:
    return sorted(SCORERS)


def lookup(name: str) -> type[Scorer]:
    """The scorer class for `name`; an unknown name fails with the close matches."""
    try:
        return SCORERS.lookup(name)
    except UnknownName as exc:
        raise ConfigError(str(exc)) from None


def build(name: str, params: dict[str, Any] | None, *, source: str = "scorer", lines: dict | None = None) -> Scorer:
    """Instantiate scorer `name` with validated `params` (unknown params are errors)."""
    cls = lookup(name)
    try:
        parsed = cls.Params.model_validate(params or {})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc, cls.Params, lines or {})) from None
    return cls(parsed)
