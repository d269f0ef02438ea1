"""The judge providers, each one module registered in the provider registry
(evalgate.generate.registry): `anthropic`, `openai` (any OpenAI-compatible server) and `local`."""

from evalgate.judging.providers import anthropic_api, local, openai_api  # noqa: F401  (registration)
