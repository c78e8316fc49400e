"""Print ragq's module map: files and lines per role, the import arrows between shared/'s parts, the floors they
stand on, arrows that climb, cycles between folders, shared/ modules only the producer reaches, and modules over
300 lines and functions over 40 in the whole repository (tests aside). Reads the source only (ast):
`python scripts/module_map.py [--json]`; `--docs` rewrites docs/architecture.md's floor table from the graph
(tests/unit/test_layout.py checks that it is current)."""

import ast
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("shared", "worker", "producer")
CODE = (*ROLES, "bench", "scripts", "migrations")  # every folder the size rules hold in (tests aside)
DOCS = ROOT / "docs" / "architecture.md"
TABLE_START = "<!-- floors: written by `python scripts/module_map.py --docs` from the import graph -->"
TABLE_END = "<!-- /floors -->"
# what each part of shared/ is, for the floor table (a new part needs a line here: the layout test says so)
PARTS = {
    "errors": "the one error family",
    "hashing": "file digests",
    "usage": "this process's memory and CPU time",
    "hardware": "what the host has: cores, CPU flags and name, GPU (NVML), free memory",
    "fault_injection": "faults the fault tests switch on",
    "presence": "which workers share a host (Redis keys)",
    "metrics": "pure measures: cosine, answer metrics, likelihood, drift, evidence",
    "records": "the records that cross layers (QAPair, RetrievalConfig, RunSettings, Ask, JobContext)",
    "registry": "lookups by name with did-you-mean",
    "provenance": "what a result was made with",
    "celery_app": "the Celery app, the task's name, publishing",
    "strict_toml": "TOML read strictly: unknown keys refused with did-you-mean",
    "transport": "where a URL sends its traffic; passwords redacted for messages",
    "corpus": "documents, chunks, embedders, BM25, the index",
    "config": "the one settings object",
    "broker": "the broker URL, the embedded Redis",
    "models": "a model's catalog entry, file, identity and placement",
    "cli": "what both entries declare: one-line errors, placement and worker options",
    "rag": "the pipeline, prompts, retrieval, the llama.cpp runner",
    "store": "the database: schema, sessions, its one door",
}


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


def code_files():
    for folder in CODE:
        yield from sorted((ROOT / folder).rglob("*.py"))


def modules_over(limit=300) -> list[tuple[str, int]]:
    sizes = [(str(p.relative_to(ROOT)), len(p.read_text().splitlines())) for p in code_files()]
    return sorted(((name, n) for name, n in sizes if n > limit), key=lambda x: -x[1])


def part_floors():
    """(floor of each part of shared/, the parts each imports, cycles between parts), from the import graph."""
    modules, edges = graph()
    parts = sorted({part(m) for m in modules if part(m)})
    succ: dict[str, set[str]] = defaultdict(set)
    for m, ts in edges.items():
        for t in ts:
            a, b = part(m), part(t)
            if a and b and a != b:
                succ[a].add(b)
    floor, cycles = floors(parts, succ)
    return floor, succ, cycles


def floor_table(floor: dict[str, int]) -> str:
    """docs/architecture.md's floor table, as the graph has it."""
    rows = ["| floor | parts | what they are |", "|---|---|---|"]
    for level in range(1 + max(floor.values())):
        names = sorted(p for p in floor if floor[p] == level)
        rows.append(f"| {level} | {', '.join(names)} | {'; '.join(PARTS.get(p, '?') for p in names)} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


def write_docs() -> None:
    text = DOCS.read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    DOCS.write_text(text[:start] + floor_table(part_floors()[0]) + text[end:])


def functions_over(limit=40):
    long = []
    for role in CODE:
        for path in sorted((ROOT / role).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= limit:
                    long.append(
                        (f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
                    )
    return sorted(long, key=lambda x: -x[1])


def measure() -> dict:
    """Every figure the map prints, as one dict (`--json`)."""
    modules, edges = graph()
    files = {r: sum(1 for m in modules if m.split(".")[1] == r) for r in ROLES}
    lines = {r: sum(len(p.read_text().splitlines()) for m, p in modules.items() if m.split(".")[1] == r) for r in ROLES}
    floor, succ, cycles = part_floors()
    parts = sorted(floor)
    producer_only = sorted(
        m for m in modules if part(m) and modules[m].name != "__init__.py" and m not in reached_by_worker(edges)
    )
    return {
        "files": files,
        "lines": lines,
        "shared_parts": {p: sorted(succ[p]) for p in parts},
        "floors": 1 + max(floor.values()),
        "floor_of": floor,
        "arrows_that_climb": sorted(f"{a} -> {b}" for a in parts for b in succ[a] if floor[b] >= floor[a]),
        "cycles_between_folders": [sorted(c) for c in cycles],
        "shared_reached_only_from_producer": {m: len(modules[m].read_text().splitlines()) for m in producer_only},
        "modules_over_300": modules_over(),
        "functions_over_40": functions_over(),
    }


def show(out: dict) -> None:
    print(f"files {out['files']}, lines {out['lines']}")
    print(f"shared/: {len(out['floor_of'])} parts on {out['floors']} floors")
    for f in range(out["floors"]):
        on = [p for p in sorted(out["floor_of"]) if out["floor_of"][p] == f]
        print(f"  floor {f}: " + ", ".join(f"{p} -> {{{', '.join(out['shared_parts'][p])}}}" for p in on))
    print(f"arrows that climb (or stay on their floor): {out['arrows_that_climb'] or 'none'}")
    print(f"cycles between folders: {out['cycles_between_folders'] or 'none'}")
    only = out["shared_reached_only_from_producer"]
    print(
        f"shared/ modules no worker imports (only the producer): {len(only)} ({sum(only.values())} lines) {sorted(only)}"
    )
    for title, key in (
        ("modules over 300 lines", "modules_over_300"),
        ("functions over 40 lines", "functions_over_40"),
    ):
        print(f"{title}: {len(out[key])}")
        for name, n in out[key]:
            print(f"  {n:3d} {name}")


def main():
    if "--docs" in sys.argv:
        write_docs()
    elif "--json" in sys.argv:
        print(json.dumps(measure(), indent=1))
    else:
        show(measure())


if __name__ == "__main__":
    main()
