#!/usr/bin/env bash
# Everything a GPU session has to run, as one command that fits a short device lease: build
# minigan with minigan._cuda for the GPU that is there, run the `gpu`-marked tests, then
# `minigan bench kernels|step --device cuda`. Each stage has its own time limit, so a hang in
# one still leaves the others' results; every log and JSON lands in $OUT (at most 8 files).
# The limits add up to under 10 minutes (one device command); LIMITS="build tests kernels step"
# in seconds overrides them.
#
#   bash benchmarks/gpu_check.sh            # OUT defaults to ./gpu-check-out
#
# Needs, already installed: CuPy, numba-cuda, pytest, scikit-build-core, pybind11, CMake, ninja
# and nvcc (PyTorch with CUDA too, for the side-by-side step). Nothing is downloaded: wheels the
# machine lacks come carried in .whl/ (benchmarks/gpu_wheels.sh fetches them beforehand) and
# are installed to /tmp/site. Without a GPU it still builds and runs: the tests skip and the
# benchmarks print why they cannot run.
# Afterwards copy kernels.json / step.json to benchmarks/results/<date>-<gpu>-{kernels,step}.json
# and write a .md beside them naming the GPU (device.txt has its name, driver and clocks).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$REPO/gpu-check-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
read -r L_BUILD L_TESTS L_KERNELS L_STEP <<<"${LIMITS:-170 230 110 70}"

stage() {  # stage NAME SECONDS CMD...: run CMD under a limit, its output in $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0))s"
    tail -n 25 "$OUT/$name.txt"
    return $rc
}

if compgen -G "$REPO/.whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$REPO"/.whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

{
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
        --format=csv 2>&1 || echo "nvidia-smi: not available"
    "$PY" -c "import cupy, sys; print('cupy', cupy.__version__, 'python', sys.version.split()[0])" \
        2>&1
    "$PY" -c "import importlib.util as u; print('mlxtend', 'found' if u.find_spec('mlxtend') else \
        'MISSING: run benchmarks/gpu_wheels.sh here and carry .whl')" 2>&1
    nvcc --version 2>&1 | tail -n 2
} >"$OUT/device.txt"
cat "$OUT/device.txt"

# The GPU's own architecture (e.g. 90 on an H100/H200), so the build compiles one target.
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '.')
export CMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES:-${ARCH:-90}}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export MINIGAN_CUDA=ON
stage build "$L_BUILD" "$PY" -m pip install --no-build-isolation --no-deps -C build-dir=/tmp/minigan-build \
    "$REPO" || { echo "build failed: see $OUT/build.txt"; exit 1; }

# From outside the source tree, so the installed package (with its compiled modules) is tested.
cd /tmp || exit 1
stage gpu-tests "$L_TESTS" "$PY" -m pytest -q -m gpu -p no:cacheprovider --durations=10 \
    "$REPO/tests"
stage kernels "$L_KERNELS" "$PY" -m minigan bench kernels --device cuda --json "$OUT/kernels.json"
stage step "$L_STEP" "$PY" -m minigan bench step --device cuda --json "$OUT/step.json"
echo "== done; files in $OUT"
