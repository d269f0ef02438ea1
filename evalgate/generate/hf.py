"""In-process generation with transformers: one load of the base model, the adapter toggled.

Greedy, batched, left-padded. Requests are grouped by generation settings, sorted by prompt
length (longest first, so an out-of-memory shows up on the first batch) and packed into batches
bounded by a token budget: rows x (longest prompt + max_new_tokens) <= token_budget.

Where base and candidate both need an answer to the same prompt, `generate_pair` answers both in
one pass over a batch: the layers below the lowest one the adapter changes compute the same
states for both models, so the candidate's prompt is run through those layers once (by the base)
and only its upper layers run with the adapter.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.generate.base import Generation, Request, cut_at_stop
from evalgate.generate.batching import left_pad, plan_batches, shared_prefix, worth_compacting
from evalgate.generate.layers import (
    BASE_ADAPTER,
    Prefilled,
    contiguous_lm_head_input,
    place_row_states,
    prefill,
    row_states,
)
from evalgate.generate.layers import eos_ids as find_eos_ids
from evalgate.loading import Placement
from evalgate.models import BaseModelRef
from evalgate.trunk import adapter_floor, capture_input, decoder_layers, warn_unshared

if TYPE_CHECKING:
    from evalgate.generate.kv import SlabCache
    from evalgate.trunk import TrunkStates, TrunkStore


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
        trunk: TrunkStore | None = None,
    ):
        self.ref = ref
        self.tokenizer = tokenizer
        self.adapter_dir = adapter_dir
        self.quantization = quantization
        self.placement = placement
        self.token_budget = token_budget
        self.max_batch_size = max_batch_size
        self.trunk = trunk
        """Where the base's prompt states below the adapter are kept for later candidates."""
        self._model: Any = None
        self._floor = 0
        self._adapter_name = "default"
        self.items_generated = 0
        """Answers produced by the model (not the cache): what tests count."""

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "quantization": self.quantization,
            **self.placement.engine(),
        }

    def _load(self) -> Any:
        if self._model is None:
            from evalgate.loading import load_base_model

            model = load_base_model(self.ref, self.quantization, self.placement)
            model.config.use_cache = True
            if self.adapter_dir is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(self.adapter_dir), is_trainable=False)
                self._floor = adapter_floor(model)
                warn_unshared(model, "evaluate")
                self._adapter_name = model.active_adapter
            model.eval()
            contiguous_lm_head_input(model)
            self._model = model
        return self._model

    def close(self) -> None:
        self._model = None

    def _prefix_safe(self) -> bool:
        """Whether a shared prefix's keys and values can be computed once and copied into each
        row: not with sliding-window attention layers (Gemma 3, Mistral), whose cache keeps only
        the last window of positions, so the copied prefix would not be the whole prefix."""
        config = self._load().config.get_text_config(decoder=True)
        layer_types = getattr(config, "layer_types", None) or []
        return not getattr(config, "sliding_window", None) and "sliding_attention" not in layer_types

    def _context(self, adapter: bool) -> contextlib.AbstractContextManager[Any]:
        model = self._model
        if adapter:
            if self.adapter_dir is None:
                raise ValueError("candidate answers requested from a backend without an adapter")
            return contextlib.nullcontext()
        return model.disable_adapter() if self.adapter_dir is not None else contextlib.nullcontext()

    def _tokenize(self, requests: Sequence[Request]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.backend_tokenizer.encode_batch_fast([r.prompt for r in requests], add_special_tokens=False)]

    def _plan(
        self, requests: Sequence[Request], ids: list[list[int]], use_prefix: bool = True
    ) -> list[tuple[int, tuple[str, ...], list[int], list[list[int]]]]:
        """Per group of requests with equal settings: (max_new, stop, shared prefix, batches of
        indices into requests)."""
        groups: dict[tuple[str, int, tuple[str, ...]], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.group, r.max_new_tokens, r.stop), []).append(i)
        plan = []
        for (_, max_new, stop), members in groups.items():
            prefix = shared_prefix([ids[i] for i in members]) if use_prefix and self._prefix_safe() else []
            lengths = [len(ids[i]) - len(prefix) for i in members]
            batches = plan_batches(lengths, max_new, self.token_budget, self.max_batch_size)
            plan.append((max_new, stop, prefix, [[members[b] for b in batch] for batch in batches]))
        return plan

    def generate(self, requests: Sequence[Request], *, adapter: bool) -> Iterator[list[tuple[int, Generation]]]:
        if not requests:
            return
        import torch

        model = self._load()
        eos_ids = find_eos_ids(model, self.tokenizer)
        layers = decoder_layers(model)
        floor = self._floor if layers is not None and self.trunk is not None else 0
        with self._context(adapter), torch.inference_mode():
            ids = self._tokenize(requests)
            if adapter and floor and all(self.trunk.has(self.trunk.key(r, floor)) for r in ids):  # type: ignore[union-attr]
                for max_new, stop, _, batches in self._plan(requests, ids, use_prefix=False):
                    for rows in batches:
                        start = time.perf_counter()
                        out = self._generate_from_trunk(model, floor, [ids[i] for i in rows], max_new, stop, eos_ids)
                        if out is None:  # a state file went missing or unreadable: compute it all
                            out = self._generate_batch(model, [ids[i] for i in rows], max_new, stop, eos_ids)
                        yield self._finish(rows, out, eos_ids, stop, start)
                return
            save = floor if not adapter else 0
            for max_new, stop, prefix, batches in self._plan(requests, ids):
                prefix_cache, prefix_hidden = self._prefill_prefix(model, prefix, layers, save) if prefix else (None, None)
                for rows in batches:
                    start = time.perf_counter()
                    suffixes = [ids[i][len(prefix) :] for i in rows]
                    capacity = len(prefix) + max(len(r) for r in suffixes) + max_new
                    state = self._prefill(suffixes, prefix_cache, len(prefix), capacity, capture=save)
                    if save:
                        self._save_trunk([ids[i] for i in rows], len(prefix), state.cache, state.hidden, prefix_hidden, save)
                    out = self._decode(model, state, max_new, stop, eos_ids)
                    yield self._finish(rows, out, eos_ids, stop, start)

    def next_token_probs(
        self,
        prompts: Sequence[str],
        tokens: Sequence[str],
        *,
        adapter: bool = False,
        suffixes: Sequence[str] | None = None,
    ) -> list[Any]:
        """After each prompt (ending in a forced reply prefix), the probability of each of
        `tokens` as the next token: the softmax over the whole vocabulary at the last position.
        Each of `tokens` must be one token of this tokenizer.

        With `suffixes`, each prompt is encoded once and each suffix (a forced reply prefix such
        as `{"accuracy": {"score": `) is appended to it in turn: the prompt's keys and values are
        kept and only the suffix's tokens run, so N criteria cost one prompt pass, not N. The
        prompts' common prefix (a rubric's instructions) runs once for all of them. Returns,
        per prompt, a list with one {token: probability} per suffix."""
        if not prompts:
            return []
        import torch

        ids_of = {}
        for t in tokens:
            enc = self.tokenizer(t, add_special_tokens=False)["input_ids"]
            if len(enc) != 1:
                raise ValueError(f"{t!r} is {len(enc)} tokens for this tokenizer; next-token probabilities need single tokens")
            ids_of[t] = enc[0]
        model = self._load()
        encode = self.tokenizer.backend_tokenizer.encode_batch_fast
        rows = [e.ids for e in encode(list(prompts), add_special_tokens=False)]
        tails = [e.ids for e in encode(list(suffixes), add_special_tokens=False)] if suffixes is not None else [[]]
        if any(not t for t in tails) and suffixes is not None:
            raise ValueError("an empty suffix: each suffix must hold at least one token")
        longest = max(len(t) for t in tails)
        prefix = shared_prefix(rows) if suffixes is not None and len(rows) > 1 and self._prefix_safe() else []
        if len(prefix) >= min(len(r) for r in rows):
            prefix = prefix[: min(len(r) for r in rows) - 1]
        out: list[Any] = [None] * len(rows)
        with self._context(adapter), torch.inference_mode():
            prefix_cache = self._prefill_prefix(model, prefix)[0] if prefix else None
            own = [r[len(prefix) :] for r in rows]
            for batch in plan_batches([len(r) for r in own], longest, self.token_budget, self.max_batch_size):
                width = max(len(own[i]) for i in batch)
                state = self._prefill([own[i] for i in batch], prefix_cache, len(prefix), len(prefix) + width + longest, keep_logits=suffixes is None)
                if suffixes is None:
                    probs = torch.softmax(state.logits.float(), dim=-1)
                    for j, i in enumerate(batch):
                        out[i] = {t: float(probs[j, tid]) for t, tid in ids_of.items()}
                    continue
                self._suffix_probs(model, state, batch, len(prefix) + width, tails, ids_of, out)
        return out

    def _suffix_probs(self, model: Any, state: Prefilled, batch: list[int], filled: int, tails: list[list[int]], ids_of: dict[str, int], out: list[Any]) -> None:
        """Each suffix after each prompt of a prefilled batch, the prompt's cache kept: the
        suffix's tokens run, its last position's probabilities are read, the cache is rewound.
        (One pass for all suffixes under a block-causal 4D mask measured no faster on a CPU,
        took 3x the memory and would ignore a sliding attention window.)"""
        import torch

        device = self.placement.device
        n = len(batch)
        layers = range(len(state.cache.layers))
        for i in batch:
            out[i] = []
        for tail in tails:
            ids = torch.tensor([tail], dtype=torch.long, device=device).expand(n, len(tail))
            mask = torch.cat([state.mask, state.mask.new_ones((n, len(tail)))], dim=1)
            positions = state.last_pos[:, None] + 1 + torch.arange(len(tail), device=device)[None, :]
            res = model(
                input_ids=ids, attention_mask=mask, position_ids=positions,
                past_key_values=state.cache, use_cache=True, logits_to_keep=1,
            )  # fmt: skip
            probs = torch.softmax(res.logits[:, -1].float(), dim=-1)
            for j, i in enumerate(batch):
                out[i].append({t: float(probs[j, tid]) for t, tid in ids_of.items()})
            state.cache.set_length(filled, layers)  # back to the prompt alone

    def _finish(
        self, rows: list[int], out: list[tuple[list[int], bool]], eos_ids: set[int], stop: tuple[str, ...], start: float
    ) -> list[tuple[int, Generation]]:
        per_item = (time.perf_counter() - start) / len(rows)
        self.items_generated += len(rows)
        return [(i, _decode(self.tokenizer, new, ended, eos_ids, stop, per_item)) for i, (new, ended) in zip(rows, out, strict=True)]

    def generate_pair(self, requests: Sequence[Request]) -> Iterator[list[tuple[int, Generation, Generation]]]:
        """Base and candidate answers to the same requests, batch by batch: (index, base, candidate).

        The base's prompt pass captures the hidden states entering the adapter's lowest layer;
        the candidate's prompt pass replays them and runs only the layers from there up, and its
        cache takes the base's keys and values below that layer (they are the same numbers).
        Both sides then decode in one mixed-adapter batch. A batch holds both sides' caches, so
        it needs twice the memory of a one-sided batch of the same size."""
        if not requests:
            return
        if self.adapter_dir is None:
            raise ValueError("candidate answers requested from a backend without an adapter")
        import torch

        model = self._load()
        eos_ids = find_eos_ids(model, self.tokenizer)
        layers = decoder_layers(model)
        floor = self._floor if layers is not None else 0
        save = floor if self.trunk is not None else 0
        with torch.inference_mode():
            ids = self._tokenize(requests)
            for max_new, stop, prefix, batches in self._plan(requests, ids):
                prefix_caches: dict[bool, Any] = {False: None, True: None}
                prefix_hidden = None
                if prefix:
                    with self._context(False):
                        prefix_caches[False], prefix_hidden = self._prefill_prefix(model, prefix, layers, save)
                    with self._context(True):
                        prefix_caches[True], _ = self._prefill_prefix(model, prefix)
                for rows in batches:
                    start = time.perf_counter()
                    suffixes = [ids[i][len(prefix) :] for i in rows]
                    capacity = len(prefix) + max(len(s) for s in suffixes) + max_new
                    with self._context(False):
                        base = self._prefill(suffixes, prefix_caches[False], len(prefix), capacity, capture=floor)
                    if save:
                        self._save_trunk([ids[i] for i in rows], len(prefix), base.cache, base.hidden, prefix_hidden, save)
                    with self._context(True):
                        replay = (floor, base.hidden) if floor else None
                        cand = self._prefill(suffixes, prefix_caches[True], len(prefix), capacity, replay=replay)
                    if floor:
                        cand.cache.copy_layers_from(base.cache, range(floor))
                    # One decoding stream for both sides: the candidate's rows through the adapter,
                    # the base's rows around it (PEFT's mixed-adapter batches), so each step reads
                    # the weights once for both.
                    both = Prefilled(
                        base.cache.concat(cand.cache),
                        torch.cat([base.mask, cand.mask]),
                        torch.cat([base.last_pos, cand.last_pos]),
                        torch.cat([base.next_ids, cand.next_ids]),
                    )
                    del base, cand
                    names = [BASE_ADAPTER] * len(rows) + [self._adapter_name] * len(rows)
                    with self._context(True):
                        out = self._decode(model, both, max_new, stop, eos_ids, adapter_names=names)
                    base_out, cand_out = out[: len(rows)], out[len(rows) :]
                    per_item = (time.perf_counter() - start) / (2 * len(rows))
                    self.items_generated += 2 * len(rows)
                    yield [
                        (
                            i,
                            _decode(self.tokenizer, bn, be, eos_ids, stop, per_item),
                            _decode(self.tokenizer, cn, ce, eos_ids, stop, per_item),
                        )
                        for i, (bn, be), (cn, ce) in zip(rows, base_out, cand_out, strict=True)
                    ]

    def _prefill_prefix(self, model: Any, prefix: list[int], layers: Any = None, capture: int = 0) -> tuple[Any, Any]:
        """The shared prefix's cache (batch 1) and, with `capture`, the hidden states entering
        layer `capture`."""
        import torch

        store: dict[str, Any] = {}
        ids = torch.tensor([prefix], dtype=torch.long, device=self.placement.device)
        with capture_input(layers[capture], store) if capture else contextlib.nullcontext():
            cache = model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values
        return cache, store.get("hidden")

    def _save_trunk(self, rows: list[list[int]], prefix_len: int, cache: SlabCache, hidden: Any, prefix_hidden: Any, floor: int) -> None:
        """Keep each row's prompt states below `floor` (unpadded, prefix included) for later candidates."""
        assert self.trunk is not None
        for ids, states in zip(rows, row_states(rows, prefix_len, cache, hidden, prefix_hidden, floor), strict=True):
            self.trunk.put(self.trunk.key(ids, floor), states)

    def _generate_from_trunk(
        self, model: Any, floor: int, rows: list[list[int]], max_new: int, stop: tuple[str, ...], eos_ids: set[int]
    ) -> list[tuple[list[int], bool]] | None:
        """The candidate's answers to prompts whose base states below `floor` are stored: only the
        adapted layers run over the prompts. None when a state file cannot be read."""
        assert self.trunk is not None
        states: list[TrunkStates] = []
        for ids in rows:
            st = self.trunk.get(self.trunk.key(ids, floor))
            if st is None or st.hidden.shape[0] != len(ids) or len(st.keys) != floor:
                return None
            states.append(st)
        width = max(len(r) for r in rows)
        hidden = left_pad([st.hidden for st in states], width, dim=0)
        state = self._prefill(rows, None, 0, width + max_new, replay=(floor, hidden.to(self.placement.device)))
        place_row_states(state.cache, states, width, floor, self.placement.device)
        return self._decode(model, state, max_new, stop, eos_ids)

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
        """Greedy decoding of one left-padded batch; see `_prefill` and `_decode`."""
        capacity = prefix_len + max(len(r) for r in rows) + max_new
        state = self._prefill(rows, prefix_cache, prefix_len, capacity)
        return self._decode(model, state, max_new, stop, eos_ids)

    def _prefill(self, rows: list[list[int]], prefix_cache: Any, prefix_len: int, capacity: int, **kwargs: Any) -> Prefilled:
        """The prompt pass of one batch (`layers.prefill`) on this backend's model and device."""
        return prefill(self._model, self.tokenizer.pad_token_id, self.placement.device, rows, prefix_cache, prefix_len, capacity, **kwargs)

    def _decode(
        self,
        model: Any,
        state: Prefilled,
        max_new: int,
        stop: tuple[str, ...],
        eos_ids: set[int],
        adapter_names: list[str] | None = None,
    ) -> list[tuple[list[int], bool]]:
        """Greedy decoding from a prefilled batch.

        A row leaves the batch as soon as it ends (EOS, a stop string in its *generated* text,
        or max_new tokens), and its cache rows are dropped, so the remaining rows no longer pay
        for it; `generate()` would keep computing finished rows until the longest one ends.
        Returns each row's new tokens (up to and including the one that ended it) and whether
        it ended at EOS or a stop string. `adapter_names` (per row; `__base__` for none) mixes
        base and candidate rows in one batch.
        """
        import torch

        device = self.placement.device
        cache, mask, last_pos, next_ids = state.cache, state.mask, state.last_pos, state.next_ids
        n_rows = len(next_ids)
        active = list(range(n_rows))
        generated: list[list[int]] = [[] for _ in range(n_rows)]
        ended = [False] * n_rows
        finished: set[int] = set()  # rows that ended but still sit in the batch
        decode = self.tokenizer.decode
        for step in range(max_new):
            live = []
            for j, (r, t) in enumerate(zip(active, next_ids.tolist(), strict=True)):
                if r in finished:
                    continue
                generated[r].append(t)
                if t in eos_ids or (stop and any(s in decode(generated[r], skip_special_tokens=True) for s in stop)):
                    ended[r] = True
                    finished.add(r)
                elif step + 1 < max_new:
                    live.append(j)
                else:
                    finished.add(r)
            if not live:
                break
            dead = len(active) - len(live)
            if dead and worth_compacting(dead, len(active), max_new - step - 1):
                index = torch.tensor(live, device=device)
                cache.batch_select_indices(index)
                mask, last_pos, next_ids = mask[index], last_pos[index], next_ids[index]
                active = [active[j] for j in live]
                if adapter_names is not None:
                    adapter_names = [adapter_names[j] for j in live]
            extra = {} if adapter_names is None else {"adapter_names": adapter_names}
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            last_pos = last_pos + 1
            out = model(
                input_ids=next_ids[:, None],
                attention_mask=mask,
                position_ids=last_pos[:, None],
                past_key_values=cache,
                use_cache=True,
                **extra,
            )
            next_ids = out.logits[:, -1].argmax(-1)
        return list(zip(generated, ended, strict=True))


def _decode(tok: Any, new_ids: list[int], ended: bool, eos_ids: set[int], stop: tuple[str, ...], latency: float) -> Generation:
    kept = new_ids[:-1] if new_ids and new_ids[-1] in eos_ids else new_ids
    text, stopped = cut_at_stop(tok.decode(kept, skip_special_tokens=True), stop)
    return Generation(
        text=text, tokens=len(new_ids), latency_s=round(latency, 6), finish_reason="stop" if ended or stopped else "length"
    )


