/* Prometheus metrics: families declared once, children (label-value sets) found lock-free
 * in a fixed open-addressing table, observations as plain atomic operations. Rendered in
 * text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpuflow/observe.h"

typedef enum { M_COUNTER, M_GAUGE, M_HISTOGRAM } mtype;

#define TABLE_SLOTS (2 * DF_METRIC_MAX_CHILDREN)   /* power of two; load factor <= 1/2 */

struct df_metric {
    df_metric_family *fam;
    uint64_t hash;
    char *values[DF_METRIC_MAX_LABELS];   /* point into one allocation after the struct */
    _Atomic uint64_t count;               /* counter value */
    _Atomic uint64_t bits;                /* gauge value or histogram sum (double bits) */
    _Atomic uint64_t buckets[];           /* histogram: n_bounds + 1 (last = above every bound) */
};

struct df_metric_family {
    df_metrics *reg;
    mtype type;
    char *name, *help;
    int n_labels;
    char *labels[DF_METRIC_MAX_LABELS];
    int n_bounds;
    double bounds[DF_METRIC_MAX_BUCKETS];
    pthread_mutex_t mu;                   /* only for creating children */
    _Atomic(df_metric *) slots[TABLE_SLOTS];
    df_metric *order[DF_METRIC_MAX_CHILDREN];
    _Atomic int n_children;
    df_metric_family *next;
};

struct df_metrics {
    pthread_mutex_t mu;
    df_metric_family *head, *tail;
    bool process;
};

static inline double bits_to_d(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static inline uint64_t d_to_bits(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }

df_metrics *df_metrics_new(void) {
    df_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void df_metrics_free(df_metrics *m) {
    if (!m) return;
    for (df_metric_family *f = m->head, *nx; f; f = nx) {
        nx = f->next;
        int n = atomic_load(&f->n_children);
        for (int i = 0; i < n; i++) free(f->order[i]);
        for (int i = 0; i < f->n_labels; i++) free(f->labels[i]);
        free(f->name);
        free(f->help);
        pthread_mutex_destroy(&f->mu);
        free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool valid_name(const char *s, bool colon) {
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static df_metric *child_create_locked(df_metric_family *f, const char *const *values, uint64_t h);
static uint64_t hash_values(const df_metric_family *f, const char *const *values);

static df_status declare(df_metrics *m, mtype type, const char *name, const char *help, int n_labels,
                         const char *const *label_names, const double *bounds, int n_bounds,
                         df_metric_family **out, df_error *err) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (!m || !out) return df_error_set(err, DF_EINVAL, "metrics: NULL registry or out");
    if (!valid_name(name, true)) return df_error_set(err, DF_EINVAL, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*", name ? name : "(null)");
    if (type == M_COUNTER && !ends_with(name, "_total"))
        return df_error_set(err, DF_EINVAL, "metric %s: counter names must end in _total", name);
    if (n_labels < 0 || n_labels > DF_METRIC_MAX_LABELS)
        return df_error_set(err, DF_EINVAL, "metric %s: %d labels (at most %d)", name, n_labels, DF_METRIC_MAX_LABELS);
    for (int i = 0; i < n_labels; i++) {
        const char *l = label_names[i];
        if (!valid_name(l, false) || !strncmp(l, "__", 2) || (type == M_HISTOGRAM && !strcmp(l, "le")))
            return df_error_set(err, DF_EINVAL, "metric %s: invalid label name '%s'", name, l ? l : "(null)");
        for (int j = 0; j < i; j++)
            if (!strcmp(l, label_names[j])) return df_error_set(err, DF_EINVAL, "metric %s: label '%s' twice", name, l);
    }
    if (type == M_HISTOGRAM) {
        if (n_bounds < 1 || n_bounds > DF_METRIC_MAX_BUCKETS)
            return df_error_set(err, DF_EINVAL, "metric %s: %d buckets (1..%d)", name, n_bounds, DF_METRIC_MAX_BUCKETS);
        for (int i = 0; i < n_bounds; i++) {
            if (!isfinite(bounds[i])) return df_error_set(err, DF_EINVAL, "metric %s: bucket %d is not finite (+Inf is implicit)", name, i);
            if (i && !(bounds[i] > bounds[i - 1]))
                return df_error_set(err, DF_EINVAL, "metric %s: bucket bounds must increase (bucket %d)", name, i);
        }
    }
    pthread_mutex_lock(&m->mu);
    for (df_metric_family *f = m->head; f; f = f->next) {
        if (strcmp(f->name, name)) continue;
        pthread_mutex_unlock(&m->mu);
        if (f->type != type) return df_error_set(err, DF_EINVAL, "metric %s: already declared as a %s", name, type_names[f->type]);
        *out = f;
        return DF_OK;
    }
    df_metric_family *f = calloc(1, sizeof *f);
    if (!f) goto oom;
    f->reg = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->n_labels = n_labels;
    bool ok = f->name && f->help;
    for (int i = 0; i < n_labels; i++) ok = ok && (f->labels[i] = strdup(label_names[i]));
    f->n_bounds = type == M_HISTOGRAM ? n_bounds : 0;
    for (int i = 0; i < f->n_bounds; i++) f->bounds[i] = bounds[i];
    pthread_mutex_init(&f->mu, NULL);
    /* A family without labels has exactly one child; create it now so it renders as 0. */
    if (ok && n_labels == 0) ok = child_create_locked(f, NULL, hash_values(f, NULL)) != NULL;
    if (!ok) {
        for (int i = 0; i < n_labels; i++) free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f);
        goto oom;
    }
    if (m->tail) m->tail->next = f; else m->head = f;
    m->tail = f;
    pthread_mutex_unlock(&m->mu);
    *out = f;
    return DF_OK;
oom:
    pthread_mutex_unlock(&m->mu);
    return df_error_set(err, DF_ENOMEM, "metric %s: out of memory", name);
}

df_status df_metrics_counter(df_metrics *m, const char *name, const char *help, int n, const char *const *l,
                             df_metric_family **out, df_error *err) {
    return declare(m, M_COUNTER, name, help, n, l, NULL, 0, out, err);
}
df_status df_metrics_gauge(df_metrics *m, const char *name, const char *help, int n, const char *const *l,
                           df_metric_family **out, df_error *err) {
    return declare(m, M_GAUGE, name, help, n, l, NULL, 0, out, err);
}
df_status df_metrics_histogram(df_metrics *m, const char *name, const char *help, int n, const char *const *l,
                               const double *bounds, int nb, df_metric_family **out, df_error *err) {
    return declare(m, M_HISTOGRAM, name, help, n, l, bounds, nb, out, err);
}

static uint64_t hash_values(const df_metric_family *f, const char *const *values) {
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a; the 0xff separator keeps ("ab","") != ("a","b") */
    for (int i = 0; i < f->n_labels; i++) {
        for (const unsigned char *p = (const unsigned char *)(values[i] ? values[i] : ""); *p; p++) h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static bool same_values(const df_metric *c, int n, const char *const *values) {
    for (int i = 0; i < n; i++)
        if (strcmp(c->values[i], values[i] ? values[i] : "")) return false;
    return true;
}

static df_metric *child_create_locked(df_metric_family *f, const char *const *values, uint64_t h) {
    int n = atomic_load_explicit(&f->n_children, memory_order_relaxed);
    if (n >= DF_METRIC_MAX_CHILDREN) return NULL;
    size_t nb = f->type == M_HISTOGRAM ? (size_t)f->n_bounds + 1 : 0;
    size_t head = sizeof(df_metric) + nb * sizeof(_Atomic uint64_t), strs = 0;
    for (int i = 0; i < f->n_labels; i++) strs += strlen(values[i] ? values[i] : "") + 1;
    df_metric *c = calloc(1, head + strs);
    if (!c) return NULL;
    c->fam = f;
    c->hash = h;
    char *p = (char *)c + head;
    for (int i = 0; i < f->n_labels; i++) {
        const char *v = values[i] ? values[i] : "";
        size_t k = strlen(v) + 1;
        memcpy(p, v, k);
        c->values[i] = p;
        p += k;
    }
    f->order[n] = c;
    size_t s = h & (TABLE_SLOTS - 1);
    while (atomic_load_explicit(&f->slots[s], memory_order_relaxed)) s = (s + 1) & (TABLE_SLOTS - 1);
    /* Release: a reader that sees the pointer sees the initialized child. */
    atomic_store_explicit(&f->slots[s], c, memory_order_release);
    atomic_store_explicit(&f->n_children, n + 1, memory_order_release);
    return c;
}

df_metric *df_metric_child(df_metric_family *f, const char *const *values) {
    if (!f) return NULL;
    uint64_t h = hash_values(f, values);
    size_t s = h & (TABLE_SLOTS - 1);
    for (;;) {
        df_metric *c = atomic_load_explicit(&f->slots[s], memory_order_acquire);
        if (!c) break;
        if (c->hash == h && same_values(c, f->n_labels, values)) return c;
        s = (s + 1) & (TABLE_SLOTS - 1);
    }
    pthread_mutex_lock(&f->mu);
    /* Probe again under the lock: another thread may have created it meanwhile. */
    s = h & (TABLE_SLOTS - 1);
    df_metric *c;
    while ((c = atomic_load_explicit(&f->slots[s], memory_order_acquire))) {
        if (c->hash == h && same_values(c, f->n_labels, values)) break;
        s = (s + 1) & (TABLE_SLOTS - 1);
    }
    if (!c) c = child_create_locked(f, values, h);
    pthread_mutex_unlock(&f->mu);
    return c;
}

void df_counter_inc(df_metric *c) { if (c) atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed); }
void df_counter_add(df_metric *c, uint64_t n) { if (c) atomic_fetch_add_explicit(&c->count, n, memory_order_relaxed); }
void df_gauge_set(df_metric *g, double v) { if (g) atomic_store_explicit(&g->bits, d_to_bits(v), memory_order_relaxed); }

static void atomic_add_double(_Atomic uint64_t *a, double v) {
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d_to_bits(bits_to_d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

void df_gauge_add(df_metric *g, double v) { if (g) atomic_add_double(&g->bits, v); }

void df_histogram_observe(df_metric *h, double v) {
    if (!h || h->fam->type != M_HISTOGRAM) return;
    const df_metric_family *f = h->fam;
    int lo = 0, hi = f->n_bounds;   /* first bound >= v; n_bounds = the +Inf bucket */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= f->bounds[mid]) hi = mid; else lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->bits, v);
}

double df_metric_value(const df_metric *m) {
    if (!m) return 0;
    if (m->fam->type == M_COUNTER) return (double)atomic_load(&((df_metric *)m)->count);
    return bits_to_d(atomic_load(&((df_metric *)m)->bits));
}

uint64_t df_histogram_count(const df_metric *h) {
    uint64_t n = 0;
    if (h && h->fam->type == M_HISTOGRAM)
        for (int i = 0; i <= h->fam->n_bounds; i++) n += atomic_load(&((df_metric *)h)->buckets[i]);
    return n;
}

double df_histogram_sum(const df_metric *h) { return h ? bits_to_d(atomic_load(&((df_metric *)h)->bits)) : 0; }

void df_metrics_enable_process(df_metrics *m, bool on) { if (m) m->process = on; }

void df_buckets_exponential(double start, double factor, int count, double *out) {
    for (int i = 0; i < count; i++, start *= factor) out[i] = start;
}
void df_buckets_linear(double start, double width, int count, double *out) {
    for (int i = 0; i < count; i++) out[i] = start + width * i;
}

/* ---- rendering -------------------------------------------------------------------------- */

typedef struct { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t k) {
    if (b->oom) return;
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + k + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, k);
    b->n += k;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Shortest decimal that reads back as the same double; Go-style +Inf/-Inf/NaN. */
static void fmt_double(double v, char out[40]) {
    if (isnan(v)) { strcpy(out, "NaN"); return; }
    if (isinf(v)) { strcpy(out, v > 0 ? "+Inf" : "-Inf"); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

/* HELP text escapes \ and newline; label values also escape ". */
static void sb_escaped(sbuf *b, const char *s, bool quote) {
    for (; *s; s++) {
        if (*s == '\\') sb_put(b, "\\\\", 2);
        else if (*s == '\n') sb_put(b, "\\n", 2);
        else if (quote && *s == '"') sb_put(b, "\\\"", 2);
        else sb_put(b, s, 1);
    }
}

static void sb_labels(sbuf *b, const df_metric *c, const char *le) {
    const df_metric_family *f = c->fam;
    if (!f->n_labels && !le) return;
    sb_put(b, "{", 1);
    for (int i = 0; i < f->n_labels; i++) {
        if (i) sb_put(b, ",", 1);
        sb_str(b, f->labels[i]);
        sb_put(b, "=\"", 2);
        sb_escaped(b, c->values[i], true);
        sb_put(b, "\"", 1);
    }
    if (le) {
        if (f->n_labels) sb_put(b, ",", 1);
        sb_put(b, "le=\"", 4);
        sb_str(b, le);
        sb_put(b, "\"", 1);
    }
    sb_put(b, "}", 1);
}

static void sb_header(sbuf *b, const char *name, const char *help, const char *type) {
    sb_str(b, "# HELP ");
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_escaped(b, help, false);
    sb_str(b, "\n# TYPE ");
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_str(b, type);
    sb_put(b, "\n", 1);
}

static void render_family(sbuf *b, df_metric_family *f) {
    static const char *const tn[] = {"counter", "gauge", "histogram"};
    char num[40];
    sb_header(b, f->name, f->help, tn[f->type]);
    int n = atomic_load_explicit(&f->n_children, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        df_metric *c = f->order[i];
        if (f->type != M_HISTOGRAM) {
            sb_str(b, f->name);
            sb_labels(b, c, NULL);
            if (f->type == M_COUNTER) snprintf(num, sizeof num, "%llu", (unsigned long long)atomic_load(&c->count));
            else fmt_double(bits_to_d(atomic_load(&c->bits)), num);
            sb_put(b, " ", 1);
            sb_str(b, num);
            sb_put(b, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (int k = 0; k <= f->n_bounds; k++) {
            char le[40];
            cum += atomic_load_explicit(&c->buckets[k], memory_order_relaxed);
            if (k < f->n_bounds) fmt_double(f->bounds[k], le); else strcpy(le, "+Inf");
            sb_str(b, f->name);
            sb_str(b, "_bucket");
            sb_labels(b, c, le);
            snprintf(num, sizeof num, " %llu\n", (unsigned long long)cum);
            sb_str(b, num);
        }
        sb_str(b, f->name);
        sb_str(b, "_sum");
        sb_labels(b, c, NULL);
        fmt_double(bits_to_d(atomic_load(&c->bits)), num);
        sb_put(b, " ", 1);
        sb_str(b, num);
        sb_put(b, "\n", 1);
        sb_str(b, f->name);
        sb_str(b, "_count");
        sb_labels(b, c, NULL);
        snprintf(num, sizeof num, " %llu\n", (unsigned long long)cum);
        sb_str(b, num);
    }
}

static void render_process(sbuf *b) {
    char buf[1024], num[40];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp) return;
    size_t k = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[k] = 0;
    /* Fields after "(comm)": the command name may hold spaces and parentheses. */
    char *p = strrchr(buf, ')');
    if (!p) return;
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    double tck = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    double btime = 0;
    if ((fp = fopen("/proc/stat", "r"))) {
        while (fgets(buf, sizeof buf, fp))
            if (!strncmp(buf, "btime ", 6)) { btime = strtod(buf + 6, NULL); break; }
        fclose(fp);
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        fds--;   /* the directory stream's own descriptor */
    }
    struct { const char *name, *help, *type; double v; } rows[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", (utime + stime) / tck},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", (double)rss * page},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", (double)vsize},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge", btime + start / tck},
        {"process_open_fds", "Number of open file descriptors.", "gauge", (double)fds},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sb_header(b, rows[i].name, rows[i].help, rows[i].type);
        sb_str(b, rows[i].name);
        fmt_double(rows[i].v, num);
        sb_put(b, " ", 1);
        sb_str(b, num);
        sb_put(b, "\n", 1);
    }
}

char *df_metrics_render(df_metrics *m, size_t *len) {
    sbuf b = {0};
    sb_put(&b, "", 0);
    if (m) {
        /* The lock only keeps declarations out while the family list is walked. */
        pthread_mutex_lock(&m->mu);
        for (df_metric_family *f = m->head; f; f = f->next) render_family(&b, f);
        pthread_mutex_unlock(&m->mu);
        if (m->process) render_process(&b);
    }
    if (b.oom) { free(b.p); return NULL; }
    if (len) *len = b.n;
    return b.p;
}
