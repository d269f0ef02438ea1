"""Training throughput: evalgate's train stage vs a minimal hand-written PEFT loop.

Both train the same base model (the bundled SmolLM2-135M, NF4 4-bit on CPU, fp32 compute) with
the same LoRA config, the same prepared records, batch size, sequence length cap, optimiser
and step count, each in a fresh process, and both count non-padding tokens per second of the
training loop (model loading excluded). Prints both figures and the ratio (target >= 0.8x).

    python benchmarks/train_throughput.py [--steps 12] [--with-trl-defaults]

--with-trl-defaults also times SFTTrainer as configured out of the box (bf16 and gradient
checkpointing on), for a few steps: the reason a naive SFTTrainer run is ~10x slower on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.8


def bench_params(steps: int) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(max_steps=steps, eval_steps=10_000, max_val_records=4, logging_steps=1)
    return params


def setup_project(root: Path, steps: int) -> None:
    for name in ("tasks", "data/raw", "golden_sets"):
        shutil.copytree(REPO / name, root / name)
    (root / "params.yaml").write_text(yaml.safe_dump(bench_params(steps), sort_keys=False))
    subprocess.run([sys.executable, "-m", "evalgate", "prepare"], cwd=root, check=True, capture_output=True)


def run_evalgate(root: Path) -> dict:
    subprocess.run([sys.executable, "-m", "evalgate", "train"], cwd=root, check=True, capture_output=True)
    metrics = json.loads((root / "metrics" / "train.json").read_text())
    return {"tokens": metrics["tokens_seen"], "seconds": metrics["wall_seconds"], "steps": metrics["steps"]}


def baseline_worker(root: Path, trl_defaults: bool) -> dict:
    """A plain PEFT loop (or SFTTrainer with TRL's defaults) on the same model, data and settings."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from evalgate.config import load_params
    from evalgate.models import load_tokenizer, model_dir, resolve_base
    from evalgate.stages.train import load_prepared
    from evalgate.training.data import encode_records
    from evalgate.training.lora import linear_module_names

    os.chdir(root)
    params = load_params(Path("params.yaml"))
    t = params.train
    ref = resolve_base(params.model.base)
    tok = load_tokenizer(ref)
    enc = encode_records(tok, load_prepared(Path("data/prepared"), t).train, t.max_length)
    torch.manual_seed(t.seed)
    bnb = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
        bnb_4bit_quant_storage=torch.float32,
    )
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir(ref)), quantization_config=bnb, dtype=torch.float32, device_map={"": "cpu"}
    )
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=trl_defaults)
    targets = linear_module_names(model) if t.lora.layers is not None else t.lora.target_modules
    lora = LoraConfig(
        r=t.lora.r, lora_alpha=t.lora.alpha, lora_dropout=t.lora.dropout,
        target_modules=targets, layers_to_transform=t.lora.layers, task_type="CAUSAL_LM",
    )
    if trl_defaults:
        return _trl_defaults(model, lora, tok, enc, t, root)
    model = get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=t.learning_rate)
    order = list(range(len(enc.input_ids)))
    random.Random(t.seed).shuffle(order)
    tokens, start = 0, time.perf_counter()
    for step in range(t.max_steps or 0):
        idx = order[step * t.batch_size : (step + 1) * t.batch_size]
        width = max(len(enc.input_ids[i]) for i in idx)
        ids = torch.full((len(idx), width), tok.pad_token_id)
        labels = torch.full((len(idx), width), -100)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            n = len(enc.input_ids[i])
            ids[row, :n] = torch.tensor(enc.input_ids[i])
            labels[row, :n] = torch.tensor(enc.labels[i])
            mask[row, :n] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        tokens += int(mask.sum())
    return {"tokens": tokens, "seconds": time.perf_counter() - start, "steps": t.max_steps}


def _trl_defaults(model, lora, tok, enc, t, root: Path) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    steps = min(t.max_steps or 3, 3)
    args = SFTConfig(  # bf16 and gradient_checkpointing left at TRL's defaults (both on)
        output_dir=str(root / "trl-default"), max_steps=steps, per_device_train_batch_size=t.batch_size,
        max_length=t.max_length, learning_rate=t.learning_rate, use_cpu=True, report_to="none",
        save_strategy="no", logging_steps=1, include_num_input_tokens_seen="non_padding", seed=t.seed,
    )
    data = Dataset.from_dict({"input_ids": enc.input_ids, "labels": enc.labels})
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora)
    start = time.perf_counter()
    trainer.train()
    return {"tokens": int(trainer.state.num_input_tokens_seen), "seconds": time.perf_counter() - start, "steps": steps}


def run_worker(root: Path, trl_defaults: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(root)] + (["--with-trl-defaults"] if trl_defaults else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--with-trl-defaults", action="store_true")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(baseline_worker(args.worker, args.with_trl_defaults)))
        return
    os.environ.setdefault("EVALGATE_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory(prefix="evalgate-train-bench-") as tmp:
        root = Path(tmp)
        setup_project(root, args.steps)
        ours = run_evalgate(root)
        plain = run_worker(root, trl_defaults=False)
        naive = run_worker(root, trl_defaults=True) if args.with_trl_defaults else None
    rate = {name: r["tokens"] / r["seconds"] for name, r in (("evalgate", ours), ("plain", plain))}
    print(f"{'run':<34}{'steps':>6}{'tokens':>9}{'seconds':>9}{'tokens/s':>10}")
    print(f"{'evalgate train':<34}{ours['steps']:>6}{ours['tokens']:>9}{ours['seconds']:>9.1f}{rate['evalgate']:>10.1f}")
    print(f"{'hand-written PEFT loop':<34}{plain['steps']:>6}{plain['tokens']:>9}{plain['seconds']:>9.1f}{rate['plain']:>10.1f}")
    if naive:
        naive_rate = naive["tokens"] / naive["seconds"]
        print(f"{'SFTTrainer, TRL defaults':<34}{naive['steps']:>6}{naive['tokens']:>9}{naive['seconds']:>9.1f}{naive_rate:>10.1f}")
        print(f"TRL defaults vs hand-written loop: {naive_rate / rate['plain']:.2f}x")
    ratio = rate["evalgate"] / rate["plain"]
    print(f"evalgate vs hand-written loop: {ratio:.2f}x  (target >= {TARGET}x: {'met' if ratio >= TARGET else 'MISSED'})")


if __name__ == "__main__":
    main()
