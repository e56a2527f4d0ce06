/* MatMul + bias (+ Gelu) fusion: every projection with a constant weight and bias becomes
 * MatMulBias (6 per layer, 2 layers); with the Gelu pass the intermediate one carries the
 * activation as a oneDNN post-op. Fused and unfused agree to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_matmul_bias(void **state) {
    (void)state;
    fh_all("layernorm,gelu,matmul_bias", "MatMulBias", 12, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matmul_bias)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
