"""The house rules that docs/architecture.md promises, checked on the source: roles never import each other, shared/
imports neither role, no module over 300 lines, no function over 50 (conventions: a file does one thing)."""

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
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ragq."):
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


def test_modules_and_functions_stay_small():
    big = {str(p.relative_to(ROOT)): n for p in sources() if (n := len(p.read_text().splitlines())) > 300}
    long = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 50:
                long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    assert (big, long) == ({}, {})


def test_the_worker_has_its_own_entry():
    assert (ROOT / "worker" / "__main__.py").is_file()
    supervisor = (ROOT / "producer" / "supervisor.py").read_text()
    assert '"-m", "ragq.worker"' in supervisor  # `ragq run` starts workers through it, not through `ragq`
