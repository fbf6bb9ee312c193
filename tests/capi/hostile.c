/* Hostile inputs through the C API: each must come back as its status with a message naming
 * the problem, and nothing may crash.
 *
 * usage: hostile_c inputs [TEST_MODELS_DIR] [BIG_BX.csv]
 *        hostile_c no-onnxruntime
 * `inputs` runs every case that needs onnxruntime (found as usual); the contract case needs the
 * test models of `make test-models` and the edge-cap case a crossing of 10x the xi = 7 size,
 * each skipped (with a note) when not given. `no-onnxruntime` must run in its own process
 * with ORT_DYLIB_PATH pointing nowhere: onnxruntime is loaded once per process. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnntrack.h>

#include "expect.h"
#include "hits_csv.h"

/* One positron crossing the four inner staves, plus room for a fifth hit. */
#define N_TRACK 4
static double X[N_TRACK + 1] = {100.0, 105.28, 110.55, 115.83, 120.0};
static double Y[N_TRACK + 1] = {0.10, 0.10, 0.11, 0.11, 0.0};
static double Z[N_TRACK + 1] = {3950.0125, 4050.0125, 4150.0125, 4250.0125, 3950.0125};
static int32_t LAYER[N_TRACK + 1] = {0, 1, 2, 3, 0};
static int32_t STAVE[N_TRACK + 1] = {0, 0, 0, 0, 0};
static uint64_t ID[N_TRACK + 1] = {10, 11, 12, 13, 14};

static gnntrack_hits columns(void) {
    gnntrack_hits h;
    h.x = X;
    h.y = Y;
    h.z = Z;
    h.layer = LAYER;
    h.stave = STAVE;
    h.hit_id = ID;
    return h;
}

/* A tracker with one key changed; returns the status of gnntrack_tracker_new. */
static gnntrack_status tracker_with(const char *key, const char *value, gnntrack_tracker **out) {
    gnntrack_config *config = NULL;
    gnntrack_status status;
    gnntrack_config_new(&config);
    status = gnntrack_config_set(config, key, value);
    if (status == GNNTRACK_STATUS_OK) status = gnntrack_tracker_new(config, out);
    gnntrack_config_free(config);
    return status;
}

/* Reconstructs the small crossing with one column entry replaced. */
static gnntrack_status reconstruct_with(const gnntrack_tracker *tracker, double *column,
                                        size_t i, double value) {
    gnntrack_hits h = columns();
    gnntrack_result *result = NULL;
    double saved = column[i];
    gnntrack_status status;
    column[i] = value;
    status = gnntrack_reconstruct(tracker, &h, N_TRACK, &result);
    column[i] = saved;
    if (result != NULL && status != GNNTRACK_STATUS_OK) {
        fprintf(stderr, "a failed call returned a result\n");
        failures++;
    }
    gnntrack_result_free(result);
    return status;
}

static gnntrack_status reconstruct_with_int(const gnntrack_tracker *tracker, int32_t *column,
                                            size_t i, int32_t value) {
    gnntrack_hits h = columns();
    gnntrack_result *result = NULL;
    int32_t saved = column[i];
    gnntrack_status status;
    column[i] = value;
    status = gnntrack_reconstruct(tracker, &h, N_TRACK, &result);
    column[i] = saved;
    gnntrack_result_free(result);
    return status;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    return 0;
}

/* Reads a hit file that must be refused: its status, a message naming `needle`, no handle. */
static void expect_bad_file(const char *what, const char *path, gnntrack_status want,
                            const char *needle) {
    gnntrack_hit_file *file = (gnntrack_hit_file *)&cases; /* must be overwritten */
    expect(what, gnntrack_hit_file_read(path, &file), want, needle);
    if (file != NULL) {
        printf("FAIL %s: a failed read left a hit file\n", what);
        failures++;
    }
}

/* Hit files through the library's reader (gnntrack_hit_file_read): bad paths, bad files, bad
 * rows, bad arguments, and a hit the reader reads but validation refuses. */
static void hit_files(const gnntrack_tracker *tracker, const char *tmp) {
    gnntrack_hit_file *file = NULL;
    gnntrack_hits h;
    gnntrack_result *result = NULL;
    const uint64_t *particle_id = NULL;
    const char *format = NULL;
    size_t n = 0;
    char path[4096];
    static const struct {
        const char *what, *name, *text, *needle;
    } bad[] = {
        {"empty hit file", "empty.csv", "", "empty.csv: empty file"},
        {"blank hit file", "blank.csv", "\n\n", "empty file"},
        {"unknown header", "header.csv", "a,b,c\n1,2,3\n", "unrecognised header `a,b,c`"},
        {"truth without particle_p", "truth.csv", "hit_id,x,y,z,layer,stave,particle_id\n",
         "truth needs both particle_id and particle_p"},
        {"x not a number", "x.csv", "hit_id,x,y,z,layer,stave\n1,abc,0,3950.0125,0,0\n",
         "x.csv, line 2: column `x`: `abc` is not a number"},
        {"a short row", "short.csv",
         "hit_id,x,y,z,layer,stave\n1,100,0,3950.0125,0,0\n2,100,0,3950.0125,0\n",
         "line 3: 5 fields, expected 6"},
        {"negative layer in a file", "layer.csv",
         "hit_id,x,y,z,layer,stave\n1,100,0,3950.0125,-1,0\n",
         "column `layer`: `-1` is not a layer/stave index (0..255)"},
        {"negative hit id", "id.csv", "hit_id,x,y,z,layer,stave\n-4,100,0,3950.0125,0,0\n",
         "column `hit_id`: `-4` is not a non-negative integer"},
        {"LUXE layer not `Plane k`", "luxe.csv",
         "hit_ID,x,y,z,layer_ID,particle_ID,particle_energy\n0,0.1,0,3.95,Layer 0,0,4000\n",
         "column `layer_ID`: `Layer 0` is not `Plane <k>`"},
    };

    /* Arguments. */
    expect_bad_file("hit_file_read(NULL path)", NULL, GNNTRACK_STATUS_NULL_ARGUMENT, "`path`");
    expect("hit_file_read(NULL out)", gnntrack_hit_file_read("hits.csv", NULL),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`out`");
    expect_bad_file("hit file path not UTF-8", "/tmp/\xff.csv", GNNTRACK_STATUS_INVALID_ARGUMENT,
                    "`path` is not valid UTF-8");
    expect("hit_file_columns(NULL file)", gnntrack_hit_file_columns(NULL, &h, &n, NULL, NULL),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`file`");
    gnntrack_hit_file_free(NULL);

    /* Files. */
    expect_bad_file("missing hit file", "/nonexistent/hits.csv", GNNTRACK_STATUS_HIT_FILE,
                    "/nonexistent/hits.csv: No such file or directory");
    if (tmp == NULL) {
        printf("skip hit file contents: no temporary folder\n");
        return;
    }
    expect_bad_file("a folder as hit file", tmp, GNNTRACK_STATUS_HIT_FILE, tmp);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, bad[i].name);
        write_file(path, bad[i].text);
        expect_bad_file(bad[i].what, path, GNNTRACK_STATUS_HIT_FILE, bad[i].needle);
        remove(path);
    }

    /* A file the reader reads but whose hit validation refuses, with the message of the same
     * hit given as columns (`x = NaN` above); then a valid file. */
    snprintf(path, sizeof path, "%s/nan.csv", tmp);
    write_file(path, "hit_id,x,y,z,layer,stave\n10,100,0.1,3950.0125,0,0\n"
                     "11,NaN,0.1,4050.0125,1,0\n12,110.55,0.11,4150.0125,2,0\n");
    expect("read a file with x = NaN", gnntrack_hit_file_read(path, &file), GNNTRACK_STATUS_OK,
           NULL);
    remove(path);
    if (file != NULL) {
        expect("hit_file_columns(NULL columns)",
               gnntrack_hit_file_columns(file, NULL, &n, NULL, NULL),
               GNNTRACK_STATUS_NULL_ARGUMENT, "`columns`");
        expect("hit_file_columns(NULL n_hits)",
               gnntrack_hit_file_columns(file, &h, NULL, NULL, NULL),
               GNNTRACK_STATUS_NULL_ARGUMENT, "`n_hits`");
        expect("hit_file_columns", gnntrack_hit_file_columns(file, &h, &n, &particle_id, &format),
               GNNTRACK_STATUS_OK, NULL);
        if (n != 3 || particle_id != NULL || format == NULL || strcmp(format, "project") != 0 ||
            h.hit_id[1] != 11 || !isnan(h.x[1])) {
            printf("FAIL nan.csv read as %zu hits, format %s\n", n, format ? format : "NULL");
            failures++;
        }
        expect("reconstruct a file's NaN hit", gnntrack_reconstruct(tracker, &h, n, &result),
               GNNTRACK_STATUS_INVALID_HIT, "invalid hit: hit 1 (id 11): `x` = NaN is not finite");
        gnntrack_result_free(result);
        result = NULL;
        gnntrack_hit_file_free(file);
        file = NULL;
    }
}

static void inputs(const char *models_dir, const char *big_bx) {
    gnntrack_config *config = NULL;
    gnntrack_tracker *tracker = NULL, *other = NULL;
    gnntrack_result *result = NULL;
    gnntrack_hits h = columns();
    size_t count = 0, n = 0;
    const uint32_t *indices = NULL;
    const char *provider = NULL;
    gnntrack_status status;
    char path[4096];
    char tmpl[] = "/tmp/gnntrack-hostile-XXXXXX";
    const char *tmp = mkdtemp(tmpl);

    /* A working tracker first: the cases below need it. */
    expect("default tracker", tracker_with("tracks.min_hits", "3", &tracker), GNNTRACK_STATUS_OK,
           NULL);
    if (tracker == NULL) return;

    /* NULL handles, arrays and outputs. */
    expect("config_new(NULL)", gnntrack_config_new(NULL), GNNTRACK_STATUS_NULL_ARGUMENT, "`out`");
    expect("config_set(NULL config)", gnntrack_config_set(NULL, "max_edges", "5"),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`config`");
    expect("tracker_new(NULL config)", gnntrack_tracker_new(NULL, &other),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`config`");
    expect("reconstruct(NULL tracker)", gnntrack_reconstruct(NULL, &h, N_TRACK, &result),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`tracker`");
    expect("reconstruct(NULL hits)", gnntrack_reconstruct(tracker, NULL, N_TRACK, &result),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`hits`");
    expect("reconstruct(NULL out)", gnntrack_reconstruct(tracker, &h, N_TRACK, NULL),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`out`");
    h.y = NULL;
    expect("reconstruct(hits.y = NULL)", gnntrack_reconstruct(tracker, &h, N_TRACK, &result),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`hits->y`");
    h = columns();
    h.stave = NULL;
    expect("reconstruct(hits.stave = NULL)", gnntrack_reconstruct(tracker, &h, N_TRACK, &result),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`hits->stave`");
    h = columns();
    expect("result_candidate_count(NULL result)", gnntrack_result_candidate_count(NULL, &count),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`result`");
    expect("tracker_provider(NULL out)", gnntrack_tracker_provider(tracker, NULL),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`provider`");
    gnntrack_result_free(NULL); /* NULL is ignored by every *_free */
    gnntrack_tracker_free(NULL);
    gnntrack_config_free(NULL);

    /* Counts. */
    expect("reconstruct(n_hits = 0)", gnntrack_reconstruct(tracker, &h, 0, &result),
           GNNTRACK_STATUS_EMPTY_INPUT, "`n_hits` = 0");
    if (result != NULL) {
        printf("FAIL a failed call left a result\n");
        failures++;
    }

    /* Invalid hits: each names the hit, the field and the value. */
    expect("x = NaN", reconstruct_with(tracker, X, 1, NAN), GNNTRACK_STATUS_INVALID_HIT,
           "hit 1 (id 11): `x` = NaN is not finite");
    expect("z = +inf", reconstruct_with(tracker, Z, 2, INFINITY), GNNTRACK_STATUS_INVALID_HIT,
           "`z` = inf is not finite");
    expect("y = -inf", reconstruct_with(tracker, Y, 0, -INFINITY), GNNTRACK_STATUS_INVALID_HIT,
           "`y` = -inf is not finite");
    expect("layer = 4 (luxe has 4 layers)", reconstruct_with_int(tracker, LAYER, 3, 4),
           GNNTRACK_STATUS_INVALID_HIT, "`layer` = 4 is unknown to geometry luxe");
    expect("layer = -1", reconstruct_with_int(tracker, LAYER, 0, -1), GNNTRACK_STATUS_INVALID_HIT,
           "`layer` = -1 is unknown");
    expect("layer = 300 (beyond a byte)", reconstruct_with_int(tracker, LAYER, 0, 300),
           GNNTRACK_STATUS_INVALID_HIT, "`layer` = 300 is unknown");
    expect("stave = 2", reconstruct_with_int(tracker, STAVE, 2, 2), GNNTRACK_STATUS_INVALID_HIT,
           "`stave` = 2 is unknown to layer 2");
    expect("stave = -7", reconstruct_with_int(tracker, STAVE, 2, -7), GNNTRACK_STATUS_INVALID_HIT,
           "`stave` = -7 is unknown");
    expect("z off its stave plane", reconstruct_with(tracker, Z, 1, 4062.0), GNNTRACK_STATUS_INVALID_HIT,
           "from the plane of layer 1 stave 0");
    expect("x outside its stave", reconstruct_with(tracker, X, 0, 900.0), GNNTRACK_STATUS_INVALID_HIT,
           "`x` = 900 mm is outside layer 0 stave 0");
    ID[4] = ID[1];
    h = columns();
    expect("duplicate hit ids", gnntrack_reconstruct(tracker, &h, N_TRACK + 1, &result),
           GNNTRACK_STATUS_INVALID_HIT, "`hit_id` = 11 appears twice (hits 1 and 4)");
    ID[4] = 14;
    h = columns();
    h.x = (const double *)((const char *)X + 1);
    expect("misaligned x column", gnntrack_reconstruct(tracker, &h, N_TRACK, &result),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "not aligned");
    h = columns();

    /* A valid call still works after all that, and accessors check their arguments. */
    status = gnntrack_reconstruct(tracker, &h, N_TRACK + 1, &result);
    expect("valid crossing", status, GNNTRACK_STATUS_OK, NULL);
    if (status == GNNTRACK_STATUS_OK) {
        gnntrack_result_candidate_count(result, &count);
        expect("candidate_hits(index = count)",
               gnntrack_result_candidate_hits(result, count, &indices, &n),
               GNNTRACK_STATUS_INVALID_ARGUMENT, "the result has");
        gnntrack_result_free(result);
        result = NULL; /* freeing it again would be undefined behaviour */
    }

    /* Configuration. */
    gnntrack_config_new(&config);
    expect("unknown key", gnntrack_config_set(config, "tracks.min_hitz", "3"),
           GNNTRACK_STATUS_CONFIG, "`tracks.min_hitz` = `3`: unknown field `min_hitz`");
    expect("unknown top-level key", gnntrack_config_set(config, "colour", "blue"),
           GNNTRACK_STATUS_CONFIG, "unknown field `colour`");
    expect("unparsable value", gnntrack_config_set(config, "tracks.min_hits", "three"),
           GNNTRACK_STATUS_CONFIG, "`tracks.min_hits` = `three`");
    expect("value out of range", gnntrack_config_set(config, "tracks.min_hits", "1"),
           GNNTRACK_STATUS_CONFIG, "must be at least 2");
    expect("unknown provider", gnntrack_config_set(config, "inference.provider", "tpu"),
           GNNTRACK_STATUS_CONFIG, "`inference.provider` = `tpu`");
    expect("empty key", gnntrack_config_set(config, "", "1"), GNNTRACK_STATUS_CONFIG,
           "not a key");
    expect("NULL value", gnntrack_config_set(config, "max_edges", NULL),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`value`");
    expect("key not UTF-8", gnntrack_config_set(config, "max_\xff", "1"),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "`key` is not valid UTF-8");
    expect("TOML string with a syntax error", gnntrack_config_load_string(config, "max_edges = ["),
           GNNTRACK_STATUS_CONFIG, "configuration:");
    expect("TOML string with an unknown key",
           gnntrack_config_load_string(config, "[tracks]\nmin_hitz = 3\n"), GNNTRACK_STATUS_CONFIG,
           "unknown field `min_hitz`");
    expect("missing TOML file", gnntrack_config_load_file(config, "/nonexistent/gnntrack.toml"),
           GNNTRACK_STATUS_CONFIG, "cannot read /nonexistent/gnntrack.toml");
    expect("log level 9", gnntrack_set_log_callback(NULL, NULL, 9),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "`max_level` = 9");
    {
        /* A 1 MB key is named, but not echoed in full. */
        size_t big = (size_t)1 << 20;
        char *key = malloc(big + 1);
        if (key != NULL) {
            memset(key, 'k', big);
            key[big] = '\0';
            expect("1 MB unknown key", gnntrack_config_set(config, key, "1"), GNNTRACK_STATUS_CONFIG,
                   "kkkkkkkk");
            if (strlen(gnntrack_last_error()) > 4096) {
                printf("FAIL the message of a 1 MB key is %zu bytes long\n",
                       strlen(gnntrack_last_error()));
                failures++;
            }
            free(key);
        }
    }
    if (tmp != NULL) {
        snprintf(path, sizeof path, "%s/broken.toml", tmp);
        write_file(path, "max_edges = [\n");
        expect("TOML file with a syntax error", gnntrack_config_load_file(config, path),
               GNNTRACK_STATUS_CONFIG, path);
        remove(path);
        snprintf(path, sizeof path, "%s/geometry.toml", tmp);
        write_file(path, "name = \"x\"\n[[layers]\n");
        expect("geometry TOML file with a syntax error", tracker_with("geometry", path, &other),
               GNNTRACK_STATUS_GEOMETRY, path);
        remove(path);
    }
    gnntrack_config_free(config);

    /* A hit cap refuses the crossing before any work. */
    {
        gnntrack_tracker *small = NULL;
        expect("tracker with max_hits = 2", tracker_with("max_hits", "2", &small),
               GNNTRACK_STATUS_OK, NULL);
        if (small != NULL) {
            expect("4 hits, max_hits = 2", gnntrack_reconstruct(small, &h, N_TRACK, &result),
                   GNNTRACK_STATUS_INVALID_ARGUMENT, "4 hits, more than max_hits = 2");
            gnntrack_tracker_free(small);
        }
    }

    /* A result without candidates hands out NULL arrays (not dangling pointers), and a result
     * may outlive its tracker. */
    {
        gnntrack_tracker *short_lived = NULL;
        const size_t *offsets = NULL;
        const gnntrack_fit *fits = NULL;
        expect("tracker for an empty result", tracker_with("tracks.min_hits", "3", &short_lived),
               GNNTRACK_STATUS_OK, NULL);
        LAYER[1] = LAYER[2] = LAYER[3] = 0; /* every hit on layer 0: no edges */
        Z[1] = Z[2] = Z[3] = Z[0];
        h = columns();
        status = gnntrack_reconstruct(short_lived, &h, N_TRACK, &result);
        LAYER[1] = 1, LAYER[2] = 2, LAYER[3] = 3;
        Z[1] = 4050.0125, Z[2] = 4150.0125, Z[3] = 4250.0125;
        h = columns();
        expect("one-layer crossing: no candidates", status, GNNTRACK_STATUS_OK, NULL);
        gnntrack_tracker_free(short_lived);
        if (status == GNNTRACK_STATUS_OK) {
            indices = (const uint32_t *)&count; /* must be overwritten */
            fits = (const gnntrack_fit *)&count;
            gnntrack_result_candidate_count(result, &count);
            expect("hit_indices of an empty result", gnntrack_result_hit_indices(result, &offsets, &indices),
                   GNNTRACK_STATUS_OK, NULL);
            expect("fits of an empty result", gnntrack_result_fits(result, &fits), GNNTRACK_STATUS_OK,
                   NULL);
            if (count != 0 || offsets == NULL || offsets[0] != 0 || indices != NULL || fits != NULL) {
                printf("FAIL empty result: count %zu, indices %p, fits %p\n", count,
                       (const void *)indices, (const void *)fits);
                failures++;
            }
            gnntrack_result_free(result);
            result = NULL;
        }
    }

    hit_files(tracker, tmp);

    /* Geometry, model and provider problems surface when the tracker is created. */
    expect("unknown geometry", tracker_with("geometry", "atlas", &other), GNNTRACK_STATUS_GEOMETRY,
           "atlas");
    expect("missing model file", tracker_with("model", "/nonexistent/model.onnx", &other),
           GNNTRACK_STATUS_MODEL_UNREADABLE, "cannot read model /nonexistent/model.onnx");
    if (tmp != NULL) {
        snprintf(path, sizeof path, "%s/corrupt.onnx", tmp);
        write_file(path, "this is not an ONNX model\n");
        expect("corrupt model file", tracker_with("model", path, &other),
               GNNTRACK_STATUS_MODEL_INVALID, "onnxruntime cannot load model");
        remove(path);
        rmdir(tmp);
    }
    if (models_dir != NULL && models_dir[0] != '\0') {
        snprintf(path, sizeof path, "%s/missing_node_features.onnx", models_dir);
    }
    if (models_dir == NULL || models_dir[0] == '\0') {
        printf("skip model contract cases: no test models folder given\n");
    } else if (access(path, R_OK) != 0) {
        printf("skip model contract cases: %s not found (`make test-models` writes the test "
               "models)\n", path);
    } else {
        expect("model without feature metadata", tracker_with("model", path, &other),
               GNNTRACK_STATUS_MODEL_CONTRACT, "gnntrack.node_features");
        snprintf(path, sizeof path, "%s/wrong_dtype.onnx", models_dir);
        expect("model with float64 node features", tracker_with("model", path, &other),
               GNNTRACK_STATUS_MODEL_CONTRACT, "wrong_dtype.onnx");
        {
            /* The edge filter of the graph stage: its model is checked when the tracker starts. */
            char toml[4200];
            gnntrack_config *filtered = NULL;
            snprintf(toml, sizeof toml,
                     "[graph]\nedge_filter = true\nfilter_model = \"%s/filter_no_cut.onnx\"\n",
                     models_dir);
            gnntrack_config_new(&filtered);
            expect("configuration with an edge filter", gnntrack_config_load_string(filtered, toml),
                   GNNTRACK_STATUS_OK, NULL);
            expect("edge filter without its cut", gnntrack_tracker_new(filtered, &other),
                   GNNTRACK_STATUS_MODEL_CONTRACT, "gnntrack.filter.cut");
            expect("filter cut that is no probability",
                   gnntrack_config_set(filtered, "graph.filter_cut", "1.5"), GNNTRACK_STATUS_CONFIG,
                   "filter_cut");
            expect("negative density bound of the edge filter",
                   gnntrack_config_set(filtered, "graph.filter_min_edges_per_hit", "-0.5"),
                   GNNTRACK_STATUS_CONFIG, "filter_min_edges_per_hit");
            gnntrack_config_free(filtered);
        }
    }
    status = tracker_with("inference.provider", "cuda", &other);
    if (status == GNNTRACK_STATUS_OK) {
        gnntrack_tracker_provider(other, &provider);
        printf("note: CUDA is available here (%s); the provider case cannot fail\n", provider);
        gnntrack_tracker_free(other);
        other = NULL;
    } else {
        expect("cuda provider without CUDA", status, GNNTRACK_STATUS_PROVIDER,
               "execution provider `cuda` cannot start");
    }
    if (other != NULL) {
        printf("FAIL a failed tracker_new left a tracker\n");
        failures++;
    }

    /* A crossing of 10x the xi = 7 size against an edge cap. */
    if (big_bx != NULL && big_bx[0] != '\0') {
        test_hits big;
        gnntrack_tracker *capped = NULL;
        if (test_hits_read(big_bx, &big) == 0) {
            gnntrack_hits bh;
            bh.x = big.x;
            bh.y = big.y;
            bh.z = big.z;
            bh.layer = big.layer;
            bh.stave = big.stave;
            bh.hit_id = big.hit_id;
            printf("big crossing: %zu hits\n", big.n);
            expect("tracker with max_edges = 1000000",
                   tracker_with("max_edges", "1000000", &capped), GNNTRACK_STATUS_OK, NULL);
            expect("10x xi = 7 crossing, max_edges = 1000000",
                   gnntrack_reconstruct(capped, &bh, big.n, &result),
                   GNNTRACK_STATUS_TOO_MANY_EDGES, "more than max_edges = 1000000");
            gnntrack_tracker_free(capped);
            test_hits_free(&big);
        } else {
            failures++;
        }
    } else {
        printf("skip edge cap case: no big crossing given\n");
    }

    gnntrack_tracker_free(tracker);
}

static void no_onnxruntime(void) {
    gnntrack_tracker *tracker = NULL;
    gnntrack_config *config = NULL;
    gnntrack_config_new(&config);
    expect("set inference.library.search = false",
           gnntrack_config_set(config, "inference.library.search", "false"), GNNTRACK_STATUS_OK,
           NULL);
    expect("set inference.library.path",
           gnntrack_config_set(config, "inference.library.path", "/nonexistent/libonnxruntime.so"),
           GNNTRACK_STATUS_OK, NULL);
    expect("no onnxruntime library to be found", gnntrack_tracker_new(config, &tracker),
           GNNTRACK_STATUS_ONNXRUNTIME, "onnxruntime not found");
    expect("the same error on a second try", gnntrack_tracker_new(config, &tracker),
           GNNTRACK_STATUS_ONNXRUNTIME, "/nonexistent/libonnxruntime.so");
    /* Nothing was loaded, so a later tracker searches again: its message names its own path. */
    expect("a second try with another path",
           gnntrack_config_set(config, "inference.library.path", "/nonexistent/other/libonnxruntime.so"),
           GNNTRACK_STATUS_OK, NULL);
    expect("names the new path", gnntrack_tracker_new(config, &tracker), GNNTRACK_STATUS_ONNXRUNTIME,
           "/nonexistent/other/libonnxruntime.so");
    expect("and says a later tracker may try again", gnntrack_tracker_new(config, &tracker),
           GNNTRACK_STATUS_ONNXRUNTIME, "a later tracker may try again");
    gnntrack_config_free(config);
    gnntrack_tracker_free(tracker);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "inputs") == 0) {
        inputs(argc >= 3 ? argv[2] : NULL, argc >= 4 ? argv[3] : NULL);
    } else if (argc == 2 && strcmp(argv[1], "no-onnxruntime") == 0) {
        no_onnxruntime();
    } else {
        fprintf(stderr, "usage: %s inputs [TEST_MODELS_DIR] [BIG_BX.csv] | no-onnxruntime\n",
                argv[0]);
        return 2;
    }
    printf("%d cases, %d failed\n", cases, failures);
    return failures ? 1 : 0;
}
