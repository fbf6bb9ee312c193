/* The example graph models of models/examples through the C API, on the sample of simulated
 * showers: the cluster classifier (graph level) and the hit tagger (node level) run on all
 * clusters in one call (a graph index per hit) give the accuracies measured when they were
 * trained (with margin), one row per cluster or hit, and the same values as one call per
 * cluster.
 *
 * usage: showers_c EXAMPLES_DIR */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnntrack.h>

#include "expect.h"
#include "showers_sample.h"

/* Measured on the sample when the models were made: 100 % of the clusters, 97.4 % of the hits
 * (models/examples/README.md). */
#define MIN_CLUSTER_ACCURACY 0.90
#define MIN_HIT_ACCURACY 0.93

static char dir[4096];

static gnntrack_graph_model *load(const char *name) {
    char path[4200];
    gnntrack_graph_model *model = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    expect(name, gnntrack_graph_model_load(path, NULL, &model), GNNTRACK_STATUS_OK, NULL);
    if (model == NULL) {
        fprintf(stderr, "cannot go on without %s\n", name);
        exit(1);
    }
    return model;
}

/* Runs the model on every cluster alone and compares with the rows of the joint run. */
static int same_one_by_one(const gnntrack_graph_model *model, const shower_sample *s,
                           int graph_level, const float *joint) {
    int64_t *edges = (int64_t *)malloc(2 * s->n_edges * sizeof(int64_t));
    uint32_t *zeros = (uint32_t *)malloc(s->n_hits * sizeof(uint32_t));
    float *out = (float *)malloc(s->n_hits * sizeof(float));
    double worst = 0.0;
    int ok = 1;
    for (size_t c = 0; c < s->n_clusters && ok; c++) {
        gnntrack_graph_input in;
        size_t rows = 0, first = s->first_hit[c];
        memset(&in, 0, sizeof in);
        in.n_nodes = shower_cluster_input(s, c, edges, zeros, &in.node_features);
        in.node_width = SHOWER_FEATURES;
        in.edge_index = edges;
        in.n_edges = SHOWER_NEIGHBOURS * in.n_nodes;
        if (graph_level) {
            in.graph_index = zeros;
            in.n_graphs = 1;
        }
        ok = gnntrack_graph_model_run(model, &in, out, s->n_hits, &rows) == GNNTRACK_STATUS_OK &&
             rows == (graph_level ? 1 : in.n_nodes);
        for (size_t r = 0; ok && r < rows; r++) {
            double d = fabs(out[r] - joint[graph_level ? c : first + r]);
            worst = d > worst ? d : worst;
        }
    }
    printf("     one cluster at a time: largest difference %.2g\n", worst);
    free(edges);
    free(zeros);
    free(out);
    return ok && worst <= 1e-5;
}

static void cluster_classifier(const shower_sample *s) {
    gnntrack_graph_model *model = load("shower_cluster.onnx");
    gnntrack_graph_info info;
    gnntrack_graph_input in;
    float *p = (float *)malloc(s->n_clusters * sizeof(float));
    size_t rows = 0, need = 0, right = 0;

    expect("graph_model_info", gnntrack_graph_model_info(model, &info), GNNTRACK_STATUS_OK, NULL);
    check(info.level == GNNTRACK_OUTPUT_LEVEL_GRAPH &&
              info.output_kind == GNNTRACK_OUTPUT_KIND_LOGITS && info.node_width == SHOWER_FEATURES &&
              info.edge_width == 0 && info.output_width == 1 && info.takes_edges &&
              strcmp(info.name, "shower_cluster") == 0,
          "cluster classifier info");
    memset(&in, 0, sizeof in);
    in.node_features = s->features;
    in.n_nodes = s->n_hits;
    in.node_width = SHOWER_FEATURES;
    in.edge_index = s->edges;
    in.n_edges = s->n_edges;
    in.graph_index = s->cluster;
    in.n_graphs = s->n_clusters;
    expect("output_size", gnntrack_graph_model_output_size(model, &in, &need), GNNTRACK_STATUS_OK,
           NULL);
    check(need == s->n_clusters, "one value per cluster");
    expect("all clusters in one run", gnntrack_graph_model_run(model, &in, p, s->n_clusters, &rows),
           GNNTRACK_STATUS_OK, NULL);
    check(rows == s->n_clusters, "one row per cluster");
    for (size_t c = 0; c < rows; c++) right += (p[c] > 0.5f) == (s->cluster_label[c] == 1);
    printf("     clusters: %zu of %zu right (%.1f %%)\n", right, rows, 100.0 * right / rows);
    check(rows > 0 && (double)right / rows >= MIN_CLUSTER_ACCURACY, "cluster accuracy");
    check(same_one_by_one(model, s, 1, p), "clusters one by one give the same probabilities");
    gnntrack_graph_model_free(model);
    free(p);
}

static void hit_tagger(const shower_sample *s) {
    gnntrack_graph_model *model = load("shower_hits.onnx");
    gnntrack_graph_info info;
    gnntrack_graph_input in;
    float *p = (float *)malloc(s->n_hits * sizeof(float));
    size_t rows = 0, right = 0;

    expect("graph_model_info", gnntrack_graph_model_info(model, &info), GNNTRACK_STATUS_OK, NULL);
    check(info.level == GNNTRACK_OUTPUT_LEVEL_NODE && info.output_kind == GNNTRACK_OUTPUT_KIND_LOGITS &&
              info.node_width == SHOWER_FEATURES && info.output_width == 1 && info.takes_edges &&
              strcmp(info.name, "shower_hits") == 0,
          "hit tagger info");
    memset(&in, 0, sizeof in);
    in.node_features = s->features;
    in.n_nodes = s->n_hits;
    in.node_width = SHOWER_FEATURES;
    in.edge_index = s->edges;
    in.n_edges = s->n_edges;
    expect("all hits in one run", gnntrack_graph_model_run(model, &in, p, s->n_hits, &rows),
           GNNTRACK_STATUS_OK, NULL);
    check(rows == s->n_hits, "one row per hit");
    for (size_t i = 0; i < rows; i++) right += (p[i] > 0.5f) == (s->hit_signal[i] == 1);
    printf("     hits: %zu of %zu right (%.1f %%)\n", right, rows, 100.0 * right / rows);
    check(rows > 0 && (double)right / rows >= MIN_HIT_ACCURACY, "hit accuracy");
    check(same_one_by_one(model, s, 0, p), "clusters one by one give the same hit probabilities");
    /* A graph index is for graph-level models only. */
    in.graph_index = s->cluster;
    in.n_graphs = s->n_clusters;
    expect("graph index to the hit tagger", gnntrack_graph_model_run(model, &in, p, s->n_hits, &rows),
           GNNTRACK_STATUS_INVALID_ARGUMENT, "graph");
    gnntrack_graph_model_free(model);
    free(p);
}

int main(int argc, char **argv) {
    shower_sample s;
    char path[4200];
    if (argc != 2 || strlen(argv[1]) >= sizeof dir) {
        fprintf(stderr, "usage: %s EXAMPLES_DIR\n", argv[0]);
        return 2;
    }
    strcpy(dir, argv[1]);
    snprintf(path, sizeof path, "%s/showers_sample.csv", dir);
    if (shower_sample_read(path, &s) != 0) return 1;
    printf("     sample: %zu clusters, %zu hits, %zu edges\n", s.n_clusters, s.n_hits, s.n_edges);
    check(s.n_clusters >= 20 && s.n_hits > s.n_clusters, "the sample holds clusters");
    cluster_classifier(&s);
    hit_tagger(&s);
    shower_sample_free(&s);
    printf("%d cases, %d failures\n", cases, failures);
    return failures == 0 ? 0 : 1;
}
