"""Deterministic train/validation split by content hash.

A record's split depends only on its own content and the salt, so adding records never
moves existing ones between splits (shuffling would).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from evalgate.config import SplitParams


def assign_split(content_key: str, params: SplitParams) -> Literal["train", "val"]:
    digest = hashlib.sha256(f"{params.salt}\x00{content_key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "val" if position < params.val_fraction else "train"
