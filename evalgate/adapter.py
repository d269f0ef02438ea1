"""Adapter identity: the files that make a PEFT adapter, its content hash, the checks before one
is used, and writing one into place atomically. Every stage that names an adapter goes through
here, so an adapter hashes the same to train, evaluate, gate, export and promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalgate.artifacts import atomic_dir, sha256_file, sha256_json
from evalgate.errors import InputError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_sha256(adapter_dir: Path) -> str:
    """The adapter's identity: a hash over its two files' hashes (nothing else in the directory)."""
    return sha256_json({name: sha256_file(adapter_dir / name) for name in ADAPTER_FILES})


def missing_files(adapter_dir: Path) -> list[str]:
    return [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]


def is_adapter(adapter_dir: Path) -> bool:
    return not missing_files(adapter_dir)


def trained_on(adapter_dir: Path) -> str | None:
    """The base model the adapter names (`base_model_name_or_path`), as params.yaml spelled it."""
    path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON: {exc.msg}") from None
    return config.get("base_model_name_or_path")


def save_adapter(model: Any, base_spec: str, out_dir: Path) -> None:
    """Write a PEFT model's adapter into `out_dir` atomically: its two files only, the base named
    as params.yaml names it, so the same weights hash the same on every machine."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp))
        for extra in {p.name for p in tmp.iterdir()} - set(ADAPTER_FILES):
            (tmp / extra).unlink()  # PEFT's model card embeds paths; the adapter is the two files
        # Set after saving: PEFT would look the name up on the hub.
        config_path = tmp / "adapter_config.json"
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = base_spec
        # PEFT keeps target_modules as a set: its list order follows the process's string-hash
        # seed, which would give the same weights a different adapter hash in every process.
        if isinstance(config.get("target_modules"), list):
            config["target_modules"] = sorted(config["target_modules"])
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
