"""Training on cached lower-layer states: the frozen layers run once per record, not per step.

When LoRA adapts only the top layers (`train.lora.layers`), every layer below the lowest adapted
one is frozen and sees the same tokens at every epoch, so its output never changes. This module
computes, once, the hidden states entering the lowest adapted layer for every record (one
record at a time, so they depend on its tokens alone; reused from the content-addressed `TrunkStore` when an earlier run
already computed them, e.g. for the records a data commit kept), and the trainer then runs only
the adapted layers and the LM head at each step (`evalgate.training.sft`). The loss, the gradients and the
adapter are those of the full forward pass (a test checks it on a tiny model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from evalgate.training.data import IGNORE, Encoded
from evalgate.trunk import TrunkStates, TrunkStore, states_entering
from evalgate.ui import progress


@dataclass
class LowerStates:
    """Per record: the hidden states entering layer `floor` ([length, hidden], CPU)."""

    floor: int
    hidden: list[Any]
    computed: int
    reused: int
    tokens: int
    seconds: float


def compute_lower_states(
    model: Any, enc: Encoded, floor: int, pad_id: int, device: str, store: TrunkStore | None, label: str
) -> LowerStates:
    """The hidden states entering layer `floor` for every record of `enc`, from the store where
    it has them, computed (and stored) otherwise."""
    import torch

    start = time.perf_counter()
    n = len(enc.input_ids)
    hidden: list[Any] = [None] * n
    keys = [store.key(ids, floor, parts="hidden") for ids in enc.input_ids] if store is not None else []
    if store is not None:
        for i, key in enumerate(keys):
            st = store.get(key) if store.has(key) else None
            if st is not None and st.hidden.shape[0] == len(enc.input_ids[i]):
                hidden[i] = st.hidden
    todo = [i for i in range(n) if hidden[i] is None]
    # One record at a time, unpadded: a record's states are then a function of its own tokens
    # only, never of which records shared its batch (batched matmuls and padded attention round
    # differently), so states reused from the cache equal the ones a cold run computes and a warm
    # run trains the same adapter. On a CPU a record of a few hundred tokens already fills the
    # matmul units; batching bought little.
    was_training = model.training
    model.eval()
    try:
        with progress(f"{label}: frozen layers 0-{floor - 1}, {len(todo)} records", total=len(todo)) as advance, torch.inference_mode():
            for i in todo:
                seq = enc.input_ids[i]
                ids = torch.tensor([seq], dtype=torch.long, device=device)
                mask = torch.ones_like(ids)
                h = states_entering(model, floor, ids, mask)[0].float().cpu().clone()
                hidden[i] = h
                if store is not None:
                    store.put(keys[i], TrunkStates(h))
                advance(1)
    finally:
        model.train(was_training)
    return LowerStates(
        floor,
        hidden,
        computed=len(todo),
        reused=n - len(todo),
        tokens=sum(len(enc.input_ids[i]) for i in todo),
        seconds=time.perf_counter() - start,
    )


class LowerStatesCollator:
    """Pads a batch like TRL's collator and adds, by each record's `row`: the cached lower-layer
    states as `hidden` ([rows, width, hidden], zeros at padding) when there are `states`; and with
    `soft` (row -> the base's top-k next-token ids and probabilities, `train.replay`), `soft_ids`,
    `soft_probs` and `soft_weight` ([rows, width, k] and [rows, width]; weight 0 where a
    position's loss is the plain cross-entropy to its label)."""

    def __init__(
        self,
        pad_id: int,
        states: LowerStates | None,
        dtype: Any,
        soft: dict[int, tuple[Any, Any]] | None = None,
        soft_weight: float = 1.0,
    ):
        self.pad_id = pad_id
        self.states = states
        self.dtype = dtype
        self.soft = soft
        self.soft_weight = soft_weight
        self.top_k = max((t[0].shape[1] for t in soft.values()), default=1) if soft else 1

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for j, e in enumerate(examples):
            k = len(e["input_ids"])
            ids[j, :k] = torch.tensor(e["input_ids"], dtype=torch.long)
            labels[j, :k] = torch.tensor(e["labels"], dtype=torch.long)
            mask[j, :k] = 1
        batch: dict[str, Any] = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if self.states is not None:
            first = self.states.hidden[examples[0]["row"]]
            hidden = torch.zeros((len(examples), width, first.shape[-1]), dtype=self.dtype)
            for j, e in enumerate(examples):
                hidden[j, : len(e["input_ids"])] = self.states.hidden[e["row"]]
            batch["hidden"] = hidden
        if self.soft is not None:
            soft_ids = torch.zeros((len(examples), width, self.top_k), dtype=torch.long)
            soft_probs = torch.zeros((len(examples), width, self.top_k), dtype=torch.float32)
            weight = torch.zeros((len(examples), width), dtype=torch.float32)
            for j, e in enumerate(examples):
                entry = self.soft.get(e["row"])
                if entry is not None:
                    n, k = entry[0].shape
                    soft_ids[j, :n, :k] = entry[0].long()
                    soft_probs[j, :n, :k] = entry[1].float()
                    weight[j, :n] = self.soft_weight
            batch.update(soft_ids=soft_ids, soft_probs=soft_probs, soft_weight=weight)
        return batch
