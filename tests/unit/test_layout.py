"""The house rules that docs/architecture.md promises, checked on the source: roles never import each other, shared/
imports neither role, shared/'s parts stand on floors computed from their imports, only the store touches the
database, no module over 300 lines and no function over 40 (conventions: a file does one thing), in bench/,
scripts/ and migrations/ too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"shared": "ragq.shared", "worker": "ragq.worker", "producer": "ragq.producer"}


# Alembic's first migration stays as Alembic generated it (every table in one upgrade()): history is not rewritten
AS_GENERATED = {"migrations/versions/0001_initial.py:upgrade"}


def sources():
    for folder in (*FOLDERS, "bench", "scripts", "migrations"):
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


def _module_map():
    import importlib.util

    spec = importlib.util.spec_from_file_location("module_map", ROOT / "scripts" / "module_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shared_parts_stand_on_floors_computed_from_their_imports():
    """The floors of shared/ are the import graph's (scripts/module_map.py): a part stands one floor above the
    highest part it imports. Two parts that import each other, directly or around a loop, have no floor: that fails
    here. docs/architecture.md's floor table is written from the same graph (`python scripts/module_map.py
    --docs`) and must be current; a new part needs its line in module_map.PARTS."""
    module_map = _module_map()
    floor, _, cycles = module_map.part_floors()
    assert cycles == []
    assert set(floor) <= set(module_map.PARTS), (
        f"say what these parts are in module_map.PARTS: {set(floor) - set(module_map.PARTS)}"
    )
    docs = (ROOT / "docs" / "architecture.md").read_text()
    assert module_map.floor_table(floor) in docs, "run `python scripts/module_map.py --docs`"


def test_records_are_the_ground_floor():
    assert _module_map().part_floors()[0]["records"] == 0


def test_only_the_store_touches_the_database():
    """Only shared/store/ imports SQLAlchemy or the ORM schema, or opens a session (db.session, db.transaction):
    the roles and shared/'s other parts go through its doors (store/door.py `Store`; the worker's
    store/jobstore.py). bench/ and scripts/ may not use the schema or sessions either; bench/'s observers (the
    soak's monitor, common.db_rows) read the tables with plain SQL, from outside the code they measure."""
    store = ROOT / "shared" / "store"
    offenders = []
    for folder in (*FOLDERS, "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if store in path.parents:
                continue
            tree = ast.parse(path.read_text())
            role = folder in FOLDERS
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    names += [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else []
                    if any(
                        n.startswith("ragq.shared.store.schema") or (role and n.startswith("sqlalchemy")) for n in names
                    ):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {names[0]}")
                if isinstance(node, ast.Attribute) and node.attr in ("session", "transaction"):
                    if isinstance(node.value, ast.Name) and node.value.id == "db":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} db.{node.attr}")
    assert offenders == []


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
                if f"{path.relative_to(ROOT)}:{node.name}" not in AS_GENERATED:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    assert (big, long) == ({}, {})


def test_the_worker_has_its_own_entry():
    assert (ROOT / "worker" / "__main__.py").is_file()
    supervisor = (ROOT / "producer" / "supervisor.py").read_text()
    assert '"-m", "ragq.worker"' in supervisor  # `ragq run` starts workers through it, not through `ragq`
