"""Layer handling for in-process generation: the prompt pass (with the hidden states entering a
layer captured, or the layers below it skipped and fed stored states), moving per-row states in
and out of a batch's cache, and the model surgery that makes a CPU prompt pass fast."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalgate.generate.batching import prefill_chunks
from evalgate.trunk import capture_input, decoder_layers, skip_lower_layers

if TYPE_CHECKING:
    from evalgate.generate.kv import SlabCache
    from evalgate.trunk import TrunkStates



@dataclass
class Prefilled:
    """A batch after its prompt pass: the cache, the mask and positions, the first new tokens."""

    cache: SlabCache
    mask: Any
    last_pos: Any
    next_ids: Any
    hidden: Any = None
    """With `capture`: the hidden states entering the captured layer, [rows, width, hidden]."""
    logits: Any = None
    """With `keep_logits`: each row's logits at its last prompt position, [rows, vocab]."""


def prefill(
    model: Any,
    pad_id: int,
    device: str,
    rows: list[list[int]],
    prefix_cache: Any,
    prefix_len: int,
    capacity: int,
    *,
    capture: int = 0,
    replay: tuple[int, Any] | None = None,
    keep_logits: bool = False,
) -> Prefilled:
    """The prompt pass of one batch, in chunks of rows of similar length.

    Each row is [prefix][padding][its own suffix] in the batch's cache: padding is masked
    out and positions continue from the shared prefix (its KV computed once per task), so
    the result is that of the whole prompt. The prompts run in chunks of similar length
    (`prefill_chunks`), each padded only to its own longest row, so the pass computes
    little padding; the cache is preallocated for the whole answer (`capacity`
    positions), so decoding writes each step in place.

    `capture=k` keeps the hidden states entering layer k ([rows, width, hidden], zeros at
    padding) in the result; `replay=(k, hidden)` skips the layers below k and feeds
    `hidden` to layer k, leaving those layers' cache for the caller to fill."""
    import torch

    from evalgate.generate.kv import SlabCache

    p, width, n_rows = prefix_len, max(len(r) for r in rows), len(rows)
    n_layers = model.config.get_text_config(decoder=True).num_hidden_layers
    floor = replay[0] if replay else 0
    layers = decoder_layers(model) if capture or replay else None
    cache = SlabCache(n_layers, capacity)
    next_ids = torch.empty(n_rows, dtype=torch.long, device=device)
    hidden = None
    logits = None
    for chunk in prefill_chunks([len(r) for r in rows]):
        lc = max(len(rows[n]) for n in chunk)
        ids = torch.full((len(chunk), lc), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), lc), dtype=torch.long)
        for j, n in enumerate(chunk):
            ids[j, lc - len(rows[n]) :] = torch.tensor(rows[n], dtype=torch.long)
            mask[j, lc - len(rows[n]) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + p
        part = SlabCache(n_layers, p + lc)
        if prefix_cache is not None:
            part.fill_from_prefix(prefix_cache, len(chunk))
            mask = torch.cat([mask.new_ones((len(chunk), p)), mask], dim=1)
        index = torch.tensor(chunk, device=device)
        store: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            if capture:
                stack.enter_context(capture_input(layers[capture], store))
            if replay:
                stack.enter_context(skip_lower_layers(layers, floor, replay[1][index, width - lc :]))
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=part,
                use_cache=True,
                logits_to_keep=1,
            )
        next_ids[index] = out.logits[:, -1].argmax(-1)
        if keep_logits:
            if logits is None:
                logits = out.logits.new_empty((n_rows, out.logits.shape[-1]))
            logits[index] = out.logits[:, -1]
        cache.place(part, index, n_rows, source=slice(p, p + lc), start=p + width - lc, layers=range(floor, n_layers))
        if capture:
            h = store["hidden"]
            if hidden is None:
                hidden = h.new_zeros((n_rows, width, h.shape[-1]))
            hidden[index, width - lc :] = h
    if prefix_cache is not None:
        cache.place_prefix(prefix_cache, layers=range(floor, n_layers))
    cache.set_length(p + width, layers=range(floor, n_layers))
    mask = torch.zeros((n_rows, p + width), dtype=torch.long, device=device)
    mask[:, :p] = 1
    for n, r in enumerate(rows):
        mask[n, p + width - len(r) :] = 1
    last_pos = torch.tensor([p + len(r) - 1 for r in rows], dtype=torch.long, device=device)
    return Prefilled(cache, mask, last_pos, next_ids, hidden, logits)



def row_states(rows: list[list[int]], prefix_len: int, cache: SlabCache, hidden: Any, prefix_hidden: Any, floor: int) -> list[TrunkStates]:
    """Each row's prompt states below `floor` (unpadded, the shared prefix included), from a
    batch's cache and the hidden states captured entering layer `floor`."""
    import torch

    from evalgate.trunk import TrunkStates

    width, p = hidden.shape[1], prefix_len
    out = []
    for n, ids in enumerate(rows):
        own = len(ids) - p
        lo, hi = p + width - own, p + width
        keys = [torch.cat([layer.keys[n, :, :p], layer.keys[n, :, lo:hi]], dim=1) for layer in cache.layers[:floor]]
        values = [torch.cat([layer.values[n, :, :p], layer.values[n, :, lo:hi]], dim=1) for layer in cache.layers[:floor]]
        h = hidden[n, width - own :]
        if prefix_hidden is not None:
            h = torch.cat([prefix_hidden[0], h], dim=0)
        out.append(TrunkStates(h, keys, values))
    return out


def place_row_states(cache: SlabCache, states: list[TrunkStates], prefix_len: int, width: int, floor: int, device: str) -> None:
    """Fill the cache's layers below `floor` with stored per-row states, in the layout the
    batch's prompt pass leaves: the shared prefix's `prefix_len` positions first, then each
    row's own positions right-aligned to `prefix_len + width`, zeros (masked) between."""
    p = prefix_len
    for i in range(floor):
        first_k, first_v = states[0].keys[i], states[0].values[i]
        keys = first_k.new_zeros((len(states), first_k.shape[0], p + width, first_k.shape[2]))
        values = first_v.new_zeros((len(states), first_v.shape[0], p + width, first_v.shape[2]))
        for n, st in enumerate(states):
            own = st.keys[i].shape[1] - p
            keys[n, :, :p], values[n, :, :p] = st.keys[i][:, :p], st.values[i][:, :p]
            keys[n, :, p + width - own :], values[n, :, p + width - own :] = st.keys[i][:, p:], st.values[i][:, p:]
        cache.layers[i].set(keys.to(device), values.to(device))


def contiguous_lm_head_input(model: Any) -> None:
    """Hand the LM head a contiguous input. `logits_to_keep=1` gives it a strided view of the last
    position; with frozen weights (requires_grad False, as PEFT leaves them) PyTorch's matmul
    then cannot fold [rows, 1, hidden] into a matrix product and instead expands the whole
    [vocab, hidden] weight once per row and copies it: 450 MB per prompt-pass call for this
    model, measured as more than half of a prompt pass on a CPU."""
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda module, args: (args[0].contiguous(), *args[1:]))


def eos_ids(model: Any, tok: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    return ids
