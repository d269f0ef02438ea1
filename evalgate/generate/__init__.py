"""Generation backends (in-process transformers, OpenAI-compatible servers) and the prediction cache."""

from evalgate.generate.base import Backend, ChatReply, ChatRequest, Generation, Request, cut_at_stop
from evalgate.generate.cache import PredictionCache

__all__ = ["Backend", "ChatReply", "ChatRequest", "Generation", "PredictionCache", "Request", "cut_at_stop"]
