"""What this machine multiplies natively: the CPU's ISA class as PyTorch and oneDNN will use it.

The compute dtype (`compute_dtype: auto`) follows from it: bfloat16 where the CPU multiplies
bf16 in hardware (Intel AMX; AVX512-BF16 on AMD Zen 4 and later and Intel Cooper Lake and later;
Arm's BF16 extension), float32 where bf16 would be emulated (AVX2-only and plain AVX-512 CPUs,
where a bf16 matmul ran 80x and 2x slower than float32 here). The class is decided from the
hardware's flags *capped* by what the libraries are told to use: `ONEDNN_MAX_CPU_ISA` (oneDNN
runs the matmuls) and `ATEN_CPU_CAPABILITY` (PyTorch's own vectorised kernels). Capping both is
how one machine measures the classes below its own.

The class, the dtype and the thread count go into every artifact's provenance and into the
keys of every cache whose numbers they decide.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

# Classes in increasing order of capability (x86); Arm has its own two.
X86_CLASSES = ("baseline", "avx2", "avx512", "avx512_bf16", "amx")
ARM_CLASSES = ("arm", "arm_bf16")
NATIVE_BF16 = frozenset({"avx512_bf16", "amx", "arm_bf16"})

# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA, or the older DNNL_MAX_CPU_ISA) -> the class they cap at.
_ONEDNN_CAPS = {
    "SSE41": "baseline",
    "AVX": "baseline",
    "AVX2": "avx2",
    "AVX2_VNNI": "avx2",
    "AVX2_VNNI_2": "avx2",
    "AVX512_CORE": "avx512",
    "AVX512_CORE_VNNI": "avx512",
    "AVX512_CORE_BF16": "avx512_bf16",
    "AVX512_CORE_FP16": "avx512_bf16",
    "AVX10_1_512": "avx512_bf16",
    "AVX512_CORE_AMX": "amx",
    "AVX512_CORE_AMX_FP16": "amx",
    "AVX10_1_512_AMX": "amx",
    "AVX10_1_512_AMX_FP16": "amx",
    "AVX10_2_512": "amx",
    "AVX10_2_512_AMX_2": "amx",
    "ALL": "amx",
}
# ATen's CPU capability (ATEN_CPU_CAPABILITY, as torch reports it) -> the class it caps at.
_ATEN_CAPS = {"DEFAULT": "baseline", "AVX2": "avx2", "AVX512": "amx", "ZVECTOR": "baseline"}


@dataclass(frozen=True)
class CpuFlags:
    """What the hardware has, as PyTorch's cpuinfo reports it (before any cap)."""

    machine: str
    amx: bool = False
    avx512_bf16: bool = False
    avx512: bool = False
    avx2: bool = False
    arm_bf16: bool = False


@dataclass(frozen=True)
class CpuClass:
    isa: str
    """One of X86_CLASSES or ARM_CLASSES."""
    hardware: str
    """The class the hardware alone would give (differs from `isa` under a cap)."""
    capped_by: tuple[str, ...]
    """The environment caps that lowered it, e.g. ("ONEDNN_MAX_CPU_ISA=AVX2",)."""

    @property
    def native_bf16(self) -> bool:
        return self.isa in NATIVE_BF16


def read_flags() -> CpuFlags:
    """The hardware's flags (PyTorch's cpuinfo; /proc/cpuinfo or sysctl for Arm BF16)."""
    import torch

    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return CpuFlags(machine, arm_bf16=_arm_has_bf16())

    def probe(name: str) -> bool:
        fn = getattr(torch.cpu, name, None)
        try:
            return bool(fn()) if fn is not None else False
        except RuntimeError:
            return False

    return CpuFlags(
        machine,
        amx=probe("_is_amx_tile_supported"),
        avx512_bf16=probe("_is_avx512_bf16_supported"),
        avx512=probe("_is_avx512_supported"),
        avx2=probe("_is_avx2_supported"),
    )


def _arm_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("features"):
                    return "bf16" in line.split(":", 1)[1].split()
    except OSError:
        pass
    if platform.system() == "Darwin":
        import subprocess

        try:
            out = subprocess.run(
                ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=5, check=False
            )
            return out.stdout.strip() == "1"
        except (OSError, subprocess.SubprocessError):
            return False
    return False


def classify(flags: CpuFlags, env: dict[str, str] | None = None, aten_capability: str | None = None) -> CpuClass:
    """The ISA class PyTorch and oneDNN will use: the hardware's, lowered by the caps in `env`
    (ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA) and by ATen's capability (`aten_capability`, as
    `torch.backends.cpu.get_cpu_capability()` reports it; it already honours ATEN_CPU_CAPABILITY)."""
    env = dict(os.environ) if env is None else env
    if flags.machine in ("aarch64", "arm64"):
        hardware = "arm_bf16" if flags.arm_bf16 else "arm"
        return CpuClass(hardware, hardware, ())
    if flags.amx and flags.avx512_bf16:
        hardware = "amx"
    elif flags.avx512_bf16:
        hardware = "avx512_bf16"
    elif flags.avx512:
        hardware = "avx512"
    elif flags.avx2:
        hardware = "avx2"
    else:
        hardware = "baseline"
    top = X86_CLASSES.index(hardware)
    level = top
    capped: list[str] = []
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = env.get(var, "").strip()
        if not value:
            continue
        cap = _ONEDNN_CAPS.get(value.upper())
        # oneDNN ignores a value it does not know, and so does the probe; it reads the ONEDNN_
        # name first and the older DNNL_ one only when that is unset.
        if cap is not None and X86_CLASSES.index(cap) < top:
            level = min(level, X86_CLASSES.index(cap))
            capped.append(f"{var}={value}")
        break
    if aten_capability:
        cap = _ATEN_CAPS.get(aten_capability.upper())
        if cap is not None and X86_CLASSES.index(cap) < top:
            level = min(level, X86_CLASSES.index(cap))
            capped.append(f"ATEN_CPU_CAPABILITY={aten_capability.lower()}")
    return CpuClass(X86_CLASSES[level], hardware, tuple(capped))


_CACHED: CpuClass | None = None


def cpu_class() -> CpuClass:
    """This process's CPU class (probed once)."""
    global _CACHED
    if _CACHED is None:
        import torch

        _CACHED = classify(read_flags(), aten_capability=torch.backends.cpu.get_cpu_capability())
    return _CACHED


def cuda_bf16() -> bool:
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch without the keyword
        return bool(torch.cuda.is_bf16_supported())


def describe(device: str) -> dict[str, Any]:
    """The compute engine's identity for provenance: device type, ISA class (CPU), threads."""
    import torch

    out: dict[str, Any] = {"device": device.split(":")[0], "threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    else:
        cls = cpu_class()
        out["isa"] = cls.isa
        if cls.capped_by:
            out["isa_hardware"] = cls.hardware
            out["isa_capped_by"] = list(cls.capped_by)
    return out


MACHINE_KEYS = ("isa", "isa_hardware", "isa_capped_by", "threads", "gpu")
"""The parts of an engine identity that name the machine rather than the settings."""


def machine_part(identity: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the settings, the machine) of an engine identity: a cache key takes both, while a
    settings hash recorded for people (e.g. `generation_config_sha256`) takes only the first,
    so it reads the same on every machine."""
    settings = {k: v for k, v in identity.items() if k not in MACHINE_KEYS}
    return settings, {k: v for k, v in identity.items() if k in MACHINE_KEYS}


def engine_text(engine: dict[str, Any]) -> str:
    """One line for people: `bfloat16 on cpu (avx512_bf16, 2 threads)`, with any cap named."""
    where = engine.get("gpu") or engine.get("isa") or "?"
    text = f"{engine.get('dtype', '?')} on {engine.get('device', '?')} ({where}, {engine.get('threads', '?')} threads)"
    if engine.get("isa_capped_by"):
        text += f"; capped from {engine.get('isa_hardware')} by {', '.join(engine['isa_capped_by'])}"
    return text
