"""The judge's reply cache: SQLite, content-addressed, one row committed per graded request.

The key is a sha256 over everything that decides a grade: provider, the exact model id, the
rubric's and the prompt templates' hashes, the hashes of the input, the reference and the
answer(s), the mode, the order and the sample index. A re-run makes no request, and a run
killed mid-way resumes with exactly the requests that had not finished. No key or secret is
part of a key or a row.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalgate.artifacts import sha256_text

SCHEMA = "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL NOT NULL)"


def judge_key(**parts: Any) -> str:
    return sha256_text(json.dumps(parts, sort_keys=True, ensure_ascii=False))


class JudgeCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM replies WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(value)
        return found

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?)", (key, json.dumps(value), time.time()))

    def close(self) -> None:
        with self._lock:
            self._db.close()
