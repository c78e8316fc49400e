"""The house rules that docs/architecture.md promises, checked on the source: roles never import each other, shared/
imports neither role, no module over 300 lines, no function over 40 (conventions: a file does one thing)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"shared": "ragq.shared", "worker": "ragq.worker", "producer": "ragq.producer"}


def sources():
    for folder in FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def ragq_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module in ("ragq", "ragq.shared"):  # from ragq import worker
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ragq."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("ragq.")}
    return found


@pytest.mark.parametrize(
    "folder, forbidden",
    [("producer", "ragq.worker"), ("worker", "ragq.producer"), ("shared", "ragq.producer"), ("shared", "ragq.worker")],
)
def test_layers_point_down(folder, forbidden):
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in ragq_imports(path) if m.startswith(forbidden))
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert {p: m for p, m in offenders.items() if m} == {}


# shared/'s floors, lowest first (docs/architecture.md, "The floors of shared/"): a part imports only parts on a
# lower floor, so no arrow climbs and no two folders import each other
FLOORS = [
    {"errors", "hashing", "usage", "fault_injection", "presence", "metrics"},  # import nothing of ragq
    {"registry", "provenance", "celery_app"},
    {"strict_toml", "records", "corpus"},
    {"config"},
    {"transport"},
    {"broker", "models"},
    {"cli", "rag", "store"},
]


def part(module: str) -> str:
    """`ragq.shared.rag.llm` -> `rag`; `ragq.shared.config` -> `config`."""
    return module.split(".")[2]


def test_shared_parts_import_only_lower_floors():
    floor = {name: level for level, names in enumerate(FLOORS) for name in names}
    parts = {
        p.stem if p.parent == ROOT / "shared" else p.relative_to(ROOT / "shared").parts[0]
        for p in (ROOT / "shared").rglob("*.py")
        if p.name != "__init__.py" or p.parent != ROOT / "shared"
    }
    assert parts <= set(floor), f"place these parts of shared/ on a floor: {sorted(parts - set(floor))}"
    climbing = sorted(
        f"{path.relative_to(ROOT)} -> {target}"
        for path in sorted((ROOT / "shared").rglob("*.py"))
        if path.parent != ROOT / "shared" or path.name != "__init__.py"
        for target in ragq_imports(path)
        if target.startswith("ragq.shared.")
        and part(target) != (src := _part_of(path))
        and floor[part(target)] >= floor[src]
    )
    assert climbing == []


def _part_of(path: Path) -> str:
    relative = path.relative_to(ROOT / "shared")
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_an_import_of_a_role_by_its_package_name_is_caught(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from ragq import worker\nfrom ragq.shared import config\n")
    assert ragq_imports(source) == {"ragq.worker", "ragq.shared.config"}


def test_modules_and_functions_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in sources() if (n := len(p.read_text().splitlines())) > 300}
    long = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 40:
                long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    assert (big, long) == ({}, {})


def test_the_worker_has_its_own_entry():
    assert (ROOT / "worker" / "__main__.py").is_file()
    supervisor = (ROOT / "producer" / "supervisor.py").read_text()
    assert '"-m", "ragq.worker"' in supervisor  # `ragq run` starts workers through it, not through `ragq`
