#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, trains the default config on
# Fashion-MNIST, evaluates the result and says where everything went.
#   scripts/run.sh [CONFIG] [extra train arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-configs/fmnist_lenet_fp.yaml}"
shift || true

"./scripts/setup.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "${LOWBIT_JOBS:-$(nproc)}" --target train evaluate

run_dir="$(./build/apps/train --config "$config" "$@" --print-run-dir)"
./build/apps/train --config "$config" --resume auto "$@"
echo
./build/apps/evaluate --checkpoint "$run_dir/best.ckpt"
echo
echo "Run directory: $run_dir"
echo "  config.yaml              the effective config"
echo "  metrics.csv, .jsonl      per-step train and per-epoch test metrics"
echo "  curves.svg               loss and accuracy curves"
echo "  last.ckpt, best.ckpt     checkpoints (resume: build/apps/train --config $config --resume auto)"
