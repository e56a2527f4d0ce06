/* The default pipeline (every pass) on every fixture: outputs agree with the unfused graph to
 * 1e-5, and what remains is the fused BERT: one EmbedLayerNormalization, and per layer one
 * Attention, four MatMulBias and two SkipLayerNormalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_pipeline(void **state) {
    (void)state;
    fh_all(NULL, "Attention", 2, false, 1e-5);
    fh_all(NULL, "SkipLayerNormalization", 4, false, 1e-5);
    fh_all(NULL, "EmbedLayerNormalization", 1, false, 1e-5);
    fh_all(NULL, "MatMulBias", 4, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pipeline)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
