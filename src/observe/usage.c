/* The usage monitor: calls, tokens and errors per model per minute. Adders touch one atomic
 * counter in the current minute's slot; a ticker (df_usage_tick, once a second from
 * df_observe) appends completed minutes to logs/usage/YYYY-MM-DD.jsonl and clears the next
 * minute's slot before it is needed. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpuflow/observe.h"
#include "observe_internal.h"

#define MAX_MODELS 256
#define NAME_MAX_LEN 64

typedef struct {
    _Atomic int64_t minute;   /* unix minute this slot counts; -1 = empty */
    _Atomic uint64_t calls[MAX_MODELS], tokens[MAX_MODELS], errors[MAX_MODELS];
} minute_slot;

struct df_usage {
    char *dir;
    int n_slots;
    pthread_mutex_t mu;       /* model creation, slot resets, persistence */
    char names[MAX_MODELS][NAME_MAX_LEN];
    _Atomic int n_models;
    int64_t persisted_through;   /* last minute written to disk */
    minute_slot *slots;
};

df_status df_usage_new(const char *dir, int keep, df_usage **out, df_error *err) {
    if (keep <= 0) keep = 60;
    df_usage *u = calloc(1, sizeof *u);
    if (!u) return df_error_set(err, DF_ENOMEM, "usage: out of memory");
    u->n_slots = keep + 2;   /* the kept minutes, the current one and the one cleared ahead */
    u->slots = calloc((size_t)u->n_slots, sizeof *u->slots);
    if (!u->slots || (dir && !(u->dir = strdup(dir)))) {
        free(u->slots);
        free(u);
        return df_error_set(err, DF_ENOMEM, "usage: out of memory");
    }
    if (dir) {
        df_status st = df_obs_mkdirs(dir, err);
        if (st) { free(u->dir); free(u->slots); free(u); return st; }
    }
    for (int i = 0; i < u->n_slots; i++) atomic_init(&u->slots[i].minute, -1);
    pthread_mutex_init(&u->mu, NULL);
    u->persisted_through = time(NULL) / 60 - 1;
    *out = u;
    return DF_OK;
}

void df_usage_free(df_usage *u) {
    if (!u) return;
    pthread_mutex_destroy(&u->mu);
    free(u->slots);
    free(u->dir);
    free(u);
}

static int model_index(df_usage *u, const char *model) {
    if (!model || !*model) model = "_unknown";
    int n = atomic_load_explicit(&u->n_models, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (!strncmp(u->names[i], model, NAME_MAX_LEN - 1) ) return i;
    pthread_mutex_lock(&u->mu);
    n = atomic_load_explicit(&u->n_models, memory_order_relaxed);
    int idx = -1;
    for (int i = 0; i < n && idx < 0; i++)
        if (!strncmp(u->names[i], model, NAME_MAX_LEN - 1)) idx = i;
    if (idx < 0) {
        /* The last slot is reserved for everything beyond the table. */
        if (n >= MAX_MODELS - 1) {
            idx = MAX_MODELS - 1;
            if (n == MAX_MODELS - 1) {
                snprintf(u->names[idx], NAME_MAX_LEN, "_other");
                atomic_store_explicit(&u->n_models, MAX_MODELS, memory_order_release);
            }
        } else {
            snprintf(u->names[n], NAME_MAX_LEN, "%s", model);
            idx = n;
            atomic_store_explicit(&u->n_models, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&u->mu);
    return idx;
}

static void slot_reset_locked(minute_slot *s, int64_t minute) {
    for (int i = 0; i < MAX_MODELS; i++) {
        atomic_store_explicit(&s->calls[i], 0, memory_order_relaxed);
        atomic_store_explicit(&s->tokens[i], 0, memory_order_relaxed);
        atomic_store_explicit(&s->errors[i], 0, memory_order_relaxed);
    }
    atomic_store_explicit(&s->minute, minute, memory_order_release);
}

/* The slot for minute, claimed (cleared) when it still holds an older minute; NULL when it
 * already moved on to a newer one (a late add for a minute that is gone). */
static minute_slot *slot_for(df_usage *u, int64_t minute) {
    minute_slot *s = &u->slots[minute % u->n_slots];
    int64_t have = atomic_load_explicit(&s->minute, memory_order_acquire);
    if (have == minute) return s;
    if (have > minute) return NULL;
    pthread_mutex_lock(&u->mu);
    have = atomic_load_explicit(&s->minute, memory_order_relaxed);
    if (have < minute) slot_reset_locked(s, minute);
    pthread_mutex_unlock(&u->mu);
    return have > minute ? NULL : s;
}

void df_usage_add_at(df_usage *u, int64_t t, const char *model, uint32_t calls, uint32_t tokens, uint32_t errors) {
    if (!u || t < 0) return;
    int i = model_index(u, model);
    minute_slot *s = slot_for(u, t / 60);
    if (!s) return;
    atomic_fetch_add_explicit(&s->calls[i], calls, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->tokens[i], tokens, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->errors[i], errors, memory_order_relaxed);
}

void df_usage_add(df_usage *u, const char *model, uint32_t calls, uint32_t tokens, uint32_t errors) {
    df_usage_add_at(u, time(NULL), model, calls, tokens, errors);
}

uint64_t df_usage_calls(df_usage *u, const char *model, int64_t minute_unix_s) {
    if (!u) return 0;
    int64_t m = minute_unix_s / 60;
    minute_slot *s = &u->slots[m % u->n_slots];
    if (atomic_load(&s->minute) != m) return 0;
    int n = atomic_load(&u->n_models);
    for (int i = 0; i < n; i++)
        if (!strncmp(u->names[i], model, NAME_MAX_LEN - 1)) return atomic_load(&s->calls[i]);
    return 0;
}

static void minute_iso(int64_t minute, char out[32]) {
    time_t t = (time_t)(minute * 60);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:00Z", &tm);
}

/* Appends the lines of minutes (persisted_through, through] to their day files. */
static df_status persist_locked(df_usage *u, int64_t through, df_error *err) {
    if (!u->dir) { u->persisted_through = through; return DF_OK; }
    int64_t from = u->persisted_through + 1;
    if (from < through - u->n_slots) from = through - u->n_slots;
    df_status st = DF_OK;
    int fd = -1;
    char open_day[16] = "";
    for (int64_t m = from; m <= through && !st; m++) {
        minute_slot *s = &u->slots[m % u->n_slots];
        if (atomic_load(&s->minute) != m) continue;
        char iso[32], day[16], path[4096];
        minute_iso(m, iso);
        memcpy(day, iso, 10);
        day[10] = 0;
        int n = atomic_load(&u->n_models);
        for (int i = 0; i < n && !st; i++) {
            uint64_t c = atomic_load(&s->calls[i]), tk = atomic_load(&s->tokens[i]), e = atomic_load(&s->errors[i]);
            if (!c && !e) continue;
            if (strcmp(day, open_day)) {
                if (fd >= 0) { fsync(fd); close(fd); }
                snprintf(path, sizeof path, "%s/%s.jsonl", u->dir, day);
                fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0) { st = df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno)); break; }
                strcpy(open_day, day);
            }
            char line[512];
            size_t k = 0;
            k += (size_t)snprintf(line, sizeof line, "{\"minute\":\"%s\",\"model\":", iso);
            df_obs_json_str(line, sizeof line, &k, u->names[i]);
            if (k < sizeof line)
                k += (size_t)snprintf(line + k, sizeof line - k, ",\"calls\":%llu,\"tokens\":%llu,\"errors\":%llu}\n",
                                      (unsigned long long)c, (unsigned long long)tk, (unsigned long long)e);
            if (k >= sizeof line) continue;   /* cannot happen with 64-byte names */
            /* One write per line with O_APPEND: a crash leaves whole lines only. */
            if (write(fd, line, k) != (ssize_t)k) st = df_error_set(err, DF_EIO, "%s/%s.jsonl: write failed: %s", u->dir, day, strerror(errno));
        }
    }
    if (fd >= 0) { fsync(fd); close(fd); }
    if (!st) u->persisted_through = through;
    return st;
}

df_status df_usage_tick(df_usage *u, int64_t now, df_error *err) {
    if (!u) return DF_OK;
    if (now <= 0) now = time(NULL);
    int64_t cur = now / 60;
    pthread_mutex_lock(&u->mu);
    df_status st = DF_OK;
    if (u->persisted_through < cur - 1) st = persist_locked(u, cur - 1, err);
    minute_slot *ahead = &u->slots[(cur + 1) % u->n_slots];
    if (atomic_load(&ahead->minute) < cur + 1) slot_reset_locked(ahead, cur + 1);
    pthread_mutex_unlock(&u->mu);
    return st;
}

df_status df_usage_flush(df_usage *u, df_error *err) {
    if (!u) return DF_OK;
    pthread_mutex_lock(&u->mu);
    int64_t newest = time(NULL) / 60;
    for (int i = 0; i < u->n_slots; i++) {
        int64_t m = atomic_load(&u->slots[i].minute);
        if (m > newest) newest = m;
    }
    df_status st = persist_locked(u, newest, err);
    pthread_mutex_unlock(&u->mu);
    return st;
}

char *df_usage_json(df_usage *u) {
    json_t *root = json_object(), *models = json_object();
    json_object_set_new(root, "minute_seconds", json_integer(60));
    if (u) {
        int64_t newest = time(NULL) / 60;
        int order[256 + 64], n_order = 0;
        for (int i = 0; i < u->n_slots; i++) {
            int64_t m = atomic_load(&u->slots[i].minute);
            if (m > newest) newest = m;
        }
        /* Slots in minute order, oldest first; skip the one cleared ahead for the future. */
        for (int64_t m = newest - u->n_slots + 2; m <= newest; m++) {
            int k = (int)(m % u->n_slots);
            if (m >= 0 && atomic_load(&u->slots[k].minute) == m && n_order < (int)(sizeof order / sizeof order[0])) order[n_order++] = k;
        }
        int n = atomic_load(&u->n_models);
        for (int i = 0; i < n; i++) {
            json_t *arr = json_array();
            for (int j = 0; j < n_order; j++) {
                minute_slot *s = &u->slots[order[j]];
                uint64_t c = atomic_load(&s->calls[i]), e = atomic_load(&s->errors[i]);
                if (!c && !e) continue;
                char iso[32];
                minute_iso(atomic_load(&s->minute), iso);
                json_t *o = json_object();
                json_object_set_new(o, "minute", json_string(iso));
                json_object_set_new(o, "calls", json_integer((json_int_t)c));
                json_object_set_new(o, "tokens", json_integer((json_int_t)atomic_load(&s->tokens[i])));
                json_object_set_new(o, "errors", json_integer((json_int_t)e));
                json_array_append_new(arr, o);
            }
            json_t *key = json_string(u->names[i]);
            if (key) json_object_set_new(models, u->names[i], arr); else json_decref(arr);
            json_decref(key);
        }
    }
    json_object_set_new(root, "models", models);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
