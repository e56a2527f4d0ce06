/* The load generator behind `dpuflow bench`: C threads, each with one keep-alive HTTP/1.1
 * connection over a plain socket. Closed loop: each sends back-to-back. Open loop: request k
 * is due at start + k-th arrival (fixed gaps or Poisson); latency is measured from the due
 * time, so a slow server also pays for the requests it delayed (no coordinated omission). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dpuflow/observe.h"
#include "observe_internal.h"

typedef struct {
    double t_s;          /* due (open loop) or send (closed loop) time, seconds since start */
    uint32_t lat_us;
    int status;          /* HTTP status; 0 = connection error or timeout */
    int32_t st_us[4];    /* Server-Timing tokenize, queue, infer, post; -1 = absent */
} sample;

struct df_bench_result {
    char url[512], task[128], mode[16];
    int concurrency;
    double duration_s, rate, elapsed_s;
    sample *s;
    size_t n;
};

typedef struct {
    const df_bench_opts *o;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char **reqs;
    size_t *req_len, n_reqs;
    uint64_t t0_ns, end_ns;
    double *due;          /* open loop schedule (seconds); NULL for closed loop */
    size_t n_due;
    _Atomic size_t next;
    pthread_mutex_t mu;
    sample *all;
    size_t n_all, cap_all;
} shared;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static df_status parse_url(const char *url, char *host, size_t hcap, int *port, char *path, size_t pcap, df_error *err) {
    if (strncmp(url, "http://", 7))
        return df_error_set(err, DF_EINVAL, "--url %s: only http:// URLs are supported", url);
    const char *h = url + 7, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end) return df_error_set(err, DF_EINVAL, "--url %s: unterminated [", url);
        snprintf(host, hcap, "%.*s", (int)(end - h - 1), h + 1);
        end++;
    } else {
        end = h + strcspn(h, ":/");
        snprintf(host, hcap, "%.*s", (int)(end - h), h);
    }
    *port = 80;
    if (*end == ':') {
        char *e;
        long p = strtol(end + 1, &e, 10);
        if (p <= 0 || p > 65535 || e == end + 1) return df_error_set(err, DF_EINVAL, "--url %s: bad port", url);
        *port = (int)p;
        end = e;
    }
    if (*end && *end != '/') return df_error_set(err, DF_EINVAL, "--url %s: unexpected '%c' after the host", url, *end);
    snprintf(path, pcap, "%s", *end ? end : "");
    return DF_OK;
}

/* Only loopback: a load generator pointed at someone else's server is an attack. */
static bool loopback_host(const char *h) {
    if (!strcasecmp(h, "localhost") || !strcmp(h, "::1")) return true;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

static int connect_to(shared *sh, double timeout_s) {
    int fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - floor(timeout_s)) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sh->addr, sh->addrlen)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void parse_server_timing(const char *v, size_t len, int32_t st[4]) {
    static const char *const names[4] = {"tokenize", "queue", "infer", "post"};
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), v);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *semi = strchr(tok, ';');
        if (!semi) continue;
        *semi = 0;
        char *dur = strstr(semi + 1, "dur=");
        if (!dur) continue;
        for (int i = 0; i < 4; i++)
            if (!strcmp(tok, names[i]) || (i == 3 && !strcmp(tok, "postprocess"))) st[i] = (int32_t)lround(strtod(dur + 4, NULL) * 1000);
    }
}

/* Reads one response; returns the status (0 on error) and whether the connection stays. */
static int read_response(int fd, char *buf, size_t cap, size_t *have, int32_t st[4], bool *keep) {
    size_t n = *have;
    char *hend = NULL;
    for (;;) {
        if (n) {
            buf[n] = 0;
            hend = strstr(buf, "\r\n\r\n");
            if (hend) break;
        }
        if (n + 1 >= cap) return 0;
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0) return 0;
        n += (size_t)k;
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return 0;
    size_t hlen = (size_t)(hend - buf) + 4;
    long clen = -1;
    bool chunked = false;
    *keep = true;
    for (char *line = strstr(buf, "\r\n") + 2; line < hend; line = strstr(line, "\r\n") + 2) {
        char *eol = strstr(line, "\r\n");
        if (!strncasecmp(line, "content-length:", 15)) clen = strtol(line + 15, NULL, 10);
        else if (!strncasecmp(line, "transfer-encoding:", 18) && strstr(line, "chunked") && strstr(line, "chunked") < eol) chunked = true;
        else if (!strncasecmp(line, "connection:", 11) && strncasecmp(line + 11 + strspn(line + 11, " "), "close", 5) == 0) *keep = false;
        else if (!strncasecmp(line, "server-timing:", 14)) parse_server_timing(line + 14, (size_t)(eol - line - 14), st);
    }
    size_t body = n - hlen;
    if (chunked) {
        /* Rare for this server; read until the terminating zero-size chunk. */
        for (;;) {
            buf[n] = 0;
            if (strstr(buf + hlen, "0\r\n\r\n")) break;
            if (n + 1 >= cap) return 0;
            ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
            if (k <= 0) return 0;
            n += (size_t)k;
        }
        *have = 0;
        return status;
    }
    if (clen < 0) { *keep = false; clen = 0; }
    while (body < (size_t)clen) {
        char tmp[65536];
        size_t want = (size_t)clen - body < sizeof tmp ? (size_t)clen - body : sizeof tmp;
        ssize_t k = recv(fd, tmp, want, 0);
        if (k <= 0) return 0;
        body += (size_t)k;
    }
    /* Pipelining is never used, so nothing follows the body. */
    *have = 0;
    return status;
}

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void *worker(void *arg) {
    shared *sh = arg;
    size_t cap = 1 << 20, have = 0, n = 0, scap = 1024;
    char *buf = malloc(cap);
    sample *mine = malloc(scap * sizeof *mine);
    int fd = -1;
    for (size_t k = 0; buf && mine; k++) {
        double due_s;
        uint64_t t_send;
        if (sh->due) {
            size_t i = atomic_fetch_add(&sh->next, 1);
            if (i >= sh->n_due) break;
            due_s = sh->due[i];
            uint64_t due_ns = sh->t0_ns + (uint64_t)(due_s * 1e9);
            uint64_t t = now_ns();
            if (due_ns > t) {
                struct timespec ts = {(time_t)((due_ns - t) / 1000000000ull), (long)((due_ns - t) % 1000000000ull)};
                nanosleep(&ts, NULL);
            }
            t_send = due_ns;
        } else {
            t_send = now_ns();
            if (t_send >= sh->end_ns) break;
            due_s = (t_send - sh->t0_ns) / 1e9;
        }
        size_t ri = atomic_fetch_add(&sh->next, sh->due ? 0 : 1) % sh->n_reqs;
        if (sh->due) ri = k % sh->n_reqs;
        sample s = {.t_s = due_s, .status = 0, .st_us = {-1, -1, -1, -1}};
        bool keep = false;
        for (int attempt = 0; attempt < 2 && !s.status; attempt++) {
            /* A keep-alive connection the server closed fails on first use: reconnect once. */
            if (fd < 0) fd = connect_to(sh, sh->o->timeout_s);
            if (fd < 0) break;
            have = 0;
            if (send_all(fd, sh->reqs[ri], sh->req_len[ri])) s.status = read_response(fd, buf, cap, &have, s.st_us, &keep);
            if (!s.status || !keep) { close(fd); fd = -1; }
            if (s.status) break;
        }
        uint64_t done = now_ns();
        s.lat_us = (uint32_t)((done > t_send ? done - t_send : 0) / 1000);
        if (n == scap) {
            sample *p = realloc(mine, (scap *= 2) * sizeof *mine);
            if (!p) break;
            mine = p;
        }
        mine[n++] = s;
        if (!s.status) {
            /* Connection refused: do not spin; one attempt per 10 ms per connection. */
            struct timespec ts = {0, 10 * 1000000};
            if (!sh->due) nanosleep(&ts, NULL);
        }
    }
    if (fd >= 0) close(fd);
    pthread_mutex_lock(&sh->mu);
    if (sh->n_all + n > sh->cap_all) {
        size_t nc = (sh->n_all + n) * 2;
        sample *p = realloc(sh->all, nc * sizeof *p);
        if (p) { sh->all = p; sh->cap_all = nc; }
    }
    if (sh->n_all + n <= sh->cap_all) {
        memcpy(sh->all + sh->n_all, mine, n * sizeof *mine);
        sh->n_all += n;
    }
    pthread_mutex_unlock(&sh->mu);
    free(buf);
    free(mine);
    return NULL;
}

df_status df_bench_run(const df_bench_opts *opts, df_bench_result **out, df_error *err) {
    df_bench_opts o = *opts;
    if (!o.url) return df_error_set(err, DF_EINVAL, "bench: --url is required");
    if (o.concurrency <= 0) o.concurrency = 1;
    if (o.concurrency > 1024) return df_error_set(err, DF_EINVAL, "bench: --concurrency %d is above 1024", o.concurrency);
    if (o.duration_s <= 0) o.duration_s = 10;
    if (o.timeout_s <= 0) o.timeout_s = 30;
    if (o.rate < 0) return df_error_set(err, DF_EINVAL, "bench: --rate must be positive");
    char host[256], path[1024];
    int port = 80;
    df_status st = parse_url(o.url, host, sizeof host, &port, path, sizeof path, err);
    if (st) return st;
    if (!loopback_host(host))
        return df_error_set(err, DF_EINVAL, "bench: --url host '%s' is not loopback; dpuflow bench only targets 127.0.0.1, ::1 or localhost", host);
    if (!path[0]) {
        if (!o.task) return df_error_set(err, DF_EINVAL, "bench: give --task or a URL with a path");
        snprintf(path, sizeof path, "/v1/tasks/%s", o.task);
    }
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.o = &o;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai || !ai) return df_error_set(err, DF_EIO, "bench: %s: %s", host, gai_strerror(gai));
    memcpy(&sh.addr, ai->ai_addr, ai->ai_addrlen);
    sh.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    static const char *const default_text[] = {"今天天气怎么样"};
    const char *const *texts = o.n_texts ? o.texts : default_text;
    size_t nt = o.n_texts ? o.n_texts : 1;
    sh.n_reqs = nt;
    sh.reqs = calloc(nt, sizeof *sh.reqs);
    sh.req_len = calloc(nt, sizeof *sh.req_len);
    if (!sh.reqs || !sh.req_len) { st = df_error_set(err, DF_ENOMEM, "bench: out of memory"); goto done; }
    for (size_t i = 0; i < nt; i++) {
        size_t bl = 0;
        df_obs_json_str(NULL, 0, &bl, texts[i]);
        char *body = malloc(bl + 16);
        if (!body) { st = df_error_set(err, DF_ENOMEM, "bench: out of memory"); goto done; }
        size_t k = 0;
        memcpy(body, "{\"text\":", 8);
        k = 8;
        df_obs_json_str(body, bl + 16, &k, texts[i]);
        body[k++] = '}';
        body[k] = 0;
        size_t cap = k + strlen(path) + strlen(host) + 200;
        sh.reqs[i] = malloc(cap);
        if (!sh.reqs[i]) { free(body); st = df_error_set(err, DF_ENOMEM, "bench: out of memory"); goto done; }
        sh.req_len[i] = (size_t)snprintf(sh.reqs[i], cap,
                                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: dpuflow-bench\r\n"
                                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                         path, host, port, k, body);
        free(body);
    }
    if (o.rate > 0) {
        double n_est = o.rate * o.duration_s;
        if (n_est > 5e7) { st = df_error_set(err, DF_EINVAL, "bench: --rate x --duration is above 50 million requests"); goto done; }
        sh.due = malloc(((size_t)n_est + 1) * sizeof *sh.due);
        if (!sh.due) { st = df_error_set(err, DF_ENOMEM, "bench: out of memory"); goto done; }
        double t = 0;
        uint64_t u;
        while (t < o.duration_s && sh.n_due < (size_t)n_est + 1) {
            sh.due[sh.n_due++] = t;
            if (o.poisson) {
                df_random_bytes(&u, sizeof u);
                double x = ((u >> 11) + 0.5) / 9007199254740992.0;   /* (0, 1) */
                t += -log(x) / o.rate;
            } else {
                t += 1.0 / o.rate;
            }
        }
    }
    pthread_mutex_init(&sh.mu, NULL);
    pthread_t *th = calloc((size_t)o.concurrency, sizeof *th);
    if (!th) { st = df_error_set(err, DF_ENOMEM, "bench: out of memory"); goto done; }
    sh.t0_ns = now_ns();
    sh.end_ns = sh.t0_ns + (uint64_t)(o.duration_s * 1e9);
    int started = 0;
    for (; started < o.concurrency; started++)
        if (pthread_create(&th[started], NULL, worker, &sh)) break;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&sh.mu);
    if (!started) { st = df_error_set(err, DF_EINTERNAL, "bench: cannot start threads"); goto done; }
    df_bench_result *r = calloc(1, sizeof *r);
    if (!r) { st = df_error_set(err, DF_ENOMEM, "bench: out of memory"); goto done; }
    r->elapsed_s = (now_ns() - sh.t0_ns) / 1e9;
    snprintf(r->url, sizeof r->url, "%s", o.url);
    snprintf(r->task, sizeof r->task, "%s", o.task ? o.task : "");
    snprintf(r->mode, sizeof r->mode, "%s", o.rate > 0 ? (o.poisson ? "open-poisson" : "open-fixed") : "closed");
    r->concurrency = o.concurrency;
    r->duration_s = o.duration_s;
    r->rate = o.rate;
    r->s = sh.all;
    r->n = sh.n_all;
    sh.all = NULL;
    *out = r;
done:
    for (size_t i = 0; sh.reqs && i < nt; i++) free(sh.reqs[i]);
    free(sh.reqs);
    free(sh.req_len);
    free(sh.due);
    free(sh.all);
    return st;
}

void df_bench_result_free(df_bench_result *r) {
    if (!r) return;
    free(r->s);
    free(r);
}

/* ---- reports ----------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0). */
static double pct(const uint32_t *v, size_t n, double p) {
    size_t k = (size_t)ceil(p * (double)n);
    if (k < 1) k = 1;
    return v[k - 1];
}

typedef struct {
    size_t n, ok;
    double p50, p90, p99, max, mean;   /* ms */
} lat_summary;

static lat_summary summarize(const df_bench_result *r, uint32_t *tmp, double t_lo, double t_hi) {
    lat_summary s = {0};
    double sum = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->s[i].t_s < t_lo || r->s[i].t_s >= t_hi) continue;
        if (r->s[i].status >= 200 && r->s[i].status < 300) {
            tmp[s.ok++] = r->s[i].lat_us;
            sum += r->s[i].lat_us;
        }
        s.n++;
    }
    if (s.ok) {
        qsort(tmp, s.ok, sizeof *tmp, cmp_u32);
        s.p50 = pct(tmp, s.ok, .5) / 1000;
        s.p90 = pct(tmp, s.ok, .9) / 1000;
        s.p99 = pct(tmp, s.ok, .99) / 1000;
        s.max = tmp[s.ok - 1] / 1000.0;
        s.mean = sum / (double)s.ok / 1000;
    }
    return s;
}

typedef struct { char *p; size_t n, cap; } strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *p = realloc(b->p, nc);
        if (!p) return;
        b->p = p;
        b->cap = nc;
    }
}

static void errors_by_status(const df_bench_result *r, strbuf *b) {
    int codes[64], counts[64], nc = 0;
    for (size_t i = 0; i < r->n; i++) {
        int c = r->s[i].status;
        if (c >= 200 && c < 300) continue;
        int j = 0;
        while (j < nc && codes[j] != c) j++;
        if (j == nc && nc < 64) { codes[nc] = c; counts[nc++] = 0; }
        if (j < nc) counts[j]++;
    }
    sb_printf(b, "{");
    for (int j = 0; j < nc; j++) {
        if (codes[j]) sb_printf(b, "%s\"%d\":%d", j ? "," : "", codes[j], counts[j]);
        else sb_printf(b, "%s\"conn\":%d", j ? "," : "", counts[j]);
    }
    sb_printf(b, "}");
}

static double measured_s(const df_bench_result *r) { return r->elapsed_s > 0 ? r->elapsed_s : r->duration_s; }

char *df_bench_report_json(const df_bench_result *r) {
    uint32_t *tmp = malloc((r->n ? r->n : 1) * sizeof *tmp);
    if (!tmp) return NULL;
    lat_summary all = summarize(r, tmp, -1, 1e18);
    strbuf b = {0};
    size_t ul = 0;
    df_obs_json_str(NULL, 0, &ul, r->url);
    char *url = malloc(ul + 1);
    size_t k = 0;
    if (url) { df_obs_json_str(url, ul + 1, &k, r->url); url[k] = 0; }
    sb_printf(&b, "{\"url\":%s,\"task\":\"%s\",\"mode\":\"%s\",\"concurrency\":%d,\"duration_s\":%.3f,\"elapsed_s\":%.3f,\"rate\":%.3f,",
              url ? url : "\"\"", r->task, r->mode, r->concurrency, r->duration_s, measured_s(r), r->rate);
    free(url);
    sb_printf(&b, "\"requests\":%zu,\"ok\":%zu,\"errors\":%zu,\"errors_by_status\":", all.n, all.ok, all.n - all.ok);
    errors_by_status(r, &b);
    sb_printf(&b, ",\"qps\":%.2f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}",
              all.ok / measured_s(r), all.p50, all.p90, all.p99, all.max, all.mean);
    static const char *const names[4] = {"tokenize", "queue", "infer", "post"};
    sb_printf(&b, ",\"server_timing_ms\":{");
    for (int st = 0; st < 4; st++) {
        size_t m = 0;
        double sum = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->s[i].st_us[st] >= 0 && r->s[i].status >= 200 && r->s[i].status < 300) {
                tmp[m++] = (uint32_t)r->s[i].st_us[st];
                sum += r->s[i].st_us[st];
            }
        if (m) {
            qsort(tmp, m, sizeof *tmp, cmp_u32);
            sb_printf(&b, "%s\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"n\":%zu}", st ? "," : "", names[st],
                      pct(tmp, m, .5) / 1000, pct(tmp, m, .99) / 1000, sum / (double)m / 1000, m);
        } else {
            sb_printf(&b, "%s\"%s\":null", st ? "," : "", names[st]);
        }
    }
    sb_printf(&b, "},\"per_second\":[");
    int secs = (int)ceil(measured_s(r));
    for (int s = 0; s < secs; s++) {
        lat_summary x = summarize(r, tmp, s, s + 1);
        sb_printf(&b, "%s{\"t\":%d,\"n\":%zu,\"ok\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f}", s ? "," : "", s, x.n, x.ok, x.p50, x.p99);
    }
    sb_printf(&b, "]}\n");
    free(tmp);
    return b.p;
}

char *df_bench_report_text(const df_bench_result *r) {
    uint32_t *tmp = malloc((r->n ? r->n : 1) * sizeof *tmp);
    if (!tmp) return NULL;
    lat_summary a = summarize(r, tmp, -1, 1e18);
    free(tmp);
    strbuf b = {0};
    sb_printf(&b, "%s loop, %d connections, %.1f s: %zu requests, %zu ok, %zu errors\n", r->mode, r->concurrency,
              measured_s(r), a.n, a.ok, a.n - a.ok);
    sb_printf(&b, "throughput %.1f req/s; latency ms p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", a.ok / measured_s(r), a.p50,
              a.p90, a.p99, a.max);
    if (a.n > a.ok) {
        sb_printf(&b, "errors by status ");
        errors_by_status(r, &b);
        sb_printf(&b, "\n");
    }
    return b.p;
}

/* Axis step: 1, 2 or 5 x 10^k giving about n ticks over span. */
static double nice_step(double span, int n) {
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

char *df_bench_report_svg(const df_bench_result *r) {
    const double W = 900, H = 420, L = 70, R = 20, T = 40, B = 55, pw = W - L - R, ph = H - T - B;
    uint32_t *tmp = malloc((r->n ? r->n : 1) * sizeof *tmp);
    if (!tmp) return NULL;
    lat_summary a = summarize(r, tmp, -1, 1e18);
    double xmax = ceil(measured_s(r)), ymax = a.ok ? a.max * 1.05 : 1;
    if (ymax <= 0) ymax = 1;
    /* A few huge outliers would flatten everything: cap the axis at 3 x p99 and pin them. */
    if (a.ok && a.max > 3 * a.p99 && a.p99 > 0) ymax = 3 * a.p99;
    strbuf b = {0};
    sb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                  "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
              W, H, W, H);
    sb_printf(&b, "<text x=\"%.0f\" y=\"22\" font-size=\"15\" font-weight=\"bold\">dpuflow bench: latency over time (%s loop, %d conn, %.1f req/s, p50 %.2f ms, p99 %.2f ms)</text>\n",
              L, r->mode, r->concurrency, a.ok / measured_s(r), a.p50, a.p99);
    double xs = nice_step(xmax, 10), ys = nice_step(ymax, 6);
    for (double x = 0; x <= xmax + 1e-9; x += xs) {
        double px = L + x / xmax * pw;
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                  px, T, px, T + ph, px, T + ph + 16, x);
    }
    for (double y = 0; y <= ymax + 1e-9; y += ys) {
        double py = T + ph - y / ymax * ph;
        sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                  L, py, L + pw, py, L - 6, py + 4, y);
    }
    sb_printf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>\n", L, T, pw, ph);
    sb_printf(&b, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">time since start (s)</text>\n", L + pw / 2, H - 12);
    sb_printf(&b, "<text transform=\"translate(18,%.0f) rotate(-90)\" text-anchor=\"middle\">latency (ms)</text>\n", T + ph / 2);
    /* Scatter, thinned to at most 4000 points so the file stays small. */
    size_t stride = r->n / 4000 + 1;
    sb_printf(&b, "<g fill=\"#3563e9\" fill-opacity=\"0.35\">\n");
    for (size_t i = 0; i < r->n; i += stride) {
        const sample *s = &r->s[i];
        double y = s->lat_us / 1000.0;
        bool bad = !(s->status >= 200 && s->status < 300);
        if (y > ymax) y = ymax;
        sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\"%s/>\n", L + s->t_s / xmax * pw, T + ph - y / ymax * ph,
                  bad ? " fill=\"#d1343a\" fill-opacity=\"0.8\"" : "");
    }
    sb_printf(&b, "</g>\n");
    const char *colors[2] = {"#1f9d55", "#d98c00"};
    for (int line = 0; line < 2; line++) {
        sb_printf(&b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[line]);
        for (int s = 0; s < (int)xmax; s++) {
            lat_summary x = summarize(r, tmp, s, s + 1);
            if (!x.ok) continue;
            double y = line ? x.p99 : x.p50;
            if (y > ymax) y = ymax;
            sb_printf(&b, "%.1f,%.1f ", L + (s + 0.5) / xmax * pw, T + ph - y / ymax * ph);
        }
        sb_printf(&b, "\"/>\n");
    }
    sb_printf(&b, "<g transform=\"translate(%.0f,%.0f)\"><rect width=\"175\" height=\"58\" fill=\"#fff\" stroke=\"#ccc\"/>"
                  "<circle cx=\"12\" cy=\"14\" r=\"3\" fill=\"#3563e9\"/><text x=\"24\" y=\"18\">request (red = error)</text>"
                  "<line x1=\"6\" y1=\"31\" x2=\"18\" y2=\"31\" stroke=\"#1f9d55\" stroke-width=\"2\"/><text x=\"24\" y=\"35\">p50 per second</text>"
                  "<line x1=\"6\" y1=\"48\" x2=\"18\" y2=\"48\" stroke=\"#d98c00\" stroke-width=\"2\"/><text x=\"24\" y=\"52\">p99 per second</text></g>\n",
              L + pw - 185, T + 8);
    sb_printf(&b, "</svg>\n");
    free(tmp);
    return b.p;
}
