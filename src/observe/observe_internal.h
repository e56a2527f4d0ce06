/* Helpers shared by the observe/ files. */
#ifndef DF_OBSERVE_INTERNAL_H
#define DF_OBSERVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dpuflow/status.h"

/* Wall clock in µs since the Unix epoch. */
int64_t df_obs_wall_us(void);
/* "2026-05-06T11:24:00.123456Z" (UTC). */
void df_obs_format_ts(int64_t us, char out[40]);
/* mkdir -p; DF_EIO naming the path on failure. */
df_status df_obs_mkdirs(const char *path, df_error *err);
/* Appends a JSON string literal (quotes, escapes; invalid UTF-8 bytes become U+FFFD) to
 * buf at *n, never past cap; *n keeps counting so callers learn the needed size. */
void df_obs_json_str(char *buf, size_t cap, size_t *n, const char *s);

#endif
