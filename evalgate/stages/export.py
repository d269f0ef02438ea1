"""`evalgate export`: merge the adapter into a full-precision base for vLLM or TGI.

The merge happens on CPU into unquantised weights (merging into 4-bit weights would bake the
quantisation error into a model served at full precision).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalgate import __version__
from evalgate.adapter import adapter_sha256, missing_files
from evalgate.artifacts import atomic_dir, write_json_atomic
from evalgate.config import Params
from evalgate.contract import SCHEMA_VERSION
from evalgate.errors import InputError
from evalgate.models import base_model_sha256, load_tokenizer, model_dir, resolve_base
from evalgate.ui import info


def run_export(params: Params, root: Path = Path(".")) -> dict[str, Any]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = root / params.train.output_dir
    missing = missing_files(adapter)
    if missing:
        raise InputError(f"{adapter}: no trained adapter ({', '.join(missing)} missing); run `evalgate train` first")
    ref = resolve_base(params.model.base, params.model.revision)
    dtype = getattr(torch, params.export.dtype)
    info(f"merging {adapter} into {ref.spec} ({params.export.dtype}, on CPU)")
    base = AutoModelForCausalLM.from_pretrained(str(model_dir(ref)), dtype=dtype, device_map={"": "cpu"})
    try:
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as exc:
        raise InputError(f"{adapter}: the adapter does not fit base model '{ref.spec}': {str(exc).splitlines()[0]}") from None
    out = root / params.export.output_dir
    with atomic_dir(out) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        load_tokenizer(ref).save_pretrained(str(tmp))
        meta = {
            "schema_version": SCHEMA_VERSION,
            "kind": "evalgate.export.meta",
            "adapter_sha256": adapter_sha256(adapter),
            "base_model": {"spec": ref.spec, "sha256": base_model_sha256(ref)},
            "dtype": params.export.dtype,
            "evalgate_version": __version__,
        }
        write_json_atomic(tmp / "evalgate_export.json", meta)
    config = json.loads((out / "config.json").read_text())
    meta["architectures"] = config.get("architectures")
    meta["output_dir"] = params.export.output_dir
    return meta
