"""float32 vs bfloat16 per phase of the pipeline, on this machine's CPU class (and under caps).

For the CPU class PyTorch and oneDNN use here (evalgate.hardware: AMX, AVX512-BF16, AVX-512,
AVX2, Arm BF16), times each phase of the pipeline in float32 and in bfloat16 on the bundled base
model (SmolLM2-135M) and prints seconds, tokens/s and the float32/bfloat16 ratio, with the dtype
`compute_dtype: auto` picks:

* frozen layers: the training's one-off pass through layers 0-25, one record at a time (3 records);
* training step: LoRA on layers 26-29 over cached states, forward + backward + AdamW, batch 2 x 200;
* prompt pass: a batch of 8 prompts of 160 tokens through all 30 layers (evaluate's prefill);
* decoding step: one greedy token for 8 rows over a 160-token cache;
* forgetting scoring: a loglikelihood batch (8 x 120 tokens through the model, the LM head and
  log-softmax in float32 on the 24 continuation positions, as the forgetting stage scores).

(Sizes are small so that the emulated classes, where a bf16 matmul runs at a few GFLOP/s, finish;
each figure is the best of `--repeats` after a warm-up. On 2 cores the native and AVX512_CORE
classes take a few minutes each; the AVX2 class takes far longer (one bf16 training step there
takes 13 s), so run it with `--repeats 1`.)

    python benchmarks/dtype_phases.py [--classes native avx512 avx2] [--repeats 3]

`--classes` runs each class in a subprocess under the caps that emulate it on a more capable
CPU: avx2 sets ONEDNN_MAX_CPU_ISA=AVX2 and ATEN_CPU_CAPABILITY=avx2, avx512 (no bf16) sets
ONEDNN_MAX_CPU_ISA=AVX512_CORE, avx512_bf16 sets ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 (no AMX).
A class above the hardware's is not measured (a cap cannot add instructions).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAPS = {
    "native": {},
    "avx512_bf16": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
    "avx512": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}
PHASES = ["frozen layers", "training step", "prompt pass", "decoding step", "forgetting scoring"]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN primitives are built on first use
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(dtype_name: str, repeats: int) -> dict[str, dict[str, float]]:
    import torch

    from evalgate.config import TrainParams
    from evalgate.loading import Placement, load_base_model
    from evalgate.models import resolve_base
    from evalgate.training.lora import attach_lora
    from evalgate.training.sft import assistant_loss
    from evalgate.trunk import states_entering

    torch.manual_seed(0)
    placement = Placement("cpu", dtype_name)
    ref = resolve_base("smollm2-135m-instruct")
    vocab = 49000
    out: dict[str, dict[str, float]] = {}

    base = load_base_model(ref, "none", placement)
    base.eval()
    records = [torch.randint(0, vocab, (1, n)) for n in (120, 200, 280)]

    def frozen() -> None:
        with torch.inference_mode():
            for ids in records:
                states_entering(base, 26, ids, torch.ones_like(ids))

    tokens = sum(r.shape[1] for r in records)
    s = timed(frozen, repeats)
    out["frozen layers"] = {"seconds": s, "tokens_per_s": tokens / s}

    prompts = torch.randint(0, vocab, (8, 160))

    def prompt_pass() -> None:
        with torch.inference_mode():
            base(input_ids=prompts, use_cache=True, logits_to_keep=1)

    s = timed(prompt_pass, repeats)
    out["prompt pass"] = {"seconds": s, "tokens_per_s": prompts.numel() / s}

    with torch.inference_mode():
        cache = base(input_ids=prompts, use_cache=True, logits_to_keep=1).past_key_values
    steps = 4
    from transformers import DynamicCache

    def decode() -> None:
        with torch.inference_mode():
            c = DynamicCache()
            for i, layer in enumerate(cache.layers):
                c.update(layer.keys.clone(), layer.values.clone(), i)
            nxt = torch.randint(0, vocab, (8, 1))
            for k in range(steps):
                res = base(input_ids=nxt, past_key_values=c, use_cache=True, position_ids=torch.full((8, 1), 160 + k))
                nxt = res.logits[:, -1].argmax(-1, keepdim=True)

    s = timed(decode, repeats) / steps
    out["decoding step"] = {"seconds": s, "tokens_per_s": 8 / s}

    scoring = torch.randint(0, vocab, (8, 120))
    read = torch.arange(96, 120)  # the continuation's positions: the only ones the head projects
    head32 = base.get_output_embeddings().weight.detach().float()

    def score() -> None:
        with torch.no_grad():
            hidden = base.model(input_ids=scoring).last_hidden_state[:, read]
            torch.nn.functional.log_softmax(torch.nn.functional.linear(hidden.float(), head32), dim=-1)

    s = timed(score, repeats)
    out["forgetting scoring"] = {"seconds": s, "tokens_per_s": scoring.numel() / s}

    model = load_base_model(ref, "none", placement)
    train = TrainParams(quantization="none", lora={"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear", "layers": [26, 27, 28, 29]})
    model = attach_lora(model, train, quantized=False)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, vocab, (2, 200))
    labels = ids.clone()
    labels[:, :130] = -100
    batch = {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids), "hidden": torch.randn(2, 200, 576, dtype=placement.dtype)}

    def step() -> None:
        loss, _, _ = assistant_loss(model, batch, floor=26)
        loss.backward()
        opt.step()
        opt.zero_grad()

    s = timed(step, repeats + 2)
    out["training step"] = {"seconds": s, "tokens_per_s": ids.numel() / s}
    return out


def worker(repeats: int) -> None:
    import torch

    from evalgate.hardware import cpu_class
    from evalgate.loading import auto_dtype

    cls = cpu_class()
    result = {
        "isa": cls.isa,
        "hardware": cls.hardware,
        "capped_by": list(cls.capped_by),
        "threads": torch.get_num_threads(),
        "auto": auto_dtype("cpu"),
        "float32": measure("float32", repeats),
        "bfloat16": measure("bfloat16", repeats),
    }
    print("RESULT " + json.dumps(result))


def show(label: str, r: dict) -> None:
    capped = f", capped from {r['hardware']} by {' '.join(r['capped_by'])}" if r["capped_by"] else " (native)"
    print(f"\n{label}: ISA class {r['isa']}{capped}, {r['threads']} threads; compute_dtype auto -> {r['auto']}")
    print(f"  {'phase':20s} {'float32 s':>10s} {'bfloat16 s':>11s} {'fp32/bf16':>10s} {'fp32 tok/s':>11s} {'bf16 tok/s':>11s}")
    for phase in PHASES:
        f, b = r["float32"][phase], r["bfloat16"][phase]
        print(f"  {phase:20s} {f['seconds']:10.4f} {b['seconds']:11.4f} {f['seconds'] / b['seconds']:9.2f}x {f['tokens_per_s']:11,.0f} {b['tokens_per_s']:11,.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", nargs="+", default=["native"], choices=list(CAPS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.repeats)
        return 0
    for cls in args.classes:
        env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}
        env.update(CAPS[cls], EVALGATE_NO_PROGRESS="1")
        proc = subprocess.run([sys.executable, __file__, "--worker", "--repeats", str(args.repeats)], env=env, capture_output=True, text=True, cwd=REPO)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        show(cls, json.loads(line[len("RESULT ") :]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
