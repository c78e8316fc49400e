"""Print ragq's module map: files and lines per role, the import arrows between shared/'s parts, the floors they
stand on, arrows that climb, cycles between folders, shared/ modules only the producer reaches, and functions over
40 lines. Reads the source only (ast): `python scripts/module_map.py [--json]`."""

import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("shared", "worker", "producer")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return "ragq." + ".".join(parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ragq"):
            base = node.module
            found |= {
                f"{base}.{a.name}" if base in ("ragq", "ragq.shared") or _is_package(base) else base for a in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ragq.")}
    return found


def _is_package(module: str) -> bool:
    return (ROOT / Path(*module.split(".")[1:]) / "__init__.py").is_file()


def part(module: str) -> str | None:
    """The unit of shared/ a module belongs to: its folder (`rag`), or the module itself for one at the top."""
    bits = module.split(".")
    return bits[2] if len(bits) > 2 and bits[1] == "shared" else None


def graph():
    modules = {module_name(p): p for role in ROLES for p in sorted((ROOT / role).rglob("*.py"))}
    edges = {m: {t for t in imports(p) if t in modules or _resolve(t, modules)} for m, p in modules.items()}
    edges = {m: {_resolve(t, modules) or t for t in ts} for m, ts in edges.items()}
    return modules, edges


def _resolve(target: str, modules) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def reached_by_worker(edges) -> set[str]:
    """Every module a worker process imports, directly or through others."""
    seen: set[str] = set()
    todo = [m for m in edges if m.startswith("ragq.worker")]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += edges.get(module, ())
    return seen


def sccs(nodes, succ):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def floors(nodes, succ):
    """Floor of each part: 0 for what imports nothing of shared/, else one above its highest import (over the graph
    with each cycle collapsed, so a cycle's parts share a floor)."""
    comps = sccs(nodes, succ)
    comp_of = {v: i for i, c in enumerate(comps) for v in c}
    memo: dict[int, int] = {}

    def floor(i):
        if i not in memo:
            below = {comp_of[w] for v in comps[i] for w in succ.get(v, ()) if comp_of[w] != i}
            memo[i] = 1 + max((floor(j) for j in below), default=-1)
        return memo[i]

    return {v: floor(comp_of[v]) for v in nodes}, [c for c in comps if len(c) > 1]


def functions_over(limit=40):
    long = []
    for role in ROLES:
        for path in sorted((ROOT / role).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= limit:
                    long.append(
                        (f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
                    )
    return sorted(long, key=lambda x: -x[1])


def main():
    modules, edges = graph()
    files = {r: sum(1 for m in modules if m.split(".")[1] == r) for r in ROLES}
    lines = {r: sum(len(p.read_text().splitlines()) for m, p in modules.items() if m.split(".")[1] == r) for r in ROLES}
    parts = sorted({part(m) for m in modules if part(m)})
    succ: dict[str, set[str]] = defaultdict(set)
    for m, ts in edges.items():
        for t in ts:
            a, b = part(m), part(t)
            if a and b and a != b:
                succ[a].add(b)
    floor, cycles = floors(parts, succ)
    climbing = sorted(f"{a} -> {b}" for a in parts for b in succ[a] if floor[b] >= floor[a])
    producer_only = sorted(
        m for m in modules if part(m) and modules[m].name != "__init__.py" and m not in reached_by_worker(edges)
    )
    out = {
        "files": files,
        "lines": lines,
        "shared_parts": {p: sorted(succ[p]) for p in parts},
        "floors": 1 + max(floor.values()),
        "floor_of": floor,
        "arrows_that_climb": climbing,
        "cycles_between_folders": [sorted(c) for c in cycles],
        "shared_reached_only_from_producer": {m: len(modules[m].read_text().splitlines()) for m in producer_only},
        "functions_over_40": functions_over(),
    }
    if "--json" in sys.argv:
        print(json.dumps(out, indent=1))
        return
    print(f"files {files}, lines {lines}")
    print(f"shared/: {len(parts)} parts on {out['floors']} floors")
    for f in range(out["floors"]):
        print(f"  floor {f}: " + ", ".join(f"{p} -> {{{', '.join(sorted(succ[p]))}}}" for p in parts if floor[p] == f))
    print(f"arrows that climb (or stay on their floor): {climbing or 'none'}")
    print(f"cycles between folders: {out['cycles_between_folders'] or 'none'}")
    only = out["shared_reached_only_from_producer"]
    print(
        f"shared/ modules no worker imports (only the producer): {len(only)} ({sum(only.values())} lines) {sorted(only)}"
    )
    print(f"functions over 40 lines: {len(out['functions_over_40'])}")
    for name, n in out["functions_over_40"]:
        print(f"  {n:3d} {name}")


if __name__ == "__main__":
    main()
