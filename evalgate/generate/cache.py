"""A persistent, content-addressed cache of model answers in SQLite.

Keys are sha256 over (base model hash, adapter hash or none, rendered prompt hash, generation
config hash), so the base model's answers are reused across data commits, and an answer is never
reused when anything that decides it changed. Each batch is committed in one transaction: a run
killed mid-write loses at most the batch in flight and resumes with what is missing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from evalgate.config import EvaluateParams, cache_dir
from evalgate.generate.base import Generation

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    finish_reason TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


class PredictionCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        found: dict[str, Generation] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, text, tokens, latency_s, finish_reason FROM generations WHERE key IN ({marks})", chunk
            )
            for key, text, tokens, latency, finish in rows:
                found[key] = Generation(text, tokens, latency, finish)
        return found

    def put_many(self, items: Iterable[tuple[str, Generation]]) -> None:
        now = time.time()
        rows = [(k, g.text, g.tokens, g.latency_s, g.finish_reason, now) for k, g in items]
        with self._db:  # one transaction: all of the batch or none of it
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def answer_cache_path(ev: EvaluateParams) -> Path:
    """`evaluate.cache`, or predictions.sqlite in the evalgate cache directory."""
    return Path(ev.cache) if ev.cache else cache_dir() / "predictions.sqlite"
