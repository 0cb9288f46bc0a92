/* fuzz_effects: effect parsing, the CLI form and noether's EffectSet JSON. */
#include "lua_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    harness_call("sandlot.effects", "parse_cli", data, size, 0);
    harness_call("sandlot.effects", "parse_json", data, size, 0);
    return 0;
}
