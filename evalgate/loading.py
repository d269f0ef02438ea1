"""Loading the base model for training or inference: device, compute dtype, quantisation."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalgate.errors import InputError, first_line
from evalgate.models import BaseModelRef, model_dir

if TYPE_CHECKING:
    import torch

# Memory per parameter while training, by quantisation (weights only; activations come on top).
_BYTES_PER_PARAM = {"nf4": 0.6, "int8": 1.1, "none": 4.0}


@dataclass(frozen=True)
class Placement:
    device: str
    dtype_name: str

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype_name)

    def engine(self) -> dict[str, Any]:
        """What decides the numbers besides the weights and the inputs: dtype, device, the CPU's
        ISA class and the thread count (`evalgate.hardware.describe`). Read it after the thread
        count is set; it goes into provenance and into the keys of caches of computed numbers."""
        from evalgate.hardware import describe

        return {"dtype": self.dtype_name, **describe(self.device)}

    def tag(self) -> str:
        """The engine in one short string, e.g. `bfloat16/avx512_bf16/2t` or `bfloat16/cuda/1t`."""
        e = self.engine()
        return f"{e['dtype']}/{e.get('isa', e['device'])}/{e['threads']}t"


def auto_dtype(device: str) -> str:
    """bfloat16 on CUDA GPUs that have it and on CPUs that multiply bf16 natively (AMX,
    AVX512-BF16, Arm BF16: `evalgate.hardware`); float32 where bf16 would be emulated."""
    from evalgate.hardware import cpu_class, cuda_bf16

    if device.startswith("cuda"):
        return "bfloat16" if cuda_bf16() else "float32"
    return "bfloat16" if cpu_class().native_bf16 else "float32"


def resolve_placement(device: str, compute_dtype: str) -> Placement:
    """`auto` picks CUDA when present; the compute dtype `auto` is `auto_dtype(device)`."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device: cuda was requested but no CUDA device is available; use auto or cpu")
    if compute_dtype == "auto":
        compute_dtype = auto_dtype(device)
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        # Under `accelerate launch` / torchrun each process owns one GPU (DDP).
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    return Placement(device, compute_dtype)


def quantization_config(quantization: str, placement: Placement) -> Any:
    if quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise InputError(
            f"train.quantization: {quantization} needs bitsandbytes; `pip install bitsandbytes` or set quantization: none"
        ) from None
    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=placement.dtype,
            bnb_4bit_quant_storage=placement.dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def check_memory(ref: BaseModelRef, quantization: str, placement: Placement) -> None:
    """Refuse early, with a fix, when the weights alone cannot fit in memory."""
    if not placement.device.startswith("cpu"):
        return
    import psutil

    path = model_dir(ref)
    weight_bytes = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    # safetensors on disk are usually 2 or 4 bytes per parameter; assume the larger count.
    params = weight_bytes / 2
    need = params * _BYTES_PER_PARAM[quantization]
    available = psutil.virtual_memory().available
    if need > available:
        raise InputError(
            f"not enough memory: the base model needs about {need / 2**30:.1f} GiB with quantization "
            f"{quantization}, {available / 2**30:.1f} GiB is available; use train.quantization: nf4, "
            "a smaller base model, or a machine with more memory"
        )


def load_base_model(ref: BaseModelRef, quantization: str, placement: Placement) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    check_memory(ref, quantization, placement)
    path = model_dir(ref)
    kwargs: dict[str, Any] = {"dtype": placement.dtype, "device_map": {"": placement.device}}
    qconfig = quantization_config(quantization, placement)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except torch.OutOfMemoryError:
        raise InputError(
            "not enough memory to load the base model; use train.quantization: nf4 or a smaller model"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"model.base: cannot load the model from {path}: {first_line(exc)}") from None
    model.config.use_cache = False
    return model
