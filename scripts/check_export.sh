#!/usr/bin/env bash
# Exports a checkpoint, runs the integer model with `infer` on the whole test split and compares its
# predictions with `evaluate` on the checkpoint, prediction for prediction.
#   scripts/check_export.sh CHECKPOINT [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt="${1:?usage: scripts/check_export.sh CHECKPOINT [BUILD_DIR]}"
build="${2:-build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$build/apps/export" --checkpoint "$ckpt" -o "$tmp/model.lbm" | tail -1
"$build/apps/evaluate" --checkpoint "$ckpt" --predictions "$tmp/evaluate.csv" | head -1
"$build/apps/infer" --model "$tmp/model.lbm" --predictions "$tmp/infer.csv" | grep -i accuracy | head -1
python3 - "$tmp/evaluate.csv" "$tmp/infer.csv" <<'PY'
import sys
a = open(sys.argv[1]).read().splitlines()[1:]
b = open(sys.argv[2]).read().splitlines()[1:]
if len(a) != len(b):
    sys.exit(f"different example counts: evaluate {len(a)}, infer {len(b)}")
diff = sum(x != y for x, y in zip(a, b))
print(f"predictions: {len(a) - diff} of {len(a)} identical ({diff} differ)")
sys.exit(1 if diff else 0)
PY
