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


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of the linear layers LoRA can target (what `target_modules` may name)."""
    import torch

    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            names.add(name.rsplit(".", 1)[-1])
    output = model.get_output_embeddings()
    for name, module in model.named_modules():
        if module is output:
            names.discard(name.rsplit(".", 1)[-1])
    return sorted(names)


def check_lora(model: Any, train: TrainParams) -> list[str]:
    """Validate the LoRA settings against a model (a meta-device copy is enough); return its linear names."""
    available = linear_module_names(model)
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
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=train.gradient_checkpointing)
    targets = train.lora.target_modules
    if targets == "all-linear" and train.lora.layers is not None:
        targets = available  # PEFT takes a layer subset only with explicit module names
    config = LoraConfig(
        r=train.lora.r,
        lora_alpha=train.lora.alpha,
        lora_dropout=train.lora.dropout,
        target_modules=targets,
        layers_to_transform=train.lora.layers,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def frozen_floor(train: TrainParams, placement: Placement, model: Any) -> int:
    """The lowest adapted layer when the layers below it are to be computed once and cached;
    0 to run the whole model at every step."""
    from evalgate.trunk import adapter_floor

    if train.frozen_layers == "recomputed" or train.packing:
        return 0
    if train.frozen_layers == "auto" and (not placement.device.startswith("cpu") or "LOCAL_RANK" in os.environ):
        return 0  # on GPUs the lower layers cost little; under DDP each rank sees other records
    return adapter_floor(model)
