/* GELU fusion: torch's erf form (Div/Erf/Add/Mul/Mul) becomes one Gelu, one per layer of
 * every fixture (2 layers). Fused and unfused agree to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_gelu(void **state) {
    (void)state;
    fh_all("gelu", "Gelu", 2, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gelu)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
