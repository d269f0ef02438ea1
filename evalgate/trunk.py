"""The frozen lower layers ("the trunk"): computed once, stored by content, replayed.

When an adapter changes only decoder layers k and above, everything below layer k computes the
same numbers for the same tokens with or without the adapter, and while training. Training and
generation share one mechanism for that:

* `adapter_floor` finds k for a PEFT model;
* `states_entering` runs a batch through the layers below k only and returns the hidden
  states entering layer k (the rest of the model is not run);
* `skip_lower_layers` runs the model from layer k up on given hidden states (the layers below
  are swapped out for the duration of the block);
* `TrunkStore` keeps those states on disk, one safetensors file per token sequence, named by
  sha256(base model, engine, layer, what is stored, token ids), written atomically, the least
  recently used removed beyond a size limit.

The evaluate stage keeps each golden prompt's states (the hidden states and every lower layer's
keys and values, which decoding reads) so a new adapter's candidate runs only the adapted
layers over its prompts; the train stage keeps each training record's hidden states and trains
the adapted layers on them for every epoch, never recomputing the frozen layers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def decoder_layers(model: Any) -> Any | None:
    """The ModuleList of decoder layers the causal LM loops over (`layers`; GPT-2's `h`), or None
    where the layer shortcuts are not verified (`evalgate.architectures.VERIFIED`): there a layer
    may return a tuple, take states from the layers below or feed a router loss, and skipping it
    would change the numbers."""
    import torch

    from evalgate.architectures import VERIFIED, model_type

    if model_type(model) not in VERIFIED:
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    n = getattr(base.config.get_text_config(decoder=True), "num_hidden_layers", None)
    for name in ("layers", "h"):
        layers = getattr(decoder, name, None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers) == n:
            return layers
    return None


def adapted_layers(model: Any) -> list[int] | None:
    """The decoder layers the active adapter's config names (`layers_to_transform`); None for all."""
    config = getattr(model, "peft_config", {}).get(getattr(model, "active_adapter", "default"))
    layers = getattr(config, "layers_to_transform", None)
    if layers is None:
        return None
    return [layers] if isinstance(layers, int) else list(layers)


def warn_unshared(model: Any, stage: str, layers: list[int] | None = None) -> bool:
    """Warn once, and return True, when the adapter leaves the lower layers untouched (`layers`,
    by default its config's) but this architecture's layers cannot be skipped, so `stage` runs
    every layer: the same numbers, more time."""
    from evalgate.architectures import model_type, warn_once

    layers = adapted_layers(model) if layers is None else layers
    if not layers or min(layers) == 0 or decoder_layers(model) is not None:
        return False
    kind = model_type(model)
    warn_once(
        f"{stage}:{kind}",
        f"{stage}: evalgate does not skip layers of the {kind} architecture (not verified), so layers "
        f"0-{min(layers) - 1}, below the adapter, run every time (same results, slower)",
    )
    return True


def adapter_floor(model: Any) -> int:
    """Index of the lowest decoder layer the loaded adapter changes: below it, base and candidate
    compute identical states for identical tokens. 0 (nothing shared) for an adapter that touches
    anything before the decoder layers (embeddings) or a model layout this does not know."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils import ModulesToSaveWrapper

    layers = decoder_layers(model)
    if layers is None:
        return 0
    index = {id(layer): i for i, layer in enumerate(layers)}
    layer_names = {name: index[id(m)] for name, m in model.named_modules() if id(m) in index}
    floor = len(layers)
    for name, module in model.named_modules():
        if not isinstance(module, (BaseTunerLayer, ModulesToSaveWrapper)):
            continue
        owner = next((i for n, i in layer_names.items() if name.startswith(n + ".")), None)
        if owner is not None:
            floor = min(floor, owner)
        elif not re.search(r"(^|\.)(lm_head|norm)(\.|$)", name):
            return 0  # embeddings or another module before the decoder layers
    return floor


@contextlib.contextmanager
def skip_lower_layers(layers: Any, floor: int, hidden: Any) -> Iterator[None]:
    """Within the block, the model's layers below `floor` are not run and the input of layer
    `floor` is `hidden` (the states the lower layers would compute for the same batch)."""
    import torch

    class Skip(torch.nn.Module):
        def __init__(self, replay: Any = None):
            super().__init__()
            self.replay = replay

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            return hidden_states if self.replay is None else self.replay

    saved = [layers[i] for i in range(floor)]
    try:
        for i in range(floor):
            layers[i] = Skip(hidden if i == floor - 1 else None)
        yield
    finally:
        for i, layer in enumerate(saved):
            layers[i] = layer


@contextlib.contextmanager
def capture_input(layer: Any, store: dict[str, Any], stop: bool = False) -> Iterator[None]:
    """Keep the hidden states entering `layer` in `store["hidden"]`; with `stop`, end the
    model's forward pass there (nothing above the layer runs)."""

    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        store["hidden"] = args[0] if args else kwargs["hidden_states"]
        if stop:
            raise _Reached

    handle = layer.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    except _Reached:
        pass
    finally:
        handle.remove()


class _Reached(Exception):
    """Ends a forward pass at the captured layer."""


def states_entering(model: Any, floor: int, input_ids: Any, attention_mask: Any) -> Any:
    """The hidden states entering decoder layer `floor` for a batch ([rows, width, hidden]);
    only the embeddings and the layers below `floor` run."""
    layers = decoder_layers(model)
    if layers is None or not 0 < floor < len(layers):
        raise ValueError(f"no decoder layer {floor} to stop at")
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = base.get_decoder()
    store: dict[str, Any] = {}
    with capture_input(layers[floor], store, stop=True):
        body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return store["hidden"]


@dataclass
class TrunkStates:
    hidden: Any
    """[length, hidden_size]: the input of the adapter's lowest layer."""
    keys: list[Any] = field(default_factory=list)
    """Per lower layer: [kv_heads, length, head_dim] (empty when only the hidden states are kept)."""
    values: list[Any] = field(default_factory=list)


class TrunkStore:
    """Lower-layer states on disk, content-addressed. `namespace` holds everything besides the
    tokens that decides the numbers (base model hash, quantisation, dtype, device)."""

    def __init__(self, root: Path, namespace: dict[str, Any], max_bytes: int):
        self.root = root
        self.namespace = json.dumps(namespace, sort_keys=True)
        self.max_bytes = max_bytes
        self._written = 0

    def key(self, ids: list[int], floor: int, parts: str = "kv", context: str = "") -> str:
        """`parts`: "kv" (hidden states plus the lower layers' keys and values, for decoding) or
        "hidden" (the hidden states alone, for training). `context`: the batch the states were
        computed in, where that changes the numbers (`evalgate.generate.hf.Batch.context`)."""
        h = hashlib.sha256(self.namespace.encode())
        h.update(f"|floor={floor}|".encode())
        if parts != "kv":
            h.update(f"parts={parts}|".encode())
        if context:
            h.update(f"context={context}|".encode())
        h.update(",".join(map(str, ids)).encode())
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> TrunkStates | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self._path(key)
        try:
            tensors = load_file(str(path))
            os.utime(path)  # recently used: evicted last
            n = sum(1 for k in tensors if k.startswith("k."))
            return TrunkStates(tensors["hidden"], [tensors[f"k.{i}"] for i in range(n)], [tensors[f"v.{i}"] for i in range(n)])
        except (OSError, ValueError, RuntimeError, KeyError, SafetensorError):
            return None  # missing or unreadable: the caller computes the states instead

    def put(self, key: str, states: TrunkStates) -> None:
        from safetensors.torch import save_file

        if self.max_bytes <= 0:
            return
        path = self._path(key)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"hidden": states.hidden.contiguous()}
        for i, (k, v) in enumerate(zip(states.keys, states.values, strict=True)):
            tensors[f"k.{i}"], tensors[f"v.{i}"] = k.contiguous(), v.contiguous()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file(tensors, str(tmp))
        os.replace(tmp, path)
        self._written += path.stat().st_size
        if self._written > self.max_bytes // 8:
            self.evict()

    def evict(self) -> None:
        """Remove the least recently used files until the store fits its size limit."""
        self._written = 0
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.glob("*/*.safetensors")]
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
