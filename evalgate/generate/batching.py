"""Batching for in-process generation: which prompts go together, in what order, when finished
rows leave a batch, and left-padding rows into one batch tensor. No model here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


def anchor_cuts(row: Sequence[int], chain: Sequence[Sequence[int]]) -> list[int]:
    """Where `row` leaves each of its anchors (token prefixes it may share with them, shortest
    first): per anchor, the length of the prefix it shares with the row (`shared_prefix`), kept
    when longer than the cut before it. A function of the row and its anchors alone."""
    cuts: list[int] = []
    for anchor in chain:
        n = len(shared_prefix([row, anchor]))
        if n and (not cuts or n > cuts[-1]):
            cuts.append(n)
    return cuts


PREFILL_SLACK = 8
"""Tokens of padding a prompt-pass chunk always tolerates (besides an eighth of its longest row)."""


def prefill_chunks(lengths: Sequence[int]) -> list[list[int]]:
    """Indices into `lengths`, longest first, grouped into chunks of similar length: each chunk
    pads its rows to its longest, so a row is at most an eighth (+ PREFILL_SLACK tokens)
    shorter than its chunk's longest. Batches mix lengths (they are cut by a token budget),
    and a single padded prompt pass over one spent ~half its compute on padding."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    chunks: list[list[int]] = []
    for i in order:
        if chunks and lengths[chunks[-1][0]] - lengths[i] <= lengths[chunks[-1][0]] // 8 + PREFILL_SLACK:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def worth_compacting(dead: int, rows: int, steps_left: int) -> bool:
    """Whether to drop finished rows from the batch now. Dropping copies the whole KV cache of the
    rows that stay (measured: about 0.7 of one row's decoding step per row copied); keeping a
    finished row costs one row-step per step left. So rows leave in groups, when what they would
    still cost exceeds the copy, not one copy per finished row (which was a fifth of evaluation)."""
    return dead * steps_left >= rows


def left_pad(tensors: list[Any], width: int, dim: int) -> Any:
    """Stack along a new batch dimension, each left-padded with zeros to `width` along `dim`
    (padding is masked out by the attention mask)."""
    first = tensors[0]
    shape = list(first.shape)
    shape[dim] = width
    out = first.new_zeros([len(tensors), *shape])
    for n, t in enumerate(tensors):
        out[n].narrow(dim, width - t.shape[dim], t.shape[dim]).copy_(t)
    return out
