"""Helpers for the lm-eval versions of evalgate's tasks (see lmeval_baseline.py)."""

from __future__ import annotations

import json


def reference_text(doc: dict) -> str:
    """The golden reference as a string: JSON-dumped when it is an object (ticket_triage)."""
    ref = doc["reference"]
    return ref if isinstance(ref, str) else json.dumps(ref, ensure_ascii=False)
