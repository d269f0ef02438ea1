"""LoRA on the base model: which modules and layers it may adapt (checked before loading the
weights where possible), attaching it, and the lowest adapted layer, below which the layers are
frozen and their states can be computed once."""

from __future__ import annotations

import os
from typing import Any

from evalgate.config import TrainParams
from evalgate.errors import InputError
from evalgate.loading import Placement
from evalgate.models import BaseModelRef, model_dir


def linear_module_kinds(model: Any) -> dict[str, str]:
    """Leaf names of the linear layers LoRA can target (what `target_modules` may name), each
    with its kind: "linear", or "conv1d" for transformers' Conv1D (GPT-2's projections: a linear
    layer with its weight stored transposed, which PEFT adapts with `fan_in_fan_out`)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    kinds: dict[str, set[str]] = {}
    output = model.get_output_embeddings()
    for name, module in model.named_modules():
        if module is output:
            continue
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            kinds.setdefault(name.rsplit(".", 1)[-1], set()).add("linear")
        elif isinstance(module, Conv1D):
            kinds.setdefault(name.rsplit(".", 1)[-1], set()).add("conv1d")
    return {name: "conv1d" if kind == {"conv1d"} else "linear" for name, kind in sorted(kinds.items())}


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of the linear layers LoRA can target (what `target_modules` may name)."""
    return list(linear_module_kinds(model))


def check_lora(model: Any, train: TrainParams) -> list[str]:
    """Validate the LoRA settings against a model (a meta-device copy is enough); return its linear names."""
    available = linear_module_names(model)
    if not available:
        raise InputError(
            f"train.lora: {type(model).__name__} has no linear or Conv1D layer outside its LM head for LoRA to adapt; "
            "evalgate trains LoRA on those only: pick a base model with linear projections"
        )
    if train.lora.target_modules != "all-linear":
        unknown = [m for m in train.lora.target_modules if m not in available]
        if unknown:
            raise InputError(
                f"train.lora.target_modules: {', '.join(unknown)} not in this model; its linear modules are: "
                f"{', '.join(available)} (or use all-linear)"
            )
    text_config = model.config.get_text_config()
    n_layers = getattr(text_config, "num_hidden_layers", None)
    if train.lora.layers is not None and n_layers is not None:
        bad = [i for i in train.lora.layers if not 0 <= i < n_layers]
        if bad:
            raise InputError(f"train.lora.layers: {bad} out of range; this model has layers 0..{n_layers - 1}")
    if train.lora.r > text_config.hidden_size:
        raise InputError(
            f"train.lora.r: {train.lora.r} is larger than the model's hidden size "
            f"{text_config.hidden_size}; use a smaller rank"
        )
    return available


def check_lora_before_loading(ref: BaseModelRef, train: TrainParams) -> None:
    """Fail on LoRA settings that do not fit the model before spending time loading weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(model_dir(ref)))
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    check_lora(skeleton, train)


def attach_lora(model: Any, train: TrainParams, quantized: bool) -> Any:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    available = check_lora(model, train)
    kinds = linear_module_kinds(model)
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train.gradient_checkpointing)
    targets = train.lora.target_modules
    if targets == "all-linear" and train.lora.layers is not None:
        targets = available  # PEFT takes a layer subset only with explicit module names
    named = available if targets == "all-linear" else targets
    config = LoraConfig(
        r=train.lora.r,
        lora_alpha=train.lora.alpha,
        lora_dropout=train.lora.dropout,
        target_modules=targets,
        layers_to_transform=train.lora.layers,
        # Conv1D stores its weight as [in, out]; PEFT needs to know (else it warns and flips it per module).
        fan_in_fan_out=all(kinds.get(name) == "conv1d" for name in named),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def frozen_floor(train: TrainParams, placement: Placement, model: Any) -> int:
    """The lowest adapted layer when the layers below it are to be computed once and cached;
    0 to run the whole model at every step."""
    from evalgate.trunk import adapter_floor, warn_unshared

    if train.frozen_layers == "recomputed" or train.packing:
        return 0
    if train.frozen_layers == "auto" and (not placement.device.startswith("cpu") or "LOCAL_RANK" in os.environ):
        return 0  # on GPUs the lower layers cost little; under DDP each rank sees other records
    if warn_unshared(model, "train", train.lora.layers):
        return 0
    return adapter_floor(model)
