/* LayerNorm fusion: the ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add chain of opsets
 * 11-14 becomes LayerNormalization (5 per fixture: embeddings + 2 per layer); opset 17 already
 * has it. Fused and unfused agree to 1e-5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fusion_harness.h"

static void test_layernorm(void **state) {
    (void)state;
    fh_all("layernorm", "LayerNormalization", 5, false, 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_layernorm)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
