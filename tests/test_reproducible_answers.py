"""On the real bundled model: the answers of a warm cache are those a cold run computes.

On a CPU a prompt's numbers depend on the batch it is computed in (float32 matrix products
round differently for another row count, attention for another padding), so an answer cached
from another batch, or a candidate decoded beside other rows, can differ from a cold run's by a
token, and a data commit's verdict would then depend on what the cache held. The tiny test
models compute too little to show it; the bundled model does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ITEMS = 40
LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _adapter(out: Path, seed: int) -> None:
    """A LoRA adapter for the bundled model on the demo's layers (26-29), with small random B:
    it changes some answers, as a retrain on a data commit does."""
    import torch
    from peft import LoraConfig, get_peft_model

    from evalgate.loading import Placement, load_base_model
    from evalgate.models import resolve_base

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    lora = params["train"]["lora"]
    spec = params["model"]["base"]
    torch.manual_seed(seed)
    model = load_base_model(resolve_base(spec), "none", Placement("cpu", "float32"))
    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], target_modules=LINEAR, layers_to_transform=lora["layers"])
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.004)
    peft_model.save_pretrained(str(out))
    meta = json.loads((out / "adapter_config.json").read_text())
    meta["base_model_name_or_path"] = spec
    (out / "adapter_config.json").write_text(json.dumps(meta))
    (out / "README.md").unlink(missing_ok=True)


def _predictions(root: Path) -> dict[str, list[tuple[str, str, int, str]]]:
    out = {}
    for side in ("base", "candidate"):
        rows = [json.loads(line) for line in (root / "runs" / side / "predictions.jsonl").read_text().splitlines()]
        out[side] = sorted((r["task"], r["id"], r["tokens"], r["output"]) for r in rows)
    return out


@pytest.mark.slow
def test_a_warm_cache_gives_the_answers_of_a_cold_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("tasks", "golden_sets"):
        shutil.copytree(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["evaluate"]["max_items_per_task"] = ITEMS
    monkeypatch.chdir(root)
    adapters = {seed: tmp_path / f"adapter-{seed}" for seed in (1, 2)}
    for seed, path in adapters.items():
        _adapter(path, seed)

    def evaluate(adapter: Path, cache: str) -> tuple[dict, str]:
        shutil.rmtree(root / "models", ignore_errors=True)
        shutil.copytree(adapter, root / "models" / "adapter")
        params["evaluate"]["cache"] = str(tmp_path / cache / "predictions.sqlite")
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        result = run_cli("evaluate")
        assert result.exit_code == 0, result.output
        return _predictions(root), result.output

    # A data commit: the base's answers and lower-layer states are cached by an earlier adapter.
    evaluate(adapters[1], "warm")
    warm, output = evaluate(adapters[2], "warm")
    n = len(warm["base"])
    assert n == 2 * ITEMS
    assert f"answers generated: base 0, candidate {n}" in output
    cold, output = evaluate(adapters[2], "cold")
    assert f"answers generated: base {n}, candidate {n}" in output
    assert warm["base"] == cold["base"]
    assert warm["candidate"] == cold["candidate"]
    changed = sum(b[3] != c[3] for b, c in zip(cold["base"], cold["candidate"], strict=True))
    assert changed >= n // 10, changed  # the adapter moves answers: the comparison is not of two base runs


@pytest.mark.slow
def test_local_judge_probabilities_do_not_depend_on_the_prompts_beside_them() -> None:
    """The local judge reads next-token probabilities; with anchors each prompt runs on its own
    after its rubric's instructions and its item's input, so a grade cached from one run equals a
    cold run's, whatever was read beside it and in whichever order."""
    from evalgate.generate.hf import HFBackend
    from evalgate.loading import resolve_placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.prompts import render_prompt

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    ref = resolve_base(params["model"]["base"])
    tok = load_tokenizer(ref)
    backend = HFBackend(
        ref, tok, adapter_dir=None, quantization="none", placement=resolve_placement("cpu", "auto"),
        token_budget=32768, max_batch_size=48,
    )  # fmt: skip
    system = (
        "You grade a support ticket triage. Read the ticket and the answer, then score the answer's "
        "accuracy and its format from 1 (wrong) to 5 (right), as JSON."
    )
    golden = [json.loads(line) for line in (REPO / "golden_sets" / "ticket_triage.jsonl").read_text().splitlines()[:8]]

    def render(content: str) -> str:
        return render_prompt(tok, [{"role": "system", "content": system}, {"role": "user", "content": content}])

    # Two answers per ticket: the chain of anchors is the instructions, then the ticket.
    tickets = [f"Ticket: {json.dumps(g)[:600]}\n" for g in golden]
    answers = ["Answer: {}", 'Answer: {"category": "billing"}']
    prompts = [render(t + a) for t in tickets for a in answers]
    chains = [[render(""), render(t)] for t in tickets for _ in answers]
    suffixes = ['{"accuracy": {"score": ', '{"format": {"score": ']
    digits = list("12345")

    def read(indices: list[int]) -> dict[int, list]:
        got = backend.next_token_probs([prompts[i] for i in indices], digits, suffixes=suffixes, anchors=[chains[i] for i in indices])
        return dict(zip(indices, got, strict=True))

    everything = read(list(range(len(prompts))))
    alone = {i: read([i])[i] for i in (0, 5, 11)}
    reversed_half = read(list(range(len(prompts) - 1, 7, -1)))
    for i in alone:
        assert alone[i] == everything[i], i
    for i in reversed_half:
        assert reversed_half[i] == everything[i], i
    assert len({json.dumps(v) for v in everything.values()}) == len(prompts)  # the prompts are read differently
    assert len({len(prefix) for _, prefix in backend._anchored}) > 1  # the tickets ran once each, after the instructions
