"""The `prepare` stage: validate, normalise, de-duplicate, remove leakage, split, hash.

Nothing is written until every record has been checked; then all outputs are written
atomically, the manifest last (it holds the hashes of the others).
"""

from __future__ import annotations

import glob
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evalgate import __version__
from evalgate.artifacts import (
    jsonl_bytes,
    package_versions,
    sha256_bytes,
    sha256_file,
    sha256_json,
    write_bytes_atomic,
)
from evalgate.config import Params, PrepareParams
from evalgate.contract import PATHS, SCHEMA_VERSION, PrepareManifest, PrepareReport, write_artifact
from evalgate.data import dedup
from evalgate.data.minhash import NearDuplicateIndex, Sketcher
from evalgate.data.records import Problem, Record, read_file
from evalgate.data.split import assign_split
from evalgate.errors import ConfigError, ValidationFailed
from evalgate.models import load_tokenizer, resolve_base, tokenizer_sha256
from evalgate.prompts import count_tokens, render_chats
from evalgate.tasks import golden_sha256, load_golden, load_tasks
from evalgate.ui import info, track, warn

MANIFEST = "manifest.json"
RENDER_BATCH = 512


@dataclass
class Removal:
    record: Record
    reason: str
    detail: str
    related: str | None = None
    similarity: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.record.id,
            "source": self.record.where,
            "reason": self.reason,
            "detail": self.detail,
        }
        if self.related is not None:
            out["related"] = self.related
        if self.similarity is not None:
            out["similarity"] = round(self.similarity, 4)
        return out


@dataclass
class InputFile:
    path: Path
    display: str
    declared: str
    format: str | None = None
    records: int = 0
    invalid: int = 0
    sha256: str = ""


@dataclass
class PrepareResult:
    output_dir: Path
    manifest: dict[str, Any]
    report: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


def _expand_inputs(params: PrepareParams, root: Path) -> list[InputFile]:
    files: list[InputFile] = []
    seen: set[Path] = set()
    for i, spec in enumerate(params.inputs):
        matches = sorted(glob.glob(str(root / spec.path))) if glob.has_magic(spec.path) else [str(root / spec.path)]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise ConfigError(
                f"params.yaml: prepare.inputs[{i}].path: {spec.path} matches no file; "
                "fix the path or add the data file"
            )
        for match in matches:
            path = Path(match).resolve()
            if path in seen:
                continue
            seen.add(path)
            display = str(Path(match).relative_to(root)) if Path(match).is_relative_to(root) else match
            files.append(InputFile(Path(match), display, spec.format))
    return files


def _check_ids(records: list[Record]) -> list[Problem]:
    """One id must name one record. A verbatim repeat (same id, same content, as when one export
    is appended twice) is not an error: exact de-duplication removes and lists it."""
    first: dict[str, Record] = {}
    problems = []
    for rec in records:
        if not rec.explicit_id:
            continue
        seen = first.get(rec.id)
        if seen is None:
            first[rec.id] = rec
        elif dedup.exact_key(dedup.normalised(rec.messages)) != dedup.exact_key(dedup.normalised(seen.messages)):
            problems.append(
                Problem(
                    rec.file,
                    rec.line,
                    f"duplicate id '{rec.id}' names a different record than at {seen.where}; give each record its own id",
                )
            )
    return problems


def _count_tokens(records: list[Record], tokenizer: Any) -> None:
    """Render every chat with the model's template and count its tokens.

    Rendering (Jinja, holds the GIL) and tokenising (Rust, releases it) overlap: the next
    batch is rendered while a worker thread tokenises the previous one.
    """
    from concurrent.futures import ThreadPoolExecutor

    starts = range(0, len(records), RENDER_BATCH)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for start in track(starts, "Counting tokens", total=len(starts)):
            chunk = records[start : start + RENDER_BATCH]
            texts = render_chats(tokenizer, [r.messages for r in chunk])
            if pending is not None:
                _assign_counts(*pending[0], pending[1].result())
            pending = ((chunk,), pool.submit(count_tokens, tokenizer, texts))
        if pending is not None:
            _assign_counts(*pending[0], pending[1].result())


def _assign_counts(chunk: list[Record], counts: list[int]) -> None:
    for rec, n in zip(chunk, counts, strict=True):
        rec.n_tokens = n


def _remove_exact(records: list[Record]) -> tuple[list[Record], list[Removal]]:
    kept, removed, first = [], [], {}
    for rec in records:
        key = rec.content_key
        if key in first:
            same_id = rec.explicit_id and rec.id == first[key].id
            detail = f"verbatim repeat of {first[key].where} (same id)" if same_id else f"same normalised text as {first[key].where}"
            removed.append(Removal(rec, "exact_duplicate", detail, first[key].id, 1.0))
        else:
            first[key] = rec
            kept.append(rec)
    return kept, removed


def _contradictions(records: list[Record], policy: str) -> tuple[list[Record], list[Removal], list[dict[str, Any]]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        groups[dedup.prompt_key(rec.norm)].append(rec)
    conflicts = [g for g in groups.values() if len(g) > 1]
    report = [
        {"ids": [r.id for r in g], "sources": [r.where for r in g], "policy": policy}
        for g in conflicts
    ]
    if policy == "fail" and conflicts:
        lines = [
            f"{g[1].where}: contradiction: same prompt as {g[0].where} with a different answer"
            for g in conflicts
        ]
        raise ValidationFailed(
            f"{len(conflicts)} prompts have contradicting answers; fix the data or set "
            "prepare.contradictions to drop_all, keep_first or report in params.yaml",
            lines,
        )
    if policy == "report":
        return records, [], report
    drop: dict[int, Removal] = {}
    for g in conflicts:
        if policy == "keep_first":  # the first in the inputs: the one setting where order matters
            g = sorted(g, key=lambda r: r.position)
        victims = g if policy == "drop_all" else g[1:]
        for rec in victims:
            others = ", ".join(r.where for r in g if r is not rec)
            drop[id(rec)] = Removal(rec, "contradiction", f"same prompt as {others} with a different answer", g[0].id if rec is not g[0] else g[1].id)
    return [r for r in records if id(r) not in drop], list(drop.values()), report


def _remove_leakage(
    records: list[Record], golden: list[tuple[str, str, str]], params: PrepareParams
) -> tuple[list[Record], list[Removal]]:
    """Drop training records whose user text near-duplicates a golden-set prompt."""
    if not golden or not params.leakage.enabled:
        return records, []
    nd = params.near_dedup
    sketcher = Sketcher(nd.shingle_size, nd.num_perm, nd.seed)
    index = NearDuplicateIndex(sketcher, params.leakage.threshold)
    golden_sigs = sketcher.signatures([text for _, _, text in golden])
    golden_keys = index.band_keys(golden_sigs)
    for (task, item_id, _), sig, keys in zip(golden, golden_sigs, golden_keys, strict=True):
        index.insert(f"{task}/{item_id}", sig, keys)
    exact = {text: f"{task}/{item_id}" for task, item_id, text in golden}
    texts = [dedup.user_text(r.norm) for r in records]
    sigs = sketcher.signatures(texts)
    all_keys = index.band_keys(sigs)
    kept, removed = [], []
    for i, rec in enumerate(track(records, "Checking leakage")):
        hit = (exact[texts[i]], 1.0) if texts[i] in exact else index.match(sigs[i], all_keys[i])
        if hit is None:
            kept.append(rec)
        else:
            removed.append(Removal(rec, "leakage", f"prompt near-duplicates golden item {hit[0]}", str(hit[0]), hit[1]))
    return kept, removed


def _remove_near(records: list[Record], params: PrepareParams) -> tuple[list[Record], list[Removal]]:
    nd = params.near_dedup
    if not nd.enabled:
        return records, []
    sketcher = Sketcher(nd.shingle_size, nd.num_perm, nd.seed)
    sigs = sketcher.signatures([dedup.near_text(r.norm) for r in records])
    index = NearDuplicateIndex(sketcher, nd.threshold)
    all_keys = index.band_keys(sigs)
    kept, removed = [], []
    for i, rec in enumerate(track(records, "Near-duplicates")):
        hit = index.match(sigs[i], all_keys[i])
        if hit is None:
            index.insert(i, sigs[i], all_keys[i])
            kept.append(rec)
        else:
            other = records[int(hit[0])]  # type: ignore[call-overload]
            removed.append(Removal(rec, "near_duplicate", f"near-duplicate of {other.where}", other.id, hit[1]))
    return kept, removed


def _token_stats(lengths: list[int]) -> dict[str, Any]:
    if not lengths:
        return {"count": 0}
    arr = np.asarray(lengths)
    pct = {f"p{q}": int(np.percentile(arr, q, method="nearest")) for q in (50, 90, 95, 99)}
    return {
        "count": len(lengths),
        "total": int(arr.sum()),
        "min": int(arr.min()),
        "mean": round(float(statistics.fmean(lengths)), 2),
        **pct,
        "max": int(arr.max()),
    }


def run_prepare(params: Params, root: Path = Path(".")) -> PrepareResult:
    p = params.prepare
    out_dir = root / p.output_dir
    inputs = _expand_inputs(p, root)
    ref = resolve_base(params.model.base, params.model.revision)
    tokenizer = load_tokenizer(ref)

    records: list[Record] = []
    problems: list[Problem] = []
    for spec in inputs:
        recs, probs, fmt = read_file(spec.path, spec.display, spec.declared)
        spec.format, spec.records, spec.invalid, spec.sha256 = fmt, len(recs), len(probs), sha256_file(spec.path)
        records += recs
        problems += probs
    info(f"read {len(records) + len(problems):,} records from {len(inputs)} file(s)")

    problems += _check_ids(records)
    bad_ids = {(pr.file, pr.line) for pr in problems}
    records = [r for r in records if (r.file, r.line) not in bad_ids]

    _count_tokens(records, tokenizer)
    too_long = [r for r in records if r.n_tokens > p.max_tokens]
    problems += [
        Problem(r.file, r.line, f"record has {r.n_tokens} tokens, over the limit prepare.max_tokens={p.max_tokens}")
        for r in too_long
    ]
    order = {spec.display: i for i, spec in enumerate(inputs)}
    problems.sort(key=lambda pr: (order.get(pr.file, len(order)), pr.line))
    if problems and p.on_invalid == "fail":
        raise ValidationFailed(
            f"{len(problems)} invalid record(s); fix them, or set prepare.on_invalid: skip in params.yaml "
            "to write the valid ones and a rejects file",
            [str(pr) for pr in problems],
        )
    long_ids = {id(r) for r in too_long}
    records = [r for r in records if id(r) not in long_ids]
    for position, rec in enumerate(records):
        rec.norm = dedup.normalised(rec.messages)
        rec.content_key = dedup.exact_key(rec.norm)
        rec.position = position
    # From here on the records are a set: processed in content order, so which of two
    # duplicates is kept (exact or near) and the prepared files do not depend on input order.
    records.sort(key=lambda r: r.canonical_key)

    tasks = load_tasks(root / params.tasks_dir) if (root / params.tasks_dir).exists() else []
    golden: list[tuple[str, str, str]] = []
    golden_meta = []
    for task in tasks:
        items = load_golden(task)
        golden += [(task.name, it.id, dedup.user_text(dedup.normalised(it.messages))) for it in items]
        golden_meta.append({"task": task.name, "path": task.spec.golden_set, "sha256": golden_sha256(task), "items": len(items)})
    if p.leakage.enabled and not golden:
        warn(f"no golden sets found under {params.tasks_dir}/: leakage check has nothing to compare against")

    records, exact_removed = _remove_exact(records)
    records, contra_removed, contradictions = _contradictions(records, p.contradictions)
    records, leak_removed = _remove_leakage(records, golden, p)
    records, near_removed = _remove_near(records, p)
    if not records:
        raise ValidationFailed("no records left after validation and de-duplication; nothing to train on", [])

    split = {r.id: assign_split(r.content_key, p.split) for r in records}
    # Still in content order (sorted above): the same set of records gives the same bytes.
    train = [r.canonical() for r in records if split[r.id] == "train"]
    val = [r.canonical() for r in records if split[r.id] == "val"]
    removals = exact_removed + contra_removed + leak_removed + near_removed
    rejects = [{"source": str(pr), "file": pr.file, "line": pr.line, "reason": pr.reason, "raw": pr.raw} for pr in problems]

    blobs = {"train.jsonl": jsonl_bytes(train), "val.jsonl": jsonl_bytes(val)}
    hashes = {name: sha256_bytes(data) for name, data in blobs.items()}
    dataset_sha = sha256_json({"train": hashes["train.jsonl"], "val": hashes["val.jsonl"]})
    # The manifest, like train.jsonl and val.jsonl, is a function of the prepared records alone:
    # a commit that only reorders records, repeats some verbatim or touches nothing they keep
    # leaves data/prepared/ byte-identical, and so retrains nothing. Where records came from and
    # what was removed (file:line, input hashes, versions) is in the prepare report instead.
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "kind": "evalgate.prepare.manifest",
        "dataset_sha256": dataset_sha,
        "files": {
            name: {"sha256": hashes[name], "records": n} for name, n in (("train.jsonl", len(train)), ("val.jsonl", len(val)))
        },
        "counts": {"train": len(train), "val": len(val)},
    }
    fmt_mix: dict[str, int] = defaultdict(int)
    for r in records:
        fmt_mix[r.format] += 1
    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": "evalgate.prepare.report",
        "dataset_sha256": dataset_sha,
        "inputs": [
            {"path": s.display, "sha256": s.sha256, "format": s.format, "declared_format": s.declared, "records": s.records, "invalid": s.invalid}
            for s in inputs
        ],
        "golden_sets": golden_meta,
        "base_model": {"spec": ref.spec, "tokenizer_sha256": tokenizer_sha256(ref)},
        "params": p.model_dump(mode="json"),
        "params_sha256": sha256_json(p.model_dump(mode="json")),
        "counts": {
            "read": len(records) + len(removals) + len(problems),
            "invalid": len(problems),
            "exact_duplicates": len(exact_removed),
            "contradictions": len(contradictions),
            "contradiction_removed": len(contra_removed),
            "leakage": len(leak_removed),
            "near_duplicates": len(near_removed),
            "kept": len(records),
            "train": len(train),
            "val": len(val),
        },
        "format_mix": dict(sorted(fmt_mix.items())),
        "token_lengths": _token_stats([r.n_tokens for r in records]),
        "removals": [rm.as_dict() for rm in removals],
        "contradictions": contradictions,
        "rejects": rejects,
        "provenance": {
            "evalgate_version": __version__,
            "packages": package_versions(["datasketch", "tokenizers", "transformers", "numpy"]),
        },
    }
    write_artifact(root / PATHS["prepare.report"], PrepareReport, report)
    for name, data in blobs.items():
        write_bytes_atomic(out_dir / name, data)
    (out_dir / "rejects.jsonl").unlink(missing_ok=True)  # written here by older versions
    write_artifact(out_dir / MANIFEST, PrepareManifest, manifest)
    return PrepareResult(out_dir, manifest, report, problems)
