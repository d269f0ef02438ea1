"""Generation backends (in-process transformers, OpenAI-compatible servers) and the prediction cache."""

from evalgate.generate.base import Backend, Generation, Request, cut_at_stop
from evalgate.generate.cache import PredictionCache

__all__ = ["Backend", "Generation", "PredictionCache", "Request", "cut_at_stop"]
