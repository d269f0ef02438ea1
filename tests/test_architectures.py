"""Every common architecture trained and evaluated as its own forward computes it.

For tiny random models of each architecture in `tests.tiny_models.MATRIX` (built from configs,
offline, with the tiny tokenizer), and an adapter on the top layer only (evalgate's LoRA target
selection, `lora.layers`), so every layer shortcut is exercised:

* different prompts get different answers (a model that answers everything alike proves nothing);
* evaluate's answers, base and candidate, equal `model.generate` one prompt at a time: paired
  in mixed batches, with a shared prompt prefix, with stop strings, and the candidate again from
  the base's stored lower-layer states (what a data commit's evaluate reads);
* the cached training step (the frozen layers' states computed once) gives the loss and the
  gradients of the full forward pass, and that loss is the model's own
  (`model(input_ids, labels=labels).loss`: answer tokens only, as evalgate masks them).

Then the model's own logit processing (Gemma 2's soft-capping, Granite's scaling) in TRL's loss
and in replay, GPT-2's Conv1D projections and GPT-J's layers through the `train` and `evaluate`
commands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import chat
from tests.tiny_models import LAYERS, MATRIX, build

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "omicron", "sigma"]
SYSTEM = "<|system|>\nYou are a careful assistant. Answer in one short line.<|end|>\n"
PROMPTS = [f"{SYSTEM}<|user|>\n{' '.join(WORDS[i : i + 1 + i % 5])}<|end|>\n<|assistant|>\n" for i in range(9)]
MAX_NEW = 10
TOP = LAYERS - 1
RECORDS = [
    {"id": f"r{i}", "messages": chat(" ".join(WORDS[i : i + 2 + i % 5]), " ".join(WORDS[i + 1 : i + 3 + i % 2]))["messages"]}
    for i in range(5)
]


@dataclass
class Arch:
    name: str
    base: Path
    adapter: Path
    tok: Any
    answers: dict[bool, list[tuple[list[int], str, bool]]]
    """Per side (adapter on?), `model.generate`'s answer to each prompt: new tokens, text, ended."""


def _lora(layers: list[int] | None = None, **extra: Any) -> Any:
    from evalgate.config import TrainParams

    return TrainParams(lora={"r": 4, "alpha": 8, "dropout": 0.0, "layers": layers, **extra})


def _nudge_lora_b(model: Any, std: float, seed: int = 1) -> None:
    """LoRA starts with B = 0 (the adapter changes nothing); move it so it does."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def _generate(model: Any, tok: Any, prompt: str) -> tuple[list[int], str, bool]:
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=MAX_NEW, do_sample=False, pad_token_id=tok.pad_token_id)
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    ended = tok.eos_token_id in new
    kept = new[: new.index(tok.eos_token_id)] if ended else new
    return new, tok.decode(kept, skip_special_tokens=True), ended


@pytest.fixture(scope="module", params=MATRIX)
def arch(request: pytest.FixtureRequest, tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Arch:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalgate.adapter import save_adapter
    from evalgate.training.lora import attach_lora

    name = request.param
    root = tmp_path_factory.mktemp(name)
    base = build(name, tiny_tokenizer_dir, root / "base")
    tok = AutoTokenizer.from_pretrained(str(base))
    torch.manual_seed(0)
    model = attach_lora(AutoModelForCausalLM.from_pretrained(str(base)), _lora([TOP]), quantized=False)
    _nudge_lora_b(model, model.config.initializer_range)  # as strong as the init: the answers change
    save_adapter(model, str(base), root / "adapter")
    plain = AutoModelForCausalLM.from_pretrained(str(base)).eval()
    answers = {False: [_generate(plain, tok, p) for p in PROMPTS]}
    candidate = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(root / "adapter")).eval()
    answers[True] = [_generate(candidate, tok, p) for p in PROMPTS]
    return Arch(name, base, root / "adapter", tok, answers)


def test_different_prompts_get_different_answers(arch: Arch) -> None:
    base, cand = ({tuple(new) for new, _, _ in arch.answers[side]} for side in (False, True))
    assert len(base) == len(PROMPTS), arch.name
    assert len(cand) >= len(PROMPTS) - 1, arch.name
    # The adapter (on the top layer only) changes most answers.
    changed = sum(b[0] != c[0] for b, c in zip(arch.answers[False], arch.answers[True], strict=True))
    assert changed > len(PROMPTS) // 2, (arch.name, changed)


def test_evaluate_answers_equal_generate(arch: Arch, tmp_path: Path) -> None:
    import evalgate.generate.hf as hf
    from evalgate.generate import Request
    from evalgate.loading import Placement
    from evalgate.models import resolve_base
    from evalgate.trunk import TrunkStore

    # A stop string from each of some answers: one ASCII character the answer holds.
    stops = {}
    for i, (_, text, _) in enumerate(arch.answers[False][:5]):
        chars = [c for c in text[1:] if c.isascii() and c.isalnum()]
        if chars:
            stops[i] = chars[0]
    assert len(stops) >= 2
    requests = [Request(f"p{i}", p, MAX_NEW, group="plain") for i, p in enumerate(PROMPTS)]
    requests += [Request(f"s{i}", PROMPTS[i], MAX_NEW, (stop,), group="stop") for i, stop in stops.items()]

    def expected(side: bool, request: Request) -> tuple[str, int | None, str]:
        new, text, ended = arch.answers[side][PROMPTS.index(request.prompt)]
        if request.stop and request.stop[0] in text:
            return text[: text.index(request.stop[0])], None, "stop"
        return text, len(new), "stop" if ended else "length"

    def same(got: Any, side: bool, request: Request) -> None:
        text, tokens, reason = expected(side, request)
        assert (got.text, got.finish_reason) == (text, reason), (arch.name, side, request.key)
        assert tokens is None or got.tokens == tokens, (arch.name, side, request.key)

    store = TrunkStore(tmp_path / "trunk", {"arch": arch.name}, 2**30)
    backend = hf.HFBackend(
        resolve_base(str(arch.base)), arch.tok, adapter_dir=arch.adapter, quantization="none",
        placement=Placement("cpu", "float32"), token_budget=100_000, max_batch_size=4, trunk=store,
    )  # fmt: skip
    n = 0
    plan = backend.plan(requests)
    for batch in plan.batches:
        base, cand = backend.run_batch(plan.ids, batch, base=True, candidate=True)
        for i, b, c in zip(batch.rows, base, cand, strict=True):
            same(b, False, requests[i])
            same(c, True, requests[i])
            n += 1
    assert n == len(requests)
    assert backend._floor == TOP  # the candidate took the base's states below its layer
    plain = [b for b in plan.batches if requests[b.rows[0]].group == "plain"]
    assert len(plain) == 3  # the plain prompts: three batches, each of mixed lengths
    assert all(b.prefix for b in plan.batches) == backend._prefix_safe()

    # A new adapter's evaluate after a data commit: the candidate alone, from the stored states.
    again = hf.HFBackend(
        resolve_base(str(arch.base)), arch.tok, adapter_dir=arch.adapter, quantization="none",
        placement=Placement("cpu", "float32"), token_budget=100_000, max_batch_size=4, trunk=store,
    )  # fmt: skip
    for chunk in again.generate(requests, adapter=True):
        for i, cand in chunk:
            same(cand, True, requests[i])
    assert again.batches_from_store == len(plan.batches)


def test_cached_training_step_equals_the_full_forward_and_the_models_own_loss(arch: Arch) -> None:
    from transformers import AutoModelForCausalLM

    from evalgate.training.data import encode_records
    from evalgate.training.lora import attach_lora
    from evalgate.training.sft import assistant_loss
    from evalgate.training.trunk import LowerStatesCollator, compute_lower_states
    from evalgate.trunk import adapter_floor, decoder_layers

    torch.manual_seed(0)
    model = attach_lora(AutoModelForCausalLM.from_pretrained(str(arch.base), dtype=torch.float32), _lora([TOP]), quantized=False)
    _nudge_lora_b(model, 0.05)
    assert adapter_floor(model) == TOP
    enc = encode_records(arch.tok, RECORDS, 400)
    assert len({len(x) for x in enc.input_ids}) > 1  # a padded batch
    states = compute_lower_states(model, enc, TOP, arch.tok.pad_token_id, "cpu", None, "test")
    batch = LowerStatesCollator(arch.tok.pad_token_id, states, torch.float32)(
        [{"input_ids": i, "labels": lab, "row": n} for n, (i, lab) in enumerate(zip(enc.input_ids, enc.labels, strict=True))]
    )
    # Dropout off (GPT-2's config has 0.1): the cached path computes the frozen layers once,
    # without it; the comparison is of the arithmetic.
    model.eval()

    def step(inputs: dict[str, Any], floor: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        loss, _, _ = assistant_loss(model, inputs, floor=floor)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    full = {k: v for k, v in batch.items() if k != "hidden"}
    full_loss, full_grads = step(full, 0)
    handle = decoder_layers(model)[0].register_forward_pre_hook(lambda *a: (_ for _ in ()).throw(AssertionError("layer 0 ran")))
    try:
        cached_loss, cached_grads = step(batch, TOP)
    finally:
        handle.remove()
    with torch.no_grad():
        own = model(input_ids=full["input_ids"], attention_mask=full["attention_mask"], labels=full["labels"]).loss
    assert torch.allclose(full_loss, own, rtol=1e-5, atol=1e-6), (arch.name, float(full_loss), float(own))
    assert torch.allclose(cached_loss, full_loss, rtol=1e-5, atol=1e-6), (arch.name, float(cached_loss), float(full_loss))
    assert full_grads.keys() == cached_grads.keys() and full_grads
    for name, g in full_grads.items():
        assert torch.allclose(g, cached_grads[name], rtol=1e-4, atol=1e-6), (arch.name, name)
    assert any(g.abs().sum() > 0 for g in full_grads.values())


def test_forgetting_scores_equal_lm_evals_own_model_class(arch: Arch) -> None:
    """The forgetting stage's scoring (only the continuation positions through the head, the
    candidate from the base's lower-layer states) gives lm-eval's HFLM's log-likelihoods."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from evalgate.forgetting.harness import shared_trunk_lm, side

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(arch.base), dtype=torch.float32), str(arch.adapter)).eval()
    requests = [
        Instance("loglikelihood", {}, (" ".join(WORDS[i : i + 2 + i % 4]), " " + choice), i)
        for i in range(6)
        for choice in (WORDS[i + 5], " ".join(WORDS[i + 1 : i + 3]))
    ]
    ours = shared_trunk_lm(model, None, tokenizer=arch.tok, batch_size=4, softmax_dtype="float32")
    stock = HFLM(pretrained=model, tokenizer=arch.tok, batch_size=4, softmax_dtype="float32")
    for adapter in (False, True):
        with side(model, adapter, lm=ours):
            got = ours.loglikelihood(requests)
        with side(model, adapter):
            want = stock.loglikelihood(requests)
        assert [g[1] for g in got] == [w[1] for w in want], (arch.name, adapter)
        assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-4), (arch.name, adapter)
    assert ours.trunk.floor == TOP and ours.trunk.shared > 0 and ours.trunk.full == 0


@pytest.mark.parametrize("name", ["gemma2", "granite"])
def test_the_trained_objective_is_the_models_own_with_softcapped_or_scaled_logits(name, tiny_tokenizer_dir, tmp_path):
    """Gemma 2 soft-caps its logits and Granite divides them by `logits_scaling` after the LM
    head. evalgate's lean loss (recomputed and cached paths), TRL's loss and the model's own loss
    are the same number; and replay's targets, the base's real distributions, are what the
    training loss compares with: at the base (a fresh adapter) replay pulls nowhere."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalgate.architectures import logit_steps
    from evalgate.loading import Placement
    from evalgate.training.data import Encoded, encode_records
    from evalgate.training.lora import attach_lora
    from evalgate.training.replay import base_distribution
    from evalgate.training.sft import EvalgateSFTTrainer, assistant_loss
    from evalgate.training.trainer import dataset, sft_config
    from evalgate.training.trunk import LowerStatesCollator, compute_lower_states

    base = build(name, tiny_tokenizer_dir, tmp_path / name)
    tok = AutoTokenizer.from_pretrained(str(base))
    torch.manual_seed(0)
    train = _lora([TOP])
    model = attach_lora(AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32), train, quantized=False)
    assert [step for step, _ in logit_steps(model)] == (["softcap"] if name == "gemma2" else ["div"])
    enc = encode_records(tok, RECORDS, 400)
    trainer = EvalgateSFTTrainer(
        model=model, args=sft_config(train.model_copy(update={"max_steps": 1}), Placement("cpu", "float32"), tmp_path / "work", has_eval=False),
        train_dataset=dataset(enc), processing_class=tok,
    )  # fmt: skip
    _nudge_lora_b(model, 0.05)
    batch = trainer.data_collator([{"input_ids": i, "labels": lab} for i, lab in zip(enc.input_ids, enc.labels, strict=True)])
    ours = trainer.compute_loss(model, dict(batch))
    trl = super(EvalgateSFTTrainer, trainer).compute_loss(model, dict(batch))
    with torch.no_grad():
        own = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    states = compute_lower_states(model, enc, TOP, tok.pad_token_id, "cpu", None, "test")
    rows = [{"input_ids": i, "labels": lab, "row": n} for n, (i, lab) in enumerate(zip(enc.input_ids, enc.labels, strict=True))]
    cached, _, _ = assistant_loss(model, LowerStatesCollator(tok.pad_token_id, states, torch.float32)(rows), floor=TOP)
    for loss in (ours, trl, cached):
        assert torch.allclose(loss, own, rtol=1e-5, atol=1e-6), (float(loss), float(own))

    # Replay at the base: the base's own distributions as targets, a zero gradient.
    _nudge_lora_b(model, 0.0)
    texts = [x[:40] for x in enc.input_ids[:3]]
    soft = base_distribution(model, Encoded(texts, []), top_k=16, device="cpu")
    collate = LowerStatesCollator(tok.pad_token_id, None, torch.float32, {r: (soft.ids[r], soft.probs[r]) for r in range(3)}, 1.0)
    model.zero_grad(set_to_none=True)
    loss, _, _ = assistant_loss(model, collate([{"input_ids": x, "labels": x, "row": r} for r, x in enumerate(texts)]))
    loss.backward()
    pull = max(p.grad.abs().max().item() for n, p in model.named_parameters() if "lora_B" in n)
    assert pull < 1e-5, pull


def test_logits_processed_in_a_way_evalgate_does_not_know_come_from_the_models_forward(tiny_tokenizer_dir, tmp_path, monkeypatch, capsys):
    """An architecture outside VERIFIED whose forward changes the logits in a way `final_logits`
    does not know (here: Granite, with its scaling hidden from evalgate) is found at the first
    batch; the loss then takes the forward's own logits, said once in a warning."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import evalgate.architectures as architectures
    import evalgate.training.sft as sft
    from evalgate.loading import Placement
    from evalgate.training.data import encode_records
    from evalgate.training.lora import attach_lora
    from evalgate.training.trainer import dataset, sft_config

    monkeypatch.setattr(architectures, "VERIFIED", architectures.VERIFIED - {"granite"})
    monkeypatch.setattr(sft, "VERIFIED", architectures.VERIFIED)
    monkeypatch.setattr(architectures, "logit_steps", lambda model: [])
    base = build("granite", tiny_tokenizer_dir, tmp_path / "granite")
    tok = AutoTokenizer.from_pretrained(str(base))
    torch.manual_seed(0)
    model = attach_lora(AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32), _lora(), quantized=False)
    _nudge_lora_b(model, 0.05)
    enc = encode_records(tok, RECORDS, 400)
    trainer = sft.EvalgateSFTTrainer(
        model=model, args=sft_config(_lora(), Placement("cpu", "float32"), tmp_path / "work", has_eval=False),
        train_dataset=dataset(enc), processing_class=tok,
    )  # fmt: skip
    batch = trainer.data_collator([{"input_ids": i, "labels": lab} for i, lab in zip(enc.input_ids, enc.labels, strict=True)])
    for _ in range(2):
        ours = trainer.compute_loss(model, dict(batch))
    assert trainer.full_logits is True
    with torch.no_grad():
        own = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    assert torch.allclose(ours, own, rtol=1e-5, atol=1e-6), (float(ours), float(own))
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "granite" in warnings[0] and "the model's own logits" in warnings[0]


def _tiny_project(project: Any, base: Path, **train: Any) -> Any:
    import random

    from tests.conftest import sentence

    rng = random.Random(0)
    project.params["model"]["base"] = str(base)
    project.params["prepare"]["split"] = {"val_fraction": 0.2}
    project.params["train"] = {
        "quantization": "none", "compute_dtype": "float32", "max_steps": 2, "batch_size": 4, "max_length": 128,
        "eval_steps": 2, "logging_steps": 1, "learning_rate": 0.01, **train,
    }  # fmt: skip
    project.params["evaluate"] = {"max_batch_size": 8, "compute_dtype": "float32"}
    project.write_params()
    project.data([chat(f"Summarise: {sentence(rng, 6)}", sentence(rng, 3), id=f"r{i}") for i in range(20)])
    return project


def test_gpt2s_conv1d_projections_train_with_lora_layers_and_named_targets(project, run_cli, tiny_tokenizer_dir, tmp_path):
    base = build("gpt2", tiny_tokenizer_dir, tmp_path / "gpt2")
    _tiny_project(project, base, lora={"r": 4, "alpha": 8, "dropout": 0.0, "layers": [TOP]})
    assert run_cli("prepare").exit_code == 0
    result = run_cli("train")
    assert result.exit_code == 0, result.output
    metrics = json.loads((project.root / "metrics" / "train.json").read_text())
    assert metrics["trainer_path"] == "cached_lower_layers" and metrics["frozen_layers"] == TOP
    config = json.loads((project.root / "models" / "adapter" / "adapter_config.json").read_text())
    assert config["fan_in_fan_out"] is True and config["target_modules"] == ["c_attn", "c_fc", "c_proj"]
    assert "warning" not in result.stderr

    project.params["train"]["lora"] = {"r": 4, "alpha": 8, "target_modules": ["c_attn", "c_proj"]}
    project.write_params()
    result = run_cli("train")
    assert result.exit_code == 0, result.output
    assert json.loads((project.root / "models" / "adapter" / "adapter_config.json").read_text())["target_modules"] == ["c_attn", "c_proj"]
    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output

    project.params["train"]["lora"] = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    project.write_params()
    result = run_cli("train")
    assert result.exit_code == 2
    assert "train.lora.target_modules: q_proj, v_proj not in this model; its linear modules are: c_attn, c_fc, c_proj" in result.stderr


def test_an_architecture_evalgate_cannot_accelerate_is_said_once_and_then_works(project, run_cli, tiny_tokenizer_dir, tmp_path):
    """GPT-J's layers return tuples: evalgate does not skip them. `frozen_layers: cached` and an
    adapter on the top layer then run the whole model, and each stage says so in one line."""
    base = build("gptj", tiny_tokenizer_dir, tmp_path / "gptj")
    _tiny_project(project, base, frozen_layers="cached", lora={"r": 4, "alpha": 8, "dropout": 0.0, "layers": [TOP]})
    assert run_cli("prepare").exit_code == 0
    result = run_cli("train")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: train:") and "gptj" in lines[0] and "layers 0-1" in lines[0], result.stderr
    assert json.loads((project.root / "metrics" / "train.json").read_text())["trainer_path"] == "full_forward"

    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "warning" in line and "gptj" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: evaluate:"), result.stderr
