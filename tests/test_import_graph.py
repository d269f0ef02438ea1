"""evalgate's modules import each other without a cycle, and the registry is a leaf.

Every import statement counts, those inside functions included (a function-level import is
still a dependency, only a later one); imports under `if TYPE_CHECKING:` do not (they never run).
The graph is checked twice: leaving out a package's imports of its own submodules (an
`__init__.py` gathering its parts), and counting those too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evalgate"


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def _known(name: str) -> str | None:
    """The evalgate module `name` is, or the one it is an attribute of."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> set[str]:
    """The evalgate modules `module` imports, anywhere in its body."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for sub in node.orelse:
                visit(sub)
            return
        if isinstance(node, ast.Import):
            found.update(filter(None, (_known(a.name) for a in node.names if a.name.startswith("evalgate"))))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.split(".")[0] == "evalgate":
                for alias in node.names:
                    # `from evalgate.x import y` imports the module x.y when there is one
                    found.add(_known(f"{base}.{alias.name}") or base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return found


def graph(own_submodules: bool) -> dict[str, set[str]]:
    out = {}
    for module, path in MODULES.items():
        deps = imports_of(module)
        if not own_submodules and path.name == "__init__.py":
            deps = {d for d in deps if not d.startswith(module + ".")}
        out[module] = deps
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("own_submodules", [False, True], ids=["packages-gathering-parts-left-out", "every-import"])
def test_no_import_cycle(own_submodules: bool) -> None:
    found = cycles(graph(own_submodules))
    assert not found, "import cycles among evalgate's modules: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_registry_imports_nothing_of_evalgate() -> None:
    assert imports_of("evalgate.registry") == set()
    assert "evalgate.registry" in imports_of("evalgate.config")  # the config's names are looked up there
