/* Residual Add + LayerNorm fusion: the two residual LayerNorms of each layer become
 * SkipLayerNormalization (4 per fixture). Fused and unfused agree to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_skip_layernorm(void **state) {
    (void)state;
    fh_all("layernorm,skip_layernorm", "SkipLayerNormalization", 4, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_skip_layernorm)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
