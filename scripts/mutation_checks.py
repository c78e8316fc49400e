"""The tightened integration checks, each against its hand-made mutant (mutation_targets.CHECKS): the test must pass
on the committed code and fail with the mutant in place. Both run in copies of the checkout's committed files
(`copy_checkout`), which scripts/mutation.py's cosmic-ray runs use too."""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_checkout(into: Path) -> Path:
    """The committed files, and a ragq/ folder of links to its roles: `import ragq.shared` finds the copy."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "_shim" / "ragq").mkdir(parents=True)
    for part in ("shared", "worker", "producer", "migrations", "models"):  # as pyproject.toml's package-dir maps them
        (into / "_shim" / "ragq" / part).symlink_to(into / part)
    if not (into.parent / "shared").exists():  # the team folder beside the checkout (tests read ../shared/data)
        (into.parent / "shared").symlink_to(ROOT.parent / "shared")
    return into


def pytest_in(copy: Path, test: str) -> tuple[bool, str]:
    """Whether the test passed in this copy, and where it failed: pytest's one line per failure."""
    env = {**os.environ, "PYTHONPATH": str(copy / "_shim")}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=line", "-o", "addopts=", test]
    done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True)
    lines = done.stdout.replace(str(copy) + "/", "").splitlines()
    where = [line for line in lines if re.search(r"\.py:\d+: ", line)] + [
        line for line in lines if line.startswith("E ")
    ]
    return done.returncode == 0, (where[0] if where else done.stdout.strip()[-200:])


def run_check(number: int, check: tuple, work: Path, baseline: bool) -> dict:
    """The test on the copy as committed (it must pass; the suite itself shows that, so --no-baseline skips it),
    then on the copy with the mutant (it must fail)."""
    name, file, text, mutant, test = check
    copy = copy_checkout(work / f"check{number}" / "main")
    source = (copy / file).read_text()
    if source.count(text) != 1:
        raise SystemExit(
            f"{name}: {file} no longer holds {text.strip()!r} once: update CHECKS in scripts/mutation_targets.py"
        )
    passed = pytest_in(copy, test)[0] if baseline else None
    (copy / file).write_text(source.replace(text, mutant))
    survived, where = pytest_in(copy, test)
    return {
        "check": name,
        "file": file,
        "mutant": mutant.strip(),
        "test": test,
        "passes_as_is": passed,
        "caught": not survived,
        "where": where,
    }


def report_checks(checks: list[tuple], out: Path, baseline: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    found = []
    with tempfile.TemporaryDirectory(prefix="ragq-checks-") as tmp:
        for i, check in enumerate(checks):  # written as each ends: a long run stopped keeps what it found
            found.append(run_check(i, check, Path(tmp), baseline))
            (out / "checks.json").write_text(json.dumps(found, indent=1))
    for f in found:
        as_is = f["passes_as_is"] is not False  # None: not run here (--no-baseline)
        verdict = "caught" if f["caught"] and as_is else "NOT caught" if as_is else "FAILS AS IS"
        print(f"{verdict:11} {f['check']}\n            {f['file']}: {f['mutant']}\n            {f['where']}")
    if not all(f["caught"] and f["passes_as_is"] is not False for f in found):
        raise SystemExit(1)
