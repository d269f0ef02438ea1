"""Generation providers as a registry: built-ins, a provider added from outside the package,
capabilities, close matches, and the in-process next-token probabilities the local judge reads."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.test_evaluate import eval_project, make_adapter  # noqa: F401 - eval_project is a fixture
from tests.test_openai_backend import hf_backend


def test_builtin_providers_and_capabilities():
    from evalgate.generate.registry import get_provider

    assert {"complete", "plan", "next_token_probs"} <= get_provider("hf").capabilities
    assert {"complete", "chat"} <= get_provider("openai-compatible").capabilities
    with pytest.raises(KeyError, match=r"unknown provider 'openai-compatibel'; did you mean 'openai-compatible'"):
        get_provider("openai-compatibel")


def test_a_missing_capability_is_refused_before_any_request(project):
    from evalgate.config import load_params
    from evalgate.errors import ConfigError
    from evalgate.generate.registry import ProviderContext, make_backend

    params = load_params(project.root / "params.yaml")
    with pytest.raises(ConfigError, match="provider 'hf' cannot chat"):
        make_backend("hf", ProviderContext(params), needs={"chat"})


def test_an_unknown_provider_in_params_is_exit_2_with_close_matches(project, run_cli):
    project.params["evaluate"] = {"backend": "hff"}
    project.write_params()
    result = run_cli("evaluate")
    assert result.exit_code == 2 and "unknown provider 'hff'; did you mean 'hf'" in result.stderr


@pytest.fixture
def echo_provider():
    """A provider registered from outside evalgate: it answers every prompt with its length."""
    from evalgate.generate.base import Generation
    from evalgate.generate.registry import PROVIDERS, provider

    class Echo:
        name = "echo"
        items_generated = 0

        def identity(self):
            return {"backend": "echo"}

        def generate(self, requests, *, adapter):
            yield [(i, Generation(f"{'cand' if adapter else 'base'} {len(r.prompt)}", 2, 0.0, "stop")) for i, r in enumerate(requests)]

        def close(self):
            pass

    @provider("echo", capabilities={"complete"})
    def echo(ctx):
        """Answers with the prompt's length (a test provider)."""
        return Echo()

    yield "echo"
    del PROVIDERS["echo"]


def test_a_provider_added_from_outside_runs_the_evaluate_stage(eval_project, run_cli, echo_provider):  # noqa: F811
    eval_project.params["evaluate"]["backend"] = echo_provider
    eval_project.write_params()
    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (eval_project.root / "runs" / "candidate" / "predictions.jsonl").read_text().splitlines()]
    assert rows and all(r["output"].startswith("cand ") for r in rows)
    metrics = json.loads((eval_project.root / "metrics" / "eval.json").read_text())
    assert metrics["provenance"]["backend"] == {"backend": "echo"}


def test_next_token_probabilities_after_a_forced_prefix(tiny_model_dir, tmp_path):
    """The local judge's read: P(next token) over "1".."5" after `{"score": `, batched and equal
    to one forward pass of the model on each prompt alone; the adapter changes them."""
    from transformers import AutoModelForCausalLM

    adapter = make_adapter(tiny_model_dir, tmp_path / "adapter", str(tiny_model_dir), seed=5)
    backend = hf_backend(tiny_model_dir, adapter)
    prompts = [f"<|user|>\nRate answer {i} from 1 to 5.<|end|>\n<|assistant|>\n{{\"score\": " + "x" * i for i in range(5)]
    tokens = ["1", "2", "3", "4", "5"]
    try:
        base = backend.next_token_probs(prompts, tokens, adapter=False)
        cand = backend.next_token_probs(prompts, tokens, adapter=True)
    finally:
        backend.close()
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32).eval()
    tok = backend.tokenizer
    for prompt, got in zip(prompts, base, strict=True):
        ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
        for t in tokens:
            assert math.isclose(got[t], float(probs[tok.convert_tokens_to_ids(t)]), rel_tol=1e-4, abs_tol=1e-7)
        assert 0.0 < sum(got.values()) < 1.0
    assert base != cand
    with pytest.raises(ValueError, match="need single tokens"):
        hf_backend(tiny_model_dir, None).next_token_probs(prompts[:1], ["12"])


def test_providers_are_listed_on_the_command_line(run_cli, echo_provider):
    result = run_cli("providers")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line and not line.startswith(" ")]
    assert {"hf", "openai-compatible", "echo"} <= set(names)
