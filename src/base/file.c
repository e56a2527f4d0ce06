/* Whole-file reads, crash-safe replacement of files, and read-only mappings. */
#include "dpuflow/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

df_status df_file_read_all(const char *path, void **buf, size_t *size, size_t max_size, df_error *err) {
    *buf = NULL;
    *size = 0;
    if (max_size == 0) max_size = DF_FILE_READ_DEFAULT_MAX;
    if (max_size == SIZE_MAX) max_size--;  /* room for the NUL */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, errno == ENOENT ? DF_ENOTFOUND : DF_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        return DF_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return df_error_set(err, DF_EIO, "%s: is a directory", path);
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_size) {
        close(fd);
        return df_error_set(err, DF_ERANGE, "%s: %lld bytes exceeds the %zu byte limit", path,
                            (long long)st.st_size, max_size);
    }
    /* The stat size is only a hint: pipes and /proc files report 0, and a file may grow
     * while it is read, so the loop below grows the buffer and enforces the limit itself. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
    if (cap > max_size + 1) cap = max_size + 1;
    size_t used = 0;
    char *p = malloc(cap);
    if (!p) {
        close(fd);
        return df_error_set(err, DF_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (used == max_size) {
            /* Full to the limit: only a read of 0 bytes says the file ends right here. */
            char probe;
            ssize_t n = read(fd, &probe, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) break;
            free(p);
            close(fd);
            if (n < 0) return df_error_set(err, DF_EIO, "%s: read failed at byte %zu: %s", path, used, strerror(errno));
            return df_error_set(err, DF_ERANGE, "%s: exceeds the %zu byte limit", path, max_size);
        }
        if (used + 1 >= cap) {
            size_t ncap = cap * 2;
            if (ncap > max_size + 1) ncap = max_size + 1;
            char *np = realloc(p, ncap);
            if (!np) {
                free(p);
                close(fd);
                return df_error_set(err, DF_ENOMEM, "%s: out of memory reading %zu bytes", path, ncap);
            }
            p = np;
            cap = ncap;
        }
        ssize_t n = read(fd, p + used, cap - 1 - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            df_error_set(err, DF_EIO, "%s: read failed at byte %zu: %s", path, used, strerror(errno));
            free(p);
            close(fd);
            return DF_EIO;
        }
        if (n == 0) break;
        used += (size_t)n;
    }
    close(fd);
    p[used] = '\0';
    *buf = p;
    *size = used;
    return DF_OK;
}

/* ---- atomic replacement ----------------------------------------------------------------- */

struct df_atomic_file {
    int fd;
    char *path;
    char *tmp;
};

static df_status write_fully(int fd, const void *data, size_t size, const char *what, df_error *err) {
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return df_error_set(err, DF_EIO, "%s: write failed: %s", what, strerror(errno));
        }
        p += n;
        size -= (size_t)n;
    }
    return DF_OK;
}

df_status df_dir_sync_for(const char *path, df_error *err) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else dir = strndup(path, (size_t)(slash - path));
    if (!dir) return df_error_set(err, DF_ENOMEM, "out of memory");
    df_status st = DF_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        st = df_error_set(err, DF_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    } else {
        /* Some file systems cannot fsync a directory (EINVAL); nothing more can be done there. */
        if (fsync(fd) != 0 && errno != EINVAL)
            st = df_error_set(err, DF_EIO, "%s: fsync of directory failed: %s", dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return st;
}

df_status df_atomic_open(const char *path, df_atomic_file **out, df_error *err) {
    static atomic_uint counter;
    *out = NULL;
    df_atomic_file *f = calloc(1, sizeof *f);
    size_t tmp_len = strlen(path) + 64;
    if (!f || !(f->path = strdup(path)) || !(f->tmp = malloc(tmp_len))) {
        if (f) { free(f->path); free(f); }
        return df_error_set(err, DF_ENOMEM, "out of memory");
    }
    /* A replaced file keeps its permissions; a new one gets the usual 0666 & ~umask. */
    struct stat old;
    int have_old = stat(path, &old) == 0 && S_ISREG(old.st_mode);
    for (int attempt = 0;; attempt++) {
        snprintf(f->tmp, tmp_len, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0) break;
        if (errno != EEXIST || attempt > 100) {
            df_error_set(err, DF_EIO, "%s: cannot create temp file: %s", path, strerror(errno));
            free(f->tmp);
            free(f->path);
            free(f);
            return DF_EIO;
        }
    }
    if (have_old) (void)fchmod(f->fd, old.st_mode & 07777);
    *out = f;
    return DF_OK;
}

df_status df_atomic_write(df_atomic_file *f, const void *data, size_t size, df_error *err) {
    return write_fully(f->fd, data, size, f->path, err);
}

static void atomic_free(df_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

void df_atomic_abort(df_atomic_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    atomic_free(f);
}

df_status df_atomic_commit(df_atomic_file *f, df_error *err) {
    /* fsync before rename: otherwise a crash can publish the new name with empty content. */
    if (fsync(f->fd) != 0) {
        df_error_set(err, DF_EIO, "%s: fsync failed: %s", f->path, strerror(errno));
        df_atomic_abort(f);
        return DF_EIO;
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) {
        df_error_set(err, DF_EIO, "%s: close failed: %s", f->path, strerror(errno));
        df_atomic_abort(f);
        return DF_EIO;
    }
    if (rename(f->tmp, f->path) != 0) {
        df_error_set(err, DF_EIO, "%s: rename from temp file failed: %s", f->path, strerror(errno));
        df_atomic_abort(f);
        return DF_EIO;
    }
    df_status st = df_dir_sync_for(f->path, err);
    atomic_free(f);
    return st;
}

df_status df_file_write_atomic(const char *path, const void *data, size_t size, df_error *err) {
    df_atomic_file *f;
    df_status st = df_atomic_open(path, &f, err);
    if (st) return st;
    st = df_atomic_write(f, data, size, err);
    if (st) {
        df_atomic_abort(f);
        return st;
    }
    return df_atomic_commit(f, err);
}

df_status df_file_publish(const char *tmp_path, const char *path, df_error *err) {
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    int rc = fd < 0 ? -1 : fsync(fd);
    int saved = errno;
    if (fd >= 0) close(fd);
    if (rc != 0) {
        df_error_set(err, DF_EIO, "%s: fsync failed: %s", tmp_path, strerror(saved));
        unlink(tmp_path);
        return DF_EIO;
    }
    if (rename(tmp_path, path) != 0) {
        df_error_set(err, DF_EIO, "%s: rename from temp file failed: %s", path, strerror(errno));
        unlink(tmp_path);
        return DF_EIO;
    }
    return df_dir_sync_for(path, err);
}

/* ---- mappings --------------------------------------------------------------------------- */

df_status df_file_mmap(const char *path, df_file_map *map, df_error *err) {
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, errno == ENOENT ? DF_ENOTFOUND : DF_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        df_error_set(err, DF_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        return DF_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return df_error_set(err, DF_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {  /* mmap rejects a zero length */
        close(fd);
        return DF_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED) return df_error_set(err, DF_EIO, "%s: mmap failed: %s", path, strerror(saved));
    map->data = p;
    map->size = (size_t)st.st_size;
    return DF_OK;
}

void df_file_munmap(df_file_map *map) {
    if (!map) return;
    if (map->data) munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}
