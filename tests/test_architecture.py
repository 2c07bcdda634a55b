"""The package's shape: no import cycles, no oversized modules.

The import graph is read from the source with ``ast``, so it sees every import a module can
make: at module level, inside functions, relative ones resolved, and ``from . import x``
counted as an import of the submodule ``x`` when ``x`` is one. A function-level import that
only dodges a cycle is still a cycle here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "formulang"
MAX_LINES = 600


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(node: ast.AST, module: str, is_package: bool, modules) -> list[str]:
    """The package's modules that one import statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    if node.level:  # relative: the current package, then one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[:len(package) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    found = []
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        if submodule in modules:
            found.append(submodule)
        elif source in modules:
            found.append(source)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Module -> {imported module: line of the first such import}, within the package."""
    modules = module_names(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(node, module, path.name == "__init__.py", modules):
                    if target != module:
                        edges.setdefault(target, node.lineno)
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The import cycles, each as ``[a, b, ..., a]`` starting at its first module in sorted
    order: for every import that lies on a cycle, the shortest cycle through it. Every
    two-module loop appears, and a tangle of many modules shows each import that closes it."""
    component = _components(graph)
    cycles = set()
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if component.get(a) is not None and component.get(a) == component.get(b):
                path = _shortest_path(graph, b, a, component)
                cycle = [a] + path  # a -> b -> ... -> a
                ring = cycle[:-1]
                first = ring.index(min(ring))
                ring = ring[first:] + ring[:first]
                cycles.add(tuple(ring + ring[:1]))
    return sorted(list(c) for c in cycles)


def _components(graph) -> dict[str, int]:
    """Module -> number of its strongly connected component, for components of more than one
    module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                component.update((m, index[v]) for m in members)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return component


def _shortest_path(graph, start: str, end: str, component: dict[str, int]) -> list[str]:
    """``[start, ..., end]``, breadth first, inside ``start``'s component."""
    previous = {start: start}
    frontier = [start]
    while end not in previous:
        frontier = [w for v in frontier for w in sorted(graph[v])
                    if component.get(w) == component[start] and w not in previous
                    and previous.setdefault(w, v) == v]
        if not frontier:  # pragma: no cover - a component is strongly connected
            raise AssertionError(f"no path from {start} to {end}")
    path = [end]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]


def describe_cycle(graph, cycle: list[str]) -> str:
    """``a (line 3) -> b (line 9) -> a``: each arrow names the importing line."""
    steps = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(steps + [cycle[-1]])


def test_no_import_cycles():
    graph = import_graph()
    cycles = [describe_cycle(graph, c) for c in find_cycles(graph)]
    assert not cycles, "import cycles in formulang/:\n  " + "\n  ".join(cycles)


def test_no_module_over_the_line_limit():
    lengths = {str(p.relative_to(PACKAGE.parent)): len(p.read_text(encoding="utf-8").splitlines())
               for p in sorted(PACKAGE.rglob("*.py"))}
    over = [f"{name}: {n} lines" for name, n in lengths.items() if n > MAX_LINES]
    assert not over, f"modules over {MAX_LINES} lines:\n  " + "\n  ".join(over)


# ---- the cycle finder itself, on a small package written for the purpose -----------------

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_the_graph_resolves_relative_and_function_level_imports(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "from .a import f\n__version__ = '1'\n",
        "pkg/a.py": "import os\nfrom . import b\nfrom .sub import c as _c\n",
        "pkg/b.py": "def g():\n    from .sub.c import h\n    from . import __version__\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "import pkg.a\nfrom .. import b, a\nfrom ...outside import x\n",
    })
    graph = import_graph(pkg)
    assert graph == {
        "pkg": {"pkg.a": 1},
        "pkg.a": {"pkg.b": 2, "pkg.sub.c": 3},
        "pkg.b": {"pkg.sub.c": 2, "pkg": 3},
        "pkg.sub": {},
        "pkg.sub.c": {"pkg.a": 1, "pkg.b": 2},
    }


@pytest.mark.parametrize("files, expected", [
    # a function-level import closing the loop still counts
    ({"pkg/__init__.py": "", "pkg/x.py": "from .y import f\n",
      "pkg/y.py": "def f():\n    from .x import g\n"}, [["pkg.x", "pkg.y", "pkg.x"]]),
    # ``from . import y`` is the submodule y
    ({"pkg/__init__.py": "", "pkg/x.py": "from . import y\n", "pkg/y.py": "from . import x\n"},
     [["pkg.x", "pkg.y", "pkg.x"]]),
    # a longer loop, reported once, through the shortest path
    ({"pkg/__init__.py": "", "pkg/x.py": "from . import y\n", "pkg/y.py": "from . import z\n",
      "pkg/z.py": "from .x import f\n"}, [["pkg.x", "pkg.y", "pkg.z", "pkg.x"]]),
    # two separate loops
    ({"pkg/__init__.py": "", "pkg/a.py": "from .b import f\n", "pkg/b.py": "from .a import g\n",
      "pkg/c.py": "from .d import f\n", "pkg/d.py": "import pkg.c\n"},
     [["pkg.a", "pkg.b", "pkg.a"], ["pkg.c", "pkg.d", "pkg.c"]]),
    # a chain without a loop
    ({"pkg/__init__.py": "from .x import f\n", "pkg/x.py": "from .y import g\n",
      "pkg/y.py": "import json\n"}, []),
])
def test_the_cycle_finder(tmp_path, files, expected):
    assert find_cycles(import_graph(_write(tmp_path, files))) == expected
