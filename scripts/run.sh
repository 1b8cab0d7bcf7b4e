#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, trains the default config on
# Fashion-MNIST (a binary network), evaluates the result and says where everything went.
#   scripts/run.sh [CONFIG] [extra train arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
# Default: the BNN config (binary weights and activations) for 2 epochs, a trained binary network
# in minutes; `scripts/run.sh configs/fmnist_bnn.yaml` runs its full schedule.
if [[ $# -eq 0 ]]; then
  set -- configs/fmnist_bnn.yaml --set train.epochs=2 --set train.name=fmnist_bnn_quick
fi
config="$1"
shift

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
