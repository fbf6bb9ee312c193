/* Checks shared by the C test programs: `expect` checks a call's status and message and prints
 * a table row, `check` any condition; `cases` and `failures` count them. */
#ifndef GNNTRACK_TEST_EXPECT_H
#define GNNTRACK_TEST_EXPECT_H

#include <stdio.h>
#include <string.h>

#include <gnntrack.h>

static int failures = 0;
static int cases = 0;

/* Checks a call's status and that its message contains `needle`; prints the table row. */
static inline void expect(const char *what, gnntrack_status got, gnntrack_status want,
                          const char *needle) {
    const char *message = gnntrack_last_error();
    int ok = got == want && gnntrack_last_status() == got &&
             (needle == NULL || strstr(message, needle) != NULL) &&
             (want == GNNTRACK_STATUS_OK || message[0] != '\0');
    cases++;
    printf("%-4s %-46s -> %-34s %s\n", ok ? "ok" : "FAIL", what, gnntrack_status_name(got),
           message);
    if (!ok) {
        fprintf(stderr, "  expected %s with a message containing `%s`\n",
                gnntrack_status_name(want), needle ? needle : "");
        failures++;
    }
}

/* Counts a case that fails when `ok` is 0. */
static inline void check(int ok, const char *what) {
    cases++;
    if (!ok) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

#endif
