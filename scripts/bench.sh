#!/usr/bin/env bash
# Benchmarks: builds Release and runs `bench conv` (conv2d forward/backward GFLOPS on ResNet-18
# layer shapes next to OpenBLAS sgemm measured in the same run). Extra arguments go to bench.
set -euo pipefail
cd "$(dirname "$0")/.."
"./scripts/setup.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_BENCH=ON >/dev/null
cmake --build build -j "${LOWBIT_JOBS:-$(nproc)}" --target bench
exec ./build/apps/bench conv "$@"
