#!/usr/bin/env bash
# ctest installed_env_i: installs the build folder into a temporary prefix outside the sources
# and runs, from a temporary folder with an empty environment (env -i): the installed
# `gnntrack demo`, a C program compiled with the flags of the installed gnntrack.pc, and the
# examples/consumer C++ program built with find_package(gnntrack). Nothing may need
# LD_LIBRARY_PATH, ORT_DYLIB_PATH, VIRTUAL_ENV or the repository.
# usage: installed_env_i.sh BUILD_DIR SOURCE_DIR C_COMPILER CXX_COMPILER
set -euo pipefail
build=$1 source=$2 cc=$3 cxx=$4
tmp=$(mktemp -d /tmp/gnntrack-installed-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
ls "$prefix"/lib/libonnxruntime.so* >/dev/null || { echo "no onnxruntime installed in $prefix/lib" >&2; exit 1; }
cd "$tmp"

echo "== installed gnntrack demo, env -i"
env -i "$prefix/bin/gnntrack" demo --xi 3 --seed 2 >demo.out 2>demo.err ||
    { cat demo.out demo.err; echo "gnntrack demo failed" >&2; exit 1; }
tail -3 demo.out

echo "== an installed model by its name (share/gnntrack/models), env -i"
env -i "$prefix/bin/gnntrack" simulate --xi 3 --bx 1 --seed 3 --out bx >/dev/null 2>&1
env -i "$prefix/bin/gnntrack" reconstruct --in bx/bx_3_0000.csv --model gnntrack_in_large.onnx \
    >large.out 2>large.err || { cat large.out large.err; echo "reconstruct failed" >&2; exit 1; }
grep -q "model gnntrack_in_large" large.err || { cat large.err; echo "not the large model" >&2; exit 1; }
head -1 large.out

echo "== a C program with the pkg-config flags, env -i"
cat >reconstruct.c <<'C'
#include <stdio.h>
#include <gnntrack.h>
int main(void) {
    double x[4] = {100.0, 105.28, 110.55, 115.83}, y[4] = {0.10, 0.10, 0.11, 0.11};
    double z[4] = {3950.0125, 4050.0125, 4150.0125, 4250.0125};
    int32_t layer[4] = {0, 1, 2, 3}, stave[4] = {0, 0, 0, 0};
    gnntrack_hits hits = {x, y, z, layer, stave, NULL};
    gnntrack_config *config = NULL;
    gnntrack_tracker *tracker = NULL;
    gnntrack_result *result = NULL;
    size_t count = 0;
    if (gnntrack_config_new(&config) != GNNTRACK_STATUS_OK ||
        gnntrack_config_set(config, "tracks.min_hits", "3") != GNNTRACK_STATUS_OK ||
        gnntrack_tracker_new(config, &tracker) != GNNTRACK_STATUS_OK ||
        gnntrack_reconstruct(tracker, &hits, 4, &result) != GNNTRACK_STATUS_OK ||
        gnntrack_result_candidate_count(result, &count) != GNNTRACK_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", gnntrack_status_name(gnntrack_last_status()), gnntrack_last_error());
        return 1;
    }
    printf("%zu candidate\n", count);
    gnntrack_result_free(result);
    gnntrack_tracker_free(tracker);
    gnntrack_config_free(config);
    return count == 1 ? 0 : 1;
}
C
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs gnntrack)
"$cc" -std=c11 -O2 reconstruct.c $flags -o reconstruct_c
env -i ./reconstruct_c

echo "== the CMake consumer (find_package), env -i"
cmake -S "$source/examples/consumer" -B consumer -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build consumer >/dev/null
env -i ./consumer/example
echo "installed_env_i: all ran with an empty environment"
