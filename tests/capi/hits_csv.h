/* Reads a hit file for the C and C++ test programs (valid C and C++) with the library's own
 * reader, gnntrack_hit_file_read: the project format of `gnntrack simulate` or the LUXE format,
 * exactly as the command-line tool reads them. The columns belong to the hit file, freed by
 * test_hits_free. */
#ifndef GNNTRACK_TEST_HITS_CSV_H
#define GNNTRACK_TEST_HITS_CSV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnntrack.h>

typedef struct test_hits {
    size_t n;
    const uint64_t *hit_id;
    const double *x, *y, *z;
    const int32_t *layer, *stave;
    const uint64_t *particle_id; /* 0 = noise; all 0 when the file has no truth */
    gnntrack_hit_file *file;     /* owns the columns */
    uint64_t *no_truth;          /* the zeros of a file without truth */
} test_hits;

static inline void test_hits_free(test_hits *h) {
    gnntrack_hit_file_free(h->file);
    free(h->no_truth);
    memset(h, 0, sizeof *h);
}

/* Returns 0 on success; prints the library's message and returns -1 otherwise. */
static inline int test_hits_read(const char *path, test_hits *h) {
    gnntrack_hits columns;
    const uint64_t *particle_id = NULL;
    const char *format = NULL;
    memset(h, 0, sizeof *h);
    if (gnntrack_hit_file_read(path, &h->file) != GNNTRACK_STATUS_OK ||
        gnntrack_hit_file_columns(h->file, &columns, &h->n, &particle_id, &format) !=
            GNNTRACK_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", gnntrack_status_name(gnntrack_last_status()),
                gnntrack_last_error());
        test_hits_free(h);
        return -1;
    }
    h->hit_id = columns.hit_id;
    h->x = columns.x;
    h->y = columns.y;
    h->z = columns.z;
    h->layer = columns.layer;
    h->stave = columns.stave;
    if (particle_id == NULL) {
        h->no_truth = (uint64_t *)calloc(h->n + 1, sizeof *h->no_truth);
        particle_id = h->no_truth;
    }
    h->particle_id = particle_id;
    return 0;
}

/* Candidates scored against truth (double majority: more than half of the candidate's hits
 * come from one particle, and the candidate holds at least half of that particle's hits). */
typedef struct test_score {
    size_t reconstructable; /* particles with at least 3 hits */
    size_t found;           /* of those, matched by a candidate */
    size_t candidates;
    size_t fakes; /* candidates matching no particle */
} test_score;

static inline int test_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline test_score test_hits_score(const test_hits *h, size_t n_candidates,
                                         const size_t *offsets,
                                  const uint32_t *indices) {
    test_score score = {0, 0, n_candidates, 0};
    uint64_t *pids = (uint64_t *)malloc((h->n + 1) * sizeof *pids);
    size_t *count = (size_t *)calloc(h->n + 1, sizeof *count);
    char *found = (char *)calloc(h->n + 1, 1);
    size_t m = 0;
    memcpy(pids, h->particle_id, h->n * sizeof *pids);
    qsort(pids, h->n, sizeof *pids, test_cmp_u64);
    for (size_t i = 0; i < h->n; i++) {
        if (pids[i] == 0) continue;
        if (m == 0 || pids[m - 1] != pids[i]) pids[m++] = pids[i];
        count[m - 1]++;
    }
    for (size_t c = 0; c < n_candidates; c++) {
        size_t k = offsets[c + 1] - offsets[c], best = 0, best_count = 0;
        uint64_t *own = (uint64_t *)malloc((k + 1) * sizeof *own);
        for (size_t j = 0; j < k; j++) own[j] = h->particle_id[indices[offsets[c] + j]];
        qsort(own, k, sizeof *own, test_cmp_u64);
        for (size_t j = 0, run = 0; j < k; j++) {
            run = (j > 0 && own[j] == own[j - 1]) ? run + 1 : 1;
            if (own[j] != 0 && run > best_count) {
                best_count = run;
                best = j;
            }
        }
        if (best_count * 2 > k) {
            const uint64_t *p = (const uint64_t *)bsearch(&own[best], pids, m, sizeof *pids,
                                                          test_cmp_u64);
            size_t idx = (size_t)(p - pids);
            if (best_count * 2 >= count[idx]) found[idx] = 1;
            else score.fakes++;
        } else {
            score.fakes++;
        }
        free(own);
    }
    for (size_t i = 0; i < m; i++) {
        if (count[i] >= 3) {
            score.reconstructable++;
            score.found += found[i] ? 1 : 0;
        }
    }
    free(pids);
    free(count);
    free(found);
    return score;
}

#endif
