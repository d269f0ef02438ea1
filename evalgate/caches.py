"""The evalgate cache directory (`EVALGATE_CACHE_DIR`, else ~/.cache/evalgate), kind by kind:
what each holds, how big it is, and pruning by age (`evalgate cache`).

Every entry is content-addressed, so deleting any of them is safe: the next run recomputes what
it needs. Pruning by age removes what has not been used (or, where a kind does not record use,
written) for a number of days:

* the answer and judge stores (SQLite): rows by the time they were written;
* the frozen-layer states: files by their last use (a read touches the file);
* replay targets and forgetting results: files by the time they were written.

Converted models, converted benchmark data and datasets are rebuilt from the installed
packages at some cost and are used by every run, so age never prunes them; `--kind` names them
explicitly to remove them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from evalgate.errors import InputError


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    """Relative to the cache directory: a file (SQLite) or a folder."""
    holds: str
    table: str = ""
    """SQLite: the table whose rows carry `created_at`."""
    by_age: bool = True
    """Whether `prune --older-than` removes its old entries (else only `--kind` names it)."""


KINDS = (
    Kind("answers", "predictions.sqlite", "model answers of evaluate (by base, adapter, prompt, batch)", table="generations"),
    Kind("judge", "judge.sqlite", "judge replies and local grades", table="replies"),
    Kind("states", "trunk", "frozen-layer states of evaluate and forgetting batches"),
    Kind("train-states", "train-trunk", "frozen-layer states of training records"),
    Kind("replay", "replay-targets", "the base model's next-token targets for replay"),
    Kind("forgetting", "forgetting", "lm-eval results per task, side and document subset"),
    Kind("models", "models", "built-in models converted from their packages", by_age=False),
    Kind("benchmarks", "benchmarks", "bundled forgetting benchmarks converted for lm-eval", by_age=False),
    Kind("datasets", "hf-datasets", "datasets' own cache of the converted benchmarks", by_age=False),
    Kind("hashes", "hashes.json", "sha256 of model files, by size and modification time", by_age=False),
)
BY_NAME = {k.name: k for k in KINDS}


@dataclass
class Usage:
    kind: Kind
    entries: int
    bytes: int
    oldest: float | None
    newest: float | None


def _files(folder: Path) -> Iterator[Path]:
    for root, _, names in os.walk(folder):
        for name in names:
            yield Path(root) / name


def _sqlite_files(path: Path) -> list[Path]:
    return [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")) if p.is_file()]


@contextlib.contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def usage(root: Path, kind: Kind) -> Usage:
    path = root / kind.path
    if kind.table:
        files = _sqlite_files(path)
        if not files:
            return Usage(kind, 0, 0, None, None)
        size = sum(p.stat().st_size for p in files)
        try:
            with _db(path) as db:
                n, oldest, newest = db.execute(f"SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM {kind.table}").fetchone()
        except sqlite3.Error as exc:
            raise InputError(f"{path}: not a readable evalgate store ({exc}); delete it (`evalgate cache prune --kind {kind.name}`)") from None
        return Usage(kind, int(n), size, oldest, newest)
    if path.is_file():
        st = path.stat()
        return Usage(kind, 1, st.st_size, st.st_mtime, st.st_mtime)
    stats = [p.stat() for p in _files(path)] if path.is_dir() else []
    times = [s.st_mtime for s in stats]
    return Usage(kind, len(stats), sum(s.st_size for s in stats), min(times, default=None), max(times, default=None))


def others(root: Path) -> list[Path]:
    """What the cache directory holds that no kind describes (left alone by pruning)."""
    known = {k.path for k in KINDS} | {k.path + s for k in KINDS if k.table for s in ("-wal", "-shm")}
    return sorted(p for p in root.iterdir() if p.name not in known) if root.is_dir() else []


@dataclass
class Pruned:
    kind: Kind
    entries: int
    bytes: int


def prune(root: Path, kind: Kind, *, older_than_days: float | None, dry_run: bool = False, now: float | None = None) -> Pruned:
    """Remove `kind`'s entries older than `older_than_days` (None: all of them)."""
    path = root / kind.path
    cutoff = None if older_than_days is None else (now if now is not None else time.time()) - older_than_days * 86400
    if kind.table:
        if not _sqlite_files(path):
            return Pruned(kind, 0, 0)
        before = sum(p.stat().st_size for p in _sqlite_files(path))
        with _db(path) as db:
            where, args = ("", ()) if cutoff is None else (" WHERE created_at < ?", (cutoff,))
            n = db.execute(f"SELECT COUNT(*) FROM {kind.table}{where}", args).fetchone()[0]
            if dry_run or not n:
                return Pruned(kind, int(n), 0)
            db.execute(f"DELETE FROM {kind.table}{where}", args)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("VACUUM")
        after = sum(p.stat().st_size for p in _sqlite_files(path))
        return Pruned(kind, int(n), max(before - after, 0))
    if path.is_file():
        old = cutoff is None or path.stat().st_mtime < cutoff
        size = path.stat().st_size if old else 0
        if old and not dry_run:
            path.unlink()
        return Pruned(kind, int(old), size)
    n = size = 0
    for f in list(_files(path)) if path.is_dir() else []:
        st = f.stat()
        if cutoff is None or st.st_mtime < cutoff:
            n, size = n + 1, size + st.st_size
            if not dry_run:
                f.unlink()
    if cutoff is None and path.is_dir() and not dry_run:
        shutil.rmtree(path, ignore_errors=True)
    return Pruned(kind, n, size)


def kinds_named(names: list[str]) -> list[Kind]:
    """The kinds `names` picks; an unknown name is an error naming the close matches."""
    from evalgate.registry import lookup

    out = []
    for name in names:
        try:
            out.append(lookup(BY_NAME, name, "cache kind"))
        except KeyError as exc:
            raise InputError(f"--kind: {exc}") from None
    return out


def human_bytes(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}"


def age(t: float | None, now: float | None = None) -> str:
    if t is None:
        return "-"
    days = ((now if now is not None else time.time()) - t) / 86400
    return f"{days:.0f} d" if days >= 1 else f"{days * 24:.0f} h"
