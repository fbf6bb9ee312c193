#!/usr/bin/env bash
# The Marlin job test (ctest marlin_job): hit files -> gnntrack-csv2lcio -> Marlin with
# GnnTrackProcessor (the example steering file, options on Marlin's command line) -> the output
# tracks checked by gnntrack-lcio-check against `gnntrack reconstruct` on the same files.
# usage: marlin_job.sh PREFIX MARLIN CHECK STEERING WORK_DIR SHARED_DATA_DIR
set -euo pipefail
prefix=$1 marlin=$2 check=$3 steer=$4 work=$5 shared=$6
g="$prefix/bin/gnntrack"
conv="$prefix/bin/gnntrack-csv2lcio"
export MARLIN_DLL="$prefix/lib/libGnnTrackMarlin.so"
rm -rf "$work"
mkdir -p "$work"
cd "$work"

fail() { echo "marlin_job: $*" >&2; exit 1; }
# With an onnxruntime installed beside the library, Marlin runs with MARLIN_DLL as its only
# environment variable.
marlin_env=()
if ls "$prefix"/lib/libonnxruntime.so* >/dev/null 2>&1; then
    marlin_env=(env -i "MARLIN_DLL=$MARLIN_DLL")
    echo "Marlin runs with only MARLIN_DLL set"
fi
# Marlin on INPUT writing OUTPUT, more options after them; its log goes to OUTPUT's name .log.
run_marlin() {
    local in=$1 out=$2 log=${2%.slcio}.log
    shift 2
    "${marlin_env[@]}" "$marlin" "$steer" --global.LCIOInputFiles="$in" --Output.LCIOOutputFile="$out" "$@" >"$log" 2>&1 ||
        { tail -40 "$log"; fail "Marlin failed on $in (log: $work/$log)"; }
}
# The tracks of `gnntrack reconstruct` with the settings of the steering file (tracks.min_hits=3).
reco() {
    "$g" reconstruct --in "$1" --out "$2" --set tracks.min_hits=3 >/dev/null
}
check_tracks() { "$check" "$1" TrackCandidates SiTrackerHits GnnTrackHitTruth "${@:2}"; }

echo "== a simulated xi = 5 crossing"
"$g" simulate --xi 5 --bx 1 --seed 4242 --out bx5 >/dev/null
"$conv" bx5.slcio bx5/bx_4242_0000.csv
run_marlin bx5.slcio bx5_tracks.slcio
reco bx5/bx_4242_0000.csv bx5_reco.csv
check_tracks bx5_tracks.slcio bx5_reco.csv

echo "== a two-event file"
"$g" simulate --xi 3 --bx 2 --seed 77 --out two >/dev/null
"$conv" two.slcio two/bx_77_0000.csv two/bx_77_0001.csv
run_marlin two.slcio two_tracks.slcio
reco two/bx_77_0000.csv two_0.csv
reco two/bx_77_0001.csv two_1.csv
check_tracks two_tracks.slcio two_0.csv two_1.csv

echo "== ModelPath and EdgeCut set on Marlin's command line"
model="$(cd "$(dirname "$steer")/../../.." && pwd)/models/gnntrack_in_large.onnx"
run_marlin two.slcio two_large.slcio --GnnTrack.ModelPath="$model" --GnnTrack.EdgeCut=0.6
"$g" reconstruct --in two/bx_77_0000.csv --out large_0.csv --model "$model" \
    --set tracks.min_hits=3 --set tracks.edge_cut=0.6 >/dev/null
"$g" reconstruct --in two/bx_77_0001.csv --out large_1.csv --model "$model" \
    --set tracks.min_hits=3 --set tracks.edge_cut=0.6 >/dev/null
check_tracks two_large.slcio large_0.csv large_1.csv
grep -q "tracker ready: .*model gnntrack_in_large .*edge cut 0.6" two_large.log ||
    fail "the job did not use $model with edge cut 0.6 (two_large.log)"

echo "== a misspelt input collection: one WARNING per run, a count at the end"
run_marlin two.slcio misspelt.slcio --GnnTrack.TrackerHitCollectionNames=SiTrackerHitz
warnings=$(grep -c 'no collection `SiTrackerHitz`' misspelt.log || true)
[ "$warnings" = 1 ] || fail "expected one warning about SiTrackerHitz, got $warnings (misspelt.log)"
grep 'no collection `SiTrackerHitz`' misspelt.log | grep -q WARNING ||
    fail "the missing collection is not a WARNING (misspelt.log)"
grep -q 'collection `SiTrackerHitz` was missing in 2 of 2 events' misspelt.log ||
    fail "no count of the events without the collection (misspelt.log)"
echo "one warning, and: $(grep -o 'collection `SiTrackerHitz` was missing in 2 of 2 events' misspelt.log)"

real="$shared/luxe_xi3_sl.csv"
if [ -f "$real" ]; then
    echo "== the real crossing (LUXE format), Geometry set on Marlin's command line"
    "$conv" real.slcio "$real"
    run_marlin real.slcio real_tracks.slcio --GnnTrack.Geometry=luxe-sl
    reco "$real" real_reco.csv # luxe-sl is the default geometry of LUXE files
    check_tracks real_tracks.slcio real_reco.csv
else
    echo "== the real crossing: $real not found (set GNNTRACK_SHARED_DATA), part left out"
fi

echo "== the converter writes nothing when an input is bad"
printf 'hit_id,x,y,z,layer,stave\n1,abc,0,3950,0,0\n' >bad.csv
if "$conv" bad.slcio bx5/bx_4242_0000.csv bad.csv 2>bad.err; then
    fail "gnntrack-csv2lcio accepted bad.csv"
fi
grep -q 'bad.csv, line 2: column `x`: `abc`' bad.err || fail "unexpected message: $(cat bad.err)"
[ ! -e bad.slcio ] || fail "a failed conversion left bad.slcio"
if ls ./*partial* >/dev/null 2>&1; then fail "a failed conversion left $(ls ./*partial*)"; fi
: >empty.csv
if "$conv" empty.slcio empty.csv 2>empty.err; then fail "gnntrack-csv2lcio accepted an empty file"; fi
grep -q 'empty.csv: empty file' empty.err || fail "unexpected message: $(cat empty.err)"
[ ! -e empty.slcio ] || fail "a failed conversion left empty.slcio"
echo "marlin_job: all checks passed"
