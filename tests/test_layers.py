"""fer_lib's import structure, read from the source (no import is executed): no module-level import circle, and
no package importing one above it at module level except the edges still listed in KNOWN_UPWARD."""
from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fer_lib"

# Lowest first: a package may import those in its own or a lower layer.
LAYERS = (("errors",), ("config",), ("files", "progress", "provenance"), ("data", "models"), ("train",),
          ("recognizer",), ("evaluate",), ("papers",), ("reporting",), ("studies",), ("cli", "__main__"))
# Upward edges that remain: none since issue 47 (the studies' specs sit in evaluate/study_specs.py, claims.py reads
# the papers' claims by path, an experiment's report is written by reporting/experiment_report.py and the
# experiment that trains and then reports runs from studies/experiment_runs.py). No new one may come.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _module_level_imports(tree: ast.Module):
    """The imports a module runs when it is imported: its body's, those under if/try, not `if TYPE_CHECKING:`."""
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            yield from (n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def import_graph() -> dict[str, set[str]]:
    """Module -> the fer_lib modules it imports at module level."""
    modules = _modules()
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for name, path in modules.items():
        base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _module_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
                continue
            if node.level:
                parts = base.split(".")[:len(base.split(".")) - (node.level - 1)]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("fer_lib"):
                continue
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            graph[name].update(submodules)
            if len(submodules) < len(node.names):  # names taken from the module itself
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "fer_lib"


def test_no_module_level_import_circle():
    assert _cycles(import_graph()) == []


def test_the_checker_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_package_imports_a_higher_layer_beyond_the_known_edges():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    packages = {_package(m) for m in _modules()} - {"fer_lib"}
    assert packages <= set(layer), f"put {sorted(packages - set(layer))} in LAYERS"
    upward = {(_package(a), _package(b)) for a, targets in import_graph().items() for b in targets
              if _package(a) in layer and _package(b) in layer and layer[_package(b)] > layer[_package(a)]}
    assert upward == KNOWN_UPWARD, f"new upward imports: {sorted(upward - KNOWN_UPWARD)}; " \
                                   f"gone (take them off KNOWN_UPWARD): {sorted(KNOWN_UPWARD - upward)}"
