"""LLM-as-judge: rubrics, prompts, reply parsing, the request engine (cache, retries, limits,
cost), the hosted and local judges, and agreement with the calibration set."""
