"""Deterministic scorers: a registry plus the built-ins (`evalgate.scorers.builtin`)."""

from evalgate.scorers.registry import Score, Scorer, available, build, lookup, scorer

__all__ = ["Score", "Scorer", "available", "build", "lookup", "scorer"]
