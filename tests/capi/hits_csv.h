/* Reads a hit file of `gnntrack simulate` (hit_id,x,y,z,layer,stave[,particle_id,...]) into
 * columns, for the C and C++ test programs (valid C and C++). Columns may come in any order. */
#ifndef GNNTRACK_TEST_HITS_CSV_H
#define GNNTRACK_TEST_HITS_CSV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_hits {
    size_t n;
    uint64_t *hit_id;
    double *x, *y, *z;
    int32_t *layer, *stave;
    uint64_t *particle_id; /* 0 = noise; all 0 when the file has no truth */
} test_hits;

static inline void test_hits_free(test_hits *h) {
    free(h->hit_id);
    free(h->x);
    free(h->y);
    free(h->z);
    free(h->layer);
    free(h->stave);
    free(h->particle_id);
    memset(h, 0, sizeof *h);
}

/* Returns 0 on success; prints the problem and returns -1 otherwise. */
static inline int test_hits_read(const char *path, test_hits *h) {
    enum { ID, X, Y, Z, LAYER, STAVE, PID, N_COLUMNS };
    static const char *names[N_COLUMNS] = {"hit_id", "x", "y", "z", "layer", "stave", "particle_id"};
    int where[N_COLUMNS];
    char line[4096];
    size_t capacity = 1024;
    FILE *f = fopen(path, "r");
    memset(h, 0, sizeof *h);
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    for (int c = 0; c < N_COLUMNS; c++) where[c] = -1;
    if (!fgets(line, sizeof line, f)) {
        fprintf(stderr, "%s: empty file\n", path);
        fclose(f);
        return -1;
    }
    {
        int column = 0;
        for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), column++) {
            for (int c = 0; c < N_COLUMNS; c++) {
                if (strcmp(tok, names[c]) == 0) where[c] = column;
            }
        }
    }
    for (int c = 0; c < PID; c++) {
        if (where[c] < 0) {
            fprintf(stderr, "%s: no column `%s`\n", path, names[c]);
            fclose(f);
            return -1;
        }
    }
    h->hit_id = (uint64_t *)malloc(capacity * sizeof *h->hit_id);
    h->x = (double *)malloc(capacity * sizeof *h->x);
    h->y = (double *)malloc(capacity * sizeof *h->y);
    h->z = (double *)malloc(capacity * sizeof *h->z);
    h->layer = (int32_t *)malloc(capacity * sizeof *h->layer);
    h->stave = (int32_t *)malloc(capacity * sizeof *h->stave);
    h->particle_id = (uint64_t *)malloc(capacity * sizeof *h->particle_id);
    while (fgets(line, sizeof line, f)) {
        int column = 0;
        size_t i = h->n;
        if (line[0] == '\n' || line[0] == '\0') continue;
        if (i == capacity) {
            capacity *= 2;
            h->hit_id = (uint64_t *)realloc(h->hit_id, capacity * sizeof *h->hit_id);
            h->x = (double *)realloc(h->x, capacity * sizeof *h->x);
            h->y = (double *)realloc(h->y, capacity * sizeof *h->y);
            h->z = (double *)realloc(h->z, capacity * sizeof *h->z);
            h->layer = (int32_t *)realloc(h->layer, capacity * sizeof *h->layer);
            h->stave = (int32_t *)realloc(h->stave, capacity * sizeof *h->stave);
            h->particle_id = (uint64_t *)realloc(h->particle_id, capacity * sizeof *h->particle_id);
        }
        h->particle_id[i] = 0;
        for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), column++) {
            if (column == where[ID]) h->hit_id[i] = strtoull(tok, NULL, 10);
            else if (column == where[X]) h->x[i] = strtod(tok, NULL);
            else if (column == where[Y]) h->y[i] = strtod(tok, NULL);
            else if (column == where[Z]) h->z[i] = strtod(tok, NULL);
            else if (column == where[LAYER]) h->layer[i] = (int32_t)strtol(tok, NULL, 10);
            else if (column == where[STAVE]) h->stave[i] = (int32_t)strtol(tok, NULL, 10);
            else if (column == where[PID]) h->particle_id[i] = strtoull(tok, NULL, 10);
        }
        h->n++;
    }
    fclose(f);
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
