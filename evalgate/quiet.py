"""Library output a user cannot act on, silenced at its source; evalgate's own warnings stay.

Each entry names one message of one library and why it carries nothing for a user:

* bitsandbytes, on CPUs with AVX512-BF16, tries to fetch a faster 4-bit kernel from a model hub
  through the `kernels` package and logs "Failed to load CPU gemm_4bit_forward from
  kernels-community" when it cannot (always, offline). Its built-in CPU path runs instead, and
  the demo does not quantise on a CPU at all.
* PEFT and TRL read `model.is_gradient_checkpointing`, which transformers 5 deprecated with a
  FutureWarning at every read; evalgate never reads it.
* transformers' and datasets' progress bars (GGUF conversion, weight loading, map) follow
  evalgate's own: shown on a terminal, off in logs and with EVALGATE_NO_PROGRESS.
"""

from __future__ import annotations

import logging
import os
import warnings

_BNB_KERNEL = "Failed to load CPU gemm_4bit_forward from kernels-community"
_GC_ALIAS = r"`is_gradient_checkpointing` is deprecated"


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_libraries() -> None:
    """Install the filters above (cheap: imports no library)."""
    from evalgate.ui import show_bars

    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_DropMessage(_BNB_KERNEL))
    warnings.filterwarnings("ignore", message=_GC_ALIAS, category=FutureWarning)
    if not show_bars():
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")  # plain tqdm bars (transformers' GGUF conversion)
