"""The train stage on a tiny random Llama built from a config: real PEFT, real TRL, no hub."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
import torch

from tests.conftest import chat, sentence, write_jsonl


def lora_and_base_state(model: torch.nn.Module) -> tuple[dict, dict]:
    lora, base = {}, {}
    for name, tensor in model.state_dict().items():
        (lora if "lora_" in name else base)[name] = tensor.detach().clone()
    return lora, base


@pytest.mark.parametrize("quantization", ["none", "nf4"])
def test_only_lora_weights_change_and_base_stays_bit_identical(trained_project, quantization):
    from evalgate.config import load_params
    from evalgate.loading import load_base_model, resolve_placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.stages.train import load_prepared
    from evalgate.training.data import encode_records
    from evalgate.training.lora import attach_lora
    from evalgate.training.sft import EvalgateSFTTrainer
    from evalgate.training.trainer import dataset as _dataset
    from evalgate.training.trainer import sft_config

    params = load_params(Path("params.yaml"))
    ref = resolve_base(params.model.base)
    placement = resolve_placement("cpu", "auto")
    tok = load_tokenizer(ref)
    data = load_prepared(Path("data/prepared"), params.train)
    enc = encode_records(tok, data.train, 128)
    model = attach_lora(load_base_model(ref, quantization, placement), params.train, quantized=quantization != "none")
    lora_before, base_before = lora_and_base_state(model)
    assert lora_before and base_before
    trainer = EvalgateSFTTrainer(
        model=model,
        args=sft_config(params.train, placement, trained_project.root / "work", has_eval=False),
        train_dataset=_dataset(enc),
        processing_class=tok,
    )
    trainer.train()
    lora_after, base_after = lora_and_base_state(trainer.model)
    assert base_after.keys() == base_before.keys()
    for name, tensor in base_before.items():
        # Bitwise: packed 4-bit weights stored as floats can hold NaN bit patterns.
        assert tensor.contiguous().view(torch.uint8).equal(base_after[name].contiguous().view(torch.uint8)), name
    changed = [n for n, t in lora_before.items() if not torch.equal(t, lora_after[n])]
    assert len(changed) == len(lora_before)  # every LoRA matrix moved


def test_train_writes_adapter_and_provenance_and_the_adapter_changes_outputs(trained_project, run_cli):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = run_cli("train")
    assert result.exit_code == 0, result.output
    root = trained_project.root
    adapter = root / "models" / "adapter"
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    meta = json.loads((root / "models" / "train_meta.json").read_text())
    manifest = trained_project.manifest()
    assert meta["schema_version"] == 1
    assert meta["dataset_sha256"] == manifest["dataset_sha256"]
    assert len(meta["base_model"]["sha256"]) == 64
    assert meta["hyperparameters"]["learning_rate"] == 0.01 and meta["seed"] == 42
    assert meta["metrics"]["steps"] == 4 and meta["metrics"]["tokens_per_second"] > 0
    assert {"torch", "transformers", "peft", "trl"} <= meta["packages"].keys()
    metrics = json.loads((root / "metrics" / "train.json").read_text())
    assert metrics["adapter_sha256"] == meta["adapter_sha256"]
    assert (root / "plots" / "train_loss.csv").read_text().startswith("step,train_loss\n")
    assert len((root / "plots" / "val_loss.csv").read_text().splitlines()) >= 2

    base = AutoModelForCausalLM.from_pretrained(trained_project.params["model"]["base"])
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        before = base(ids).logits
        tuned = PeftModel.from_pretrained(base, str(adapter))
        after = tuned(ids).logits
        with tuned.disable_adapter():
            disabled = tuned(ids).logits
    assert not torch.allclose(before, after)
    assert torch.equal(before, disabled)


def test_same_seed_gives_identical_adapter(trained_project):
    """Two processes (with different string-hash seeds, as two CI runs have) give one adapter hash."""
    import os
    import subprocess
    import sys

    hashes = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(
            [sys.executable, "-m", "evalgate", "train"], cwd=trained_project.root, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        hashes.append(json.loads((trained_project.root / "metrics" / "train.json").read_text())["adapter_sha256"])
    assert hashes[0] == hashes[1]


def test_lean_cpu_loss_equals_trl_loss(trained_project):
    from trl import SFTTrainer

    from evalgate.config import load_params
    from evalgate.loading import load_base_model, resolve_placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.stages.train import load_prepared
    from evalgate.training.data import encode_records
    from evalgate.training.lora import attach_lora
    from evalgate.training.sft import EvalgateSFTTrainer
    from evalgate.training.trainer import dataset as _dataset
    from evalgate.training.trainer import sft_config

    params = load_params(Path("params.yaml"))
    ref = resolve_base(params.model.base)
    placement = resolve_placement("cpu", "auto")
    tok = load_tokenizer(ref)
    enc = encode_records(tok, load_prepared(Path("data/prepared"), params.train).train[:4], 128)
    model = attach_lora(load_base_model(ref, "none", placement), params.train, quantized=False)
    trainer = EvalgateSFTTrainer(
        model=model,
        args=sft_config(params.train, placement, trained_project.root / "work", has_eval=False),
        train_dataset=_dataset(enc),
        processing_class=tok,
    )
    batch = trainer.data_collator([{"input_ids": i, "labels": lab} for i, lab in zip(enc.input_ids, enc.labels, strict=True)])
    ours = trainer.compute_loss(model, dict(batch))
    theirs = SFTTrainer.compute_loss(trainer, model, dict(batch))
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_labels_cover_exactly_the_assistant_turns(tiny_model_dir):
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.training.data import IGNORE, encode_records

    tok = load_tokenizer(resolve_base(str(tiny_model_dir)))
    rec = {
        "id": "m",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "First?"},
            {"role": "assistant", "content": "One."},
            {"role": "user", "content": "Second?"},
            {"role": "assistant", "content": "Two."},
        ],
    }
    enc = encode_records(tok, [rec], 4096)
    labelled = tok.decode([t for t in enc.labels[0] if t != IGNORE])
    assert labelled == "One.<|end|>\nTwo.<|end|>\n"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("lora_targets", "train.lora.target_modules: qkv_proj not in this model; its linear modules are: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj (or use all-linear)"),
        ("lora_rank", "train.lora.r: 512 is larger than the model's hidden size 64; use a smaller rank"),
        ("lora_layers", "train.lora.layers: [7] out of range; this model has layers 0..1"),
        ("tampered", "data/prepared/train.jsonl: sha256 does not match data/prepared/manifest.json; the prepared data was changed by hand, re-run `evalgate prepare`"),
        ("missing", "data/prepared/manifest.json: not found; run `evalgate prepare` first"),
        ("bad_manifest", "data/prepared/manifest.json: field files.train.jsonl.sha256: Field required; re-run `evalgate prepare`"),
        ("empty", "data/prepared/train.jsonl: the prepared training set is empty; add data to train on"),
        ("missing_model", "model.base: GGUF file nowhere/model.gguf does not exist"),
        ("bad_gguf", "model.base: cannot read the tokenizer of GGUF file bad.gguf:"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_in_models(trained_project, run_cli, change, expected):
    root = trained_project.root
    params = trained_project.params
    prepared = root / "data" / "prepared"
    if change == "lora_targets":
        params["train"]["lora"]["target_modules"] = ["q_proj", "qkv_proj"]
    elif change == "lora_rank":
        params["train"]["lora"]["r"] = 512
    elif change == "lora_layers":
        params["train"]["lora"]["layers"] = [0, 7]
    elif change == "tampered":
        with open(prepared / "train.jsonl", "a") as fh:
            fh.write(json.dumps(chat("extra", "row", id="x")) + "\n")
    elif change == "missing":
        (prepared / "manifest.json").unlink()
    elif change == "bad_manifest":
        manifest = trained_project.manifest()
        del manifest["files"]["train.jsonl"]["sha256"]
        (prepared / "manifest.json").write_text(json.dumps(manifest))
    elif change == "empty":
        (prepared / "train.jsonl").write_text("")
        manifest = trained_project.manifest()
        import hashlib

        manifest["files"]["train.jsonl"]["sha256"] = hashlib.sha256(b"").hexdigest()
        (prepared / "manifest.json").write_text(json.dumps(manifest))
    elif change == "missing_model":
        params["model"]["base"] = "nowhere/model.gguf"
    elif change == "bad_gguf":
        (root / "bad.gguf").write_bytes(b"GGUF not really a gguf file")
        params["model"]["base"] = "bad.gguf"
    trained_project.write_params()
    result = run_cli("train")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {expected}"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "models").exists() or not any((root / "models").iterdir())


def test_export_merges_into_full_precision_and_matches_base_plus_adapter(trained_project, run_cli):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    trained_project.params["export"] = {"dtype": "float32"}
    trained_project.write_params()
    assert run_cli("train").exit_code == 0
    result = run_cli("export")
    assert result.exit_code == 0, result.output
    merged_dir = trained_project.root / "models" / "merged"
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(str(merged_dir))
    base = AutoModelForCausalLM.from_pretrained(trained_project.params["model"]["base"])
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11]])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(base, str(trained_project.root / "models" / "adapter"))(ids).logits
        got = merged(ids).logits
    assert torch.allclose(expected, got, atol=1e-4)
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_export_without_adapter_is_a_clean_error(trained_project, run_cli):
    result = run_cli("export")
    assert result.exit_code == 2
    assert "models/adapter: no trained adapter" in result.stderr and "run `evalgate train` first" in result.stderr


def test_overfitting_warning_when_train_loss_is_tiny_and_val_loss_stalls(capsys):
    from evalgate.training.trainer import History as _History

    history = _History(threshold=0.1)
    for step, logs in [(1, {"loss": 0.5}), (2, {"eval_loss": 1.0}), (3, {"loss": 0.05}), (4, {"eval_loss": 1.2})]:
        history.on_log(step, logs)
    assert history.overfitting
    healthy = _History(threshold=0.1)
    for step, logs in [(1, {"loss": 0.05}), (2, {"eval_loss": 1.0}), (3, {"loss": 0.04}), (4, {"eval_loss": 0.9})]:
        healthy.on_log(step, logs)
    assert not healthy.overfitting


def test_not_enough_memory_is_a_clean_error(trained_project, run_cli, monkeypatch):
    import psutil

    class Tiny:
        available = 1024

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    result = run_cli("train")
    assert result.exit_code == 2
    assert "error: not enough memory: the base model needs about" in result.stderr
    assert not (trained_project.root / "models").exists() or not any((trained_project.root / "models").iterdir())


def test_replay_rehearses_general_text_beside_the_task_records(trained_project, run_cli):
    """train.replay: passages of plain text trained on every token, recorded in train_meta; a bad
    replay file is one clear error."""
    from evalgate.config import ReplayParams
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.training.replay import encode_replay

    root = trained_project.root
    rng = random.Random(3)
    write_jsonl(root / "data" / "replay.jsonl", [{"text": sentence(rng, 20)} for _ in range(12)])
    tok = load_tokenizer(resolve_base(trained_project.params["model"]["base"]))
    enc, info = encode_replay(tok, ReplayParams(source="data/replay.jsonl", records=5, max_tokens=32), root)
    assert info["records"] == 5 and all(len(ids) == 32 for ids in enc.input_ids)
    assert enc.labels == enc.input_ids  # every token is a label: a plain language-model loss

    trained_project.params["train"]["replay"] = {"source": "data/replay.jsonl", "records": 5, "max_tokens": 32}
    trained_project.write_params()
    result = run_cli("train")
    assert result.exit_code == 0, result.output
    meta = json.loads((root / "models" / "train_meta.json").read_text())
    assert meta["replay"]["records"] == 5 and meta["replay"]["task_records"] == meta["train_records"]

    (root / "data" / "replay.jsonl").write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    result = run_cli("train")
    assert result.exit_code == 2
    assert "data/replay.jsonl:2: text: missing or empty" in result.stderr


def test_bundled_replay_text_is_general_english_not_a_forgetting_benchmark():
    from evalgate.config import ReplayParams
    from evalgate.training.replay import load_texts

    stories = load_texts(ReplayParams(source="coqa-stories", records=500), Path("."))
    assert len(stories) == 499 and all(len(t) > 200 for t in stories)
    both = load_texts(ReplayParams(records=10), Path("."))
    assert len(both) == 10 and sum(t.startswith("Question: ") for t in both) == 5  # split evenly
    assert both[5].count("\nAnswer: ") == 4


def test_replay_targets_are_the_base_models_own_distributions(tiny_model_dir):
    """targets: base: each replay position carries the base's top-k next-token probabilities, and
    the loss there is the cross-entropy to that distribution (top k plus one bucket for the rest):
    with every token kept it is the full cross-entropy, and at the base itself (a fresh adapter)
    its gradient is zero, so replay only resists moving away from the base. A plain label loss on
    the same text pulls the adapter at once."""
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from evalgate.training.data import Encoded
    from evalgate.training.replay import base_distribution, load_soft, save_soft
    from evalgate.training.sft import assistant_loss, soft_cross_entropy
    from evalgate.training.trunk import LowerStatesCollator

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    vocab = model.config.vocab_size
    ids = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14]]
    soft = base_distribution(model, Encoded(ids, []), top_k=8, device="cpu")
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([ids[0]])).logits[0, :-1], dim=-1)
    assert soft.ids[0].shape == (6, 8) and soft.ids[1].shape == (2, 8)
    assert torch.equal(soft.ids[0].long(), probs.topk(8).indices) and torch.allclose(soft.probs[0], probs.topk(8).values)

    # From the frozen layers' cached states (what training computes anyway) only the layers from
    # `floor` up run: the same distributions, and the lower layer does not run.
    from evalgate.trunk import decoder_layers, states_entering

    states = [states_entering(model, 1, torch.tensor([x]), torch.ones(1, len(x), dtype=torch.long))[0] for x in ids]
    handle = decoder_layers(model)[0].register_forward_pre_hook(lambda *a: (_ for _ in ()).throw(AssertionError("layer 0 ran")))
    try:
        reused = base_distribution(model, Encoded(ids, []), top_k=8, device="cpu", lower=(1, states))
    finally:
        handle.remove()
    for a, b in zip(reused.probs, soft.probs, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(reused.ids, soft.ids, strict=True))

    # Every token kept: the full cross-entropy; weight 0: the plain label loss.
    logits = torch.randn(6, vocab)
    full = base_distribution(model, Encoded(ids[:1], []), top_k=vocab, device="cpu")
    gold = torch.tensor(ids[0][1:])
    got = soft_cross_entropy(logits, gold, full.ids[0].long(), full.probs[0], torch.ones(6))
    assert torch.allclose(got, -(probs * F.log_softmax(logits, -1)).sum(-1), atol=1e-5)
    assert torch.allclose(soft_cross_entropy(logits, gold, full.ids[0].long(), full.probs[0], torch.zeros(6)), F.cross_entropy(logits, gold, reduction="none"))

    # The cache round-trips, and refuses targets for other records.
    path = Path(tempfile.mkdtemp()) / "t.pt"
    save_soft(path, soft)
    back = load_soft(path, [7, 3], top_k=8)
    assert back is not None and torch.equal(back.ids[0], soft.ids[0])
    assert load_soft(path, [7, 4], top_k=8) is None and load_soft(path, [7, 3], top_k=4) is None

    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False))
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            torch.nn.init.zeros_(p)  # a fresh adapter: the model is the base
    collate = LowerStatesCollator(0, None, torch.float32, {0: (soft.ids[0], soft.probs[0]), 1: (soft.ids[1], soft.probs[1])}, 1.0)
    batch = collate([{"input_ids": x, "labels": x, "row": r} for r, x in enumerate(ids)])

    def lora_grad(inputs):
        peft.zero_grad()
        loss, _, _ = assistant_loss(peft, inputs)
        loss.backward()
        return max(p.grad.abs().max().item() for n, p in peft.named_parameters() if "lora_B" in n)

    assert lora_grad(batch) < 1e-6
    plain = {k: v for k, v in batch.items() if not k.startswith("soft_")}
    assert lora_grad(plain) > 1e-3


