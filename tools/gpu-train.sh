#!/usr/bin/env bash
# Issue 7's GPU acceptance run, from the bundle (tools/gpu-bundle.sh, which also carries
# Fashion-MNIST): paper AlexNet at 224x224 (1 channel, 10 classes, He init) trained on
# Fashion-MNIST with SGD lr 0.01, momentum 0.9, batch 128, for EPOCHS (default 10) epochs on the
# GPU, then its metrics CSV and SVG plot in $OUT. Usage: tools/gpu-train.sh [extra train flags]
set -uo pipefail
cd "$(dirname "$0")/.."
B=build-gpu/bundle
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT"
source tools/gpu-env.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout "${TRAIN_TIMEOUT:-400}" "$B/bin/sinter" train alexnet --input-size 224 --data "fashion-mnist:$B/data/fashion-mnist" \
  --epochs "${EPOCHS:-10}" --batch 128 --lr 0.01 --target cuda --log "$OUT/fmnist-224.csv" --plot "$OUT/fmnist-224.svg" "$@" \
  2>&1 | grep -v "^epoch [0-9]*/[0-9]* \[" | tee "$OUT/fmnist-224.txt"
