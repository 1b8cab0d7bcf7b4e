#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (Release) and runs every test.
# Then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit tests.
#   scripts/test.sh            both builds
#   scripts/test.sh --fast     the Release build only
# Build trees: build/ (Release) and build-asan/ (sanitizers). Jobs: $LOWBIT_JOBS or nproc.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/setup.sh"

jobs="${LOWBIT_JOBS:-$(nproc)}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"

run_build() {  # run_build <dir> <cmake args...>
  local dir="$1"; shift
  echo "== configure $dir"
  cmake -S . -B "$dir" -DLOWBIT_WERROR=ON "$@" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  ctest --test-dir "$dir" --output-on-failure
}

run_build build -DCMAKE_BUILD_TYPE=Release

if [[ "${1:-}" != "--fast" ]]; then
  # ASan cannot see into OpenBLAS/OpenMP runtimes; leak checks stay on for our code.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  run_build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWBIT_SANITIZE=ON -DLOWBIT_BUILD_BENCH=OFF
fi
