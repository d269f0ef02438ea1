"""General-capability tasks through lm-evaluation-harness (the forgetting stage's library)."""
