/* Reconstructs a simulated bunch crossing through the C API and checks the candidates against
 * the truth of the file: usage `reconstruct_c HITS.csv`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnntrack.h>

#include "hits_csv.h"

static int failures = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            failures++;                                                    \
        }                                                                  \
    } while (0)

/* Stops at the first failed call, with the library's message. */
#define CALL(expr)                                                                    \
    do {                                                                              \
        gnntrack_status status_ = (expr);                                             \
        if (status_ != GNNTRACK_STATUS_OK) {                                          \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #expr,   \
                    gnntrack_status_name(status_), gnntrack_last_error());            \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* The host's logger: counts messages and remembers whether the tracker said it is ready. */
typedef struct log_sink {
    int messages;
    int ready;
} log_sink;

static void on_log(gnntrack_log_level level, const char *message, void *user_data) {
    log_sink *sink = (log_sink *)user_data;
    sink->messages++;
    if (strstr(message, "tracker ready")) sink->ready = 1;
    printf("[host log, level %d] %s\n", (int)level, message);
}

int main(int argc, char **argv) {
    gnntrack_config *config = NULL;
    gnntrack_tracker *tracker = NULL;
    gnntrack_result *result = NULL, *result_by_index = NULL;
    const char *provider = NULL;
    const size_t *offsets = NULL;
    const uint32_t *indices = NULL;
    const gnntrack_fit *fits = NULL;
    gnntrack_times times;
    gnntrack_graph_summary graph;
    size_t count = 0, count_by_index = 0, toml_length = 0;
    char toml[8192];
    log_sink sink = {0, 0};
    test_hits hits;
    gnntrack_hits columns;
    test_score score;
    double efficiency, fake_rate;

    if (argc != 2) {
        fprintf(stderr, "usage: %s HITS.csv\n", argv[0]);
        return 2;
    }
    CHECK(gnntrack_abi_version() == GNNTRACK_ABI_VERSION, "library ABI %u, header ABI %d",
          gnntrack_abi_version(), GNNTRACK_ABI_VERSION);
    CHECK(strcmp(gnntrack_version(), GNNTRACK_VERSION) == 0, "library %s, header %s",
          gnntrack_version(), GNNTRACK_VERSION);
    printf("gnntrack %s, ABI %u\n", gnntrack_version(), gnntrack_abi_version());

    CALL(gnntrack_set_log_callback(on_log, &sink, GNNTRACK_LOG_LEVEL_INFO));

    CALL(gnntrack_config_new(&config));
    CALL(gnntrack_config_set(config, "tracks.min_hits", "3"));
    CALL(gnntrack_config_set(config, "inference.provider", "cpu"));
    CALL(gnntrack_config_to_toml(config, toml, sizeof toml, &toml_length));
    CHECK(toml_length < sizeof toml && strstr(toml, "min_hits = 3") != NULL, "TOML:\n%s", toml);
    CALL(gnntrack_tracker_new(config, &tracker));
    gnntrack_config_free(config); /* the tracker keeps its own copy */
    CALL(gnntrack_tracker_provider(tracker, &provider));
    printf("provider: %s\n", provider);
    CHECK(strncmp(provider, "CPU", 3) == 0, "provider %s", provider);
    CHECK(sink.ready, "no `tracker ready` message reached the log callback (%d messages)",
          sink.messages);

    if (test_hits_read(argv[1], &hits) != 0) return 1;
    columns.x = hits.x;
    columns.y = hits.y;
    columns.z = hits.z;
    columns.layer = hits.layer;
    columns.stave = hits.stave;
    columns.hit_id = hits.hit_id;
    CALL(gnntrack_reconstruct(tracker, &columns, hits.n, &result));

    CALL(gnntrack_result_candidate_count(result, &count));
    CALL(gnntrack_result_hit_indices(result, &offsets, &indices));
    CALL(gnntrack_result_fits(result, &fits));
    CALL(gnntrack_result_times(result, &times));
    CALL(gnntrack_result_graph(result, &graph));
    printf("%zu hits, %zu edges (%zu kept at cut %.3f), %zu candidates\n", graph.n_hits,
           graph.n_edges, graph.n_edges_kept, graph.edge_cut, count);
    printf("times: graph %.2f ms, features %.2f ms, inference %.2f ms, tracks %.2f ms\n",
           1e3 * times.graph, 1e3 * times.features, 1e3 * times.inference, 1e3 * times.tracks);
    CHECK(graph.n_hits == hits.n, "%zu hits in the summary", graph.n_hits);
    CHECK(count > 0 && offsets[0] == 0, "count %zu", count);
    CHECK(fabs(times.total - (times.graph + times.features + times.inference + times.tracks)) <
              1e-9,
          "total %g", times.total);

    /* Structure: offsets rise, indices address the input, fits agree with their hits. */
    for (size_t c = 0; c < count; c++) {
        const uint32_t *own = NULL;
        size_t n_own = 0;
        const gnntrack_fit *f = &fits[c];
        CALL(gnntrack_result_candidate_hits(result, c, &own, &n_own));
        CHECK(own == indices + offsets[c] && n_own == offsets[c + 1] - offsets[c],
              "candidate %zu", c);
        CHECK(n_own >= 3 && f->n_hits == n_own && f->ndf == 2 * (int)n_own - 4,
              "candidate %zu: %zu hits, fit n_hits %u ndf %d", c, n_own, f->n_hits, f->ndf);
        for (size_t j = 0; j < n_own; j++) {
            uint32_t i = own[j];
            CHECK(i < hits.n, "candidate %zu: index %u", c, i);
            if (i >= hits.n) continue;
            CHECK(j == 0 || hits.z[own[j - 1]] <= hits.z[i], "candidate %zu not ordered by z", c);
            CHECK(fabs(f->x0 + f->tx * (hits.z[i] - f->z0) - hits.x[i]) < 0.5 &&
                      fabs(f->y0 + f->ty * (hits.z[i] - f->z0) - hits.y[i]) < 0.5,
                  "candidate %zu: hit %u is far from its fit", c, i);
        }
        CHECK(f->chi2 >= 0.0 && f->cov_x[0][0] > 0.0 && f->cov_y[1][1] > 0.0,
              "candidate %zu: chi2 %g", c, f->chi2);
    }

    score = test_hits_score(&hits, count, offsets, indices);
    efficiency = (double)score.found / (double)score.reconstructable;
    fake_rate = (double)score.fakes / (double)score.candidates;
    printf("efficiency %.2f %% (%zu of %zu positrons), fake rate %.2f %%\n", 100 * efficiency,
           score.found, score.reconstructable, 100 * fake_rate);
    CHECK(score.reconstructable > 100, "%zu reconstructable positrons", score.reconstructable);
    CHECK(efficiency > 0.9, "efficiency %.4f", efficiency);
    CHECK(fake_rate < 0.05, "fake rate %.4f", fake_rate);

    /* Without caller ids the hits are named by index; the candidates are the same. */
    columns.hit_id = NULL;
    CALL(gnntrack_reconstruct(tracker, &columns, hits.n, &result_by_index));
    CALL(gnntrack_result_candidate_count(result_by_index, &count_by_index));
    CHECK(count_by_index == count, "%zu candidates without ids, %zu with", count_by_index, count);

    gnntrack_result_free(result_by_index);
    gnntrack_result_free(result);
    gnntrack_tracker_free(tracker);
    CALL(gnntrack_set_log_callback(NULL, NULL, GNNTRACK_LOG_LEVEL_OFF));
    test_hits_free(&hits);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
