"""Rubrics (`tasks/rubrics/*.yaml`): criteria, each with a 1-5 scale described level by level.

A rubric is attached to tasks in the task YAML (`rubrics: [name]`). One judge request grades
every criterion of a rubric for one answer; the rubric's hash (its canonical JSON) is part of
every cache key and of the calibration's, so an edited rubric is never served stale grades.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from evalgate.artifacts import sha256_text
from evalgate.errors import ConfigError
from evalgate.yamlconf import StrictModel, load_model

SLUG = r"^[a-z][a-z0-9_]*$"
LEVELS = (1, 2, 3, 4, 5)


class Criterion(StrictModel):
    description: str = Field(min_length=1, description="What this criterion judges, in one or two sentences.")
    levels: dict[int, str] = Field(description="1..5: what an answer at that level looks like.")

    @field_validator("levels")
    @classmethod
    def _five_levels(cls, levels: dict[int, str]) -> dict[int, str]:
        if sorted(levels) != list(LEVELS):
            raise ValueError(f"levels must describe exactly 1, 2, 3, 4 and 5, got {sorted(levels)}")
        if any(not str(v).strip() for v in levels.values()):
            raise ValueError("every level needs a description")
        return levels


class RubricSpec(StrictModel):
    name: str = Field(
        pattern=SLUG, description="Lowercase slug; tasks attach the rubric by it (`rubrics: [name]`), unique across files."
    )
    version: int = Field(1, ge=1, description="Bump when the rubric changes meaning (any edit already changes its hash).")
    description: str = Field("", description="Shown to the judge beside the rubric's name.")
    reference: bool = Field(
        True, description="Reference-based (the golden answer is shown to the judge) or reference-free."
    )
    instructions: str = Field("", description="Extra guidance shown to the judge before the criteria.")
    criteria: dict[str, Criterion] = Field(
        min_length=1,
        description="Criterion name (a lowercase slug; win_rate is reserved) -> its description and 1-5 levels; targets judge:<task>/<criterion>.",
    )

    @model_validator(mode="after")
    def _criterion_names(self) -> RubricSpec:
        import re

        for name in self.criteria:
            if not re.match(SLUG, name):
                raise ValueError(f"criterion name {name!r} must be a lowercase slug (letters, digits, _)")
            if name == "win_rate":
                raise ValueError("criterion name 'win_rate' is reserved for the pairwise target")
        return self


@dataclass(frozen=True)
class Rubric:
    spec: RubricSpec
    source: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def criteria(self) -> list[str]:
        return list(self.spec.criteria)

    @property
    def sha256(self) -> str:
        return sha256_text(json.dumps(self.spec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False))


def load_rubrics(rubrics_dir: Path) -> dict[str, Rubric]:
    """Every rubric under `rubrics_dir`, by name; two files with one name are an error."""
    out: dict[str, Rubric] = {}
    if not rubrics_dir.is_dir():
        return out
    for path in sorted(rubrics_dir.glob("*.yaml")):
        rubric = Rubric(load_model(path, RubricSpec), path)
        if rubric.name in out:
            raise ConfigError(f"{path}: name: rubric '{rubric.name}' is already defined in {out[rubric.name].source}")
        out[rubric.name] = rubric
    return out
