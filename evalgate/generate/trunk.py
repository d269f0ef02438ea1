"""The base model's prompt states below the adapter's lowest layer, cached by content.

Below the lowest layer an adapter changes, the candidate computes exactly what the base model
computes, so those states (each lower layer's keys and values, and the hidden states entering
the adapter's lowest layer) can be kept from the base's pass and reused whenever a candidate
answers the same prompt: after a data-only change (a new adapter, the base answers cached) the
candidate then runs only the adapted layers over its prompts.

One safetensors file per prompt, named by sha256(base model, engine, layer, prompt token ids),
written atomically; the oldest-used files are removed beyond a size limit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrunkStates:
    keys: list[Any]
    """Per lower layer: [kv_heads, prompt_len, head_dim]."""
    values: list[Any]
    hidden: Any
    """[prompt_len, hidden_size]: the input of the adapter's lowest layer."""


class TrunkStore:
    def __init__(self, root: Path, namespace: dict[str, Any], max_bytes: int):
        self.root = root
        self.namespace = json.dumps(namespace, sort_keys=True)
        self.max_bytes = max_bytes
        self._written = 0

    def key(self, ids: list[int], floor: int) -> str:
        h = hashlib.sha256(self.namespace.encode())
        h.update(f"|floor={floor}|".encode())
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
        except (OSError, ValueError, RuntimeError, SafetensorError):
            return None  # missing or unreadable: the caller computes the states instead
        n = sum(1 for k in tensors if k.startswith("k."))
        return TrunkStates([tensors[f"k.{i}"] for i in range(n)], [tensors[f"v.{i}"] for i in range(n)], tensors["hidden"])

    def put(self, key: str, states: TrunkStates) -> None:
        from safetensors.torch import save_file

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
