"""Looking names up in a table, with the close matches when one is unknown (the registries'
error, `evalgate.registry.lookup`, for tables that are not registries, such as rubrics)."""

from __future__ import annotations

from evalgate.registry import UnknownName, lookup

__all__ = ["UnknownName", "lookup"]
