"""evalgate: an evaluation-first CI gate and regression harness for fine-tuned LLMs."""

__version__ = "0.1.0"
