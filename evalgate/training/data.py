"""Turn prepared chat records into token ids and assistant-only labels.

Prompts are rendered by `evalgate.prompts`, the renderer evaluation uses, so what the model
learns to answer is exactly what it will be asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.errors import InputError
from evalgate.prompts import Message, render_chat, render_prompt

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[list[int]] = field(default_factory=list)
    labels: list[list[int]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    truncated: int = 0
    dropped: list[str] = field(default_factory=list)
    """Records left out: no assistant token within max_length, or longer than it under `drop`."""
    too_long: int = 0

    @property
    def tokens(self) -> int:
        return sum(len(x) for x in self.input_ids)

    @property
    def label_tokens(self) -> int:
        return sum(sum(1 for t in lab if t != IGNORE) for lab in self.labels)


def assistant_spans(tokenizer: Any, messages: list[Message]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered chat and the character spans of every assistant turn (with its end-of-turn)."""
    full = render_chat(tokenizer, messages)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        before = render_prompt(tokenizer, messages[:i])
        upto = render_chat(tokenizer, messages[: i + 1])
        if not (full.startswith(before) and full.startswith(upto) and len(upto) > len(before)):
            raise InputError(
                f"model.base: the chat template of {tokenizer.name_or_path} does not render conversations "
                "prefix-stably, so assistant tokens cannot be located for assistant-only loss"
            )
        spans.append((len(before), len(upto)))
    return full, spans


def encode_records(tokenizer: Any, records: list[dict[str, Any]], max_length: int, long_records: str = "truncate") -> Encoded:
    """Token ids and assistant-only labels; a record longer than `max_length` is cut to it
    (`truncate`) or left out (`drop`: its answer would lose its end, EOS included)."""
    out = Encoded()
    for rec in records:
        text, spans = assistant_spans(tokenizer, rec["messages"])
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        labels = [
            tok if any(start <= off[0] < end for start, end in spans) else IGNORE
            for tok, off in zip(ids, offsets, strict=True)
        ]
        if len(ids) > max_length:
            if long_records == "drop":
                out.too_long += 1
                out.dropped.append(rec["id"])
                continue
            out.truncated += 1
            ids, labels = ids[:max_length], labels[:max_length]
        if all(t == IGNORE for t in labels):
            out.dropped.append(rec["id"])
            continue
        out.input_ids.append(ids)
        out.labels.append(labels)
        out.ids.append(rec["id"])
    return out


def read_prepared(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path}: prepared data not found; run `evalgate prepare` (or `dvc repro prepare`) first")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("messages"), list) or "id" not in row:
                    raise ValueError("not a canonical record")
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: not a prepared record ({exc}); re-run `evalgate prepare`") from None
            rows.append(row)
    return rows


def subset(enc: Encoded, limit: int | None) -> Encoded:
    """A deterministic subset of `limit` records that mixes every input file: the records whose
    id hashes lowest, kept in their order. Stable as data grows: a new record enters only by
    displacing one with a higher hash."""
    import hashlib

    if limit is None or limit >= len(enc.ids):
        return enc
    ranked = sorted(range(len(enc.ids)), key=lambda i: hashlib.sha256(str(enc.ids[i]).encode()).digest())
    keep = sorted(ranked[:limit])
    return Encoded(
        [enc.input_ids[i] for i in keep],
        [enc.labels[i] for i in keep],
        [enc.ids[i] for i in keep],
        truncated=enc.truncated,
        dropped=enc.dropped,
        too_long=enc.too_long,
    )
