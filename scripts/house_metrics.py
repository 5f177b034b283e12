"""The shape of the package, in numbers: import cycles, imports inside functions, the longest functions, code lines,
``__all__`` sizes and the weight of the tracked files.

Usage:
    python scripts/house_metrics.py            # a report on stdout
    python scripts/house_metrics.py --json     # the same numbers as JSON

Definitions (what the numbers count):
- an import is any ``import``/``from ... import`` statement naming a greenaudio module, at module level or inside a
  function; ``from greenaudio.x import name`` counts as an import of ``greenaudio.x.name`` when that is a module,
  else of ``greenaudio.x``; a package's ``__init__`` is a module of its own;
- a cycle is a strongly connected group of two or more modules in that graph (Tarjan);
- a code line is a line of ``lib/greenaudio/**/*.py`` that is not blank, not a comment and not part of a docstring;
- a function's length runs from its ``def`` (decorators excluded) to its last line.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "greenaudio"


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of the package."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _targets(module: str, node: ast.AST, is_package: bool, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = module.split(".") if is_package else module.split(".")[:-1]
        if node.level:
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix for alias in node.names]
    out = []
    for name in names:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in modules and name != module:
            out.append(name)
    return out


def import_graph(modules: dict[str, Path]) -> tuple[dict[str, set[str]], int, int]:
    """The graph (module → modules it imports), the number of import edges and how many sit inside functions."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    counts = [0, 0]

    def visit(module: str, node: ast.AST, is_package: bool, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, child, is_package, modules):
                    graph[module].add(target)
                    counts[0] += 1
                    counts[1] += in_function
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            visit(module, child, is_package, inner)

    for module, path in modules.items():
        visit(module, ast.parse(path.read_text(encoding="utf-8")), path.name == "__init__.py", False)
    return graph, counts[0], counts[1]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (iterative Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def function_lengths(modules: dict[str, Path]) -> list[tuple[int, str]]:
    """(lines, qualified name) of every function and method, longest first."""
    out = []
    for module, path in modules.items():
        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.append((child.end_lineno - child.lineno + 1, f"{prefix}.{child.name}"))
                    visit(child, f"{prefix}.{child.name}")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}.{child.name}")
        visit(ast.parse(path.read_text(encoding="utf-8")), module)
    return sorted(out, reverse=True)


def code_lines(path: Path) -> int:
    """Lines that are not blank, comments or docstrings."""
    source = path.read_text(encoding="utf-8")
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    return sum(1 for number, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


def all_names(path: Path) -> int:
    """How many names the module's ``__all__`` lists (0 without one)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return len(ast.literal_eval(node.value))
            except ValueError:
                return 0
    return 0


def tracked_bytes(root: Path = ROOT) -> int | None:
    """Total size of the files git tracks (``None`` outside a checkout)."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return sum((root / name).stat().st_size for name in listing.stdout.decode().split("\0")
               if name and (root / name).is_file())


def measure() -> dict:
    modules = module_files()
    graph, imports, inside = import_graph(modules)
    lengths = function_lengths(modules)
    size = tracked_bytes()
    return {
        "modules": len(modules),
        "imports": imports,
        "imports_inside_functions": inside,
        "cycles": find_cycles(graph),
        "longest_functions": [{"lines": n, "function": name} for n, name in lengths[:10]],
        "code_lines": sum(code_lines(p) for p in modules.values()),
        "all_names": sum(all_names(p) for p in modules.values()),
        "tracked_mib": None if size is None else round(size / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    facts = measure()
    if parser.parse_args(argv).json:
        print(json.dumps(facts, indent=2))
        return 0
    print(f"modules {facts['modules']}; imports {facts['imports']} ({facts['imports_inside_functions']} inside "
          f"functions); import cycles {len(facts['cycles'])}")
    for group in facts["cycles"]:
        print("  cycle:", " ".join(group))
    print(f"code lines {facts['code_lines']}; names in __all__ lists {facts['all_names']}; "
          f"tracked files {facts['tracked_mib']} MiB")
    print("longest functions:", ", ".join(f"{f['function']} {f['lines']}" for f in facts["longest_functions"][:6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
