#!/usr/bin/env bash
# mypy over shared/, worker/ and producer/ as the packages they install as (ragq.shared, ...): the folders are
# mapped by setuptools' package-dir, which an editable install serves through an import hook mypy cannot follow,
# so the check reads them through a tree of links named as installed. Settings: [tool.mypy] in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/ragq"
for folder in shared worker producer models migrations; do ln -s "$PWD/$folder" "$tree/ragq/$folder"; done
MYPYPATH="$tree" "${VENV:-.venv}/bin/mypy" -p ragq.shared -p ragq.worker -p ragq.producer "$@"
