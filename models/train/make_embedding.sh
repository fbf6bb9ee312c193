#!/usr/bin/env bash
# Simulates training crossings, exports their cone graphs (the hard negatives) and trains the
# hit embedding of the learned graph builder.
#   models/train/make_embedding.sh [OUT.onnx] [SEED]
# OUT defaults to out/embedding/gnntrack_embedding.onnx; its .pt and .train.json (report) go
# beside it. The bundled models/gnntrack_embedding.onnx is replaced only with REPLACE_BUNDLED=1.
# Needs the training environment (models/train/requirements.txt) in .venv-train, or TRAIN_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-out/embedding/gnntrack_embedding.onnx}
seed=${2:-1}
work=${WORK:-out/embedding-training}
source models/train/train_python.sh
if [ "${DRY_RUN:-0}" = 1 ]; then
  echo "would train the embedding with $py into $out (seed $seed, work folder $work); replace the bundled model: ${REPLACE_BUNDLED:-0}"
  exit 0
fi
mkdir -p "$(dirname "$out")"
cargo build --release
g=./target/release/gnntrack
rm -rf "$work"
# Seeds 300 + xi: apart from the benchmark (1) and the evaluation's report seeds (1000 + xi).
crossings() { # geometry field xi count
  local d="$work/hits/$1-$2-xi$3"
  $g simulate --xi "$3" --bx "$4" --seed $((300 + $3)) --geometry "$1" --field "$2" --out "$d" > /dev/null
  $g export-graphs --in "$d" --out "$work/graphs/$1-$2-xi$3" --geometry "$1" > /dev/null
}
crossings luxe 0.95 3 4; crossings luxe 0.95 5 2; crossings luxe 0.95 7 1
crossings luxe 1.25 4 2; crossings luxe 1.25 6 1
crossings luxe-sl 1.25 3 4; crossings luxe-sl 1.25 5 1; crossings luxe-sl 1.25 7 1
crossings luxe-sl 0.95 6 1
py=$(realpath -s "$py")
work=$(realpath "$work")
out=$(realpath -m "$out")
(cd models/train && "$py" embedding.py --graphs "$work"/graphs/* --seed "$seed" --out "$out")
echo "model: $out; training report: ${out%.onnx}.train.json"
if [ "${REPLACE_BUNDLED:-0}" = 1 ]; then
  cp "$out" models/gnntrack_embedding.onnx
  echo "replaced the bundled models/gnntrack_embedding.onnx"
else
  echo "the bundled models/gnntrack_embedding.onnx is unchanged (REPLACE_BUNDLED=1 replaces it)"
fi
