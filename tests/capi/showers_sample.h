/* Reads models/examples/showers_sample.csv for the C and C++ test programs (valid C and C++):
 * one row per hit, `cluster,label,signal,log_e,dx,dy,depth,n0,...,n5`, clusters numbered 0, 1,
 * ... one after another; n0..n5 are the hit's nearest neighbours inside its cluster. The arrays
 * are laid out as one gnntrack_graph_input of all clusters: the edge index holds sources
 * (neighbour, offset to the concatenated rows), then targets (the hit). */
#ifndef GNNTRACK_TEST_SHOWERS_SAMPLE_H
#define GNNTRACK_TEST_SHOWERS_SAMPLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOWER_FEATURES 4
#define SHOWER_NEIGHBOURS 6

typedef struct shower_sample {
    size_t n_hits, n_edges, n_clusters;
    float *features;       /* n_hits x SHOWER_FEATURES */
    int64_t *edges;        /* 2 x n_edges: sources, then targets */
    uint32_t *cluster;     /* n_hits: the cluster of each hit */
    int *hit_signal;       /* n_hits: 1 signal, 0 noise */
    int *cluster_label;    /* n_clusters: 1 hadron, 0 electron */
    size_t *first_hit;     /* n_clusters + 1: hits of cluster c are first_hit[c] .. [c + 1] - 1 */
} shower_sample;

static inline void shower_sample_free(shower_sample *s) {
    free(s->features);
    free(s->edges);
    free(s->cluster);
    free(s->hit_signal);
    free(s->cluster_label);
    free(s->first_hit);
    memset(s, 0, sizeof *s);
}

/* Reads the file; 0 on success, -1 with a message on stderr otherwise. */
static inline int shower_sample_read(const char *path, shower_sample *s) {
    char line[1024];
    size_t cap = 0, i, k;
    long *neighbours = NULL;
    FILE *f = fopen(path, "r");
    memset(s, 0, sizeof *s);
    if (f == NULL || fgets(line, sizeof line, f) == NULL) {
        fprintf(stderr, "%s: cannot read\n", path);
        if (f) fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        long c, label, signal, nb[SHOWER_NEIGHBOURS];
        float x[SHOWER_FEATURES];
        if (sscanf(line, "%ld,%ld,%ld,%f,%f,%f,%f,%ld,%ld,%ld,%ld,%ld,%ld", &c, &label, &signal,
                   &x[0], &x[1], &x[2], &x[3], &nb[0], &nb[1], &nb[2], &nb[3], &nb[4],
                   &nb[5]) != 7 + SHOWER_NEIGHBOURS ||
            c < 0 || (size_t)c + 1 < s->n_clusters || (size_t)c > s->n_clusters) {
            fprintf(stderr, "%s: bad row %zu: %s", path, s->n_hits + 1, line);
            fclose(f);
            free(neighbours);
            shower_sample_free(s);
            return -1;
        }
        if (s->n_hits == cap) {
            cap = cap ? 2 * cap : 1024;
            s->features = (float *)realloc(s->features, cap * SHOWER_FEATURES * sizeof(float));
            s->cluster = (uint32_t *)realloc(s->cluster, cap * sizeof(uint32_t));
            s->hit_signal = (int *)realloc(s->hit_signal, cap * sizeof(int));
            s->cluster_label = (int *)realloc(s->cluster_label, (cap + 1) * sizeof(int));
            s->first_hit = (size_t *)realloc(s->first_hit, (cap + 2) * sizeof(size_t));
            neighbours = (long *)realloc(neighbours, cap * SHOWER_NEIGHBOURS * sizeof(long));
        }
        if ((size_t)c == s->n_clusters) { /* a new cluster starts */
            s->first_hit[s->n_clusters] = s->n_hits;
            s->cluster_label[s->n_clusters] = (int)label;
            s->n_clusters++;
        }
        memcpy(s->features + SHOWER_FEATURES * s->n_hits, x, sizeof x);
        memcpy(neighbours + SHOWER_NEIGHBOURS * s->n_hits, nb, sizeof nb);
        s->cluster[s->n_hits] = (uint32_t)c;
        s->hit_signal[s->n_hits] = (int)signal;
        s->n_hits++;
    }
    fclose(f);
    if (s->n_hits == 0) {
        fprintf(stderr, "%s: no hits\n", path);
        free(neighbours);
        return -1;
    }
    s->first_hit[s->n_clusters] = s->n_hits;
    s->n_edges = SHOWER_NEIGHBOURS * s->n_hits;
    s->edges = (int64_t *)malloc(2 * s->n_edges * sizeof(int64_t));
    for (i = 0; i < s->n_hits; i++) {
        size_t first = s->first_hit[s->cluster[i]];
        for (k = 0; k < SHOWER_NEIGHBOURS; k++) {
            s->edges[SHOWER_NEIGHBOURS * i + k] = (int64_t)(first + neighbours[SHOWER_NEIGHBOURS * i + k]);
            s->edges[s->n_edges + SHOWER_NEIGHBOURS * i + k] = (int64_t)i;
        }
    }
    free(neighbours);
    return 0;
}

/* The input of cluster c alone (hits renumbered from 0): features point into the sample, the
 * edge index is written to `edges` (room for 2 x SHOWER_NEIGHBOURS x its hits), graph index 0
 * to `zeros` (room for its hits). */
static inline size_t shower_cluster_input(const shower_sample *s, size_t c, int64_t *edges,
                                          uint32_t *zeros, const float **features) {
    size_t first = s->first_hit[c], n = s->first_hit[c + 1] - first, e = SHOWER_NEIGHBOURS * n, j;
    for (j = 0; j < e; j++) {
        edges[j] = s->edges[SHOWER_NEIGHBOURS * first + j] - (int64_t)first;
        edges[e + j] = s->edges[s->n_edges + SHOWER_NEIGHBOURS * first + j] - (int64_t)first;
    }
    for (j = 0; j < n; j++) zeros[j] = 0;
    *features = s->features + SHOWER_FEATURES * first;
    return n;
}

#endif
