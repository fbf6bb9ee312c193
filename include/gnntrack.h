/*
 * gnntrack: GNN track finding for the LUXE positron tracker, C API.
 *
 * Usage: create a configuration (gnntrack_config_new, then gnntrack_config_set or
 * gnntrack_config_load_file), a tracker from it (gnntrack_tracker_new), then call
 * gnntrack_reconstruct once per bunch crossing and read the result with the
 * gnntrack_result_* accessors before freeing it with gnntrack_result_free.
 *
 * Conventions:
 * - Every function apart from the version queries, the error queries and the *_free
 *   functions returns a gnntrack_status. It also records that status and a message in
 *   thread-local storage: gnntrack_last_status() and gnntrack_last_error() read them until
 *   the next such call on the same thread; a successful call clears them. The functions that
 *   return no status (the *_free functions included) leave them alone.
 * - No call unwinds or aborts: internal errors come back as GNNTRACK_STATUS_PANIC.
 * - NULL handles, arrays and outputs give GNNTRACK_STATUS_NULL_ARGUMENT; n_hits = 0 gives
 *   GNNTRACK_STATUS_EMPTY_INPUT; every message names the argument, key, field or value.
 * - Output handles are set to NULL when a call fails.
 * - Caller arrays are only read, during the call. Handles and the arrays handed out by a
 *   result belong to the library until the matching *_free call. Freeing a handle twice is
 *   undefined behaviour, like free(); *_free(NULL) does nothing.
 * - Threads: a tracker serves concurrent gnntrack_reconstruct calls; results are read-only;
 *   a configuration must not be changed from two threads at once.
 * - Status codes: new GNNTRACK_STATUS_* values may be added without a change of
 *   GNNTRACK_ABI_VERSION. Treat any value other than GNNTRACK_STATUS_OK as a failure, and an
 *   unknown one like GNNTRACK_STATUS_PANIC; gnntrack_status_name() names it ("unknown status"
 *   for a code this library does not know) and gnntrack_last_error() explains it.
 * - Lifetimes: a result does not refer to its tracker or configuration; it may outlive both
 *   (free the tracker first if you like). A tracker does not refer to its configuration.
 * - onnxruntime is loaded at run time, once per process: the configuration key
 *   inference.library.path, then the environment variable ORT_DYLIB_PATH, then a
 *   libonnxruntime.so* installed beside libgnntrack, then a Python onnxruntime package, then
 *   libonnxruntime.so through the dynamic loader (inference.library.search = false stops after
 *   ORT_DYLIB_PATH). The first library that loads serves every tracker of the process
 *   until it exits: a later tracker that names another path gets the loaded one and a warning.
 *   When no library loads, nothing is loaded and the next gnntrack_tracker_new searches again
 *   with its own settings. When a library loads but its environment cannot start, that is
 *   final for the process (GNNTRACK_STATUS_ONNXRUNTIME from every later tracker).
 * - Configuration keys (gnntrack_config_set, or a TOML file): geometry, model, max_hits,
 *   max_edges, edge_cap, hits.*, graph.*, inference.* (provider, device_id, intra_threads,
 *   intra_spinning, memory_pattern, pool_size, graph_mismatch, part_edges, gnntrack_kernels,
 *   library.path, library.search)
 *   and tracks.* (edge_cut, min_hits, ...); docs/configuration.md lists them all, and
 *   gnntrack_config_set names a key it does not know.
 * - Generic graph models, for hosts that build their own graphs (several small graphs at
 *   once): gnntrack_graph_model_load, gnntrack_graph_model_info, then
 *   gnntrack_graph_model_run with node features, an edge index, edge features and a graph
 *   index as the model declares; the output (node, edge or graph rows) goes into a buffer of
 *   the caller. Widths that differ from the model's are GNNTRACK_STATUS_INVALID_ARGUMENT.
 * - Strings are NUL-terminated UTF-8. Units: mm, GeV, seconds.
 */


#ifndef GNNTRACK_H
#define GNNTRACK_H

/* Generated from src/ffi/ by build.rs (cbindgen); do not edit. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Version of this header's library, as a string. */
#define GNNTRACK_VERSION "0.1.0"
/** Major, minor and patch version of this header's library. */
#define GNNTRACK_VERSION_MAJOR 0
#define GNNTRACK_VERSION_MINOR 1
#define GNNTRACK_VERSION_PATCH 0

/**
 * Version of the C ABI. It changes whenever a function, a struct or the meaning of a status
 * changes incompatibly; compare it with `gnntrack_abi_version()` after loading the library.
 */
#define GNNTRACK_ABI_VERSION 1

/**
 * Outcome of a call. `GNNTRACK_STATUS_OK` is 0; every other value comes with a message from
 * `gnntrack_last_error()`. Later versions may add values without changing
 * `GNNTRACK_ABI_VERSION`: treat a value this header does not list as a failure (like
 * `GNNTRACK_STATUS_PANIC`) and report `gnntrack_status_name()` and `gnntrack_last_error()`.
 */
typedef enum gnntrack_status {
    /**
     * Success.
     */
    GNNTRACK_STATUS_OK = 0,
    /**
     * A required pointer (handle, array, string or output) is NULL.
     */
    GNNTRACK_STATUS_NULL_ARGUMENT = 1,
    /**
     * No hits were given (`n_hits` = 0). An empty crossing has no tracks: skip the call.
     */
    GNNTRACK_STATUS_EMPTY_INPUT = 2,
    /**
     * An argument is unusable: a string that is not UTF-8, a misaligned array, an index out of
     * range, more hits than `max_hits`, a log level out of range, graph-model input that does
     * not fit the model (widths, edge or graph index, non-finite features).
     */
    GNNTRACK_STATUS_INVALID_ARGUMENT = 3,
    /**
     * A hit is invalid: non-finite coordinate, layer or stave unknown to the geometry, off its
     * stave, or a duplicate hit id. The message names the hit, field and value.
     */
    GNNTRACK_STATUS_INVALID_HIT = 4,
    /**
     * A configuration key is unknown, a value does not parse or is out of range, or a
     * configuration file cannot be read or parsed.
     */
    GNNTRACK_STATUS_CONFIG = 5,
    /**
     * The geometry preset or file cannot be loaded.
     */
    GNNTRACK_STATUS_GEOMETRY = 6,
    /**
     * The model file cannot be read (missing, unreadable).
     */
    GNNTRACK_STATUS_MODEL_UNREADABLE = 7,
    /**
     * onnxruntime rejects the model file (corrupt, not ONNX).
     */
    GNNTRACK_STATUS_MODEL_INVALID = 8,
    /**
     * The model breaks the model contract (inputs, outputs, metadata, features).
     */
    GNNTRACK_STATUS_MODEL_CONTRACT = 9,
    /**
     * No onnxruntime library could be loaded, or its environment could not be created.
     */
    GNNTRACK_STATUS_ONNXRUNTIME = 10,
    /**
     * The requested execution provider cannot start.
     */
    GNNTRACK_STATUS_PROVIDER = 11,
    /**
     * The window search of the crossing found more edges than `max_edges` (with
     * `edge_cap = "error"`); it stops there, so this comes fast and with bounded memory.
     */
    GNNTRACK_STATUS_TOO_MANY_EDGES = 12,
    /**
     * The model failed while running or returned unusable scores.
     */
    GNNTRACK_STATUS_INFERENCE = 13,
    /**
     * The graph stage failed for a reason other than the hits.
     */
    GNNTRACK_STATUS_GRAPH = 14,
    /**
     * An internal error (a panic) was caught; please report it with the message.
     */
    GNNTRACK_STATUS_PANIC = 15,
    /**
     * A hit file cannot be read: missing, empty, an unknown header or a bad row (the message
     * names the file, line, column and value).
     */
    GNNTRACK_STATUS_HIT_FILE = 16,
} gnntrack_status;

/**
 * Severity of a log message, as passed to a `gnntrack_log_fn`.
 */
typedef enum gnntrack_log_level {
    /**
     * Nothing is logged (only meaningful as a maximum level).
     */
    GNNTRACK_LOG_LEVEL_OFF = 0,
    /**
     * Errors.
     */
    GNNTRACK_LOG_LEVEL_ERROR = 1,
    /**
     * Warnings (for example a model trained with other graph parameters).
     */
    GNNTRACK_LOG_LEVEL_WARN = 2,
    /**
     * Information (onnxruntime found, tracker ready).
     */
    GNNTRACK_LOG_LEVEL_INFO = 3,
    /**
     * Debugging detail.
     */
    GNNTRACK_LOG_LEVEL_DEBUG = 4,
    /**
     * Finest detail.
     */
    GNNTRACK_LOG_LEVEL_TRACE = 5,
} gnntrack_log_level;

/**
 * What the rows of a graph model's output belong to.
 */
typedef enum gnntrack_output_level {
    /**
     * One row per node (`n_nodes` rows).
     */
    GNNTRACK_OUTPUT_LEVEL_NODE = 0,
    /**
     * One row per edge (`n_edges` rows).
     */
    GNNTRACK_OUTPUT_LEVEL_EDGE = 1,
    /**
     * One row per graph (`n_graphs` rows).
     */
    GNNTRACK_OUTPUT_LEVEL_GRAPH = 2,
} gnntrack_output_level;

/**
 * How a graph model's output values are read.
 */
typedef enum gnntrack_output_kind {
    /**
     * The model gives logits; the library returns their sigmoid, probabilities in [0, 1].
     */
    GNNTRACK_OUTPUT_KIND_LOGITS = 0,
    /**
     * The model gives probabilities (checked to lie in [0, 1]).
     */
    GNNTRACK_OUTPUT_KIND_PROBABILITIES = 1,
    /**
     * Any finite values (embeddings, regressions), returned as they are.
     */
    GNNTRACK_OUTPUT_KIND_VALUES = 2,
} gnntrack_output_kind;

/**
 * A tracker configuration (opaque). Created by `gnntrack_config_new`, freed by
 * `gnntrack_config_free`. Not safe to change from several threads at once.
 */
typedef struct gnntrack_config gnntrack_config;

/**
 * A generic graph model (opaque): an ONNX graph network checked against the generic contract
 * (models/README.md, "Generic graph models"). Created by `gnntrack_graph_model_load`, freed by
 * `gnntrack_graph_model_free`. Many threads may call `gnntrack_graph_model_run` on one model at
 * once.
 */
typedef struct gnntrack_graph_model gnntrack_graph_model;

/**
 * The hits of one hit file (opaque), read by `gnntrack_hit_file_read` in either CSV format the
 * command-line tool reads; freed by `gnntrack_hit_file_free`. Read-only.
 */
typedef struct gnntrack_hit_file gnntrack_hit_file;

/**
 * The candidates of one reconstruction (opaque). Created by `gnntrack_reconstruct`, freed by
 * `gnntrack_result_free`; read-only, so any thread may read it. It owns all its data and does
 * not refer to the tracker: it may be read and freed after `gnntrack_tracker_free`.
 */
typedef struct gnntrack_result gnntrack_result;

/**
 * A tracker: geometry, graph settings and loaded model (opaque). Created by
 * `gnntrack_tracker_new`, freed by `gnntrack_tracker_free`. Many threads may call
 * `gnntrack_reconstruct` on one tracker at once.
 */
typedef struct gnntrack_tracker gnntrack_tracker;

/**
 * A log sink of the host: called with the level, the message (NUL-terminated UTF-8, valid
 * only during the call) and the `user_data` given to `gnntrack_set_log_callback`. It may be
 * called from any thread, also concurrently, and must not unwind (throw) into the library.
 */
typedef void (*gnntrack_log_fn)(enum gnntrack_log_level level, const char *message, void *user_data);

/**
 * The hits of one bunch crossing, as columns owned by the caller; each non-NULL pointer points
 * to `n_hits` values (the count is an argument of `gnntrack_reconstruct`). The library only
 * reads them, during the call.
 */
typedef struct gnntrack_hits {
    /**
     * x, mm.
     */
    const double *x;
    /**
     * y, mm.
     */
    const double *y;
    /**
     * z, mm.
     */
    const double *z;
    /**
     * Layer index from the readout, 0 nearest the interaction point. `int32_t` so that any
     * value a host decodes can be passed and checked: values the geometry does not know are
     * refused with `GNNTRACK_STATUS_INVALID_HIT`.
     */
    const int32_t *layer;
    /**
     * Stave index within the layer (0 inner, 1 outer), checked like `layer`.
     */
    const int32_t *stave;
    /**
     * Optional caller hit ids, unique within the crossing; NULL uses the hit's index.
     * Only messages use them: results refer to hits by index.
     */
    const uint64_t *hit_id;
} gnntrack_hits;

/**
 * Straight-line fit of one candidate: x(z) = x0 + tx (z - z0), y(z) = y0 + ty (z - z0).
 */
typedef struct gnntrack_fit {
    /**
     * Reference z: the z of the candidate's first (most upstream) hit, mm.
     */
    double z0;
    /**
     * x at z0, mm.
     */
    double x0;
    /**
     * y at z0, mm.
     */
    double y0;
    /**
     * dx/dz.
     */
    double tx;
    /**
     * dy/dz.
     */
    double ty;
    /**
     * Covariance of (x0, tx), row-major.
     */
    double cov_x[2][2];
    /**
     * Covariance of (y0, ty), row-major.
     */
    double cov_y[2][2];
    /**
     * Chi-square of both projections.
     */
    double chi2;
    /**
     * Momentum estimate, GeV (0 when unavailable).
     */
    double p_estimate;
    /**
     * Degrees of freedom: 2 n_hits - 4.
     */
    int32_t ndf;
    /**
     * Hits of the candidate.
     */
    uint32_t n_hits;
} gnntrack_fit;

/**
 * Wall-clock time of each stage of one reconstruction, seconds.
 */
typedef struct gnntrack_times {
    /**
     * Hit validation and graph construction.
     */
    double graph;
    /**
     * Feature computation (with, beside it, the cut of the graph into the parts the model
     * scores).
     */
    double features;
    /**
     * GNN inference.
     */
    double inference;
    /**
     * Track building and fits.
     */
    double tracks;
    /**
     * Sum of the stages, the optional candidate classifier (`tracks.candidate_model`) included:
     * its time is `total` minus the four stages above.
     */
    double total;
} gnntrack_times;

/**
 * Size of the scored graph of one reconstruction.
 */
typedef struct gnntrack_graph_summary {
    /**
     * Hits given.
     */
    size_t n_hits;
    /**
     * Edges scored.
     */
    size_t n_edges;
    /**
     * Edges at or above the cut.
     */
    size_t n_edges_kept;
    /**
     * Edge cut applied.
     */
    float edge_cut;
} gnntrack_graph_summary;

/**
 * What a graph model declares, filled by `gnntrack_graph_model_info`. The strings belong to
 * the model and stay valid until it is freed.
 */
typedef struct gnntrack_graph_info {
    /**
     * What the output rows belong to.
     */
    enum gnntrack_output_level level;
    /**
     * How the output values are read.
     */
    enum gnntrack_output_kind output_kind;
    /**
     * Node features per node (`gnntrack.node_width`, at least 1).
     */
    size_t node_width;
    /**
     * Edge features per edge (`gnntrack.edge_width`); 0 when the model takes none.
     */
    size_t edge_width;
    /**
     * Output values per row (`gnntrack.output_width`, at least 1).
     */
    size_t output_width;
    /**
     * Whether the model takes an edge index (always for edge-level models).
     */
    bool takes_edges;
    /**
     * `gnntrack.model_name`.
     */
    const char *name;
    /**
     * `gnntrack.model_version`.
     */
    const char *version;
} gnntrack_graph_info;

/**
 * The graphs of one `gnntrack_graph_model_run` call: several small graphs at once, as arrays
 * owned by the caller and only read during the call. Zero-initialise it and fill what the
 * model takes. An array may be NULL only when it holds no values.
 */
typedef struct gnntrack_graph_input {
    /**
     * `n_nodes x node_width` finite floats, row-major (node after node).
     */
    const float *node_features;
    /**
     * Number of nodes. 0 gives an empty output without running the model.
     */
    size_t n_nodes;
    /**
     * Node features per node; must equal the model's `node_width`.
     */
    size_t node_width;
    /**
     * `2 x n_edges` node indices: the `n_edges` sources, then the `n_edges` targets (the
     * `[2, E]` layout of the model), each in `[0, n_nodes)`. Required (non-NULL when
     * `n_edges` > 0) when the model takes edges; must be NULL with `n_edges` = 0 when not.
     */
    const int64_t *edge_index;
    /**
     * Number of edges.
     */
    size_t n_edges;
    /**
     * `n_edges x edge_width` finite floats, row-major; read only when the model's
     * `edge_width` is above 0.
     */
    const float *edge_features;
    /**
     * Edge features per edge; must equal the model's `edge_width` (0 when it takes none).
     */
    size_t edge_width;
    /**
     * Graph-level models: the graph of each node (`n_nodes` values in `[0, n_graphs)`; every
     * graph needs at least one node). Must be NULL for node- and edge-level models.
     */
    const uint32_t *graph_index;
    /**
     * Number of graphs (graph-level models; ignored for the others).
     */
    size_t n_graphs;
} gnntrack_graph_input;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library version, for example `"0.1.0"` (static storage, never freed).
 */
const char *gnntrack_version(void);

/**
 * The ABI version of the loaded library. A host compiled against this header should check
 * `gnntrack_abi_version() == GNNTRACK_ABI_VERSION` before any other call.
 */
uint32_t gnntrack_abi_version(void);

/**
 * The status of the last call on this thread that returns a status
 * (`GNNTRACK_STATUS_OK` when it succeeded).
 */
enum gnntrack_status gnntrack_last_status(void);

/**
 * The message of the last call on this thread that returns a status: empty when it succeeded,
 * else what failed, naming the argument, key, field or value. The string belongs to the
 * library and stays valid until the next call of a status-returning function on this thread;
 * never NULL.
 */
const char *gnntrack_last_error(void);

/**
 * The name of a status, for example `"GNNTRACK_STATUS_INVALID_HIT"`, or `"unknown status"`
 * (static storage, never NULL).
 */
const char *gnntrack_status_name(int32_t status);

/**
 * Routes the library's log messages to `callback` (with `user_data`) instead of stderr,
 * for messages up to `max_level` (a `gnntrack_log_level`, `GNNTRACK_LOG_LEVEL_OFF` to drop
 * everything). `callback` = NULL restores the default: stderr, filtered by the environment
 * variable `GNNTRACK_LOG` (else `RUST_LOG`; env_logger syntax), warnings and errors when unset.
 *
 * When this function returns, the previous callback is no longer running and will not be
 * called again. It must not be called from inside the callback (`GNNTRACK_STATUS_INVALID_ARGUMENT`);
 * messages logged while the callback runs on the same thread go to stderr. Fails with
 * `GNNTRACK_STATUS_INVALID_ARGUMENT` when another logging system of the process (a Rust host)
 * was installed first.
 */
enum gnntrack_status gnntrack_set_log_callback(gnntrack_log_fn callback,
                                               void *user_data,
                                               int32_t max_level);

/**
 * Creates a configuration with every key at its default (geometry `luxe`, the bundled model,
 * the CPU provider) and stores it in `*out`; free it with `gnntrack_config_free`.
 *
 * # Safety
 * `out` is NULL (refused) or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_config_new(struct gnntrack_config **out);

/**
 * Frees a configuration; NULL is ignored. Freeing twice is undefined behaviour.
 *
 * # Safety
 * `config` is NULL or a live configuration, not used afterwards.
 */
void gnntrack_config_free(struct gnntrack_config *config);

/**
 * Sets one key (dotted path, for example `"tracks.min_hits"`, `"inference.provider"`,
 * `"max_edges"`) from its text, as steering parameters of a host framework arrive. The keys are
 * those of the configuration TOML: `geometry`, `model`, `max_hits`, `max_edges`, `edge_cap`,
 * `hits.*`, `graph.*`, `inference.*` (`provider`, `device_id`, `intra_threads`,
 * `intra_spinning`, `memory_pattern`, `pool_size`, `graph_mismatch`, `part_edges`,
 * `gnntrack_kernels`, `library.path`, `library.search`) and `tracks.*`;
 * `gnntrack_config_to_toml` prints them all
 * with their values. The text is
 * read as a TOML value when it is one (`4`, `0.5`, `true`, `[1, 2]`), else as a string.
 * An unknown key or a value of the wrong type or range gives `GNNTRACK_STATUS_CONFIG` with the
 * key and value; the configuration is then unchanged.
 *
 * # Safety
 * `config` is NULL or a live configuration; `key` and `value` are NULL or NUL-terminated.
 */
enum gnntrack_status gnntrack_config_set(struct gnntrack_config *config,
                                         const char *key,
                                         const char *value);

/**
 * Replaces the whole configuration by a TOML file's (keys it does not set get their
 * defaults). An unreadable file, a TOML error, an unknown key or a bad value gives
 * `GNNTRACK_STATUS_CONFIG`; the configuration is then unchanged.
 *
 * # Safety
 * `config` is NULL or a live configuration; `path` is NULL or NUL-terminated.
 */
enum gnntrack_status gnntrack_config_load_file(struct gnntrack_config *config, const char *path);

/**
 * Replaces the whole configuration by the one in a TOML text (keys it does not set get their
 * defaults). Errors as for `gnntrack_config_load_file`.
 *
 * # Safety
 * `config` is NULL or a live configuration; `toml` is NULL or NUL-terminated.
 */
enum gnntrack_status gnntrack_config_load_string(struct gnntrack_config *config, const char *toml);

/**
 * Writes the configuration as TOML into `buffer` like `snprintf`: at most `capacity - 1`
 * bytes and a NUL (nothing when `capacity` is 0, and then `buffer` may be NULL), and the full
 * length without the NUL into `*length` (when `length` is not NULL). Call with `capacity` 0
 * to learn the size.
 *
 * # Safety
 * `config` is NULL or a live configuration; `buffer` is valid for `capacity` bytes;
 * `length` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_config_to_toml(const struct gnntrack_config *config,
                                             char *buffer,
                                             size_t capacity,
                                             size_t *length);

/**
 * Creates a tracker from a configuration (which is copied: it may be freed or changed
 * afterwards): loads the geometry, finds onnxruntime, loads the model and checks its contract,
 * starts the execution provider. Stores it in `*out`; free it with `gnntrack_tracker_free`.
 *
 * onnxruntime is loaded by the first tracker that finds a library (`inference.library.path`,
 * `ORT_DYLIB_PATH`, one installed beside libgnntrack, a Python package, the dynamic loader) and
 * serves every tracker of the process
 * from then on; one that names another path gets the loaded library and a logged warning. A
 * call that finds no library loads nothing, so a later call may search again (for example
 * with another `inference.library.path`).
 *
 * Errors: `GNNTRACK_STATUS_CONFIG`, `_GEOMETRY`, `_MODEL_UNREADABLE` (missing model file),
 * `_MODEL_INVALID` (corrupt), `_MODEL_CONTRACT`, `_ONNXRUNTIME` (no onnxruntime library could
 * be loaded, the message listing every candidate tried; or a library loaded by an earlier call
 * could not start its environment, which is final for the process), `_PROVIDER`.
 *
 * # Safety
 * `config` is NULL or a live configuration; `out` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_tracker_new(const struct gnntrack_config *config,
                                          struct gnntrack_tracker **out);

/**
 * Frees a tracker; NULL is ignored. No `gnntrack_reconstruct` call on it may still be running.
 * Freeing twice is undefined behaviour.
 *
 * # Safety
 * `tracker` is NULL or a live tracker, not used afterwards.
 */
void gnntrack_tracker_free(struct gnntrack_tracker *tracker);

/**
 * The execution provider in use, for example `"CPU"`, `"CUDA device 0"` or
 * `"CPU (CUDA unavailable: ...)"`, stored in `*provider`; the string belongs to the tracker.
 *
 * # Safety
 * `tracker` is NULL or a live tracker; `provider` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_tracker_provider(const struct gnntrack_tracker *tracker,
                                               const char **provider);

/**
 * Reconstructs one bunch crossing: `n_hits` hits in the columns of `*hits` (read only during
 * the call). On success stores the candidates in `*out`; free them with `gnntrack_result_free`.
 * Many threads may call this at once on one tracker.
 *
 * Errors: `GNNTRACK_STATUS_NULL_ARGUMENT` (tracker, hits, a required column or out is NULL),
 * `_EMPTY_INPUT` (`n_hits` = 0), `_INVALID_ARGUMENT` (more than `max_hits` hits, a misaligned
 * column), `_INVALID_HIT` (the first invalid hit: NaN or infinite coordinate, layer or stave
 * the geometry does not know, hit off its stave, duplicate hit id), `_TOO_MANY_EDGES` (the
 * search found more than `max_edges` edges), `_INFERENCE`.
 *
 * # Safety
 * `tracker` is NULL or a live tracker; `hits` is NULL or points to a `gnntrack_hits` whose
 * non-NULL columns hold `n_hits` values each; `out` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_reconstruct(const struct gnntrack_tracker *tracker,
                                          const struct gnntrack_hits *hits,
                                          size_t n_hits,
                                          struct gnntrack_result **out);

/**
 * Frees a result; NULL is ignored. Freeing a result twice is undefined behaviour (as for
 * `free`): set the pointer to NULL after freeing it.
 *
 * # Safety
 * `result` is NULL or a live result, not used afterwards (nor the arrays it handed out).
 */
void gnntrack_result_free(struct gnntrack_result *result);

/**
 * Stores the number of track candidates in `*count`.
 *
 * # Safety
 * `result` is NULL or a live result; `count` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_result_candidate_count(const struct gnntrack_result *result,
                                                     size_t *count);

/**
 * The hits of every candidate in compressed form: `*offsets` points to `count + 1` offsets
 * (the first is 0) and `*indices` to `offsets[count]` hit indices, so that candidate `i` has
 * the hits `indices[offsets[i]] .. indices[offsets[i + 1] - 1]`, ordered by z. An index
 * refers to the position of the hit in the caller's columns. Both arrays belong to the result.
 * A result without candidates gives `*offsets` pointing to the single offset 0 and
 * `*indices` = NULL.
 *
 * # Safety
 * `result` is NULL or a live result; `offsets` and `indices` are NULL or valid for writing a
 * pointer.
 */
enum gnntrack_status gnntrack_result_hit_indices(const struct gnntrack_result *result,
                                                 const size_t **offsets,
                                                 const uint32_t **indices);

/**
 * The hits of candidate `candidate`: `*indices` points to `*n_hits` hit indices (positions in
 * the caller's columns, ordered by z), owned by the result. An index at or above the count
 * gives `GNNTRACK_STATUS_INVALID_ARGUMENT`.
 *
 * # Safety
 * `result` is NULL or a live result; `indices` and `n_hits` are NULL or valid for writing.
 */
enum gnntrack_status gnntrack_result_candidate_hits(const struct gnntrack_result *result,
                                                    size_t candidate,
                                                    const uint32_t **indices,
                                                    size_t *n_hits);

/**
 * The fitted parameters of every candidate: `*fits` points to `count` structs, owned by the
 * result; NULL when the result has no candidates.
 *
 * # Safety
 * `result` is NULL or a live result; `fits` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_result_fits(const struct gnntrack_result *result,
                                          const struct gnntrack_fit **fits);

/**
 * The quality of every candidate from the candidate classifier (the probability that it is a
 * genuine track; see `tracks.candidate_model`): `*quality` points to `count` floats, owned by
 * the result, in candidate order; NULL when the stage is off or there are no candidates. With
 * `tracks.candidate_action = "flag"` every candidate is kept and the caller cuts on this.
 *
 * # Safety
 * `result` is NULL or a live result; `quality` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_result_candidate_quality(const struct gnntrack_result *result,
                                                       const float **quality);

/**
 * Copies the per-stage times of the reconstruction into `*times`.
 *
 * # Safety
 * `result` is NULL or a live result; `times` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_result_times(const struct gnntrack_result *result,
                                           struct gnntrack_times *times);

/**
 * Copies the size of the scored graph (hits, edges, edges kept, cut) into `*summary`.
 *
 * # Safety
 * `result` is NULL or a live result; `summary` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_result_graph(const struct gnntrack_result *result,
                                           struct gnntrack_graph_summary *summary);

/**
 * Reads a hit file in the project format (`gnntrack simulate`) or the LUXE format (recognised
 * from the header; LUXE positions in metres and energies in MeV are converted, every LUXE hit
 * gets stave 0, as the command-line tool reads them) and stores it in `*out`; free it with
 * `gnntrack_hit_file_free`. A missing or empty file, an unknown header or a bad row gives
 * `GNNTRACK_STATUS_HIT_FILE` with the file, line, column and value.
 *
 * # Safety
 * `path` is NULL or NUL-terminated; `out` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_hit_file_read(const char *path, struct gnntrack_hit_file **out);

/**
 * Frees a hit file; NULL is ignored. Freeing twice is undefined behaviour.
 *
 * # Safety
 * `file` is NULL or a live hit file, not used afterwards (nor the columns it handed out).
 */
void gnntrack_hit_file_free(struct gnntrack_hit_file *file);

/**
 * The hits of a hit file as columns for `gnntrack_reconstruct`: stores them in `*columns`
 * (every column set, `hit_id` the file's ids) and their number in `*n_hits`. `particle_id`, when
 * not NULL, receives the true particle of each hit (0: noise), or NULL when the file has no
 * truth. `format`, when not NULL, receives `"project"` or `"luxe"` (static storage). The arrays
 * belong to the hit file.
 *
 * # Safety
 * `file` is NULL or a live hit file; `columns` and `n_hits` are NULL or valid for writing;
 * `particle_id` and `format` are NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_hit_file_columns(const struct gnntrack_hit_file *file,
                                               struct gnntrack_hits *columns,
                                               size_t *n_hits,
                                               const uint64_t **particle_id,
                                               const char **format);

/**
 * Loads a generic graph model from an ONNX file and checks its contract. `config` may be NULL
 * (defaults: the CPU provider); of a configuration only the `inference.*` keys are used
 * (`provider`, `device_id`, `intra_threads`, `pool_size`, `library.path`, ...): onnxruntime is
 * found and shared as for a tracker. Stores the model in `*out`; free it with
 * `gnntrack_graph_model_free`.
 *
 * Errors: `GNNTRACK_STATUS_NULL_ARGUMENT` (path or out), `_MODEL_UNREADABLE`,
 * `_MODEL_INVALID`, `_MODEL_CONTRACT` (the message names the metadata key or input; an edge
 * classifier is refused here with a message saying so), `_ONNXRUNTIME`, `_PROVIDER`.
 *
 * # Safety
 * `path` is NULL or NUL-terminated; `config` is NULL or a live configuration; `out` is NULL or
 * valid for writing a pointer.
 */
enum gnntrack_status gnntrack_graph_model_load(const char *path,
                                               const struct gnntrack_config *config,
                                               struct gnntrack_graph_model **out);

/**
 * Frees a graph model; NULL is ignored. No `gnntrack_graph_model_run` call on it may still be
 * running. Freeing twice is undefined behaviour.
 *
 * # Safety
 * `model` is NULL or a live graph model, not used afterwards.
 */
void gnntrack_graph_model_free(struct gnntrack_graph_model *model);

/**
 * Fills `*info` with what the model declares: output level and kind, node, edge and output
 * widths, whether it takes edges, name and version.
 *
 * # Safety
 * `model` is NULL or a live graph model; `info` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_graph_model_info(const struct gnntrack_graph_model *model,
                                               struct gnntrack_graph_info *info);

/**
 * The execution provider in use, for example `"CPU"` or `"CUDA device 0"`, stored in
 * `*provider`; the string belongs to the model.
 *
 * # Safety
 * `model` is NULL or a live graph model; `provider` is NULL or valid for writing a pointer.
 */
enum gnntrack_status gnntrack_graph_model_provider(const struct gnntrack_graph_model *model,
                                                   const char **provider);

/**
 * The number of output values a run on `*input` gives: rows x the model's `output_width`, the
 * rows being `n_nodes`, `n_edges` or `n_graphs` by the model's level. Stored in `*n_values`;
 * nothing else of the input is checked or read.
 *
 * # Safety
 * `model` is NULL or a live graph model; `input` is NULL or points to a
 * `gnntrack_graph_input`; `n_values` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_graph_model_output_size(const struct gnntrack_graph_model *model,
                                                      const struct gnntrack_graph_input *input,
                                                      size_t *n_values);

/**
 * Runs the model on the graphs of `*input` and writes its output, row after row (`rows x
 * output_width` floats, rows in input order), into `output`, which has room for `capacity`
 * floats (`gnntrack_graph_model_output_size` tells how many are needed); the number of rows
 * goes to `*n_rows` (when not NULL). Logit models give probabilities (the sigmoid). No nodes,
 * or an edge-level model without edges, give 0 rows without running the model (`output` may
 * then be NULL with `capacity` 0). Nothing is written to `output` when the call fails. Many
 * threads may call this at once on one model.
 *
 * Errors: `GNNTRACK_STATUS_NULL_ARGUMENT` (model, input, output with `capacity` > 0, or an
 * input array that is NULL but should hold values), `_INVALID_ARGUMENT` (the message names
 * the item and value: a width that differs from the model's, `output` too small, an edge
 * index out of range or negative, edges given to a model without edges or missing for one
 * with edges, a graph index given to a model that is not graph-level or missing, a node in a
 * graph >= `n_graphs`, a graph without nodes, a NaN or infinite feature, a misaligned array),
 * `_INFERENCE` (onnxruntime failed, or the output is unusable: wrong shape, non-finite, a
 * probability outside [0, 1]).
 *
 * # Safety
 * `model` is NULL or a live graph model; `input` is NULL or points to a
 * `gnntrack_graph_input` whose non-NULL arrays hold the values its counts say; `output` is
 * NULL or valid for writing `capacity` floats; `n_rows` is NULL or valid for writing.
 */
enum gnntrack_status gnntrack_graph_model_run(const struct gnntrack_graph_model *model,
                                              const struct gnntrack_graph_input *input,
                                              float *output,
                                              size_t capacity,
                                              size_t *n_rows);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* GNNTRACK_H */
