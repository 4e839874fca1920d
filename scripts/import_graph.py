"""The import graph of the portal's packages, read by grimp from the source (every import
statement, including those inside functions and under TYPE_CHECKING), checked against the layout
of docs/STYLE: arrows point down only, requests_app -> authorities -> portal (so portal imports no
app, and authorities does not import requests_app), and no import cycle between the modules of a
package.

    .venv/bin/python scripts/import_graph.py

prints the imports between the packages and every problem found; exits 1 when there is one.
tests/portal/test_import_graph.py runs the same checks.
"""

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
# Highest first: a package may import the ones after it, never the ones before.
LAYERS = ("requests_app", "authorities", "portal")


def build() -> grimp.ImportGraph:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*LAYERS, cache_dir=None)


def package_of(module: str) -> str:
    return module.split(".", 1)[0]


def upward_imports(graph: grimp.ImportGraph) -> list[str]:
    """Each direct import from a package to a higher one ("portal.urls:4 -> authorities.views")."""
    rank = {package: i for i, package in enumerate(LAYERS)}
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if rank[package_of(imported)] < rank[package_of(importer)]:
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    found.append(f"{importer}:{detail['line_number']} -> {imported}")
    return found


def strongly_connected(nodes: Iterable[str], edges: Callable[[str], Iterable[str]]) -> list[list]:
    """The groups of two or more nodes that reach each other (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The groups of modules of `package` that import each other, directly or through others."""
    members = {m for m in graph.modules if package_of(m) == package}
    return strongly_connected(
        members, lambda m: graph.find_modules_directly_imported_by(m) & members
    )


def main() -> int:
    graph = build()
    print(f"{len(graph.modules)} modules in {', '.join(LAYERS)}")
    for importer in LAYERS:
        for imported in LAYERS:
            if importer != imported:
                count = sum(
                    1
                    for module in graph.modules
                    if package_of(module) == importer
                    for target in graph.find_modules_directly_imported_by(module)
                    if package_of(target) == imported
                )
                print(f"  {importer} -> {imported}: {count} module imports")
    problems = [f"upward import: {line}" for line in upward_imports(graph)]
    for package in LAYERS:
        problems += [
            f"import cycle in {package}: {' <-> '.join(group)}" for group in cycles(graph, package)
        ]
    for problem in problems:
        print(problem)
    if not problems:
        print("no upward import (portal imports no app), no import cycle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
