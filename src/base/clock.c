#include "dpuflow/base.h"

#include <stdio.h>
#include <time.h>

uint64_t df_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *df_wall_iso8601(char buf[DF_ISO8601_MAX]) {
    time_t now = time(NULL);
    struct tm tm;
    /* Registry and trace timestamps are compared across machines, so always UTC. */
    if (!gmtime_r(&now, &tm) || strftime(buf, DF_ISO8601_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, DF_ISO8601_MAX, "1970-01-01T00:00:00Z");
    return buf;
}
