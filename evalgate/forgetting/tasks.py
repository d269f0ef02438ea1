"""The forgetting stage's tasks: standard lm-evaluation-harness YAML files in `tasks/forgetting/`.

A file with a `task:` key is a task; other YAML files (templates a task `include:`s) and Python
helpers (`!function module.fn`) sit beside them. evalgate stages the folder for lm-eval with
`${EVALGATE_BENCHMARKS}` replaced by the folder of the bundled benchmark data, and checks before
any model is loaded that each task's data is local: this stage never downloads.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evalgate.artifacts import sha256_file, sha256_json
from evalgate.errors import InputError
from evalgate.forgetting.benchmarks import PLACEHOLDER, referenced

# `dataset_path` values that read local files named by `data_files` (datasets' packaged builders).
FILE_BUILDERS = {"json", "csv", "parquet", "text", "arrow", "pandas"}
OUTPUT_TYPES = {"multiple_choice", "loglikelihood", "loglikelihood_rolling", "generate_until"}


@dataclass
class ForgettingTask:
    name: str
    source: Path
    output_type: str
    config: dict[str, Any]
    benchmarks: list[str]
    inputs: dict[str, str]
    """Project files the task's results depend on (its YAML, included YAMLs, Python helpers) -> sha256."""
    data_files: list[Path]


class _Loader(yaml.SafeLoader):
    """Reads lm-eval YAML without running it: `!function x.y` stays the string `x.y`."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix} {loader.construct_scalar(node)}")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InputError(f"{where}: not a readable YAML file ({getattr(exc, 'problem', None) or exc}); fix it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of lm-eval task fields, got {type(data).__name__}")
    return data


def _resolved(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[Path]]:
    """The task config with its `include:` chain merged (lm-eval: the including file wins)."""
    data = _read(path)
    files = [path]
    inc = data.get("include")
    if isinstance(inc, str):
        target = (path.parent / inc).resolve()
        if target in seen or not target.is_file():
            why = "includes itself" if target in seen else f"include: {inc} not found next to it"
            raise InputError(f"{path}: {why}; an included file must sit in the same folder")
        base, more = _resolved(target, (*seen, path.resolve()))
        data = {**base, **{k: v for k, v in data.items() if k != "include"}}
        files += more
    return data, files


def _data_files(config: dict[str, Any]) -> list[str]:
    files = ((config.get("dataset_kwargs") or {}).get("data_files")) if isinstance(config.get("dataset_kwargs"), dict) else None
    if isinstance(files, str):
        return [files]
    if isinstance(files, list):
        return [f for f in files if isinstance(f, str)]
    if isinstance(files, dict):
        out: list[str] = []
        for v in files.values():
            out += [v] if isinstance(v, str) else [f for f in v if isinstance(f, str)] if isinstance(v, list) else []
        return out
    return []


def _is_local_hf_dataset(path: str, name: str | None) -> bool:
    """Whether `datasets` can build this hub dataset from the local cache alone."""
    try:
        import datasets

        datasets.load_dataset_builder(path, name)
    except Exception:  # not cached, or any other reason it cannot be built offline
        return False
    return True


def discover(tasks_dir: Path, selected: list[str] | None, root: Path) -> list[ForgettingTask]:
    """Every task file in `tasks_dir` (or the `selected` ones), checked: names unique, a known
    output type, data local."""
    if not tasks_dir.is_dir():
        raise InputError(f"forgetting.tasks_dir: {tasks_dir} is not a directory; create it or fix forgetting.tasks_dir in params.yaml")
    helpers = {p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p): sha256_file(p) for p in sorted(tasks_dir.glob("*.py"))}
    found: dict[str, ForgettingTask] = {}
    for path in sorted(tasks_dir.glob("*.y*ml")):
        raw = _read(path)
        if "task" not in raw:
            if "group" in raw:
                raise InputError(f"{path}: a group file; list its tasks under forgetting.tasks instead (each task is its own file)")
            continue  # a template other files include
        config, files = _resolved(path)
        name = config.get("task")
        if not isinstance(name, str) or not name:
            raise InputError(f"{path}: task: must be one task name (a string)")
        if name in found:
            raise InputError(f"{path}: task: '{name}' is already defined in {found[name].source}")
        output_type = config.get("output_type", "generate_until")
        if output_type not in OUTPUT_TYPES:
            raise InputError(f"{path}: output_type: {output_type!r} is not one of {', '.join(sorted(OUTPUT_TYPES))}")
        text = "".join(f.read_text(encoding="utf-8") for f in files)
        inputs = {(f.relative_to(root).as_posix() if f.is_relative_to(root) else str(f)): sha256_file(f) for f in files}
        found[name] = ForgettingTask(name, path, output_type, config, referenced(text), {**inputs, **helpers}, [])
    if selected is not None:
        missing = [n for n in selected if n not in found]
        if missing:
            raise InputError(f"forgetting.tasks: no task '{missing[0]}' in {tasks_dir}; found: {', '.join(sorted(found)) or 'none'}")
        return [found[n] for n in selected]
    return list(found.values())


def check_local(task: ForgettingTask, bench_folder: Path | None, root: Path) -> None:
    """Exit 2 with one line when the task's data would come from a hub."""
    path = task.config.get("dataset_path")
    if not isinstance(path, str):
        raise InputError(f"{task.source}: dataset_path: missing; point it at local data (dataset_path: json with dataset_kwargs.data_files)")
    if path in FILE_BUILDERS:
        files = _data_files(task.config)
        if not files:
            raise InputError(f"{task.source}: dataset_path: {path} needs dataset_kwargs.data_files naming local files")
        resolved = []
        for f in files:
            local = Path(f.replace(PLACEHOLDER, str(bench_folder))) if PLACEHOLDER in f and bench_folder else Path(f)
            local = local if local.is_absolute() else root / local
            if not any(ch in f for ch in "*?[") and not local.is_file():
                raise InputError(f"{task.source}: dataset_kwargs.data_files: {f} does not exist (relative paths are from the project root)")
            resolved.append(local)
        task.data_files = resolved
        return
    if (root / path).exists() or Path(path).is_absolute() and Path(path).exists():
        return
    if not _is_local_hf_dataset(path, task.config.get("dataset_name")):
        raise InputError(
            f"{task.source}: task {task.name}: dataset_path {path} would be downloaded from the Hugging Face hub, and the "
            "forgetting stage runs offline; use dataset_path: json with dataset_kwargs.data_files (local files), or put "
            "the dataset in the local Hugging Face cache first"
        )


def stage_folder(tasks_dir: Path, bench_folder: Path | None, dest: Path) -> None:
    """Copy the task folder for lm-eval with `${EVALGATE_BENCHMARKS}` filled in."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for src in sorted(tasks_dir.iterdir()):
        if not src.is_file():
            continue
        if src.suffix in (".yaml", ".yml"):
            text = src.read_text(encoding="utf-8")
            if bench_folder is not None:
                text = text.replace(PLACEHOLDER, str(bench_folder))
            (dest / src.name).write_text(text, encoding="utf-8")
        else:
            shutil.copy2(src, dest / src.name)


def task_sha256(task: ForgettingTask, manifest: dict[str, Any]) -> str:
    """What the task's results depend on besides the model: its files and its data's hashes."""
    return sha256_json({
        "inputs": sorted(task.inputs.values()),
        "benchmarks": {n: manifest[n]["sha256"] for n in task.benchmarks if n in manifest},
        "data": sorted(sha256_file(p) for p in task.data_files if p.is_file()),
    })
