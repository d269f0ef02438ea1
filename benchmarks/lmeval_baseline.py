"""The lm-evaluation-harness side of the evaluate-stage throughput comparison.

Runs lm-eval (0.4.13, in-process, HF backend on CPU) on lm-eval versions of evalgate's shipped
tasks (`benchmarks/lm_eval_tasks/*.yaml`): same golden sets, same chat-templated prompts (system
prompt included), greedy decoding with the same max_new_tokens and stop strings. Scoring is a
cheap exact_match; what matters is the wall time of loading the model and generating.

    python benchmarks/lmeval_baseline.py --batch-size 8 --limit 4 [--adapter DIR] [--model DIR]

Works offline: the Hugging Face hub is switched off before lm_eval / datasets / transformers are
imported, and the golden sets are read with the packaged `json` dataset builder (no hub access;
the Arrow cache it writes goes to a temporary HF_DATASETS_CACHE per run unless told otherwise).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Must happen before lm_eval, datasets, transformers or huggingface_hub are imported.
for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"
DEFAULT_TASKS = ["ticket_triage", "alarm_summary"]
# The data_files line in our task YAMLs: `    test: golden_sets/<name>.jsonl`.
_DATA_FILE_LINE = re.compile(r"^(?P<indent>\s+test:\s*)(?P<path>\S+\.jsonl)\s*$", re.MULTILINE)


def _quiet() -> None:
    for name in (
        "lm_eval",
        "lm-eval",
        "datasets",
        "transformers",
        "peft",
        "huggingface_hub",
        "httpx",
        "urllib3",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    import datasets
    import transformers

    datasets.utils.logging.set_verbosity_warning()
    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def write_task_dir(dest: Path, tasks: list[str] | None = None, repo: Path = REPO) -> Path:
    """Copy benchmarks/lm_eval_tasks to `dest` with every golden-set path made absolute.

    lm-eval hands `data_files` to datasets.load_dataset, which resolves relative paths against
    the current directory; absolute paths make the run independent of where it is started.
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(TASKS_DIR / "utils.py", dest / "utils.py")
    names = tasks or [p.stem for p in sorted(TASKS_DIR.glob("*.yaml"))]
    for name in names:
        src = TASKS_DIR / f"{name}.yaml"
        if not src.is_file():
            raise FileNotFoundError(f"no lm-eval task {name}: {src} does not exist")
        text = src.read_text(encoding="utf-8")

        def absolute(m: re.Match[str], src: Path = src) -> str:
            path = Path(m["path"])
            path = path if path.is_absolute() else (repo / path).resolve()
            if not path.is_file():
                raise FileNotFoundError(f"{src}: golden set {path} does not exist")
            return m["indent"] + json.dumps(str(path))

        text, n = _DATA_FILE_LINE.subn(absolute, text)
        if n != 1:
            raise ValueError(
                f"{src}: expected one `test: <golden set>.jsonl` line under data_files, found {n}"
            )
        (dest / f"{name}.yaml").write_text(text, encoding="utf-8")
    return dest


def _load_lmeval_yaml(path: Path) -> dict[str, Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(
        "!function", lambda loader, node: f"!function {loader.construct_scalar(node)}"
    )
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass


def check_in_sync(tasks: list[str] | None = None, repo: Path = REPO) -> None:
    """Raise ValueError where an lm-eval task YAML no longer matches its evalgate task.

    Compared: golden set, system prompt (lm-eval `description`), user template (`doc_to_text`),
    max_new_tokens (`max_gen_toks`) and stop strings (`until`); greedy decoding on both sides.
    """
    import yaml

    problems: list[str] = []
    for name in tasks or [p.stem for p in sorted(TASKS_DIR.glob("*.yaml"))]:
        ours = _load_lmeval_yaml(TASKS_DIR / f"{name}.yaml")
        theirs_path = repo / "tasks" / f"{name}.yaml"
        if not theirs_path.is_file():
            problems.append(f"{name}: no evalgate task {theirs_path}")
            continue
        theirs = yaml.safe_load(theirs_path.read_text(encoding="utf-8"))
        gen = theirs.get("generation") or {}
        gk = ours.get("generation_kwargs") or {}
        pairs = {
            "golden set": (theirs["golden_set"], ours["dataset_kwargs"]["data_files"]["test"]),
            "system prompt": (theirs.get("system_prompt") or "", ours.get("description") or ""),
            "user template": (theirs["user_template"], ours["doc_to_text"]),
            "max_new_tokens": (gen.get("max_new_tokens", 128), gk.get("max_gen_toks")),
            "stop": (list(gen.get("stop") or []), list(gk.get("until") or [])),
            "greedy": (True, gk.get("do_sample") is False),
        }
        for what, (want, have) in pairs.items():
            if want != have:
                problems.append(f"{name}: {what} differs: evalgate {want!r}, lm-eval {have!r}")
    if problems:
        raise ValueError(
            "benchmarks/lm_eval_tasks is out of sync with tasks/:\n" + "\n".join(problems)
        )


def _outputs(samples: list[dict[str, Any]]) -> list[str]:
    """Generated strings in golden-set (document) order."""
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    return [
        s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
        for s in ordered
    ]


def run_lm_eval(
    model_dir: Path,
    adapter_dir: Path | None,
    batch_size: int,
    limit: int | None = None,
    tasks: list[str] = DEFAULT_TASKS,  # noqa: B006 - never mutated
    *,
    keep_samples: bool = False,
    dataset_cache: Path | None = None,
) -> dict[str, Any]:
    """Run lm-eval on `tasks` in one simple_evaluate call; wall time includes model loading.

    Returns {"wall_s", "n_items", "outputs": {task: [generated strings in golden order]}} plus
    "import_s" (importing lm_eval, outside wall_s), "per_item_s", "metrics" and, with
    keep_samples, lm-eval's logged "samples" (rendered prompts in samples[task][i]["arguments"]).

    `dataset_cache` is where datasets writes the Arrow copy of the golden sets; by default a
    fresh temporary directory, so every run pays the same (small) dataset-building cost and
    nothing is read from or left in ~/.cache/huggingface/datasets.
    """
    tasks = list(tasks)
    check_in_sync(tasks)
    with tempfile.TemporaryDirectory(prefix="lmeval-baseline-") as tmp:
        tmp_path = Path(tmp)
        cache = dataset_cache or tmp_path / "hf_datasets"
        t0 = time.perf_counter()
        import datasets.config
        import lm_eval
        from lm_eval.tasks import TaskManager

        import_s = time.perf_counter() - t0
        _quiet()
        saved_cache = datasets.config.HF_DATASETS_CACHE
        datasets.config.HF_DATASETS_CACHE = cache  # load_dataset reads it at call time
        task_dir = write_task_dir(tmp_path / "tasks", tasks)

        try:
            start = time.perf_counter()
            # include_defaults=False: do not index lm-eval's ~14.7k bundled task configs (~19 s
            # on this machine, work that has nothing to do with evaluating these tasks).
            task_manager = TaskManager(include_path=str(task_dir), include_defaults=False)
            results = lm_eval.simple_evaluate(
                model="hf",
                model_args={
                    "pretrained": str(model_dir),
                    "peft": str(adapter_dir) if adapter_dir else None,
                    "dtype": "float32",
                    "device": "cpu",
                },
                tasks=tasks,
                batch_size=batch_size,
                limit=limit,
                apply_chat_template=True,
                system_instruction=None,  # ticket_triage's system prompt is its task `description`
                task_manager=task_manager,
                log_samples=True,
                bootstrap_iters=0,
            )
            wall_s = time.perf_counter() - start
        finally:
            datasets.config.HF_DATASETS_CACHE = saved_cache

    assert results is not None
    outputs = {task: _outputs(results["samples"][task]) for task in tasks}
    n_items = sum(len(v) for v in outputs.values())
    out: dict[str, Any] = {
        "wall_s": wall_s,
        "n_items": n_items,
        "outputs": outputs,
        "import_s": import_s,
        "per_item_s": wall_s / n_items if n_items else None,
        "metrics": {task: results["results"][task] for task in tasks},
    }
    if keep_samples:
        out["samples"] = results["samples"]
    return out


def default_model_dir() -> Path:
    sys.path.insert(0, str(REPO))
    from evalgate.models import model_dir, resolve_base

    return model_dir(resolve_base("smollm2-135m-instruct"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None, help="items per task (default: all)")
    ap.add_argument("--adapter", type=Path, default=None, help="PEFT adapter directory")
    ap.add_argument(
        "--model",
        type=Path,
        default=None,
        help="base model directory (default: the built-in SmolLM2-135M-Instruct)",
    )
    ap.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    ap.add_argument("--show", type=int, default=1, help="outputs to print per task")
    args = ap.parse_args(argv)
    # Before tqdm is first imported: silences the dataset/request-building bars. lm-eval's own
    # "Running generate_until requests" bar passes disable=False explicitly and still shows.
    os.environ.setdefault("TQDM_DISABLE", "1")

    model = args.model or default_model_dir()
    res = run_lm_eval(model, args.adapter, args.batch_size, args.limit, args.tasks)
    print(
        f"lm-eval {res['n_items']} items in {res['wall_s']:.2f} s "
        f"({res['per_item_s']:.2f} s/item, batch size {args.batch_size}, model load included; "
        f"import lm_eval {res['import_s']:.2f} s not included)"
    )
    for task, outs in res["outputs"].items():
        print(f"  {task}: {len(outs)} items")
        for text in outs[: args.show]:
            print(f"    {json.dumps(text)[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
