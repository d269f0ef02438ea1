"""The forgetting stage on a tiny random model: lm-eval tasks over local files, per-document
pairing, the content-addressed reuse of base results, the gate blocking an adapter that forgets."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_jsonl
from tests.test_evaluate import make_adapter

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "sigma"]

MC_TASK = {
    "task": "toy_mc",
    "dataset_path": "json",
    "dataset_kwargs": {"data_files": {"validation": "data/forgetting/toy_mc.jsonl"}},
    "validation_split": "validation",
    "output_type": "multiple_choice",
    "doc_to_text": "Question: {{question}}\nAnswer:",
    "doc_to_target": "gold",
    "doc_to_choice": "choices",
    "metric_list": [
        {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
        {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
    ],
    "metadata": {"version": 1.0},
}
TEXT_TASK = {
    "task": "toy_text",
    "dataset_path": "json",
    "dataset_kwargs": {"data_files": {"validation": "data/forgetting/toy_text.jsonl"}},
    "validation_split": "validation",
    "output_type": "loglikelihood_rolling",
    "doc_to_text": "",
    "doc_to_target": "{{text}}",
    "metric_list": [
        {"metric": "word_perplexity", "aggregation": "weighted_perplexity", "higher_is_better": False},
        {"metric": "bits_per_byte", "aggregation": "bits_per_byte", "higher_is_better": False},
    ],
    "metadata": {"version": 1.0},
}


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


@pytest.fixture
def fg_project(project, tiny_model_dir, monkeypatch):
    """A project with two lm-eval tasks over local JSONL files and an adapter that changes nothing
    (LoRA B = 0: the candidate is the base)."""
    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(project.root / ".cache"))
    rng = random.Random(0)
    project.params["model"]["base"] = str(tiny_model_dir)
    project.params["forgetting"] = {"batch_size": 8}
    project.write_params()
    # What the base "knows": text it writes itself. Each gold answer and each text is the base's
    # own most likely letter (or space) at every step, so a model that moves away from the base
    # finds them less likely; the other choices are random words.
    writer = _BaseWriter(tiny_model_dir)
    docs = []
    for _ in range(24):
        question, gold = _sentence(rng, 4), rng.randrange(3)
        choices = [_sentence(rng, 2) for _ in range(3)]
        choices[gold] = writer.write(MC_TASK["doc_to_text"].replace("{{question}}", question) + " ", 10)
        docs.append({"question": question, "choices": choices, "gold": gold})
    write_jsonl(project.root / "data" / "forgetting" / "toy_mc.jsonl", docs)
    texts = [{"text": writer.write(rng.choice(WORDS), 60)} for _ in range(16)]
    write_jsonl(project.root / "data" / "forgetting" / "toy_text.jsonl", texts)
    folder = project.root / "tasks" / "forgetting"
    folder.mkdir(parents=True)
    (folder / "toy_mc.yaml").write_text(yaml.safe_dump(MC_TASK, sort_keys=False))
    (folder / "toy_text.yaml").write_text(yaml.safe_dump(TEXT_TASK, sort_keys=False))
    adapter = make_adapter(tiny_model_dir, project.root / "models" / "adapter", str(tiny_model_dir))
    _scale_lora_b(adapter, 0.0)
    return project


class _BaseWriter:
    """Greedy text from the tiny base model: its most likely lowercase letter at each step, in
    words of five letters (a space after each, so perplexities per word stay finite)."""

    def __init__(self, model_dir: Path):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
        self.letters = torch.tensor([self.tok.convert_tokens_to_ids(c) for c in "abcdefghijklmnopqrstuvwxyz"])
        self.space = self.tok.convert_tokens_to_ids("\u0120")

    def write(self, prompt: str, n: int) -> str:
        import torch

        ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        start = len(ids)
        with torch.inference_mode():
            for i in range(n):
                if i % 6 == 5:
                    ids.append(self.space)
                    continue
                logits = self.model(input_ids=torch.tensor([ids])).logits[0, -1]
                ids.append(int(self.letters[logits[self.letters].argmax()]))
        return self.tok.decode(ids[start:]).strip() or "a"


def _scale_lora_b(adapter: Path, factor: float) -> None:
    from safetensors.torch import load_file, save_file

    path = adapter / "adapter_model.safetensors"
    tensors = load_file(str(path))
    save_file({k: (v * factor if "lora_B" in k else v) for k, v in tensors.items()}, str(path))


def _damage(adapter: Path, tiny_model_dir: Path) -> None:
    """A LoRA with large random B on every attention layer: the tiny model's (nearly uniform)
    next-byte distribution moves away from every text, the way a far too high learning rate
    moves a real model's."""
    import shutil

    shutil.rmtree(adapter)
    make_adapter(tiny_model_dir, adapter, str(tiny_model_dir), seed=3)
    _scale_lora_b(adapter, 30.0)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Calls:
    """Counts lm-eval runs per side (base / candidate) and the documents scored."""

    def __init__(self, monkeypatch):
        import evalgate.stages.forgetting as fg

        self.runs: list[tuple[bool, dict[str, list[int]]]] = []
        original_side, original_eval = fg.side, fg.evaluate
        state = {"adapter": None}

        def side(model, adapter, **kw):
            state["adapter"] = adapter
            return original_side(model, adapter, **kw)

        def evaluate(lm, manager, samples):
            self.runs.append((state["adapter"], samples))
            return original_eval(lm, manager, samples)

        monkeypatch.setattr(fg, "side", side)
        monkeypatch.setattr(fg, "evaluate", evaluate)

    def sides(self) -> list[str]:
        return ["candidate" if a else "base" for a, _ in self.runs]


def test_paired_results_per_document_and_reuse(fg_project, run_cli, monkeypatch, tiny_model_dir):
    calls = Calls(monkeypatch)
    result = run_cli("forgetting")
    assert result.exit_code == 0, result.output
    assert calls.sides() == ["base", "candidate"]
    metrics = json.loads((fg_project.root / "metrics" / "forgetting.json").read_text())
    mc, text = metrics["tasks"]["toy_mc"], metrics["tasks"]["toy_text"]
    assert set(mc) == {"acc", "acc_norm", "gold_ll_per_byte"} and set(text) == {"word_perplexity", "bits_per_byte"}
    # An adapter with B = 0 is the base: identical per-document results, zero change.
    for m in list(mc.values()) + list(text.values()):
        assert m["base"] == pytest.approx(m["candidate"]) and m["delta"] == pytest.approx(0.0)
    assert mc["acc"]["n"] == 24 and mc["acc"]["binary"] and not mc["gold_ll_per_byte"]["binary"]
    assert text["bits_per_byte"]["higher_is_better"] is False
    # Per-document values are lm-eval's: the mean of acc is lm-eval's acc, bits per byte per
    # document is -ll / bytes / ln 2 from the logged log-likelihood.
    assert mc["acc"]["base"] == pytest.approx(mc["acc"]["lm_eval"]["base"])
    scores = _rows(fg_project.root / "runs" / "forgetting_scores.jsonl")
    assert {r["metric"] for r in scores if r["task"] == "toy_text"} == {"word_perplexity", "bits_per_byte"}
    assert len([r for r in scores if r["task"] == "toy_mc" and r["metric"] == "acc"]) == 24
    text_rows = [json.loads(line) for line in (fg_project.root / "data" / "forgetting" / "toy_text.jsonl").read_text().splitlines()]
    wp = {r["id"]: r["base"] for r in scores if r["task"] == "toy_text" and r["metric"] == "word_perplexity"}
    bpb = {r["id"]: r["base"] for r in scores if r["task"] == "toy_text" and r["metric"] == "bits_per_byte"}
    for i, doc in enumerate(text_rows):
        words, nbytes = len(doc["text"].split()), len(doc["text"].encode())
        ll = -math.log(wp[str(i)]) * words  # word perplexity = exp(-ll / words)
        assert bpb[str(i)] == pytest.approx(-ll / nbytes / math.log(2), rel=1e-6)
    items = _rows(fg_project.root / "runs" / "forgetting.jsonl")
    first = next(r for r in items if r["task"] == "toy_mc")
    assert first["target"] and first["base_response"] is not None

    # Nothing changed: nothing scored again.
    assert run_cli("forgetting").exit_code == 0
    assert len(calls.runs) == 2
    # A new adapter (a data commit): only the candidate is scored; the base comes from the cache.
    make_adapter(tiny_model_dir, fg_project.root / "models" / "adapter", str(tiny_model_dir), seed=5)
    assert run_cli("forgetting").exit_code == 0
    assert calls.sides() == ["base", "candidate", "candidate"]


def test_a_data_commits_candidate_starts_from_the_base_states_stored_by_the_cold_run(fg_project, run_cli, monkeypatch, tiny_model_dir, tmp_path):
    """The base's states below the adapter are stored by content: the cold run's candidate and a
    later commit's candidate (base from the cache) run only the adapted layers, and score every
    document as a run that recomputes everything does."""
    import shutil

    adapter = fg_project.root / "models" / "adapter"
    shutil.rmtree(adapter)
    make_adapter(tiny_model_dir, adapter, str(tiny_model_dir), seed=2, layers=[1])
    assert run_cli("forgetting").exit_code == 0
    run = json.loads((fg_project.root / "metrics" / "forgetting.json").read_text())["run"]
    assert run["candidate_batches"]["batches_from_base_states"] > 0 and run["candidate_batches"]["batches_in_full"] == 0

    shutil.rmtree(adapter)
    make_adapter(tiny_model_dir, adapter, str(tiny_model_dir), seed=3, layers=[1])
    assert run_cli("forgetting").exit_code == 0
    run = json.loads((fg_project.root / "metrics" / "forgetting.json").read_text())["run"]
    assert run["computed"] == {"base": [], "candidate": ["toy_mc", "toy_text"]}
    assert run["candidate_batches"]["batches_from_base_states"] > 0 and run["candidate_batches"]["batches_in_full"] == 0
    reused = {(r["task"], r["id"], r["metric"]): r["candidate"] for r in _rows(fg_project.root / "runs" / "forgetting_scores.jsonl")}

    monkeypatch.setenv("EVALGATE_CACHE_DIR", str(tmp_path / "cold"))
    fg_project.params["forgetting"]["trunk_cache_gb"] = 0
    fg_project.write_params()
    Calls(monkeypatch)
    assert run_cli("forgetting").exit_code == 0
    full = {(r["task"], r["id"], r["metric"]): r["candidate"] for r in _rows(fg_project.root / "runs" / "forgetting_scores.jsonl")}
    assert full.keys() == reused.keys()
    for key, value in full.items():
        assert reused[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_scores_equal_lm_evals_own_model_class_and_the_candidate_reuses_the_base_states(fg_project, tiny_model_dir):
    """evalgate's lm-eval model (only the continuation positions through the LM head, the base's
    lower states reused by the candidate) scores every request as lm-eval's HFLM does, for the
    base and for a candidate adapted on the top layer only; the candidate's batches start from
    the states the base's pass kept."""
    import shutil

    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalgate.forgetting.harness import shared_trunk_lm, side

    adapter = fg_project.root / "models" / "adapter"
    shutil.rmtree(adapter)
    make_adapter(tiny_model_dir, adapter, str(tiny_model_dir), seed=2, layers=[1])
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32), str(adapter))
    model.eval()
    rng = random.Random(4)
    requests = []
    for i in range(20):
        ctx = _sentence(rng, rng.randint(2, 9))
        for choice in ([_sentence(rng, rng.randint(1, 4)) for _ in range(3)] if i % 2 else ["alpha", "beta"]):
            requests.append(Instance("loglikelihood", {}, (ctx, " " + choice), i))
    ours = shared_trunk_lm(model, None, tokenizer=tok, batch_size=5, softmax_dtype="float32")
    stock = HFLM(pretrained=model, tokenizer=tok, batch_size=5, softmax_dtype="float32")
    results = {}
    for name, adapter_on in (("base", False), ("candidate", True)):
        with side(model, adapter_on, lm=ours):
            results[("ours", name)] = ours.loglikelihood(requests)
        with side(model, adapter_on):
            results[("stock", name)] = stock.loglikelihood(requests)
    for name in ("base", "candidate"):
        got, want = results[("ours", name)], results[("stock", name)]
        assert [g[1] for g in got] == [w[1] for w in want], name
        assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-4), name
    assert results[("ours", "base")] != results[("ours", "candidate")]  # the adapter changes the scores
    assert ours.trunk.shared > 0 and ours.trunk.full == 0 and not ours.trunk.memory

    # Requests longer than max_length are cut from the left as lm-eval cuts them; rolling
    # log-likelihoods (perplexity tasks) come out the same too.
    short = shared_trunk_lm(model, None, tokenizer=tok, batch_size=4, max_length=40, softmax_dtype="float32")
    stock_short = HFLM(pretrained=model, tokenizer=tok, batch_size=4, max_length=40, softmax_dtype="float32")
    texts = [Instance("loglikelihood_rolling", {}, (_sentence(rng, rng.randint(3, 12)),), i) for i in range(6)]
    with side(model, True, lm=short):
        got, got_rolling = short.loglikelihood(requests), short.loglikelihood_rolling(texts)
    with side(model, True):
        want, want_rolling = stock_short.loglikelihood(requests), stock_short.loglikelihood_rolling(texts)
    assert [g[1] for g in got] == [w[1] for w in want]
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-4)
    assert got_rolling == pytest.approx(want_rolling, abs=1e-4)


def test_gate_blocks_an_adapter_that_forgets_and_passes_one_that_does_not(fg_project, run_cli, tiny_model_dir):
    fg_project.params["gate"] = {
        "resamples": 2000,
        "checks": [
            # The tiny random model is nearly uniform over bytes, so its signals move little: small margins.
            {"target": "forgetting:toy_mc/gold_ll_per_byte", "kind": "max_drop_vs_base", "margin": 0.01},
            {"target": "forgetting:toy_text/bits_per_byte", "kind": "max_drop_vs_base", "margin": 0.01},
            {"target": "forgetting:toy_mc/acc", "kind": "max_drop_vs_base", "margin": 0.05},
        ],
    }
    fg_project.write_params()
    assert run_cli("forgetting").exit_code == 0
    result = run_cli("gate")
    assert result.exit_code == 0, result.output
    gate = json.loads((fg_project.root / "reports" / "gate.json").read_text())
    assert gate["verdict"] == "pass"
    assert {c["verdict"] for c in gate["checks"]} == {"pass"}

    _damage(fg_project.root / "models" / "adapter", tiny_model_dir)
    assert run_cli("forgetting").exit_code == 0
    metrics = json.loads((fg_project.root / "metrics" / "forgetting.json").read_text())
    assert metrics["tasks"]["toy_mc"]["gold_ll_per_byte"]["delta"] < -0.03
    assert metrics["tasks"]["toy_text"]["bits_per_byte"]["delta"] > 0.03
    result = run_cli("gate")
    assert result.exit_code == 1, result.output
    gate = json.loads((fg_project.root / "reports" / "gate.json").read_text())
    failed = {c["target"] for c in gate["checks"] if c["verdict"] == "fail"}
    assert {"forgetting:toy_mc/gold_ll_per_byte", "forgetting:toy_text/bits_per_byte"} <= failed
    assert "forgetting:toy_text/bits_per_byte" in result.output
    assert "the CI's upper bound is not below +0.010 (the allowed drop is 0.01)" in result.output  # lower is better


def test_gate_refuses_forgetting_results_older_than_a_task_file(fg_project, run_cli):
    fg_project.params["gate"] = {"checks": [{"target": "forgetting:toy_mc/acc", "kind": "max_drop_vs_base", "margin": 0.05}]}
    fg_project.write_params()
    assert run_cli("forgetting").exit_code == 0
    path = fg_project.root / "tasks" / "forgetting" / "toy_mc.yaml"
    path.write_text(path.read_text().replace("Answer:", "A:"))
    result = run_cli("gate")
    assert result.exit_code == 2
    assert "tasks/forgetting/toy_mc.yaml: changed since metrics/forgetting.json was computed" in result.output


def test_a_task_from_lm_evals_own_collection_runs_with_only_its_dataset_lines_changed(fg_project, run_cli):
    """lm_eval/tasks/arc/arc_easy.yaml, as installed, with dataset_path/dataset_name/splits pointed
    at a local file in ARC's own format."""
    import lm_eval

    source = Path(lm_eval.__file__).parent / "tasks" / "arc" / "arc_easy.yaml"
    config = yaml.safe_load(source.read_text())
    changed = {
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": "data/forgetting/arc_format.jsonl"}},
        "training_split": None,
        "validation_split": None,
        "test_split": "test",
    }
    kept = {k: v for k, v in config.items() if k not in changed}
    assert kept["doc_to_target"] == "{{choices.label.index(answerKey)}}"  # lm-eval's own lines, untouched
    rng = random.Random(2)
    docs = []
    for i in range(10):
        labels = ["A", "B", "C", "D"]
        docs.append({"id": f"d{i}", "question": _sentence(rng, 5), "choices": {"text": [_sentence(rng, 2) for _ in labels], "label": labels}, "answerKey": rng.choice(labels)})
    write_jsonl(fg_project.root / "data" / "forgetting" / "arc_format.jsonl", docs)
    folder = fg_project.root / "tasks" / "forgetting"
    for f in folder.iterdir():
        f.unlink()
    (folder / "arc_easy.yaml").write_text(yaml.safe_dump({**kept, **changed}, sort_keys=False))
    result = run_cli("forgetting")
    assert result.exit_code == 0, result.output
    metrics = json.loads((fg_project.root / "metrics" / "forgetting.json").read_text())
    assert set(metrics["tasks"]["arc_easy"]) == {"acc", "acc_norm", "gold_ll_per_byte"}
    assert metrics["tasks"]["arc_easy"]["acc"]["n"] == 10


def test_generate_until_and_loglikelihood_tasks_run(fg_project, run_cli):
    rng = random.Random(4)
    write_jsonl(fg_project.root / "data" / "forgetting" / "toy_gen.jsonl", [{"q": _sentence(rng, 3), "a": rng.choice(WORDS)} for _ in range(6)])
    folder = fg_project.root / "tasks" / "forgetting"
    gen = {
        "task": "toy_gen", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": "data/forgetting/toy_gen.jsonl"}},
        "test_split": "test", "output_type": "generate_until", "doc_to_text": "{{q}} ->", "doc_to_target": "{{a}}",
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 4, "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }  # fmt: skip
    ll = {
        "task": "toy_ll", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": "data/forgetting/toy_gen.jsonl"}},
        "test_split": "test", "output_type": "loglikelihood", "doc_to_text": "{{q}} ->", "doc_to_target": " {{a}}",
        "metric_list": [{"metric": "perplexity", "aggregation": "perplexity", "higher_is_better": False}, {"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }  # fmt: skip
    (folder / "toy_gen.yaml").write_text(yaml.safe_dump(gen))
    (folder / "toy_ll.yaml").write_text(yaml.safe_dump(ll))
    fg_project.params["forgetting"]["tasks"] = ["toy_gen", "toy_ll"]
    fg_project.write_params()
    result = run_cli("forgetting")
    assert result.exit_code == 0, result.output
    metrics = json.loads((fg_project.root / "metrics" / "forgetting.json").read_text())
    assert set(metrics["tasks"]["toy_gen"]) == {"exact_match"} and metrics["tasks"]["toy_gen"]["exact_match"]["n"] == 6
    assert set(metrics["tasks"]["toy_ll"]) == {"perplexity", "acc", "gold_ll_per_byte"}


def test_a_task_whose_data_would_come_from_a_hub_is_one_clear_error(fg_project, run_cli):
    hub = {**MC_TASK, "task": "hub_task", "dataset_path": "allenai/ai2_arc", "dataset_name": "ARC-Easy"}
    hub.pop("dataset_kwargs")
    (fg_project.root / "tasks" / "forgetting" / "hub_task.yaml").write_text(yaml.safe_dump(hub))
    result = run_cli("forgetting")
    assert result.exit_code == 2
    assert "tasks/forgetting/hub_task.yaml: task hub_task: dataset_path allenai/ai2_arc would be downloaded from the Hugging Face hub" in result.output
    assert "Traceback" not in result.output
    assert not (fg_project.root / "metrics" / "forgetting.json").exists()


def test_missing_local_data_and_bad_task_files_are_named(fg_project, run_cli):
    folder = fg_project.root / "tasks" / "forgetting"
    (folder / "gone.yaml").write_text(yaml.safe_dump({**MC_TASK, "task": "gone", "dataset_kwargs": {"data_files": {"validation": "data/nope.jsonl"}}}))
    result = run_cli("forgetting")
    assert result.exit_code == 2 and "tasks/forgetting/gone.yaml: dataset_kwargs.data_files: data/nope.jsonl does not exist" in result.output
    (folder / "gone.yaml").write_text("task: [unclosed\n")
    result = run_cli("forgetting")
    assert result.exit_code == 2 and "tasks/forgetting/gone.yaml:" in result.output and "Traceback" not in result.output
    (folder / "gone.yaml").write_text(yaml.safe_dump({**MC_TASK, "task": "toy_mc"}))
    result = run_cli("forgetting")
    assert result.exit_code == 2 and "task: 'toy_mc' is already defined in" in result.output


def test_bundled_benchmarks_are_converted_with_a_manifest(tmp_path):
    from evalgate.errors import InputError
    from evalgate.forgetting.benchmarks import materialise

    folder, manifest = materialise(["arc_easy", "lambada_text"], tmp_path)
    assert manifest["arc_easy"]["rows"] == 570 and manifest["lambada_text"]["rows"] > 5000
    first = json.loads((folder / "arc_easy.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "question", "choices", "answerKey"}
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["files"]["arc_easy"]["sha256"] == manifest["arc_easy"]["sha256"]
    with pytest.raises(InputError, match="no such bundled benchmark; known: arc_challenge, arc_easy"):
        materialise(["arc_hard"], tmp_path)


def test_shipped_forgetting_tasks_name_only_bundled_local_data():
    from evalgate.forgetting.benchmarks import BENCHMARKS
    from evalgate.forgetting.tasks import discover

    root = Path(__file__).resolve().parents[1]
    tasks = discover(root / "tasks" / "forgetting", None, root)
    assert {t.name for t in tasks} == {"arc_easy", "piqa", "hellaswag", "sciq", "lambada_text"}
    for t in tasks:
        assert t.config["dataset_path"] == "json" and t.benchmarks and set(t.benchmarks) <= set(BENCHMARKS)
