"""In-process generation with transformers: one load of the base model, the adapter toggled.

Greedy, batched, left-padded. Requests are grouped by generation settings, sorted by prompt
length (longest first, so an out-of-memory shows up on the first batch) and packed into batches
bounded by a token budget: rows x (longest prompt + max_new_tokens) <= token_budget.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalgate.generate.base import Generation, Request, cut_at_stop
from evalgate.loading import Placement
from evalgate.models import BaseModelRef


def plan_batches(lengths: Sequence[int], max_new_tokens: int, token_budget: int, max_batch_size: int) -> list[list[int]]:
    """Indices into `lengths`, longest first, cut into batches that fit the token budget."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = (lengths[current[0]] if current else lengths[i]) + max_new_tokens
        if current and ((len(current) + 1) * width > token_budget or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


MIN_SHARED_PREFIX = 16
"""Tokens a task's prompts must share before their common prefix is computed once."""


def shared_prefix(rows: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix common to all rows, leaving each row at least one token of its
    own (the last prompt token's logits start generation); empty when shorter than MIN_SHARED_PREFIX."""
    if not rows:
        return []
    first = rows[0]
    n = min(len(r) for r in rows) - 1
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return list(first[:n]) if n >= MIN_SHARED_PREFIX else []


class HFBackend:
    name = "hf"

    def __init__(
        self,
        ref: BaseModelRef,
        tokenizer: Any,
        *,
        adapter_dir: Path | None,
        quantization: str,
        placement: Placement,
        token_budget: int,
        max_batch_size: int,
    ):
        self.ref = ref
        self.tokenizer = tokenizer
        self.adapter_dir = adapter_dir
        self.quantization = quantization
        self.placement = placement
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self._model: Any = None
        self.items_generated = 0
        """Answers produced by the model (not the cache): what tests count."""

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "quantization": self.quantization,
            "dtype": self.placement.dtype_name,
            "device_type": self.placement.device.split(":")[0],
        }

    def _load(self) -> Any:
        if self._model is None:
            from evalgate.loading import load_base_model

            model = load_base_model(self.ref, self.quantization, self.placement)
            model.config.use_cache = True
            if self.adapter_dir is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(self.adapter_dir), is_trainable=False)
            model.eval()
            self._model = model
        return self._model

    def close(self) -> None:
        self._model = None

    def _context(self, adapter: bool) -> contextlib.AbstractContextManager[Any]:
        model = self._model
        if adapter:
            if self.adapter_dir is None:
                raise ValueError("candidate answers requested from a backend without an adapter")
            return contextlib.nullcontext()
        return model.disable_adapter() if self.adapter_dir is not None else contextlib.nullcontext()

    def generate(self, requests: Sequence[Request], *, adapter: bool) -> Iterator[list[tuple[int, Generation]]]:
        if not requests:
            return
        import torch

        model = self._load()
        tok = self.tokenizer
        ids = [e.ids for e in tok.backend_tokenizer.encode_batch_fast([r.prompt for r in requests], add_special_tokens=False)]
        groups: dict[tuple[str, int, tuple[str, ...]], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.group, r.max_new_tokens, r.stop), []).append(i)
        eos_ids = _eos_ids(model, tok)
        with self._context(adapter), torch.inference_mode():
            for (_, max_new, stop), members in groups.items():
                prefix = shared_prefix([ids[i] for i in members])
                prefix_cache = self._prefill_prefix(model, prefix) if prefix else None
                suffixes = {i: ids[i][len(prefix) :] for i in members}
                for batch in plan_batches([len(suffixes[i]) for i in members], max_new, self.token_budget, self.max_batch_size):
                    rows = [members[b] for b in batch]
                    start = time.perf_counter()
                    out = self._generate_batch(
                        model, [suffixes[i] for i in rows], max_new, stop, eos_ids, prefix_cache, len(prefix)
                    )
                    per_item = (time.perf_counter() - start) / len(rows)
                    done = [
                        (i, _decode(tok, new_ids, ended, eos_ids, stop, per_item))
                        for i, (new_ids, ended) in zip(rows, out, strict=True)
                    ]
                    self.items_generated += len(rows)
                    yield done

    def _prefill_prefix(self, model: Any, prefix: list[int]) -> Any:
        import torch

        ids = torch.tensor([prefix], dtype=torch.long, device=self.placement.device)
        return model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values

    def _generate_batch(
        self,
        model: Any,
        rows: list[list[int]],
        max_new: int,
        stop: tuple[str, ...],
        eos_ids: set[int],
        prefix_cache: Any = None,
        prefix_len: int = 0,
    ) -> list[tuple[list[int], bool]]:
        """Greedy decoding of one left-padded batch with the KV cache.

        With a shared prefix (its KV computed once per task), each row is
        [prefix][padding][its own suffix]: padding is masked out and positions continue from
        the prefix, so the result is that of the whole prompt, computed for a fraction of it.

        A row leaves the batch as soon as it ends (EOS, a stop string in its *generated* text,
        or max_new tokens), and its cache rows are dropped, so the remaining rows no longer pay
        for it; `generate()` would keep computing finished rows until the longest one ends.
        Returns each row's new tokens (up to and including the one that ended it) and whether
        it ended at EOS or a stop string.
        """
        import torch

        device = self.placement.device
        pad_id = self.tokenizer.pad_token_id
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, r in enumerate(rows):
            input_ids[n, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[n, width - len(r) :] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + prefix_len
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(rows))
            mask = torch.cat([mask.new_ones((len(rows), prefix_len)), mask], dim=1)
        out = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.past_key_values
        next_ids = out.logits[:, -1].argmax(-1)
        last_pos = positions[:, -1]
        active = list(range(len(rows)))
        generated: list[list[int]] = [[] for _ in rows]
        ended = [False] * len(rows)
        decode = self.tokenizer.decode
        for step in range(max_new):
            keep = []
            for j, (r, t) in enumerate(zip(active, next_ids.tolist(), strict=True)):
                generated[r].append(t)
                if t in eos_ids or (stop and any(s in decode(generated[r], skip_special_tokens=True) for s in stop)):
                    ended[r] = True
                elif step + 1 < max_new:
                    keep.append(j)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, last_pos, next_ids = mask[index], last_pos[index], next_ids[index]
                active = [active[j] for j in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            last_pos = last_pos + 1
            out = model(
                input_ids=next_ids[:, None],
                attention_mask=mask,
                position_ids=last_pos[:, None],
                past_key_values=cache,
                use_cache=True,
            )
            next_ids = out.logits[:, -1].argmax(-1)
        return list(zip(generated, ended, strict=True))


def _eos_ids(model: Any, tok: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    return ids


def _decode(tok: Any, new_ids: list[int], ended: bool, eos_ids: set[int], stop: tuple[str, ...], latency: float) -> Generation:
    kept = new_ids[:-1] if new_ids and new_ids[-1] in eos_ids else new_ids
    text, stopped = cut_at_stop(tok.decode(kept, skip_special_tokens=True), stop)
    return Generation(
        text=text, tokens=len(new_ids), latency_s=round(latency, 6), finish_reason="stop" if ended or stopped else "length"
    )
