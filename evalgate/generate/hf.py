"""In-process generation with transformers: one load of the base model, the adapter toggled.

Greedy, batched, left-padded. Requests are grouped by generation settings, sorted by prompt
length (longest first, so an out-of-memory shows up on the first batch) and packed into batches
bounded by a token budget: rows x (longest prompt + max_new_tokens) <= token_budget.
"""

from __future__ import annotations

import contextlib
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
        groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.max_new_tokens, r.stop), []).append(i)
        pad_id = tok.pad_token_id
        eos_ids = _eos_ids(model, tok)
        with self._context(adapter), torch.inference_mode():
            for (max_new, stop), members in groups.items():
                for batch in plan_batches([len(ids[i]) for i in members], max_new, self.token_budget, self.max_batch_size):
                    rows = [members[b] for b in batch]
                    start = time.perf_counter()
                    out = self._generate_batch(model, [ids[i] for i in rows], max_new, stop, pad_id)
                    per_item = (time.perf_counter() - start) / len(rows)
                    done = []
                    for row, i in enumerate(rows):
                        done.append((i, _decode(tok, out[row], eos_ids, pad_id, stop, per_item)))
                    self.items_generated += len(rows)
                    yield done

    def _generate_batch(self, model: Any, rows: list[list[int]], max_new: int, stop: tuple[str, ...], pad_id: int) -> list[list[int]]:
        import torch

        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, r in enumerate(rows):
            input_ids[n, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[n, width - len(r) :] = 1
        device = self.placement.device
        kwargs: dict[str, Any] = {}
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        out = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new,
            do_sample=False,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=pad_id,
            **kwargs,
        )
        return out[:, width:].tolist()


def _eos_ids(model: Any, tok: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    return ids


def _decode(
    tok: Any, new_ids: list[int], eos_ids: set[int], pad_id: int, stop: tuple[str, ...], latency: float
) -> Generation:
    # generate() pads a finished row (EOS or stop string) with pad_id until the batch ends.
    end = next((n for n, t in enumerate(new_ids) if t in eos_ids or t == pad_id), None)
    kept = new_ids if end is None else new_ids[:end]
    text, stopped = cut_at_stop(tok.decode(kept, skip_special_tokens=True), stop)
    if end is None:
        tokens, finish = len(kept), ("stop" if stopped else "length")
    else:
        tokens, finish = (end + 1 if new_ids[end] in eos_ids else end), "stop"
    return Generation(text=text, tokens=tokens, latency_s=round(latency, 6), finish_reason=finish)
