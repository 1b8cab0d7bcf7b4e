#!/usr/bin/env bash
# Quantization overhead in training: images/s of a quantized config next to the same architecture
# in full precision (quant.scheme=none), measured in the same run, alternating A/B to share the
# machine's noise. Prints the median images/s of each and the ratio.
#   scripts/bench_quant_overhead.sh [CONFIG] [BATCHES] [ROUNDS]
#   e.g. scripts/bench_quant_overhead.sh configs/fmnist_bnn.yaml 40 3
set -euo pipefail
cd "$(dirname "$0")/.."
config="${1:-configs/fmnist_bnn.yaml}"
batches="${2:-40}"
rounds="${3:-3}"
train="${LOWBIT_TRAIN:-build/apps/train}"
[[ -x "$train" ]] || { echo "error: $train not built (cmake --build build --target train)" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# The median images/s of the logged train rows after the first (warm-up) row.
median_rate() {
  python3 - "$1" <<'PY'
import json, sys, statistics
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("kind") == "train"]
rates = [r["images_per_second"] for r in rows[1:] if r.get("images_per_second", 0) > 0]
print(statistics.median(rates) if rates else 0)
PY
}

declare -a quant_rates float_rates
for ((r = 1; r <= rounds; ++r)); do
  for scheme in quantized none; do
    name="bench_${scheme}_${r}"
    extra=()
    [[ "$scheme" == none ]] && extra=(--set quant.scheme=none --set quant.overrides=[])
    "$train" --config "$config" --set train.out_dir="$out" --set train.name="$name" --set train.epochs=1 \
      --set train.limit_train_batches="$batches" --set train.log_every_steps=5 --set train.eval_every_epochs=1 \
      "${extra[@]}" >/dev/null 2>&1
    rate="$(median_rate "$out/$name/metrics.jsonl")"
    if [[ "$scheme" == none ]]; then float_rates+=("$rate"); else quant_rates+=("$rate"); fi
    echo "round $r $scheme: $rate images/s"
  done
done
python3 - "${quant_rates[*]}" "${float_rates[*]}" <<'PY'
import statistics, sys
q = statistics.median(map(float, sys.argv[1].split()))
f = statistics.median(map(float, sys.argv[2].split()))
print(f"median images/s: quantized {q:.1f}, full precision {f:.1f}; quantized/float = {q / f:.3f} "
      f"(overhead {100 * (f / q - 1):.1f}% of the float step time)")
PY
