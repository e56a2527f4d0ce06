/* Embedding fusion: word/position/token-type Gathers (or their folded constants, or
 * XLM-R's runtime position ids) + Adds + LayerNorm become one EmbedLayerNormalization. Fused
 * and unfused agree to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_embed_layernorm(void **state) {
    (void)state;
    fh_all("layernorm,embed_layernorm", "EmbedLayerNormalization", 1, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_embed_layernorm)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
