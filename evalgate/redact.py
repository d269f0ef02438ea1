"""Secrets never reach a message: every line evalgate prints goes through `redact`.

A secret is the value of an environment variable whose name says it holds one (`*_API_KEY`,
`*_TOKEN`, `*SECRET*`, `*PASSWORD*`, `*CREDENTIAL*`, `*ACCESS_KEY*`), or any value a provider
read as a key (`remember`, for keys in variables with other names, e.g. `api_key_env: MY_JUDGE`).
CI logs of public repositories are public: a service that echoes the key in an error body must
not put it in the exit line.
"""

from __future__ import annotations

import os
import re

_NAME = re.compile(
    r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY)", re.IGNORECASE
)
_MIN_LENGTH = 6  # shorter values ("1", "true") are not secrets and would redact ordinary words
_remembered: dict[str, str] = {}


def remember(value: str | None, name: str) -> None:
    """Treat `value` (read from the variable `name`) as a secret from now on."""
    if value and len(value.strip()) >= _MIN_LENGTH:
        _remembered[value.strip()] = name


def secrets() -> dict[str, str]:
    """Secret value -> the name of the variable it came from."""
    found = {
        v.strip(): k
        for k, v in os.environ.items()
        if _NAME.search(k) and v and len(v.strip()) >= _MIN_LENGTH
    }
    return {**found, **_remembered}


def redact(text: str) -> str:
    """`text` with every secret value replaced by `[redacted NAME]`, longest first."""
    known = secrets()
    if not known or not text:
        return text
    for value in sorted(known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, f"[redacted {known[value]}]")
    return text
