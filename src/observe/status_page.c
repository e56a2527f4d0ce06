/* The status page served at GET /. Its HTML lives in status.html; the build embeds it
 * (status_embed.cmake) as df_status_html. */
#include "dpuflow/observe.h"

extern const char df_status_html[];
extern const size_t df_status_html_len;

const char *df_observe_status_page(size_t *len) {
    if (len) *len = df_status_html_len;
    return df_status_html;
}
