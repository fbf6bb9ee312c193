#!/usr/bin/env bash
# Simulates training crossings, exports their graphs and trains the default model from a seed.
#   models/train/make_model.sh [OUT.onnx] [SEED]
# Needs the training environment (models/train/requirements.txt) in .venv-train.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-models/gnntrack_in_small.onnx}
seed=${2:-1}
work=${WORK:-out/training}
py=${PYTHON:-.venv-train/bin/python}
cargo build --release
g=./target/release/gnntrack
rm -rf "$work"
# Crossings at every intensity, in both geometries, at 0.95 T and 1.25 T.
for geo in luxe luxe-sl; do
  for field in 0.95 1.25; do
    for xi in 3 4 5 6 7; do
      n=$(( xi <= 4 ? 8 : (xi == 5 ? 5 : 3) ))
      $g simulate --xi "$xi" --bx "$n" --seed $((200 + xi)) --geometry "$geo" --field "$field" \
        --out "$work/hits-$geo-$field/xi$xi" > /dev/null
      $g export-graphs --in "$work/hits-$geo-$field/xi$xi" --out "$work/graphs/$geo-$field-xi$xi" > /dev/null
    done
  done
done
# Absolute paths, so that PYTHON, WORK and OUT may be given either way.
py=$(realpath -s "$py")
work=$(realpath "$work")
out=$(realpath -m "$out")
(cd models/train && "$py" train.py --graphs "$work"/graphs/* --arch in --hidden 16 --message 4 \
  --iterations 3 --epochs 30 --patience 6 --lr 5e-3 --max-edges 120000 --seed "$seed" \
  --out "$out" --name gnntrack_in_small --version 1.1.0)
