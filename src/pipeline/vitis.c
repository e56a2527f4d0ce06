/* Vitis AI tool adapters: vai_q_onnx and vai_c_xir in place of the built-in quantize and
 * compile, for users who have the vendor's docker toolchain.
 *
 * The log lines parsed here are the ones vai_c_xir prints through UniLog
 * ("[UNILOG][INFO] Total device subgraph number 3, DPU subgraph number 1", "Target
 * architecture: ...", "The compiled xmodel is saved to \"...\"", "The compiled xmodel's md5sum
 * is ..., and has been saved to \"...\""), as shown in Vitis AI's user guide (UG1414) and
 * tutorials. They have only ever been fed logs from tests/doubles/vai_c_xir, which prints
 * those lines; see docs/fpga.md. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compile/fpga.h"
#include "dpuflow/base.h"
#include "dpuflow/vitis.h"

extern char **environ;

/* ---- parsers ------------------------------------------------------------------------------- */

/* Copies the line [s, e) without the trailing CR. */
static void line_copy(const char *s, const char *e, char *out, size_t size) {
    while (e > s && (e[-1] == '\r' || e[-1] == ' ')) e--;
    size_t n = (size_t)(e - s) < size - 1 ? (size_t)(e - s) : size - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

/* A non-negative decimal at *p, advancing it; false when there is none or it overflows. */
static bool take_count(const char **p, long long *v) {
    const char *s = *p;
    if (*s < '0' || *s > '9') return false;
    long long n = 0;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (*s++ - '0');
        if (n > 100000000LL) return false;
    }
    *v = n;
    *p = s;
    return true;
}

static bool take(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n)) return false;
    *p += n;
    return true;
}

/* The quoted path after `prefix` (the vendor quotes it), or the rest of the line. */
static void take_path(const char *p, char *out, size_t size) {
    if (*p == '"') {
        const char *q = strchr(p + 1, '"');
        if (q) {
            line_copy(p + 1, q, out, size);
            return;
        }
    }
    snprintf(out, size, "%s", p);
}

static bool is_md5(const char *s) {
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F'))) return false;
    return true;
}

df_status df_vitis_parse_compile_log(const char *text, size_t len, const char *name, df_vitis_compile_log *out,
                                     df_error *err) {
    memset(out, 0, sizeof *out);
    out->device_subgraphs = out->dpu_subgraphs = -1;
    out->op_num = -1;
    const char *p = text, *end = text + len;
    int lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        char line[2048];
        line_copy(p, le, line, sizeof line);
        p = nl ? nl + 1 : end;
        const char *u = strstr(line, "[UNILOG][");
        if (!u) continue;
        u += 9;
        const char *rb = strchr(u, ']');
        if (!rb) continue;
        char level[16];
        line_copy(u, rb, level, sizeof level);
        const char *m = rb + 1;
        while (*m == ' ') m++;
        if (!strcmp(level, "INFO")) out->infos++;
        else if (!strcmp(level, "WARNING") || !strcmp(level, "WARN")) out->warnings++;
        else if (!strcmp(level, "ERROR") || !strcmp(level, "FATAL")) {
            if (!out->errors++) snprintf(out->first_error, sizeof out->first_error, "%s", m);
            continue;
        }
        const char *q = m;
        if (take(&q, "Total device subgraph number")) {
            long long dev, dpu;
            while (*q == ' ') q++;
            bool ok = take_count(&q, &dev) && take(&q, ", DPU subgraph number") && (*q == ' ' ? q++, true : true) &&
                      take_count(&q, &dpu);
            while (ok && (*q == ' ' || *q == '.')) q++;
            if (!ok || *q)
                return df_error_set(err, DF_EFORMAT, "%s:%d: cannot read the subgraph counts from \"%s\"", name, lineno,
                                    m);
            if (dpu > dev)
                return df_error_set(err, DF_EFORMAT, "%s:%d: %lld DPU subgraphs out of only %lld device subgraphs",
                                    name, lineno, dpu, dev);
            out->device_subgraphs = (int)dev;
            out->dpu_subgraphs = (int)dpu;
        } else if (take(&q, "Target architecture:")) {
            while (*q == ' ') q++;
            snprintf(out->target, sizeof out->target, "%s", q);
        } else if (take(&q, "Graph name:")) {
            while (*q == ' ') q++;
            const char *c = strstr(q, ", with op num:");
            if (!c) return df_error_set(err, DF_EFORMAT, "%s:%d: \"Graph name\" line without \", with op num:\"", name, lineno);
            line_copy(q, c, out->graph_name, sizeof out->graph_name);
            c += strlen(", with op num:");
            while (*c == ' ') c++;
            long long n;
            if (!take_count(&c, &n) || *c)
                return df_error_set(err, DF_EFORMAT, "%s:%d: the op num in \"%s\" is not a number", name, lineno, m);
            out->op_num = n;
        } else if (take(&q, "The compiled xmodel is saved to ")) {
            take_path(q, out->xmodel, sizeof out->xmodel);
        } else if (take(&q, "The meta json is saved to ")) {
            take_path(q, out->meta, sizeof out->meta);
        } else if (take(&q, "The compiled xmodel's md5sum is ")) {
            if (strlen(q) < 32 || !is_md5(q) || (q[32] && q[32] != ',' && q[32] != ' '))
                return df_error_set(err, DF_EFORMAT, "%s:%d: the md5sum in \"%s\" is not 32 hex digits", name, lineno, m);
            for (int i = 0; i < 32; i++) out->md5[i] = (char)(q[i] >= 'A' && q[i] <= 'F' ? q[i] + 32 : q[i]);
            out->md5[32] = 0;
        }
    }
    return DF_OK;
}

df_status df_vitis_parse_md5sum(const char *text, size_t len, const char *name, char md5[33], df_error *err) {
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
    if (len - i < 32 || !is_md5(text + i) || (len - i > 32 && !strchr(" \t\r\n", text[i + 32])))
        return df_error_set(err, DF_EFORMAT, "%s:1: expected a 32-digit hex md5 digest", name);
    for (int k = 0; k < 32; k++) {
        char c = text[i + (size_t)k];
        md5[k] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
    }
    md5[32] = 0;
    return DF_OK;
}

void df_vitis_meta_free(df_vitis_meta *m) {
    if (!m) return;
    for (int i = 0; i < m->n_kernels; i++) free(m->kernels[i]);
    free(m->kernels);
    memset(m, 0, sizeof *m);
}

df_status df_vitis_parse_meta(const char *text, size_t len, const char *name, df_vitis_meta *out, df_error *err) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) return df_error_set(err, DF_EFORMAT, "%s: not valid JSON at line %d: %s", name, je.line, je.text);
    df_status st = DF_OK;
    /* The vendor's key is "kernel"; "kernels" is accepted as well. */
    const char *key = json_object_get(root, "kernel") ? "kernel" : "kernels";
    json_t *k = json_object_get(root, key);
    if (!json_is_object(root)) st = df_error_set(err, DF_EFORMAT, "%s: expected a JSON object", name);
    else if (!json_is_array(k))
        st = df_error_set(err, DF_EFORMAT, "%s: \"kernel\" (the DPU subgraph names) is missing or not an array", name);
    else if (!(out->kernels = calloc(json_array_size(k) + 1, sizeof *out->kernels)))
        st = df_error_set(err, DF_ENOMEM, "out of memory");
    for (size_t i = 0; !st && i < json_array_size(k); i++) {
        json_t *s = json_array_get(k, i);
        if (!json_is_string(s) || !json_string_value(s)[0])
            st = df_error_set(err, DF_EFORMAT, "%s: \"%s[%zu]\" must be a non-empty string", name, key, i);
        else if (!(out->kernels[out->n_kernels++] = strdup(json_string_value(s))))
            st = df_error_set(err, DF_ENOMEM, "out of memory");
    }
    json_t *t = json_object_get(root, "target"), *f = json_object_get(root, "filename");
    if (!st && t && !json_is_string(t)) st = df_error_set(err, DF_EFORMAT, "%s: \"target\" must be a string", name);
    if (!st && f && !json_is_string(f)) st = df_error_set(err, DF_EFORMAT, "%s: \"filename\" must be a string", name);
    if (!st && t) snprintf(out->target, sizeof out->target, "%s", json_string_value(t));
    if (!st && f) snprintf(out->filename, sizeof out->filename, "%s", json_string_value(f));
    json_decref(root);
    if (st) df_vitis_meta_free(out);
    return st;
}

/* ---- running the tools ----------------------------------------------------------------------- */

df_status df_vitis_find_tool(const char *name, const char *cfg_path, char *out, size_t size, df_error *err) {
    if (cfg_path) {
        if (access(cfg_path, X_OK))
            return df_error_set(err, DF_ENOTFOUND, "%s: %s: not an executable (%s)", name, cfg_path, strerror(errno));
        snprintf(out, size, "%s", cfg_path);
        return DF_OK;
    }
    const char *path = getenv("PATH");
    for (const char *p = path; p && *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n) {
            snprintf(out, size, "%.*s/%s", (int)n, p, name);
            if (!access(out, X_OK)) return DF_OK;
        }
        p = c ? c + 1 : p + n;
    }
    out[0] = 0;
    return df_error_set(err, DF_ENOTFOUND, "%s is not on PATH (set target.%s in model.json)", name, name);
}

/* The last line of the log that says something, for the error message. */
static void log_tail(const char *log_path, char *out, size_t size) {
    out[0] = 0;
    void *buf = NULL;
    size_t n = 0;
    if (df_file_read_all(log_path, &buf, &n, 64u << 20, NULL)) return;
    const char *t = buf, *first_err = NULL;
    const char *f = strstr(t, "[UNILOG][FATAL]");
    if (!f) f = strstr(t, "[UNILOG][ERROR]");
    first_err = f;
    if (first_err) {
        const char *e = strchr(first_err, '\n');
        line_copy(first_err, e ? e : t + n, out, size);
    } else {
        size_t e = n;
        while (e > 0 && (t[e - 1] == '\n' || t[e - 1] == '\r')) e--;
        size_t s = e;
        while (s > 0 && t[s - 1] != '\n') s--;
        line_copy(t + s, t + e, out, size);
    }
    free(buf);
}

df_status df_vitis_run_tool(char *const argv[], const char *log_path, int timeout_s, df_error *err) {
    const char *tool = argv[0];
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return df_error_set(err, DF_EIO, "%s: %s", log_path, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    /* Its own process group, so a timeout also stops what the tool started (python, ...). */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, tool, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fd);
    if (rc) return df_error_set(err, DF_EIO, "%s: cannot start: %s", tool, strerror(rc));
    uint64_t deadline = df_now_ns() + (uint64_t)(timeout_s > 0 ? timeout_s : 3600) * 1000000000ull;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return df_error_set(err, DF_EIO, "%s: waitpid: %s", tool, strerror(errno));
        if (df_now_ns() > deadline) {
            kill(-pid, SIGTERM);
            for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++) nanosleep(&(struct timespec){0, 20000000}, NULL);
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return df_error_set(err, DF_ETIMEOUT, "%s: still running after %d s, stopped (log: %s)", tool, timeout_s,
                                log_path);
        }
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return DF_OK;
    char tail[512];
    log_tail(log_path, tail, sizeof tail);
    if (WIFSIGNALED(status))
        return df_error_set(err, DF_EIO, "%s: killed by signal %d: %s (log: %s)", tool, WTERMSIG(status), tail, log_path);
    return df_error_set(err, DF_EIO, "%s: exit status %d: %s (log: %s)", tool, WEXITSTATUS(status), tail, log_path);
}

/* ---- the stages ------------------------------------------------------------------------------ */

bool df_vitis_selected(const df_model_config *c) {
    if (!c->toolchain || !strcmp(c->toolchain, "builtin")) return false;
    if (!strcmp(c->toolchain, "vitis")) return true;
    char p[PATH_MAX];
    return !df_vitis_find_tool("vai_q_onnx", c->vai_q_onnx, p, sizeof p, NULL) &&
           !df_vitis_find_tool("vai_c_xir", c->vai_c_xir, p, sizeof p, NULL);
}

df_status df_vitis_quantize(const df_model_config *c, const char *fp32_onnx, const char *calib_npz,
                            const char *out_dir, df_error *err) {
    char tool[PATH_MAX], out[PATH_MAX], log[PATH_MAX], qi[PATH_MAX];
    df_status st = df_vitis_find_tool("vai_q_onnx", c->vai_q_onnx, tool, sizeof tool, err);
    if (st) return st;
    snprintf(out, sizeof out, "%s/deploy_model.onnx", out_dir);
    snprintf(log, sizeof log, "%s/vai_q_onnx.log", out_dir);
    snprintf(qi, sizeof qi, "%s/quant_info.json", out_dir);
    /* The flags of the command-line wrapper dpuflow expects (vai_q_onnx itself is a Python
     * API, quantize_static); see docs/fpga.md. Power-of-two scales, QDQ, as the DPU needs. */
    char *argv[] = {tool, "--input_model", (char *)fp32_onnx, "--output_model", out, "--calib_data",
                    (char *)calib_npz, "--calibrate_method", c->calib_method, "--quant_format", "QDQ",
                    "--power_of_two", c->scale && !strcmp(c->scale, "pof2") ? "1" : "0", NULL};
    unlink(out);
    if ((st = df_vitis_run_tool(argv, log, c->tool_timeout_s, err))) return st;
    struct stat sb;
    if (stat(out, &sb) || sb.st_size == 0)
        return df_error_set(err, DF_EIO, "%s: exited 0 but wrote no %s (log: %s)", tool, out, log);
    char sha[65];
    if ((st = df_sha256_file(out, sha, err))) return st;
    /* "calibration" as the built-in quantizer records it: the fpga compile picks each DPU
     * conv's output fix point from those rows, and without one the DPU's int8 output cannot be
     * read back (dpu-sim keeps the accumulator, the vart backend refuses). */
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "quantizer", "vai_q_onnx", "tool", tool, "log",
                          "vai_q_onnx.log", "model", "deploy_model.onnx", "sha256", sha, "calibration", calib_npz);
    char *txt = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!txt) return df_error_set(err, DF_ENOMEM, "out of memory");
    st = df_file_write_atomic(qi, txt, strlen(txt), err);
    free(txt);
    return st;
}

/* vai_c_xir takes an arch.json; built-in names map to the fingerprints in issue 6's table. */
static df_status arch_json(const df_model_config *c, const char *dir, char *out, size_t size, df_error *err) {
    const char *a = c->arch;
    size_t n = a ? strlen(a) : 0;
    if (a && n > 5 && !strcmp(a + n - 5, ".json")) {
        snprintf(out, size, "%s", a);
        return DF_OK;
    }
    if (a && strcmp(a, "DPUCZDX8G/ZCU104"))
        return df_error_set(err, DF_EUNSUPPORTED,
                            "%s: target.arch \"%s\": the vitis toolchain needs the board's arch.json (only ZCU104's "
                            "fingerprint is built in)", c->config_file, a);
    snprintf(out, size, "%s/arch.json", dir);
    const char *txt = "{\"fingerprint\": \"0x101000056010407\"}\n";
    return df_file_write_atomic(out, txt, strlen(txt), err);
}

static df_status read_text(const char *path, char **buf, size_t *n, df_error *err) {
    void *b = NULL;
    df_status st = df_file_read_all(path, &b, n, 64u << 20, err);
    *buf = b;
    return st;
}

df_status df_vitis_compile(const df_model_config *c, const char *model, const char *compiled_dir,
                           df_vitis_compile_log *lg, df_error *err) {
    char tool[PATH_MAX], dir[PATH_MAX], log[PATH_MAX], arch[PATH_MAX], p[PATH_MAX];
    df_status st = df_vitis_find_tool("vai_c_xir", c->vai_c_xir, tool, sizeof tool, err);
    if (st) return st;
    snprintf(dir, sizeof dir, "%s/vitis", compiled_dir);
    if (mkdir(dir, 0755) && errno != EEXIST) return df_error_set(err, DF_EIO, "%s: %s", dir, strerror(errno));
    snprintf(log, sizeof log, "%s/vai_c_xir.log", dir);
    if ((st = arch_json(c, dir, arch, sizeof arch, err))) return st;
    char *argv[] = {tool, "-x", (char *)model, "-a", arch, "-o", dir, "-n", c->model_name, NULL};
    if ((st = df_vitis_run_tool(argv, log, c->tool_timeout_s, err))) return st;

    char *text = NULL, *md5txt = NULL, *metatxt = NULL;
    size_t n = 0;
    df_vitis_meta meta = {0};
    json_t *root = NULL;
    if ((st = read_text(log, &text, &n, err))) goto done;
    if ((st = df_vitis_parse_compile_log(text, n, log, lg, err))) goto done;
    if (lg->device_subgraphs < 0) {
        st = df_error_set(err, DF_EFORMAT, "%s: no \"Total device subgraph number\" line (did vai_c_xir compile?)", log);
        goto done;
    }
    snprintf(p, sizeof p, "%s/meta.json", dir);
    if ((st = read_text(p, &metatxt, &n, err)) || (st = df_vitis_parse_meta(metatxt, n, p, &meta, err))) goto done;
    if (meta.n_kernels != lg->dpu_subgraphs) {
        st = df_error_set(err, DF_EFORMAT, "%s lists %d kernels but %s says %d DPU subgraphs", p, meta.n_kernels, log,
                          lg->dpu_subgraphs);
        goto done;
    }
    char xmodel[PATH_MAX], md5[33], actual[33];
    snprintf(xmodel, sizeof xmodel, "%s/%s.xmodel", dir, c->model_name);
    snprintf(p, sizeof p, "%s/md5sum.txt", dir);
    if ((st = read_text(p, &md5txt, &n, err)) || (st = df_vitis_parse_md5sum(md5txt, n, p, md5, err))) goto done;
    if ((st = df_md5_file(xmodel, actual, err))) goto done;
    if (strcmp(md5, actual)) {
        st = df_error_set(err, DF_EFORMAT, "%s: md5 %s, but %s hashes to %s", p, md5, xmodel, actual);
        goto done;
    }
    /* Into dpuflow's own meta.json and compile log, beside the built-in report. */
    char mp[PATH_MAX], lp[PATH_MAX];
    snprintf(mp, sizeof mp, "%s/meta.json", compiled_dir);
    snprintf(lp, sizeof lp, "%s/compile_log.txt", compiled_dir);
    json_error_t je;
    root = json_load_file(mp, 0, &je);
    if (!root || !json_is_object(root)) {
        st = df_error_set(err, DF_EFORMAT, "%s: cannot read it back: %s", mp, je.text);
        goto done;
    }
    json_t *k = json_array();
    for (int i = 0; i < meta.n_kernels; i++) json_array_append_new(k, json_string(meta.kernels[i]));
    json_object_set_new(root, "vitis",
                        json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o, s:s, s:s, s:s, s:i, s:i}", "toolchain", "vitis",
                                  "compiler", tool, "log", "vitis/vai_c_xir.log", "xmodel", "vitis/", "device_subgraphs",
                                  lg->device_subgraphs, "dpu_subgraphs", lg->dpu_subgraphs, "kernels", k, "target",
                                  meta.target[0] ? meta.target : lg->target, "md5", md5, "graph_name", lg->graph_name,
                                  "warnings", lg->warnings, "op_num", (int)lg->op_num));
    json_t *v = json_object_get(root, "vitis");
    if (v) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "vitis/%s.xmodel", c->model_name);
        json_object_set_new(v, "xmodel", json_string(rel));
    }
    char *out = json_dumps(root, JSON_INDENT(2));
    if (!out) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
    st = df_file_write_atomic(mp, out, strlen(out), err);
    free(out);
    if (st) goto done;
    free(text);
    text = NULL;
    size_t ln = 0;
    if ((st = read_text(lp, &text, &ln, err))) goto done;
    char *appended = NULL;
    int an = asprintf(&appended,
                      "%.*s\n== Vitis AI (vai_c_xir: %s) ==\nTotal device subgraph number %d, DPU subgraph number %d\n"
                      "target %s, graph %s, %lld ops, %d warnings\nkernels:",
                      (int)ln, text, tool, lg->device_subgraphs, lg->dpu_subgraphs,
                      meta.target[0] ? meta.target : lg->target, lg->graph_name, lg->op_num, lg->warnings);
    for (int i = 0; an >= 0 && i < meta.n_kernels; i++) {
        char *next = NULL;
        an = asprintf(&next, "%s %s", appended, meta.kernels[i]);
        free(appended);
        appended = an >= 0 ? next : NULL;
    }
    if (an < 0 || !appended) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
    char *fin = NULL;
    an = asprintf(&fin, "%s\nxmodel vitis/%s.xmodel md5 %s\n", appended, c->model_name, md5);
    free(appended);
    if (an < 0) { st = df_error_set(err, DF_ENOMEM, "out of memory"); goto done; }
    st = df_file_write_atomic(lp, fin, strlen(fin), err);
    free(fin);
done:
    json_decref(root);
    free(text);
    free(md5txt);
    free(metatxt);
    df_vitis_meta_free(&meta);
    return st;
}
