"""Running lm-evaluation-harness offline on the already-loaded model, and keeping its results.

One model load serves both sides: lm-eval's HF model class is handed the PEFT model object and
tokenizer, and the base is scored through the same object with the adapter disabled. lm-eval's
own request cache is keyed without the model's identity, so it stays off; evalgate keeps each
task's per-document results itself, content-addressed by everything they depend on (base
weights, adapter, precision, task files, data hashes, the document subset, lm-eval's version).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalgate.artifacts import write_json_atomic
from evalgate.errors import InputError, first_line
from evalgate.forgetting.extract import TaskResult, task_result

OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def go_offline(cache: Path) -> None:
    """No download from here on: the offline switches set in the environment, and in the
    libraries' constants when they were imported before (they read them at import)."""
    os.environ.update(OFFLINE)
    os.environ.setdefault("HF_DATASETS_CACHE", str(cache / "hf-datasets"))
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    config = sys.modules.get("datasets.config")
    if config is not None:
        config.HF_DATASETS_OFFLINE = True
        config.HF_HUB_OFFLINE = True
    for name in ("lm-eval", "lm_eval"):
        logging.getLogger(name).setLevel(logging.ERROR)


class ResultStore:
    """Per task and side: lm-eval's per-document results, one JSON file per content key."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / "results" / key[:2] / f"{key}.json"

    def get(self, key: str) -> TaskResult | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return TaskResult.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is recomputed

    def put(self, key: str, result: TaskResult) -> None:
        write_json_atomic(self._path(key), result.to_json())

    def doc_count(self, key: str) -> int | None:
        path = self.folder / "docs" / f"{key}.json"
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["documents"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put_doc_count(self, key: str, n: int) -> None:
        write_json_atomic(self.folder / "docs" / f"{key}.json", {"documents": n})


def task_manager(staged: Path) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(staged), include_defaults=False)


def count_documents(manager: Any, names: list[str], sources: dict[str, Path]) -> dict[str, int]:
    """How many evaluation documents each task has (building its dataset, offline)."""
    out: dict[str, int] = {}
    for name in names:
        try:
            loaded = manager.load([name])["tasks"]
            task = next(iter(loaded.values()))
            out[name] = len(task.eval_docs)
        except Exception as exc:  # lm-eval or datasets refusing the task's data
            raise InputError(f"{sources[name]}: task {name}: lm-eval could not load its documents: {first_line(exc)}") from None
    return out


@contextlib.contextmanager
def side(model: Any, adapter: bool) -> Iterator[None]:
    """The candidate (adapter on) or the base (the same object, adapter disabled)."""
    if adapter:
        yield
    else:
        with model.disable_adapter():
            yield


def evaluate(lm: Any, manager: Any, samples: dict[str, list[int]]) -> dict[str, TaskResult]:
    """lm-eval's simple_evaluate on these tasks' documents; per-document results from its logged samples."""
    import lm_eval

    out = lm_eval.simple_evaluate(
        model=lm,
        tasks=sorted(samples),
        task_manager=manager,
        samples=samples,
        log_samples=True,
        cache_requests=False,
        use_cache=None,
        bootstrap_iters=0,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    if out is None:
        raise RuntimeError("lm-eval returned no results")
    results: dict[str, TaskResult] = {}
    for name in samples:
        results[name] = task_result(
            name,
            out["samples"][name],
            out["configs"][name],
            out.get("higher_is_better", {}).get(name, {}),
            out["results"].get(name, {}),
        )
    return results
