/* Attention fusion: Q/K/V projections, scaled QK^T, the mask bias, softmax, times V and the
 * head merge become one Attention per layer (2 per fixture), with padded batch-2 inputs
 * exercising the mask. Fused and unfused agree to 1e-5 absolute (outputs are O(1)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_attention(void **state) {
    (void)state;
    fh_all("attention", "Attention", 2, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_attention)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
