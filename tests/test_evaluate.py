"""The evaluate stage on a tiny random model: batching, caching, resuming, outputs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_jsonl

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "omicron", "sigma"]


def make_adapter(base_dir: Path, out: Path, spec: str, seed: int = 0, layers: list[int] | None = None) -> Path:
    """A LoRA adapter for the tiny model with random non-zero B, so it changes the answers
    (on every layer, or on `layers` only)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj"], layers_to_transform=layers)
    )
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(str(out))
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = spec
    (out / "adapter_config.json").write_text(json.dumps(config))
    for extra in ("README.md",):
        (out / extra).unlink(missing_ok=True)
    return out


@pytest.fixture
def eval_project(project, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(project.root / ".cache"))  # a cold cache per test
    rng = random.Random(1)
    project.params["model"]["base"] = str(tiny_model_dir)
    project.params["evaluate"] = {"max_batch_size": 8, "token_budget": 4096}
    project.write_params()
    rows = [
        {"id": f"q{i}", "question": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12))), "reference": rng.choice(WORDS)}
        for i in range(12)
    ]
    write_jsonl(project.root / "golden_sets" / "qa.jsonl", rows)
    make_adapter(tiny_model_dir, project.root / "models" / "adapter", str(tiny_model_dir))
    return project


class Counter:
    """Wraps make_backend to keep the backend, so tests can count what the model generated."""

    def __init__(self, monkeypatch):
        import evalgate.stages.evaluate as ev

        self.backends = []
        original = ev.make_backend

        def make(*args, **kwargs):
            backend = original(*args, **kwargs)
            self.backends.append(backend)
            return backend

        monkeypatch.setattr(ev, "make_backend", make)

    @property
    def generated(self) -> int:
        return sum(b.items_generated for b in self.backends)

    @property
    def loaded(self) -> bool:
        return any(b._model is not None for b in self.backends)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_tiny_model_answers_different_prompts_differently(eval_project, tiny_model_dir):
    """The equality tests on the tiny model's answers mean something only if its answers depend
    on the prompt: greedy answers to the 12 golden questions, by `model.generate`, all differ."""
    import torch
    from transformers import AutoModelForCausalLM

    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.prompts import render_prompt
    from evalgate.tasks import load_golden, load_tasks

    tok = load_tokenizer(resolve_base(str(tiny_model_dir)))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    answers = []
    for item in load_golden(load_tasks(Path("tasks"))[0]):
        ids = tok(render_prompt(tok, item.messages), return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
        answers.append(tuple(out[0, ids["input_ids"].shape[1] :].tolist()))
    assert len(answers) == 12 and len(set(answers)) == 12, [tok.decode(a) for a in answers]


def test_predictions_are_identical_between_batch_sizes_1_and_8(eval_project, tiny_model_dir):
    from evalgate.generate import Request
    from evalgate.generate.hf import HFBackend
    from evalgate.loading import Placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.prompts import render_prompt
    from evalgate.tasks import load_golden, load_tasks

    ref = resolve_base(str(tiny_model_dir))
    tok = load_tokenizer(ref)
    task = load_tasks(Path("tasks"))[0]
    prompts = [render_prompt(tok, it.messages) for it in load_golden(task)]
    requests = [Request(key=str(i), prompt=p, max_new_tokens=12) for i, p in enumerate(prompts)]
    results = {}
    for bs in (1, 8):
        backend = HFBackend(
            ref, tok, adapter_dir=Path("models/adapter"), quantization="none",
            placement=Placement("cpu", "float32"), token_budget=100_000, max_batch_size=bs,
        )
        for adapter in (False, True):
            out: dict[int, object] = {}
            for chunk in backend.generate(requests, adapter=adapter):
                out.update(chunk)
            results[bs, adapter] = [out[i] for i in range(len(requests))]
    for adapter in (False, True):
        assert [g.text for g in results[1, adapter]] == [g.text for g in results[8, adapter]]
        assert [g.tokens for g in results[1, adapter]] == [g.tokens for g in results[8, adapter]]
    # The adapter changes the answers, and a batch mixes prompts of different lengths.
    assert [g.text for g in results[8, False]] != [g.text for g in results[8, True]]
    assert len({len(p) for p in prompts}) > 1


def test_evaluate_writes_paired_predictions_scores_and_metrics(eval_project, run_cli, monkeypatch):
    counter = Counter(monkeypatch)
    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output
    assert counter.generated == 24  # 12 items x (base + candidate), one model load
    assert len(counter.backends) == 1
    root = eval_project.root
    base = read_jsonl(root / "runs" / "base" / "predictions.jsonl")
    cand = read_jsonl(root / "runs" / "candidate" / "predictions.jsonl")
    assert [r["id"] for r in base] == [r["id"] for r in cand] == [f"q{i}" for i in range(12)]
    assert set(base[0]) == {"task", "id", "prompt_sha256", "output", "tokens", "latency_s", "finish_reason", "generation_config_sha256"}
    assert all(1 <= r["tokens"] <= 8 for r in base + cand)
    assert [r["prompt_sha256"] for r in base] == [r["prompt_sha256"] for r in cand]
    scores = read_jsonl(root / "runs" / "scores.jsonl")
    assert len(scores) == 12 * 2
    assert {s["metric"] for s in scores} == {"exact_match", "contains"}
    assert all(s["base"] in (0.0, 1.0) and s["candidate"] in (0.0, 1.0) for s in scores)
    metrics = json.loads((root / "metrics" / "eval.json").read_text())
    assert list(metrics)[0] == "schema_version"
    m = metrics["tasks"]["qa"]["exact_match"]
    assert m["n"] == 12 and m["primary"] and m["binary"] and m["higher_is_better"]
    assert m["delta"] == pytest.approx(m["candidate"] - m["base"], abs=1e-6)
    prov = metrics["provenance"]
    assert len(prov["adapter"]["sha256"]) == 64 and len(prov["base_model"]["sha256"]) == 64
    assert len(prov["tasks"]["qa"]["golden_set_sha256"]) == 64


def test_truncation_shares_are_recorded_printed_and_warned(eval_project, run_cli):
    """Answers cut at max_new_tokens are counted per task and side, from the predictions."""
    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output
    root = eval_project.root
    metrics = json.loads((root / "metrics" / "eval.json").read_text())
    gen = metrics["generation"]["qa"]
    assert gen["max_new_tokens"] == 8
    for side in ("base", "candidate"):
        preds = read_jsonl(root / "runs" / side / "predictions.jsonl")
        cut = sum(r["finish_reason"] == "length" for r in preds)
        assert gen[side]["answers"] == 12 and gen[side]["truncated"] == cut
        assert gen[side]["truncated_share"] == pytest.approx(cut / 12, abs=1e-6)
        assert gen[side]["mean_new_tokens"] == pytest.approx(sum(r["tokens"] for r in preds) / 12, abs=0.01)
    assert gen["base"]["truncated"] > 0  # a random model rarely ends an answer in 8 tokens
    assert f"answers cut at max_new_tokens=8: base {gen['base']['truncated']}/12" in result.stderr
    assert "warning: qa:" in result.stderr and "above evaluate.warn_truncated_share=0.1" in result.stderr
    eval_project.params["evaluate"]["warn_truncated_share"] = 1.0
    eval_project.write_params()
    result = run_cli("evaluate")
    assert "warn_truncated_share" not in result.stderr


def test_rerun_is_all_cache_hits_and_loads_no_model(eval_project, run_cli, monkeypatch):
    assert run_cli("evaluate").exit_code == 0
    first = (eval_project.root / "runs" / "candidate" / "predictions.jsonl").read_bytes()
    counter = Counter(monkeypatch)
    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output
    assert counter.generated == 0 and not counter.loaded
    assert (eval_project.root / "runs" / "candidate" / "predictions.jsonl").read_bytes() == first


def test_killed_run_resumes_generating_only_the_rest(eval_project, run_cli, monkeypatch):
    from evalgate.generate.hf import HFBackend

    eval_project.params["evaluate"]["max_batch_size"] = 2
    eval_project.write_params()
    original = HFBackend._decode
    calls = {"n": 0}

    def crash_after_three_batches(self, *args, **kwargs):
        if calls["n"] == 6:  # three batches of two items, each decoded once per side
            raise KeyboardInterrupt  # a kill mid-run
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HFBackend, "_decode", crash_after_three_batches)
    with pytest.raises(KeyboardInterrupt):
        from evalgate.config import load_params
        from evalgate.stages.evaluate import run_evaluate

        run_evaluate(load_params(Path("params.yaml")))
    assert not (eval_project.root / "metrics" / "eval.json").exists()
    monkeypatch.setattr(HFBackend, "_decode", original)
    counter = Counter(monkeypatch)
    result = run_cli("evaluate")
    assert result.exit_code == 0, result.output
    assert counter.generated == 24 - 12  # three batches of two items (both sides) were cached before the kill


def test_new_adapter_reuses_the_base_answers(eval_project, run_cli, monkeypatch, tiny_model_dir):
    assert run_cli("evaluate").exit_code == 0
    make_adapter(tiny_model_dir, eval_project.root / "models" / "adapter", str(tiny_model_dir), seed=7)
    counter = Counter(monkeypatch)
    assert run_cli("evaluate").exit_code == 0
    assert counter.generated == 12  # only the candidate's answers


def test_generation_config_change_is_a_cache_miss(eval_project, run_cli, monkeypatch):
    assert run_cli("evaluate").exit_code == 0
    task_file = eval_project.root / "tasks" / "qa.yaml"
    spec = yaml.safe_load(task_file.read_text())
    spec["generation"]["max_new_tokens"] = 6
    task_file.write_text(yaml.safe_dump(spec))
    counter = Counter(monkeypatch)
    assert run_cli("evaluate").exit_code == 0
    assert counter.generated == 24


def test_missing_adapter_is_a_clean_error(eval_project, run_cli):
    import shutil

    shutil.rmtree(eval_project.root / "models" / "adapter")
    result = run_cli("evaluate")
    assert result.exit_code == 2
    assert "evaluate.adapter: models/adapter has no adapter_config.json, adapter_model.safetensors; run `evalgate train`" in result.stderr
    assert not (eval_project.root / "runs").exists() and not (eval_project.root / "metrics").exists()


def test_adapter_for_another_base_is_refused(eval_project, run_cli):
    path = eval_project.root / "models" / "adapter" / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = "someone/else"
    path.write_text(json.dumps(config))
    result = run_cli("evaluate")
    assert result.exit_code == 2
    assert "was trained on 'someone/else'" in result.stderr


def test_tasks_validate_names_file_line_and_close_matches(project, run_cli):
    task_file = project.root / "tasks" / "qa.yaml"
    task_file.write_text(
        "name: qa\n"
        "golden_set: golden_sets/qa.jsonl\n"
        "user_template: 'Q: {{ questoin }}'\n"
        "scorers:\n"
        "  - scorer: exact_macth\n"
        "  - scorer: rouge\n"
        "    params: {tpye: rougeL}\n"
    )
    (project.root / "tasks" / "other.yaml").write_text(
        "name: other\ngolden_set: golden_sets/missing.jsonl\nuser_template: x\nscorers: [{scorer: json_valid}]\n"
    )
    result = run_cli("tasks", "validate")
    assert result.exit_code == 2
    err = result.stderr
    assert "tasks/qa.yaml:5: scorers[0].scorer: unknown scorer 'exact_macth'; did you mean 'exact_match'" in err
    assert "tasks/qa.yaml:7: scorers[1].params.tpye: unknown key; did you mean 'type'?" in err
    assert "tasks/qa.yaml:3: user_template: field 'questoin' is not in any record of golden_sets/qa.jsonl; did you mean 'question'?" in err
    assert "tasks/other.yaml: golden_set: golden_sets/missing.jsonl does not exist" in err


def test_tasks_validate_passes_on_the_shipped_tasks(run_cli, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[1])
    result = run_cli("tasks", "validate")
    assert result.exit_code == 0, result.output
    assert "ok  ticket_triage: 300 items" in result.stderr


def test_decoding_matches_transformers_generate_and_stops_only_on_generated_text(eval_project, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from evalgate.generate import Request
    from evalgate.generate.hf import HFBackend
    from evalgate.loading import Placement
    from evalgate.models import load_tokenizer, resolve_base

    ref = resolve_base(str(tiny_model_dir))
    tok = load_tokenizer(ref)
    prompts = [f"<|user|>\nsay {w}<|end|>\n<|assistant|>\n" for w in WORDS[:6]]
    backend = HFBackend(
        ref, tok, adapter_dir=None, quantization="none", placement=Placement("cpu", "float32"),
        token_budget=100_000, max_batch_size=6,
    )
    out: dict[int, object] = {}
    for chunk in backend.generate([Request(str(i), p, 10) for i, p in enumerate(prompts)], adapter=False):
        out.update(chunk)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    for i, p in enumerate(prompts):
        ids = tok(p, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            ref_ids = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
        new = ref_ids[0, ids["input_ids"].shape[1] :].tolist()
        if tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id)]
        assert out[i].text == tok.decode(new, skip_special_tokens=True)
    # The prompt ends with "\n": a "\n\n" stop string must not match across the prompt's end.
    first = out[0].text
    stop = first[2:4] if len(first) >= 4 else None
    if stop:
        stopped = next(iter(backend.generate([Request("s", prompts[0], 10, (stop,))], adapter=False)))[0][1]
        assert stopped.text == first[: first.index(stop)] and stopped.finish_reason == "stop"
    newline = next(iter(backend.generate([Request("n", prompts[0], 10, ("\n\n",))], adapter=False)))[0][1]
    assert not newline.text.startswith("\n") or newline.tokens > 1


def test_shared_prefix_gives_the_same_answers(eval_project, tiny_model_dir, monkeypatch):
    import evalgate.generate.batching as batching
    import evalgate.generate.hf as hf
    from evalgate.generate import Request
    from evalgate.loading import Placement
    from evalgate.models import load_tokenizer, resolve_base

    ref = resolve_base(str(tiny_model_dir))
    tok = load_tokenizer(ref)
    system = "<|system|>\nYou are a careful assistant. Answer in one short line.<|end|>\n"
    prompts = [f"{system}<|user|>\n{' '.join(WORDS[i:i + 1 + i % 4])}<|end|>\n<|assistant|>\n" for i in range(8)]
    requests = [Request(str(i), p, 10, group="t") for i, p in enumerate(prompts)]
    assert len(batching.shared_prefix([tok(p, add_special_tokens=False)["input_ids"] for p in prompts])) >= 16
    answers = {}
    for min_prefix in (16, 10_000):
        monkeypatch.setattr(batching, "MIN_SHARED_PREFIX", min_prefix)
        backend = hf.HFBackend(
            ref, tok, adapter_dir=Path("models/adapter"), quantization="none",
            placement=Placement("cpu", "float32"), token_budget=100_000, max_batch_size=3,
        )
        for adapter in (False, True):
            out: dict[int, object] = {}
            for chunk in backend.generate(requests, adapter=adapter):
                out.update(chunk)
            answers[min_prefix, adapter] = [(out[i].text, out[i].tokens) for i in range(len(prompts))]
    assert answers[16, False] == answers[10_000, False]
    assert answers[16, True] == answers[10_000, True]
    assert answers[16, False] != answers[16, True]


def test_shared_prefix_leaves_every_row_a_token():
    from evalgate.generate.batching import MIN_SHARED_PREFIX, shared_prefix

    row = list(range(40))
    assert shared_prefix([row, row]) == row[:39]
    assert shared_prefix([row, row[:20] + [99] * 20]) == row[:20]
    assert shared_prefix([row, row[: MIN_SHARED_PREFIX - 1] + [99]]) == []


@pytest.mark.parametrize("layers", [None, [1]], ids=["all-layers", "top-layer"])
def test_paired_answers_equal_one_side_at_a_time(eval_project, tiny_model_dir, monkeypatch, layers):
    """run_batch answers base and candidate together, the candidate skipping the layers below
    the adapter; the answers must be those of each side generated on its own."""
    import evalgate.generate.batching as batching
    import evalgate.generate.hf as hf
    from evalgate.generate import Request
    from evalgate.loading import Placement
    from evalgate.models import load_tokenizer, resolve_base
    from evalgate.trunk import decoder_layers

    make_adapter(tiny_model_dir, Path("models/adapter"), str(tiny_model_dir), seed=3, layers=layers)
    ref = resolve_base(str(tiny_model_dir))
    tok = load_tokenizer(ref)
    system = "<|system|>\nYou are a careful assistant. Answer in one short line.<|end|>\n"
    prompts = [f"{system}<|user|>\n{' '.join(WORDS[i:i + 1 + i % 5])}<|end|>\n<|assistant|>\n" for i in range(9)]
    requests = [Request(str(i), p, 10, group="t") for i, p in enumerate(prompts)]
    for min_prefix in (16, 10_000):
        monkeypatch.setattr(batching, "MIN_SHARED_PREFIX", min_prefix)
        backend = hf.HFBackend(
            ref, tok, adapter_dir=Path("models/adapter"), quantization="none",
            placement=Placement("cpu", "float32"), token_budget=100_000, max_batch_size=4,
        )
        alone = {}
        for adapter in (False, True):
            out: dict[int, object] = {}
            for chunk in backend.generate(requests, adapter=adapter):
                out.update(chunk)
            alone[adapter] = [(out[i].text, out[i].tokens, out[i].finish_reason) for i in range(len(prompts))]
        assert backend._floor == (0 if layers is None else 1)
        # Count the prompt passes through the lowest layer: the candidate's are skipped.
        prompt_passes = {"n": 0}
        lowest = decoder_layers(backend._model)[0]

        def count(module, args, kwargs, passes=prompt_passes):
            passes["n"] += int(args[0].shape[1] > 1)

        backend._prefixes.clear()  # the one-sided runs left their prefix passes behind
        plan = backend.plan(requests)
        handle = lowest.register_forward_pre_hook(count, with_kwargs=True)
        paired: dict[int, tuple] = {}
        for batch in plan.batches:
            base, cand = backend.run_batch(plan.ids, batch, base=True, candidate=True)
            paired.update({i: (b, c) for i, b, c in zip(batch.rows, base, cand, strict=True)})
        handle.remove()
        assert sorted(paired) == list(range(len(prompts)))
        assert [(b.text, b.tokens, b.finish_reason) for b, _ in (paired[i] for i in range(9))] == alone[False]
        assert [(c.text, c.tokens, c.finish_reason) for _, c in (paired[i] for i in range(9))] == alone[True]
        assert alone[False] != alone[True]
        assert len(plan.batches) == 3  # 9 prompts in batches of 4
        prefix = plan.batches[0].prefix
        chunks = sum(len(batching.prefill_chunks([len(plan.ids[i]) - len(prefix) for i in b.rows])) for b in plan.batches)
        prefixes = 2 if prefix else 0  # one prefix pass per side
        assert bool(prefix) == (min_prefix == 16)
        assert prompt_passes["n"] == (chunks if layers else 2 * chunks) + prefixes


def test_adapter_floor_is_the_lowest_adapted_layer(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from evalgate.trunk import adapter_floor

    for layers, floor in ((None, 0), ([1], 1), ([0, 1], 0)):
        out = make_adapter(tiny_model_dir, tmp_path / f"a{floor}{layers}", str(tiny_model_dir), layers=layers)
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)), str(out))
        assert adapter_floor(model) == floor, layers


def test_new_adapter_skips_the_shared_layers_with_stored_base_states(eval_project, run_cli, monkeypatch, tiny_model_dir):
    """After a data-only change (new adapter, base answers cached), the candidate reads the
    base's stored prompt states below the adapter instead of recomputing them; its answers are
    those of a run that computes everything."""

    root = eval_project.root
    make_adapter(tiny_model_dir, root / "models" / "adapter", str(tiny_model_dir), layers=[1])
    assert run_cli("evaluate").exit_code == 0
    stored = list((root / ".cache" / "trunk").glob("*/*.safetensors"))
    assert len(stored) == 12  # one per prompt

    make_adapter(tiny_model_dir, root / "models" / "adapter", str(tiny_model_dir), seed=7, layers=[1])
    counter = Counter(monkeypatch)
    assert run_cli("evaluate").exit_code == 0
    from_store = sum(b.batches_from_store for b in counter.backends)
    assert counter.generated == 12 and from_store == 2  # 12 prompts in batches of 8
    with_states = read_jsonl(root / "runs" / "candidate" / "predictions.jsonl")

    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(root / ".cache2"))
    eval_project.params["evaluate"]["trunk_cache_gb"] = 0
    eval_project.write_params()
    assert run_cli("evaluate").exit_code == 0
    computed = read_jsonl(root / "runs" / "candidate" / "predictions.jsonl")
    assert [(r["output"], r["tokens"]) for r in with_states] == [(r["output"], r["tokens"]) for r in computed]
    assert not (root / ".cache2" / "trunk").exists()


def test_trunk_store_evicts_least_recently_used(tmp_path):
    import os

    import torch

    from evalgate.trunk import TrunkStates, TrunkStore

    states = TrunkStates(torch.zeros(100, 16), [torch.zeros(2, 100, 8)], [torch.zeros(2, 100, 8)])
    store = TrunkStore(tmp_path, {"base": "x"}, max_bytes=10**9)
    keys = [store.key([i, 1, 2], 1) for i in range(4)]
    for n, k in enumerate(keys):
        store.put(k, states)
        os.utime(store._path(k), (1000 + n, 1000 + n))
    size = store._path(keys[0]).stat().st_size
    assert store.get(keys[0]) is not None  # read: now the most recently used
    store.max_bytes = 2 * size
    store.evict()
    assert [store.has(k) for k in keys] == [True, False, False, True]
    assert store.key([1, 2], 1) != store.key([1, 2], 2) != TrunkStore(tmp_path, {"base": "y"}, 1).key([1, 2], 1)
    store._path(keys[3]).write_bytes(b"not safetensors")
    assert store.get(keys[3]) is None


def test_prefill_chunks_bound_padding():
    from evalgate.generate.batching import PREFILL_SLACK, prefill_chunks

    lengths = [100, 30, 95, 31, 400, 12, 90, 380, 13]
    chunks = prefill_chunks(lengths)
    assert sorted(i for c in chunks for i in c) == list(range(len(lengths)))
    for c in chunks:
        longest = lengths[c[0]]
        assert all(longest - lengths[i] <= longest // 8 + PREFILL_SLACK for i in c)
    assert chunks == [[4, 7], [0, 2, 6], [3, 1], [8, 5]]
