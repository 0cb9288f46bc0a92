/* fuzz_policy_json: noether IsolationPolicy JSON imported into a policy. */
#include "lua_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness_call("sandlot.noether", "import", data, size, 1);
    return 0;
}
