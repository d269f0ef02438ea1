"""The compute dtype follows what the CPU multiplies natively, as PyTorch and oneDNN will use it:
bfloat16 on AMX, AVX512-BF16 and Arm BF16; float32 on AVX2-only and plain AVX-512 CPUs; the
ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY caps lower the class the way they lower the
libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from evalgate import hardware
from evalgate.hardware import CpuFlags, classify

AMX = CpuFlags("x86_64", amx=True, avx512_bf16=True, avx512=True, avx2=True)
ZEN4 = CpuFlags("x86_64", avx512_bf16=True, avx512=True, avx2=True)  # AMD EPYC Zen 4: no AMX
SKYLAKE = CpuFlags("x86_64", avx512=True, avx2=True)
AVX2 = CpuFlags("x86_64", avx2=True)
GRAVITON3 = CpuFlags("aarch64", arm_bf16=True)
GRAVITON2 = CpuFlags("aarch64", arm_bf16=False)


@pytest.mark.parametrize(
    ("flags", "isa", "bf16"),
    [
        (AMX, "amx", True),
        (ZEN4, "avx512_bf16", True),
        (GRAVITON3, "arm_bf16", True),
        (SKYLAKE, "avx512", False),
        (AVX2, "avx2", False),
        (GRAVITON2, "arm", False),
        (CpuFlags("x86_64"), "baseline", False),
    ],
)
def test_native_bf16_classes(flags, isa, bf16):
    cls = classify(flags, env={}, aten_capability="AVX512" if flags.avx512 else ("AVX2" if flags.avx2 else None))
    assert cls.isa == isa and cls.native_bf16 is bf16 and cls.capped_by == ()


@pytest.mark.parametrize(
    ("flags", "env", "aten", "isa"),
    [
        # Both caps, as the README's AVX2-only emulation sets them.
        (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "AVX2", "avx2"),
        (ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "AVX2", "avx2"),
        # Either cap alone lowers the class.
        (ZEN4, {"ONEDNN_MAX_CPU_ISA": "avx2"}, "AVX512", "avx2"),
        (ZEN4, {}, "AVX2", "avx2"),
        (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "AVX512", "avx512_bf16"),
        (AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "AVX512", "avx512"),
        (ZEN4, {"DNNL_MAX_CPU_ISA": "AVX2"}, "AVX512", "avx2"),  # oneDNN's older name
        (ZEN4, {}, "DEFAULT", "baseline"),
    ],
)
def test_caps_lower_the_class(flags, env, aten, isa):
    cls = classify(flags, env=env, aten_capability=aten)
    assert cls.isa == isa and cls.native_bf16 is (isa in hardware.NATIVE_BF16)
    assert cls.capped_by, "a cap that lowered the class is named"


@pytest.mark.parametrize(
    "env",
    [
        {"ONEDNN_MAX_CPU_ISA": "ALL"},  # the default: no cap
        {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"},  # a cap above the hardware changes nothing
        {"ONEDNN_MAX_CPU_ISA": "NOT_AN_ISA"},  # oneDNN ignores a value it does not know
        {"ONEDNN_MAX_CPU_ISA": "ALL", "DNNL_MAX_CPU_ISA": "AVX2"},  # oneDNN reads the new name first
    ],
)
def test_caps_that_do_not_lower_leave_the_class(env):
    cls = classify(ZEN4, env=env, aten_capability="AVX512")
    assert cls.isa == "avx512_bf16" and cls.capped_by == ()


def test_auto_dtype_follows_the_probe(monkeypatch):
    from evalgate.loading import auto_dtype, resolve_placement

    for flags, env, aten, dtype in [
        (AMX, {}, "AVX512", "bfloat16"),
        (ZEN4, {}, "AVX512", "bfloat16"),
        (GRAVITON3, {}, "DEFAULT", "bfloat16"),
        (AVX2, {}, "AVX2", "float32"),
        (SKYLAKE, {}, "AVX512", "float32"),
        (ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "AVX2", "float32"),
    ]:
        monkeypatch.setattr(hardware, "_CACHED", classify(flags, env=env, aten_capability=aten))
        assert auto_dtype("cpu") == dtype, (flags, env)
        placement = resolve_placement("cpu", "auto")
        engine = placement.engine()
        assert placement.dtype_name == dtype and engine["dtype"] == dtype
        assert engine["isa"] == hardware._CACHED.isa and engine["threads"] >= 1
    monkeypatch.setattr(hardware, "_CACHED", None)
    assert resolve_placement("cpu", "float32").dtype_name == "float32"  # an explicit dtype is kept


def _probe(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import json; from evalgate.loading import resolve_placement; "
        "p = resolve_placement('cpu', 'auto'); print(json.dumps(p.engine()))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_real_probe_honours_both_caps_on_this_machine():
    """On this machine, as the libraries see it: capping both oneDNN and ATen at AVX2 makes the
    auto dtype float32 and names the caps, whatever the hardware."""
    native = _probe({})
    capped = _probe({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"})
    assert capped["isa"] == "avx2" and capped["dtype"] == "float32"
    if native["isa"] in ("amx", "avx512_bf16"):
        assert native["dtype"] == "bfloat16"
        assert capped["isa_hardware"] == native["isa"]
        assert capped["isa_capped_by"] == ["ONEDNN_MAX_CPU_ISA=AVX2", "ATEN_CPU_CAPABILITY=avx2"]


def test_engine_text_names_dtype_class_threads_and_caps():
    from evalgate.hardware import engine_text

    assert engine_text({"dtype": "bfloat16", "device": "cpu", "isa": "avx512_bf16", "threads": 2}) == "bfloat16 on cpu (avx512_bf16, 2 threads)"
    capped = {"dtype": "float32", "device": "cpu", "isa": "avx2", "threads": 2, "isa_hardware": "amx", "isa_capped_by": ["ONEDNN_MAX_CPU_ISA=AVX2"]}
    assert engine_text(capped).endswith("capped from amx by ONEDNN_MAX_CPU_ISA=AVX2")
