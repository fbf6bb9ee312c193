#!/usr/bin/env bash
# Simulates training crossings, exports their graphs, trains a bundled model from a seed and
# checks its parity (onnxruntime against PyTorch).
#   models/train/make_model.sh [OUT.onnx] [SEED]
# VARIANT=fast (the default) trains the default model gnntrack_in_fast (2 iterations, ReLU,
# 8-wide messages, 90 epochs, distilled from the bundled gnntrack_in_small; bundled from seed 2),
# VARIANT=small its teacher gnntrack_in_small (3 iterations, tanh), VARIANT=filter the edge
# filter of the graph stage gnntrack_filter (one hidden layer on the edge features). SEED
# defaults to the bundled model's. OUT defaults to out/model/<name>.onnx;
# its .pt, .train.json (report) and .loss.png go beside it. The bundled models/<name>.onnx is
# replaced only with REPLACE_BUNDLED=1.
# Needs the training environment (models/train/requirements.txt) in .venv-train, or TRAIN_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."
variant=${VARIANT:-fast}
case "$variant" in
  small) name=gnntrack_in_small; version=1.1.0; bundled_seed=1; shape=(--iterations 3) ;;
  fast) name=gnntrack_in_fast; version=1.2.0; bundled_seed=2
    shape=(--iterations 2 --activation relu --message 8 --epochs 90 --patience 8
      --teacher "$(realpath models/gnntrack_in_small.onnx)" --teacher-weight 0.5) ;;
  filter) name=gnntrack_filter; version=1.0.0; bundled_seed=1; shape=(--hidden 16 --layers 1 --keep 0.9999) ;;
  *) echo "VARIANT=$variant: expected fast, small or filter" >&2; exit 2 ;;
esac
out=${1:-out/model/$name.onnx}
seed=${2:-$bundled_seed}
work=${WORK:-out/training}
source models/train/train_python.sh
if [ "${DRY_RUN:-0}" = 1 ]; then
  echo "would train $name (${shape[*]}) with $py into $out (seed $seed, work folder $work); replace the bundled model: ${REPLACE_BUNDLED:-0}"
  exit 0
fi
mkdir -p "$(dirname "$out")"
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
      $g export-graphs --in "$work/hits-$geo-$field/xi$xi" --out "$work/graphs/$geo-$field-xi$xi" \
        --geometry "$geo" > /dev/null
    done
  done
done
# Absolute paths, so that PYTHON, WORK and OUT may be given either way.
py=$(realpath -s "$py")
work=$(realpath "$work")
out=$(realpath -m "$out")
if [ "$variant" = filter ]; then
  (cd models/train && "$py" train_filter.py --graphs "$work"/graphs/* "${shape[@]}" \
    --seed "$seed" --out "$out" --name "$name" --version "$version")
  # Its dense layers as the tracker's dense operators (rewrite 7; checked against the export).
  (cd models/train && "$py" optimize_onnx.py "$out" "$out" --dense --check)
else
  # The variant's shape comes last: its options replace the defaults before it.
  (cd models/train && "$py" train.py --graphs "$work"/graphs/* --arch in --hidden 16 --message 4 \
    --epochs 30 --patience 6 --lr 5e-3 --max-edges 120000 "${shape[@]}" --seed "$seed" \
    --out "$out" --name "$name" --version "$version")
  # The same computation in a graph onnxruntime runs faster (checked against the exported one).
  (cd models/train && "$py" optimize_onnx.py "$out" "$out" --check)
  (cd models/train && "$py" parity.py --model "$out" --state "${out%.onnx}.pt" --graphs "$work"/graphs/*)
fi
echo "model: $out"
if [ "$variant" = filter ]; then
  echo "training report: ${out%.onnx}.train.json"
else
  echo "training report: ${out%.onnx}.train.json; loss plot: ${out%.onnx}.loss.png; state: ${out%.onnx}.pt"
fi
if [ "${REPLACE_BUNDLED:-0}" = 1 ]; then
  cp "$out" "models/$name.onnx"
  echo "replaced the bundled models/$name.onnx (then: count_flops.py --write models/$name.onnx for an edge classifier; the default (gnntrack_in_fast) and the filter are compiled into the library: rebuild to use them)"
else
  echo "the bundled models/$name.onnx is unchanged (REPLACE_BUNDLED=1 replaces it)"
fi
