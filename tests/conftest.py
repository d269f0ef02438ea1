"""Shared fixtures: everything offline, built from configs, no hub access."""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["EVALGATE_NO_PROGRESS"] = "1"

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE tokenizer with no merges: one token per UTF-8 byte, plus chat specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<|pad|>",
        eos_token="<|end|>",
        additional_special_tokens=SPECIAL_TOKENS[2:],
    )
    tok.chat_template = CHAT_TEMPLATE
    out = tmp_path_factory.mktemp("tiny-tokenizer")
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama (2 layers, hidden 64) with the tiny tokenizer: a local HF directory.

    Initialised with a range of 0.2: with the config's default 0.02 the residual stream is the
    last token's embedding and the model answers every prompt with the same 12 newlines, so an
    equality test on its answers could not tell prompts apart (test_evaluate asserts they differ)."""
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    for f in tiny_tokenizer_dir.iterdir():
        shutil.copy(f, out / f.name)
    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(out))
    return out


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["EVALGATE_CACHE_DIR"] = str(tmp_path_factory.mktemp("evalgate-cache"))


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def chat(user: str, answer: str, system: str | None = None, **extra: Any) -> dict[str, Any]:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
    ]
    return {**extra, "messages": messages}


class Project:
    """A throw-away evalgate project directory with params.yaml, a task and its golden set."""

    def __init__(self, root: Path, tokenizer_dir: Path):
        self.root = root
        self.params: dict[str, Any] = {
            "model": {"base": str(tokenizer_dir)},
            "tasks_dir": "tasks",
            "prepare": {"inputs": [{"path": "data/raw/train.jsonl"}], "max_tokens": 4096},
        }
        self.write_params()
        (root / "tasks").mkdir()
        self.task("qa", "Question: {{ question }}", 8, [{"scorer": "exact_match"}, {"scorer": "contains"}])
        write_jsonl(
            root / "golden_sets" / "qa.jsonl",
            [
                {"id": "g1", "question": "Which river flows through the city of Vienna in Austria?", "reference": "The Danube."},
                {"id": "g2", "question": "What is the boiling point of water at sea level in Celsius?", "reference": "100 degrees."},
            ],
        )

    def task(self, name: str, user_template: str, max_new_tokens: int, scorers: list[dict[str, Any]], **extra: Any) -> None:
        """tasks/<name>.yaml over golden_sets/<name>.jsonl."""
        spec = {"name": name, "golden_set": f"golden_sets/{name}.jsonl", "user_template": user_template,
                "generation": {"max_new_tokens": max_new_tokens}, "scorers": scorers, **extra}
        (self.root / "tasks" / f"{name}.yaml").write_text(yaml.safe_dump(spec))

    def write_params(self) -> None:
        (self.root / "params.yaml").write_text(yaml.safe_dump(self.params, sort_keys=False))

    def data(self, rows: list[Any], name: str = "train.jsonl") -> Path:
        return write_jsonl(self.root / "data" / "raw" / name, rows)

    def raw(self, text: str | bytes, name: str = "train.jsonl") -> Path:
        path = self.root / "data" / "raw" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared"

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.prepared / "manifest.json").read_text())

    def prepare_report(self) -> dict[str, Any]:
        """reports/prepare.json: input files, every removal and reject with its file:line."""
        return json.loads((self.root / "reports" / "prepare.json").read_text())

    def split_ids(self, name: str) -> list[str]:
        path = self.prepared / name
        return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.fixture
def project(tmp_path: Path, tiny_tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path, tiny_tokenizer_dir)


@pytest.fixture
def run_cli() -> Callable[..., Any]:
    from typer.testing import CliRunner

    from evalgate.cli import app

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, list(args))

    return run


def sentence(rng: random.Random, words: int) -> str:
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 6))) for _ in range(words))


@pytest.fixture
def trained_project(project, tiny_model_dir, run_cli):
    """A project on the tiny model with prepared data and a fast train section."""
    rng = random.Random(0)
    project.params["model"]["base"] = str(tiny_model_dir)
    project.params["prepare"]["split"] = {"val_fraction": 0.2}
    project.params["train"] = {
        "quantization": "none",
        "max_steps": 4,
        "batch_size": 4,
        "max_length": 128,
        "eval_steps": 2,
        "logging_steps": 1,
        "learning_rate": 0.01,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
    }
    project.write_params()
    project.data([chat(f"Summarise: {sentence(rng, 12)}", sentence(rng, 4), id=f"r{i}") for i in range(40)])
    result = run_cli("prepare")
    assert result.exit_code == 0, result.output
    return project
