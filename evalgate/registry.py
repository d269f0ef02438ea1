"""One registry for everything a name in params or a task file picks: gate check kinds, generation
and judge providers, scorers. A leaf: it imports nothing else of evalgate, so any module (the
config's validators among them) can look a name up without importing the code behind it.

Each kind's built-ins are named here as module paths and imported on the first lookup (the way
lm-evaluation-harness registers its models lazily); a plugin (`plugins:` in params.yaml) or a
user's module registers more by importing the kind's decorator (`evalgate.checks.check`,
`evalgate.generate.registry.provider`, `evalgate.scorers.scorer`), which writes here. An unknown
name is the same error everywhere: "unknown <kind> 'x'; did you mean 'y'? (known: ...)".
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Generic, TypeVar

T = TypeVar("T")

BUILTINS: dict[str, tuple[str, ...]] = {
    "check kind": ("evalgate.checks",),
    "provider": ("evalgate.generate.providers", "evalgate.judging.providers"),
    "scorer": ("evalgate.scorers.builtin",),
}
"""Per kind, the modules whose import registers its built-ins."""


class UnknownName(KeyError):
    """A name no entry of a registry (or table) has; its message names the close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def unknown_name(name: str, known: list[str], what: str) -> UnknownName:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownName(f"unknown {what} {name!r}{hint} (known: {', '.join(sorted(known))})")


def lookup(table: Mapping[str, T], name: str, what: str) -> T:
    """`table[name]`, or UnknownName (a KeyError): "unknown <what> 'x'; did you mean 'y'? (known: ...)"."""
    found = table.get(name)
    if found is None:
        raise unknown_name(name, list(table), what)
    return found


class Registry(MutableMapping[str, T], Generic[T]):
    """Name -> entry for one kind; its built-ins are imported the first time it is read."""

    def __init__(self, kind: str, builtins: tuple[str, ...] = ()):
        self.kind = kind
        self.builtins = builtins
        self._entries: dict[str, T] = {}
        self._loaded = not builtins

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first: a built-in module reading its own registry while it loads
            for module in self.builtins:
                importlib.import_module(module)

    def lookup(self, name: str) -> T:
        """The entry for `name`, or UnknownName naming the close matches."""
        return lookup(self, name, self.kind)

    def __getitem__(self, name: str) -> T:
        self._load()
        return self._entries[name]

    def __setitem__(self, name: str, entry: T) -> None:
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(dict(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries


_REGISTRIES: dict[str, Registry] = {}


def registry(kind: str) -> Registry:
    """The one registry of `kind` ("check kind", "provider", "scorer")."""
    if kind not in _REGISTRIES:
        _REGISTRIES[kind] = Registry(kind, BUILTINS.get(kind, ()))
    return _REGISTRIES[kind]
