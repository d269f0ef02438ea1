"""In-process generation with transformers: one load of the base model, the adapter toggled.

Greedy, batched, left-padded. `plan` cuts requests into batches as a function of the set of
requests alone: grouped by generation settings, sorted by prompt length then by tokens (never
by their order), packed under a token budget: rows x (longest prompt + max_new_tokens) <=
token_budget. On a CPU a row's numbers depend on the batch it is computed in (float32 matrix
products round differently for another row count, padded attention for another padding), so
an answer is a function of its batch, and each batch carries a `context` hash that the evaluate
stage puts into the answer's cache key: a warm cache then returns exactly what a cold run
computes, and an answer computed in another batch is never reused for this one.

Base and candidate answer the same batches. The layers below the lowest one the adapter
changes compute the same states for both models, so the candidate's prompt pass starts from
the base's states entering that layer (from the base's pass of the same batch, or stored by
it) and runs only its upper layers. Each side decodes on its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.artifacts import sha256_json
from evalgate.generate.base import Generation, Request, cut_at_stop
from evalgate.generate.batching import (
    anchor_cuts,
    left_pad,
    plan_batches,
    shared_prefix,
    worth_compacting,
)
from evalgate.generate.layers import (
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
    from evalgate.trunk import TrunkStates, TrunkStore


@dataclass(frozen=True)
class Batch:
    """One batch of a plan."""

    rows: tuple[int, ...]
    """Indices into the planned requests, in batch order."""
    prefix: tuple[int, ...]
    """The token ids the group's prompts share (computed once, copied into each row)."""
    max_new: int
    stop: tuple[str, ...]
    context: str
    """sha256 of what decides the batch's numbers besides the model and engine: every row's
    token ids in order, the shared prefix, max_new_tokens and the stop strings."""


@dataclass(frozen=True)
class Plan:
    ids: list[list[int]]
    """Per request: its prompt's token ids."""
    batches: list[Batch]
    same: list[int]
    """Per request: the request whose answer it takes (itself, or an earlier identical one)."""


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
        self._prefixes: dict[bool, tuple[Any, tuple[Any, Any]]] = {}
        """Per side, the last shared prefix's cache (and captured states), reused across batches."""
        self._anchored: dict[tuple[bool, tuple[int, ...]], Any] = {}
        """Prefix caches of `next_token_probs(..., anchors=...)`, per side and shared prefix."""
        self.batches_from_store = 0
        """Candidate batches that took the base's states from the store: what tests count."""
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

    def plan(self, requests: Sequence[Request]) -> Plan:
        """The batches these requests are answered in, as a function of the set of requests
        alone (never of their order or of which answers are cached). See `Batch`."""
        ids = self._tokenize(requests)
        first: dict[tuple[Any, ...], int] = {}
        same = [first.setdefault((r.group, r.max_new_tokens, r.stop, tuple(ids[i])), i) for i, r in enumerate(requests)]
        groups: dict[tuple[str, int, tuple[str, ...]], list[int]] = {}
        for i in sorted(set(same)):
            r = requests[i]
            groups.setdefault((r.group, r.max_new_tokens, r.stop), []).append(i)
        safe = self._prefix_safe()
        batches = []
        for settings in sorted(groups):
            _, max_new, stop = settings
            members = sorted(groups[settings], key=lambda i: (-len(ids[i]), ids[i]))
            prefix = shared_prefix([ids[i] for i in members]) if safe else []
            lengths = [len(ids[i]) - len(prefix) for i in members]
            for cut in plan_batches(lengths, max_new, self.token_budget, self.max_batch_size):
                rows = tuple(members[j] for j in cut)
                context = sha256_json({"prefix": prefix, "rows": [ids[i] for i in rows], "max_new_tokens": max_new, "stop": list(stop)})
                batches.append(Batch(rows, tuple(prefix), max_new, stop, context))
        return Plan(ids, batches, same)

    def generate(self, requests: Sequence[Request], *, adapter: bool) -> Iterator[list[tuple[int, Generation]]]:
        """One side's answers, batch by batch of `plan(requests)`."""
        if not requests:
            return
        plan = self.plan(requests)
        sharing: dict[int, list[int]] = {}
        for j, i in enumerate(plan.same):
            sharing.setdefault(i, []).append(j)
        for batch in plan.batches:
            base, cand = self.run_batch(plan.ids, batch, base=not adapter, candidate=adapter)
            answers = cand if adapter else base
            assert answers is not None
            yield [(j, g) for i, g in zip(batch.rows, answers, strict=True) for j in sharing[i]]

    def run_batch(
        self, ids: list[list[int]], batch: Batch, *, base: bool, candidate: bool
    ) -> tuple[list[Generation] | None, list[Generation] | None]:
        """The base's and/or the candidate's answers to one planned batch, in `batch.rows` order.

        Each side decodes on its own, so a side's answers are the same whether or not the other
        side is answered in the same call. The candidate's prompt pass starts from the base's
        states below the adapter's lowest layer (`floor`), taken per row: from the base's prompt
        pass of this batch when it runs now, else from the store (keyed by the batch's
        context). Either way the rows' states are cut out and placed back in the same layout,
        so the candidate's numbers are the same from a cold or a warm cache."""
        import torch

        if candidate and self.adapter_dir is None:
            raise ValueError("candidate answers requested from a backend without an adapter")
        model = self._load()
        eos_ids = find_eos_ids(model, self.tokenizer)
        floor = self._floor if self.adapter_dir is not None and decoder_layers(model) is not None else 0
        rows = [ids[i] for i in batch.rows]
        p = len(batch.prefix)
        suffixes = [r[p:] for r in rows]
        width = max(len(s) for s in suffixes)
        capacity = p + width + batch.max_new
        keep = floor if (candidate or self.trunk is not None) else 0
        base_out = cand_out = None
        with torch.inference_mode():
            states = self._stored_states(rows, batch, floor) if candidate and floor and not base else None
            if base or (candidate and floor and states is None):
                start = time.perf_counter()
                with self._context(False):
                    prefix_cache, prefix_hidden = self._prefix(batch.prefix, adapter=False, capture=keep)
                    state = self._prefill(suffixes, prefix_cache, p, capacity, capture=keep)
                if keep:
                    states = row_states(rows, p, state.cache, state.hidden, prefix_hidden, keep)
                    if self.trunk is not None:
                        for r, st in zip(rows, states, strict=True):
                            self.trunk.put(self._state_key(r, batch, keep), st)
                if base:
                    with self._context(False):
                        out = self._decode(model, state, batch.max_new, batch.stop, eos_ids)
                    base_out = self._finish(out, eos_ids, batch.stop, start)
                del state
            if candidate:
                start = time.perf_counter()
                with self._context(True):
                    prefix_cache, _ = self._prefix(batch.prefix, adapter=True)
                    if floor:
                        assert states is not None
                        hidden = left_pad([st.hidden[p:] for st in states], width, dim=0).to(self.placement.device)
                        state = self._prefill(suffixes, prefix_cache, p, capacity, replay=(floor, hidden))
                        place_row_states(state.cache, states, p, width, floor, self.placement.device)
                    else:
                        state = self._prefill(suffixes, prefix_cache, p, capacity)
                    out = self._decode(model, state, batch.max_new, batch.stop, eos_ids)
                cand_out = self._finish(out, eos_ids, batch.stop, start)
        return base_out, cand_out

    def _state_key(self, ids: list[int], batch: Batch, floor: int) -> str:
        assert self.trunk is not None
        return self.trunk.key(ids, floor, context=batch.context)

    def _stored_states(self, rows: list[list[int]], batch: Batch, floor: int) -> list[TrunkStates] | None:
        """Every row's stored states below `floor` from this batch's base pass, or None when
        one is missing or unreadable (the caller then runs the base's prompt pass)."""
        if self.trunk is None:
            return None
        states = []
        for ids in rows:
            key = self._state_key(ids, batch, floor)
            st = self.trunk.get(key) if self.trunk.has(key) else None
            if st is None or st.hidden.shape[0] != len(ids) or len(st.keys) != floor:
                return None
            states.append(st)
        self.batches_from_store += 1
        return states

    def _prefix(self, prefix: tuple[int, ...], *, adapter: bool, capture: int = 0) -> tuple[Any, Any]:
        """The shared prefix's cache (batch 1) for one side, and the base's hidden states
        entering layer `capture`: computed once per prefix and side, then reused."""
        if not prefix:
            return None, None
        key = (prefix, capture)
        held = self._prefixes.get(adapter)
        if held is None or held[0] != key:
            held = self._prefixes[adapter] = (key, self._prefill_prefix(self._model, list(prefix), decoder_layers(self._model), capture))
        return held[1]

    def _finish(self, out: list[tuple[list[int], bool]], eos_ids: set[int], stop: tuple[str, ...], start: float) -> list[Generation]:
        per_item = (time.perf_counter() - start) / len(out)
        self.items_generated += len(out)
        return [_decode(self.tokenizer, new, ended, eos_ids, stop, per_item) for new, ended in out]

    def next_token_probs(
        self,
        prompts: Sequence[str],
        tokens: Sequence[str],
        *,
        adapter: bool = False,
        suffixes: Sequence[str] | None = None,
        anchors: Sequence[str | Sequence[str]] | None = None,
    ) -> list[Any]:
        """After each prompt (ending in a forced reply prefix), the probability of each of
        `tokens` as the next token: the softmax over the whole vocabulary at the last position.
        Each of `tokens` must be one token of this tokenizer.

        With `suffixes`, each prompt is encoded once and each suffix (a forced reply prefix such
        as `{"accuracy": {"score": `) is appended to it in turn: the prompt's keys and values are
        kept and only the suffix's tokens run, so N criteria cost one prompt pass, not N. The
        prompts' common prefix (a rubric's instructions) runs once for all of them. Returns,
        per prompt, a list with one {token: probability} per suffix.

        With `anchors` (per prompt, one text or a chain of texts, shortest first, e.g. its
        rubric's instructions rendered alone, then those with the item's input), each prompt
        runs on its own, batch 1 and unpadded, after the tokens it shares with its anchors: the
        first anchor's tokens run once per distinct anchor, each further anchor's extra tokens
        once per distinct chain, on the cache of the one before. Its probabilities are then a
        function of the prompt and its anchors alone, never of which prompts were asked with it
        or in which order, so a cached grade equals the one a cold run computes."""
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
        if anchors is not None:
            chains = [[a] if isinstance(a, str) else list(a) for a in anchors]
            flat = [e.ids for e in encode([a for c in chains for a in c], add_special_tokens=False)]
            encoded, at = [], 0
            for c in chains:
                encoded.append(flat[at : at + len(c)])
                at += len(c)
            return self._probs_alone(rows, encoded, tails if suffixes is not None else None, ids_of, adapter)
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

    def _probs_alone(self, rows: list[list[int]], anchors: list[list[list[int]]], tails: list[list[int]] | None, ids_of: dict[str, int], adapter: bool) -> list[Any]:
        """`next_token_probs` with anchors: each row alone after the tokens it shares with its
        chain of anchors."""
        import torch

        model = self._model
        safe = self._prefix_safe()
        longest = max(len(t) for t in tails) if tails else 0
        out: list[Any] = [None] * len(rows)
        cuts = [anchor_cuts(row, chain) if safe else [] for row, chain in zip(rows, anchors, strict=True)]
        # Rows sharing anchors run one after the other, so each anchor's cache is computed once;
        # the order changes no result (every cache is a function of its own tokens).
        order = sorted(range(len(rows)), key=lambda i: [rows[i][:c] for c in cuts[i]])
        with self._context(adapter), torch.inference_mode():
            for i in order:
                row = rows[i]
                prefix_len = cuts[i][-1] if cuts[i] else 0
                prefix_cache = self._anchor_cache(model, row, cuts[i], adapter)
                own = row[prefix_len:]
                filled = prefix_len + len(own)
                # The first suffix runs in the prompt's own pass; the others after it, rewound.
                first = tails[0] if tails else []
                state = self._prefill([own + first], prefix_cache, prefix_len, filled + longest, keep_logits=True)
                probs = torch.softmax(state.logits.float(), dim=-1)
                read = {t: float(probs[0, tid]) for t, tid in ids_of.items()}
                if tails is None:
                    out[i] = read
                    continue
                out[i] = [read]
                if len(tails) > 1:
                    state.cache.set_length(filled, range(len(state.cache.layers)))
                    state.mask, state.last_pos = state.mask[:, :filled], state.last_pos - len(first)
                    more: list[Any] = [None] * len(rows)
                    self._suffix_probs(model, state, [i], filled, tails[1:], ids_of, more)
                    out[i] += more[i]
        return out

    def _anchor_cache(self, model: Any, row: list[int], cuts: list[int], adapter: bool) -> Any:
        """The keys and values of `row[:cuts[-1]]`, built anchor by anchor: the first cut's
        tokens in one pass, each further cut's extra tokens on a copy of the cache before it.
        Each level is kept (a few at a time) for the rows that share it."""
        import copy

        import torch

        cache = None
        for level, cut in enumerate(cuts):
            memo = (adapter, tuple(row[:cut]))
            if memo not in self._anchored:
                if len(self._anchored) >= 16:
                    self._anchored.clear()
                if level == 0:
                    self._anchored[memo] = self._prefill_prefix(model, row[:cut])[0]
                else:
                    before = cuts[level - 1]
                    grown = copy.deepcopy(cache)
                    device = self.placement.device
                    ids = torch.tensor([row[before:cut]], dtype=torch.long, device=device)
                    positions = torch.arange(before, cut, device=device)[None, :]
                    model(input_ids=ids, position_ids=positions, past_key_values=grown, use_cache=True, logits_to_keep=1)
                    self._anchored[memo] = grown
            cache = self._anchored[memo]
        return cache

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

    def _prefill_prefix(self, model: Any, prefix: list[int], layers: Any = None, capture: int = 0) -> tuple[Any, Any]:
        """The shared prefix's cache (batch 1) and, with `capture`, the hidden states entering
        layer `capture`."""
        import torch

        store: dict[str, Any] = {}
        ids = torch.tensor([prefix], dtype=torch.long, device=self.placement.device)
        with capture_input(layers[capture], store) if capture else contextlib.nullcontext():
            cache = model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values
        return cache, store.get("hidden")

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
    ) -> list[tuple[list[int], bool]]:
        """Greedy decoding from a prefilled batch.

        A row leaves the batch as soon as it ends (EOS, a stop string in its *generated* text,
        or max_new tokens), and its cache rows are dropped, so the remaining rows no longer pay
        for it; `generate()` would keep computing finished rows until the longest one ends.
        Returns each row's new tokens (up to and including the one that ended it) and whether
        it ended at EOS or a stop string.
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


def _decode(tok: Any, new_ids: list[int], ended: bool, eos_ids: set[int], stop: tuple[str, ...], latency: float) -> Generation:
    kept = new_ids[:-1] if new_ids and new_ids[-1] in eos_ids else new_ids
    text, stopped = cut_at_stop(tok.decode(kept, skip_special_tokens=True), stop)
    return Generation(
        text=text, tokens=len(new_ids), latency_s=round(latency, 6), finish_reason="stop" if ended or stopped else "length"
    )


