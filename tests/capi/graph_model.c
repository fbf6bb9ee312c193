/* Generic graph models through the C API: the node-, edge- and graph-level test models of
 * `make test-models` give the outputs of their known functions (recomputed here), and hostile
 * inputs come back as their status with a message naming the problem, leaving the caller's
 * arrays and the output buffer untouched.
 *
 * usage: graph_model_c TEST_MODELS_DIR */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnntrack.h>

#include "expect.h"

static char dir[4096];

static const char *model_path(const char *name) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static gnntrack_graph_model *load(const char *name) {
    gnntrack_graph_model *model = NULL;
    expect(name, gnntrack_graph_model_load(model_path(name), NULL, &model), GNNTRACK_STATUS_OK,
           NULL);
    if (model == NULL) {
        fprintf(stderr, "cannot go on without %s\n", name);
        exit(1);
    }
    return model;
}

/* Same numbers as tests/models/make_test_models.py. */
static const double NODE_W[3][2] = {{0.5, -1.0}, {0.25, 2.0}, {-0.75, 0.125}};
static const double EDGE_W[5] = {0.5, -0.25, -1.0, 0.75, 2.0};
static const double EDGE_B = -0.1;
static const double GRAPH_W[2] = {2.0, -1.0};

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static int close_to(const float *got, const double *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (fabs(got[i] - want[i]) > 1e-5 * (fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0)) {
            printf("  value %zu: got %g, want %g\n", i, got[i], want[i]);
            return 0;
        }
    }
    return 1;
}

/* 5 nodes in 2 graphs (nodes 0, 1 in graph 0; 2, 3, 4 in graph 1), 4 edges. */
#define N 5
#define E 4
static float X3[N * 3] = {0.1f, -0.4f, 0.9f,  0.3f, 0.2f,  -0.7f, -0.5f, 0.6f,
                          0.0f, 0.8f,  -0.1f, 0.4f, -0.9f, 0.5f,  0.25f};
static float X2[N * 2] = {0.1f, -0.4f, 0.9f, 0.3f, 0.2f, -0.7f, -0.5f, 0.6f, 0.0f, 0.8f};
static int64_t EDGES[2 * E] = {0, 2, 3, 4, /* sources */ 1, 1, 4, 2 /* targets */};
static float EDGE_F[E] = {0.5f, -1.5f, 2.0f, 0.25f};
static uint32_t GRAPHS[N] = {0, 0, 1, 1, 1};

static void node_level(void) {
    gnntrack_graph_model *model = load("graph_node.onnx");
    gnntrack_graph_info info;
    gnntrack_graph_input in;
    float out[N * 2];
    double want[N * 2];
    size_t rows = 0, size = 0;
    const char *provider = NULL;

    expect("graph_model_info", gnntrack_graph_model_info(model, &info), GNNTRACK_STATUS_OK, NULL);
    check(info.level == GNNTRACK_OUTPUT_LEVEL_NODE && info.output_kind == GNNTRACK_OUTPUT_KIND_VALUES &&
              info.node_width == 3 && info.edge_width == 0 && info.output_width == 2 &&
              info.takes_edges && strcmp(info.name, "node-test") == 0 &&
              strcmp(info.version, "0.1") == 0,
          "node model info");
    expect("graph_model_provider", gnntrack_graph_model_provider(model, &provider),
           GNNTRACK_STATUS_OK, NULL);
    check(provider != NULL && strcmp(provider, "CPU") == 0, "node model on the CPU");

    memset(&in, 0, sizeof in);
    in.node_features = X3;
    in.n_nodes = N;
    in.node_width = 3;
    in.edge_index = EDGES;
    in.n_edges = E;
    expect("graph_model_output_size", gnntrack_graph_model_output_size(model, &in, &size),
           GNNTRACK_STATUS_OK, NULL);
    check(size == N * 2, "node output size");
    expect("run node level", gnntrack_graph_model_run(model, &in, out, N * 2, &rows),
           GNNTRACK_STATUS_OK, NULL);
    /* out[i] = x[i] W + sum over edges s -> i of x[s] W */
    for (size_t i = 0; i < N; i++) {
        for (size_t c = 0; c < 2; c++) {
            double h = 0;
            for (size_t k = 0; k < 3; k++) h += X3[3 * i + k] * NODE_W[k][c];
            want[2 * i + c] = h;
        }
    }
    for (size_t e = 0; e < E; e++) {
        size_t s = (size_t)EDGES[e], d = (size_t)EDGES[E + e];
        for (size_t c = 0; c < 2; c++) {
            double h = 0;
            for (size_t k = 0; k < 3; k++) h += X3[3 * s + k] * NODE_W[k][c];
            want[2 * d + c] += h;
        }
    }
    check(rows == N && close_to(out, want, N * 2), "node outputs = x W + incoming x W");

    /* No nodes at all: 0 rows, the model is not run; output may be NULL. */
    memset(&in, 0, sizeof in);
    in.node_width = 3;
    rows = 99;
    expect("run node level, no nodes", gnntrack_graph_model_run(model, &in, NULL, 0, &rows),
           GNNTRACK_STATUS_OK, NULL);
    check(rows == 0, "no nodes give 0 rows");
    gnntrack_graph_model_free(model);
}

static void edge_level(void) {
    gnntrack_graph_model *model = load("graph_edge.onnx");
    gnntrack_graph_input in;
    float out[E];
    double want[E];
    size_t rows = 0;

    memset(&in, 0, sizeof in);
    in.node_features = X2;
    in.n_nodes = N;
    in.node_width = 2;
    in.edge_index = EDGES;
    in.n_edges = E;
    in.edge_features = EDGE_F;
    in.edge_width = 1;
    expect("run edge level", gnntrack_graph_model_run(model, &in, out, E, &rows),
           GNNTRACK_STATUS_OK, NULL);
    for (size_t e = 0; e < E; e++) {
        size_t s = (size_t)EDGES[e], d = (size_t)EDGES[E + e];
        double row[5] = {X2[2 * s], X2[2 * s + 1], X2[2 * d], X2[2 * d + 1], EDGE_F[e]};
        double z = EDGE_B;
        for (size_t k = 0; k < 5; k++) z += row[k] * EDGE_W[k];
        want[e] = sigmoid(z);
    }
    check(rows == E && close_to(out, want, E), "edge outputs = sigmoid(w . [x_s, x_d, f] + b)");

    {
        float bad[E] = {0.5f, -1.5f, INFINITY, 0.25f};
        in.edge_features = bad;
        expect("infinite edge feature", gnntrack_graph_model_run(model, &in, out, E, &rows),
               GNNTRACK_STATUS_INVALID_ARGUMENT, "edge feature 0 of edge 2 is inf");
        in.edge_features = NULL;
        expect("NULL edge features, 4 edges", gnntrack_graph_model_run(model, &in, out, E, &rows),
               GNNTRACK_STATUS_NULL_ARGUMENT, "input->edge_features");
        in.edge_features = EDGE_F;
        in.edge_width = 2;
        expect("edge_width 2 for a model of 1", gnntrack_graph_model_run(model, &in, out, E, &rows),
               GNNTRACK_STATUS_INVALID_ARGUMENT, "input->edge_width = 2, but the model takes 1");
    }
    gnntrack_graph_model_free(model);
}

static void graph_level(void) {
    gnntrack_graph_model *model = load("graph_graph.onnx");
    gnntrack_graph_input in;
    float out[4];
    double want[4] = {0, 0, 0, 0};
    double count[2] = {0, 0};
    size_t rows = 0;

    memset(&in, 0, sizeof in);
    in.node_features = X2;
    in.n_nodes = N;
    in.node_width = 2;
    in.edge_index = EDGES;
    in.n_edges = E;
    in.graph_index = GRAPHS;
    in.n_graphs = 2;
    expect("run graph level", gnntrack_graph_model_run(model, &in, out, 4, &rows),
           GNNTRACK_STATUS_OK, NULL);
    /* [mean over the graph's nodes of x . w, number of edges ending in the graph] */
    for (size_t i = 0; i < N; i++) {
        want[2 * GRAPHS[i]] += X2[2 * i] * GRAPH_W[0] + X2[2 * i + 1] * GRAPH_W[1];
        count[GRAPHS[i]] += 1;
    }
    for (size_t e = 0; e < E; e++) want[2 * GRAPHS[EDGES[E + e]] + 1] += 1;
    want[0] /= count[0];
    want[2] /= count[1];
    check(rows == 2 && close_to(out, want, 4), "graph outputs = [mean x . w, edges in]");

    {
        uint32_t gap[N] = {0, 0, 2, 2, 2};
        in.graph_index = gap;
        in.n_graphs = 3;
        expect("graph 1 without nodes", gnntrack_graph_model_run(model, &in, out, 6, &rows),
               GNNTRACK_STATUS_INVALID_ARGUMENT, "graph 1 has no nodes");
        in.n_graphs = 2;
        expect("node in graph 2 of 2", gnntrack_graph_model_run(model, &in, out, 4, &rows),
               GNNTRACK_STATUS_INVALID_ARGUMENT, "node 2 is in graph 2, but there are 2 graphs");
        in.graph_index = NULL;
        expect("NULL graph index, 5 nodes", gnntrack_graph_model_run(model, &in, out, 4, &rows),
               GNNTRACK_STATUS_NULL_ARGUMENT, "input->graph_index");
    }
    /* No nodes: 0 graphs is an empty output, 2 graphs are graphs without nodes. */
    memset(&in, 0, sizeof in);
    in.node_width = 2;
    expect("no nodes, no graphs", gnntrack_graph_model_run(model, &in, NULL, 0, &rows),
           GNNTRACK_STATUS_OK, NULL);
    check(rows == 0, "no graphs give 0 rows");
    in.n_graphs = 2;
    expect("no nodes, 2 graphs", gnntrack_graph_model_run(model, &in, out, 4, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "graph 0 has no nodes");
    gnntrack_graph_model_free(model);
}

/* Hostile input to the node-level model: every refusal leaves the output and the inputs as
 * they were. */
static void hostile_node_input(void) {
    gnntrack_graph_model *model = load("graph_node.onnx");
    gnntrack_graph_model *solo = load("graph_node_solo.onnx");
    gnntrack_graph_input in, good;
    float out[N * 2];
    float x[N * 3];
    int64_t edges[2 * E];
    size_t rows = 0;
    uint32_t graphs[N] = {0, 0, 0, 0, 0};

    memcpy(x, X3, sizeof x);
    memcpy(edges, EDGES, sizeof edges);
    memset(&good, 0, sizeof good);
    good.node_features = x;
    good.n_nodes = N;
    good.node_width = 3;
    good.edge_index = edges;
    good.n_edges = E;
    for (size_t i = 0; i < N * 2; i++) out[i] = -7.0f;

    in = good;
    in.node_width = 4;
    expect("node_width 4 for a model of 3", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT,
           "input->node_width = 4, but the model takes 3 node features per node");
    in = good;
    in.edge_width = 1;
    expect("edge_width 1 for a model of 0", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "input->edge_width = 1, but the model takes 0");
    in = good;
    edges[E + 1] = 9;
    expect("edge target 9 of 5 nodes", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "edge 1 refers to node 9, but there are 5 nodes");
    edges[E + 1] = EDGES[E + 1];
    edges[2] = -1;
    expect("negative edge source", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "edge 2 refers to node -1");
    edges[2] = EDGES[2];
    x[4] = NAN;
    expect("NaN node feature", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "node feature 1 of node 1 is NaN");
    x[4] = X3[4];
    x[14] = -INFINITY;
    expect("-inf node feature", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "node feature 2 of node 4 is -inf");
    x[14] = X3[14];
    in.node_features = NULL;
    expect("NULL node features, 5 nodes", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`input->node_features` is NULL but should hold 15");
    in = good;
    in.edge_index = NULL;
    expect("NULL edge index, 4 edges", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`input->edge_index` is NULL but should hold 8");
    in.n_edges = 0;
    expect("no edge index for a model with edges", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_OK, NULL);
    in = good;
    in.graph_index = graphs;
    in.n_graphs = 1;
    expect("graph index for a node-level model", gnntrack_graph_model_run(model, &in, out, 10, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "graph_index given, but the model's output level is node");
    for (size_t i = 0; i < N * 2; i++) out[i] = -7.0f;
    in = good;
    expect("output of 9 floats for 10", gnntrack_graph_model_run(model, &in, out, 9, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "output has room for 9 values, but the model gives 5 rows x 2 = 10");
    expect("NULL output, capacity 10", gnntrack_graph_model_run(model, &in, NULL, 10, &rows),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`output`");
    expect("NULL input", gnntrack_graph_model_run(model, NULL, out, 10, &rows),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`input`");
    expect("NULL model", gnntrack_graph_model_run(NULL, &in, out, 10, &rows),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`model`");
    {
        int untouched = 1;
        for (size_t i = 0; i < N * 2; i++) untouched &= out[i] == -7.0f;
        check(untouched, "failed runs leave the output alone");
        check(memcmp(x, X3, sizeof x) == 0 && memcmp(edges, EDGES, sizeof edges) == 0,
              "the caller's arrays are unchanged");
    }

    /* A node-level model without edges: edges are refused, nodes alone run. */
    in = good;
    in.node_features = X2;
    in.node_width = 2;
    expect("edges for a model without edges", gnntrack_graph_model_run(solo, &in, out, 5, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "edges given, but the model takes no edge index");
    in.edge_index = NULL;
    in.n_edges = 0;
    expect("run the model without edges", gnntrack_graph_model_run(solo, &in, out, 5, &rows),
           GNNTRACK_STATUS_OK, NULL);
    check(rows == N && fabs(out[0] - sigmoid(0.1 * 1.5 + 0.4 * 0.5 + 0.25)) < 1e-6,
          "logits come back as probabilities");
    gnntrack_graph_model_free(solo);
    gnntrack_graph_model_free(model);
}

/* Loading: arguments, files, contracts, and models of the other kind. */
static void loading(void) {
    gnntrack_graph_model *model = (gnntrack_graph_model *)&cases; /* must be overwritten */
    gnntrack_graph_info info;
    gnntrack_config *config = NULL;
    gnntrack_tracker *tracker = NULL;

    expect("load(NULL path)", gnntrack_graph_model_load(NULL, NULL, &model),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`path`");
    check(model == NULL, "a failed load sets *out to NULL");
    expect("load(NULL out)", gnntrack_graph_model_load(model_path("graph_node.onnx"), NULL, NULL),
           GNNTRACK_STATUS_NULL_ARGUMENT, "`out`");
    expect("missing model file", gnntrack_graph_model_load(model_path("nothing.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_UNREADABLE, "nothing.onnx");
    expect("not an ONNX file", gnntrack_graph_model_load(model_path("not_a_model.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_INVALID, "not_a_model.onnx");
    expect("width against the input shape",
           gnntrack_graph_model_load(model_path("graph_width_mismatch.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_CONTRACT,
           "input `node_features` has 3 columns but `gnntrack.node_width` = 4");
    expect("no output level", gnntrack_graph_model_load(model_path("graph_missing_level.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_CONTRACT, "`gnntrack.output_level` is missing");
    expect("two outputs", gnntrack_graph_model_load(model_path("graph_two_outputs.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_CONTRACT, "2 outputs (out, h)");
    expect("float64 node features",
           gnntrack_graph_model_load(model_path("graph_double_features.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_CONTRACT, "input `node_features` has type float64");
    expect("edge classifier as a graph model",
           gnntrack_graph_model_load(model_path("linear.onnx"), NULL, &model),
           GNNTRACK_STATUS_MODEL_CONTRACT, "an edge classifier (`gnntrack.edge_cut` and no `gnntrack.output_level`), not a generic graph model");
    check(model == NULL, "no model after failed loads");

    /* A graph model as the tracker's edge classifier. */
    gnntrack_config_new(&config);
    expect("config model = graph_edge.onnx",
           gnntrack_config_set(config, "model", model_path("graph_edge.onnx")), GNNTRACK_STATUS_OK,
           NULL);
    expect("graph model as an edge classifier", gnntrack_tracker_new(config, &tracker),
           GNNTRACK_STATUS_MODEL_CONTRACT,
           "a generic graph model (`gnntrack.output_level` = `edge`), not an edge classifier");
    check(tracker == NULL, "no tracker from a graph model");

    /* The configuration's inference keys are used. */
    expect("inference.provider = cuda", gnntrack_config_set(config, "inference.provider", "cuda"),
           GNNTRACK_STATUS_OK, NULL);
    model = NULL;
    {
        gnntrack_status status =
            gnntrack_graph_model_load(model_path("graph_node.onnx"), config, &model);
        /* Without CUDA in this onnxruntime the provider cannot start; with it the model loads. */
        cases++;
        if (status == GNNTRACK_STATUS_PROVIDER) {
            printf("ok   %-46s -> %s\n", "cuda provider from the configuration", gnntrack_last_error());
        } else if (status == GNNTRACK_STATUS_OK) {
            const char *provider = NULL;
            gnntrack_graph_model_provider(model, &provider);
            check(strncmp(provider, "CUDA", 4) == 0, "cuda provider from the configuration");
        } else {
            printf("FAIL cuda provider: %s %s\n", gnntrack_status_name(status), gnntrack_last_error());
            failures++;
        }
    }
    gnntrack_graph_model_free(model);
    gnntrack_config_free(config);

    expect("info(NULL model)", gnntrack_graph_model_info(NULL, &info), GNNTRACK_STATUS_NULL_ARGUMENT,
           "`model`");
    gnntrack_graph_model_free(NULL);
}

int main(int argc, char **argv) {
    FILE *probe;
    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST_MODELS_DIR\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    probe = fopen(model_path("graph_node.onnx"), "rb");
    if (probe == NULL) {
        fprintf(stderr, "test models not found in %s: run `make test-models`\n", dir);
        return 1;
    }
    fclose(probe);
    node_level();
    edge_level();
    graph_level();
    hostile_node_input();
    loading();
    printf("%d cases, %d failed\n", cases, failures);
    return failures ? 1 : 0;
}
