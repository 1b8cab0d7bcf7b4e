#!/usr/bin/env bash
# Training throughput of lowbit against PyTorch on the same networks, batch size and threads.
#   scripts/bench_train.sh [THREADS] [STEPS] [ROUNDS]
# For lenet and resnet18 (CIFAR stem) on 28x28 Fashion-MNIST: median images/s over the measured
# steps of each, their ratio (lowbit / PyTorch), and peak RSS. PyTorch is skipped when
# python3-torch is not installed (scripts/setup.sh --with-torch installs it). With ROUNDS > 1 the
# two sides alternate ROUNDS times and each column is the median over rounds, the ratio the
# median of the per-round ratios: a shared machine's slow minutes then hit both sides alike.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
steps="${2:-40}"
rounds="${3:-1}"
"./scripts/setup.sh"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "${LOWBIT_JOBS:-$(nproc)}" --target train >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf "%-9s %6s %8s %6s %14s %14s %7s %14s %14s\n" model batch threads rounds "lowbit img/s" \
  "torch img/s" ratio "lowbit RSS MB" "torch RSS MB"
for model in lenet resnet18; do
  batch=128
  [[ $model == resnet18 ]] && batch=32
  log_every=5
  ours_all=(); theirs_all=(); ratios=(); our_rss=0; their_rss="-"
  for ((round = 1; round <= rounds; round++)); do
    # Train rows of metrics.csv carry images/s over each block of log_every steps; the first
    # block (warm-up) is dropped and the median of the rest is this round's figure.
    rm -rf "${tmp:?}/$model"
    /usr/bin/time -f "%M" -o "$tmp/rss" ./build/apps/train --out "$tmp/$model" \
      --set model.name=$model --set train.batch_size=$batch --set train.threads=$threads \
      --set train.epochs=1 --set train.limit_train_batches=$steps \
      --set train.log_every_steps=$log_every --set train.eval_batch_size=$batch \
      --set data.hflip=false --set data.workers=1 --set train.keep_last=0 >"$tmp/$model.log" 2>&1
    ours=$(awk -F, '$1=="train"{print $7}' "$tmp/$model/metrics.csv" | tail -n +2 | median)
    ours_all+=("$ours")
    our_rss=$(( $(cat "$tmp/rss") / 1024 ))
    if [[ $have_torch == 1 ]]; then
      read -r _ theirs _ rss_kb < <(/usr/bin/python3 scripts/bench_train.py $model $batch $threads $steps)
      theirs_all+=("$theirs")
      their_rss=$(( rss_kb / 1024 ))
      ratios+=("$(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.4f", a/b}')")
    fi
  done
  ours=$(printf "%s\n" "${ours_all[@]}" | median)
  theirs="-"; ratio="-"
  if [[ $have_torch == 1 ]]; then
    theirs=$(printf "%s\n" "${theirs_all[@]}" | median)
    ratio=$(printf "%s\n" "${ratios[@]}" | median | awk '{printf "%.2f", $1}')
    [[ $rounds -gt 1 ]] && echo "$model per-round ratios: ${ratios[*]}" >&2
  fi
  printf "%-9s %6s %8s %6s %14.1f %14s %7s %14s %14s\n" $model $batch $threads $rounds "$ours" \
    "$theirs" "$ratio" "$our_rss" "$their_rss"
done
