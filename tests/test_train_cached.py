"""The trainer's cached-lower-layers path is the full forward pass, computed once per record.

On a tiny random Llama (LoRA on its top layer only, so layer 0 is frozen): the loss and every
gradient of a padded batch of several records, and the adapter after several optimiser steps,
equal those of running the whole model at every step.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from tests.conftest import chat
from tests.test_train import sentence


@pytest.fixture
def cached_project(project, tiny_model_dir, run_cli):
    rng = random.Random(1)
    project.params["model"]["base"] = str(tiny_model_dir)
    project.params["prepare"]["split"] = {"val_fraction": 0.2}
    project.params["train"] = {
        "quantization": "none",
        "compute_dtype": "float32",
        "epochs": 2,
        "batch_size": 3,
        "max_length": 160,
        "eval_steps": 3,
        "logging_steps": 1,
        "learning_rate": 0.01,
        "group_by_length": False,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "layers": [1]},
    }
    project.write_params()
    # Lengths differ a lot, so every batch is padded.
    project.data(
        [chat(f"Summarise: {sentence(rng, rng.randint(3, 20))}", sentence(rng, rng.randint(1, 6)), id=f"r{i}") for i in range(24)]
    )
    assert run_cli("prepare").exit_code == 0
    return project


def _setup(params_path: Path):
    from evalgate.config import load_params
    from evalgate.loading import load_base_model, resolve_placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.stages.train import load_prepared
    from evalgate.training.data import encode_records
    from evalgate.training.lora import attach_lora

    params = load_params(params_path)
    ref = resolve_base(params.model.base)
    placement = resolve_placement("cpu", "float32")
    tok = load_tokenizer(ref)
    enc = encode_records(tok, load_prepared(Path("data/prepared"), params.train).train[:5], 160)
    torch.manual_seed(0)
    model = attach_lora(load_base_model(ref, "none", placement), params.train, quantized=False)
    # LoRA starts with B = 0 (so A gets no gradient); move B off zero so both are tested.
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return tok, enc, model, placement


def test_cached_loss_and_gradients_equal_the_full_forward(cached_project):
    from evalgate.training.sft import assistant_loss
    from evalgate.training.trunk import LowerStatesCollator, compute_lower_states
    from evalgate.trunk import adapter_floor

    tok, enc, model, placement = _setup(Path("params.yaml"))
    floor = adapter_floor(model)
    assert floor == 1
    lengths = {len(x) for x in enc.input_ids}
    assert len(lengths) > 1  # the batch is padded

    states = compute_lower_states(model, enc, floor, tok.pad_token_id, "cpu", None, "test")
    assert states.computed == len(enc.input_ids) and all(h.shape[0] == len(x) for h, x in zip(states.hidden, enc.input_ids, strict=True))
    collate = LowerStatesCollator(tok.pad_token_id, states, torch.float32)
    batch = collate([{"input_ids": i, "labels": lab, "row": n} for n, (i, lab) in enumerate(zip(enc.input_ids, enc.labels, strict=True))])

    model.train()
    full_inputs = {k: v for k, v in batch.items() if k != "hidden"}
    full_loss, full_correct, full_count = assistant_loss(model, full_inputs)
    full_loss.backward()
    full_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)

    # The frozen layer must not run on the cached path: break it and see nothing change.
    from evalgate.trunk import decoder_layers

    lowest = decoder_layers(model)[0]
    handle = lowest.register_forward_pre_hook(lambda *a: (_ for _ in ()).throw(AssertionError("layer 0 ran")))
    try:
        cached_loss, cached_correct, cached_count = assistant_loss(model, batch, floor=floor)
        cached_loss.backward()
    finally:
        handle.remove()
    cached_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    assert torch.allclose(full_loss, cached_loss, rtol=1e-5, atol=1e-6), (full_loss, cached_loss)
    assert int(full_correct) == int(cached_correct) and int(full_count) == int(cached_count)
    assert full_grads.keys() == cached_grads.keys() and len(full_grads) >= 4
    for name, g in full_grads.items():
        assert g.abs().sum() > 0, name
        assert torch.allclose(g, cached_grads[name], rtol=1e-4, atol=1e-6), name


def _adapter_tensors(root: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(root / "models" / "adapter" / "adapter_model.safetensors"))


@pytest.mark.parametrize(("dtype", "rtol"), [("float32", 1e-3), ("bfloat16", 5e-2)])
def test_cached_training_gives_the_adapter_of_the_full_forward(cached_project, run_cli, dtype, rtol):
    root = cached_project.root
    adapters, metrics = {}, {}
    cached_project.params["train"]["compute_dtype"] = dtype
    for path in ("recomputed", "cached"):
        cached_project.params["train"]["frozen_layers"] = path
        cached_project.write_params()
        result = run_cli("train")
        assert result.exit_code == 0, result.output
        adapters[path] = _adapter_tensors(root)
        metrics[path] = json.loads((root / "metrics" / "train.json").read_text())
    assert metrics["recomputed"]["trainer_path"] == "full_forward"
    assert metrics["cached"]["trainer_path"] == "cached_lower_layers" and metrics["cached"]["frozen_layers"] == 1
    assert metrics["cached"]["steps"] == metrics["recomputed"]["steps"] >= 8  # several optimiser steps, 2 epochs
    assert metrics["cached"]["train_loss"] == pytest.approx(metrics["recomputed"]["train_loss"], rel=rtol / 10)
    assert metrics["cached"]["val_loss"] == pytest.approx(metrics["recomputed"]["val_loss"], rel=rtol / 10)
    assert adapters["cached"].keys() == adapters["recomputed"].keys()
    for name, t in adapters["recomputed"].items():
        a, b = t.float(), adapters["cached"][name].float()
        # bfloat16: the cached states are computed one record at a time, the full forward pass
        # runs padded batches, so they round differently; the adapters agree to rtol overall.
        assert float((a - b).norm() / a.norm()) < rtol / 5, (name, float((a - b).norm() / a.norm()))
    # Trained: the adapter moved away from its initialisation (B starts at zero).
    assert any(t.abs().sum() > 0 for n, t in adapters["cached"].items() if "lora_B" in n)


def test_cached_states_are_reused_across_runs(cached_project, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(tmp_path / "own-cache"))
    root = cached_project.root
    cached_project.params["train"]["frozen_layers"] = "cached"
    cached_project.write_params()
    assert run_cli("train").exit_code == 0
    first = json.loads((root / "metrics" / "train.json").read_text())
    assert first["lower_layer_states"]["reused"] == 0 and first["lower_layer_states"]["computed"] > 0
    assert run_cli("train").exit_code == 0
    again = json.loads((root / "metrics" / "train.json").read_text())
    assert again["lower_layer_states"]["computed"] == 0
    assert again["adapter_sha256"] == first["adapter_sha256"]  # stored states give the same adapter


def test_auto_caches_on_cpu_only_when_lower_layers_are_frozen(cached_project, run_cli):
    root = cached_project.root
    assert run_cli("train").exit_code == 0  # frozen_layers defaults to auto; lora.layers is [1]
    assert json.loads((root / "metrics" / "train.json").read_text())["trainer_path"] == "cached_lower_layers"
    cached_project.params["train"]["lora"].pop("layers")
    cached_project.write_params()
    assert run_cli("train").exit_code == 0
    assert json.loads((root / "metrics" / "train.json").read_text())["trainer_path"] == "full_forward"


def test_cached_without_frozen_layers_is_a_config_error(cached_project, run_cli):
    cached_project.params["train"]["frozen_layers"] = "cached"
    cached_project.params["train"]["lora"].pop("layers")
    cached_project.write_params()
    result = run_cli("train")
    assert result.exit_code == 2
    assert "frozen_layers: cached needs lora.layers" in result.stderr


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_a_warm_cache_filled_by_other_batches_trains_the_cold_runs_adapter(cached_project, run_cli, tmp_path, monkeypatch, dtype):
    """One machine, one adapter: states reused from an earlier run over other records (so computed
    beside other records) give the adapter and metrics a cold run computes from nothing."""
    root = cached_project.root
    cached_project.params["train"].update(frozen_layers="cached", compute_dtype=dtype)
    cached_project.write_params()
    full = (root / "data" / "raw" / "train.jsonl").read_text().splitlines()

    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(tmp_path / "warm"))
    (root / "data" / "raw" / "train.jsonl").write_text("\n".join(full[::3]) + "\n")  # an earlier commit: a third of the records
    assert run_cli("prepare").exit_code == 0 and run_cli("train").exit_code == 0
    (root / "data" / "raw" / "train.jsonl").write_text("\n".join(full) + "\n")
    assert run_cli("prepare").exit_code == 0 and run_cli("train").exit_code == 0
    warm = json.loads((root / "metrics" / "train.json").read_text())
    assert warm["lower_layer_states"]["reused"] > 0 and warm["lower_layer_states"]["computed"] > 0

    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(tmp_path / "cold"))
    assert run_cli("train").exit_code == 0
    cold = json.loads((root / "metrics" / "train.json").read_text())
    assert cold["lower_layer_states"]["reused"] == 0
    assert cold["adapter_sha256"] == warm["adapter_sha256"]
    for key in ("train_loss", "val_loss", "final_train_loss", "steps"):
        assert cold[key] == warm[key], key


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_records_cached_states_do_not_depend_on_the_records_beside_it(dtype):
    """Computed beside other records (a padded batch), a record's states round differently than
    computed alone; so the trunk computes each record alone, and the states are a function of
    its tokens only, whichever run computed them and whatever else that run held."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from evalgate.training.data import Encoded
    from evalgate.training.trunk import compute_lower_states

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=256, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    model = LlamaForCausalLM(config).to(dtype).eval()
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randint(0, 300, (n,), generator=gen).tolist() for n in (37, 50, 61, 90, 12, 75)]
    enc = Encoded(seqs, [[-100] * len(s) for s in seqs])
    together = compute_lower_states(model, enc, 2, 0, "cpu", None, "all").hidden
    for subset in ([0, 1], [2, 4, 3], [5]):
        part = compute_lower_states(model, Encoded([seqs[i] for i in subset], [enc.labels[i] for i in subset]), 2, 0, "cpu", None, "part").hidden
        for j, i in enumerate(subset):
            assert torch.equal(part[j], together[i]), (subset, i)
