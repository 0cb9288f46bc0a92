/*
 * fuzz_path: path_normalise and env_name_allowed on arbitrary bytes.
 * Properties: an accepted path is absolute, normal (no "//", "." or ".."
 * component, no trailing slash, no NUL or newline) and normalises to
 * itself; an accepted environment name matches [A-Za-z_][A-Za-z0-9_]*
 * and is not a loader variable.
 */
#include "policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_err e;
    char *out = NULL;
    if (path_normalise((const char *)data, size, &out, &e)) {
        size_t n = strlen(out);
        CHECK(n > 0 && out[0] == '/');
        CHECK(!strstr(out, "//") && !strstr(out, "/./") && !strstr(out, "/../"));
        CHECK(strcmp(out, "/.") != 0 && strcmp(out, "/..") != 0);
        CHECK(n < 2 || (strcmp(out + n - 2, "/.") != 0 && out[n - 1] != '/'));
        CHECK(n < 3 || strcmp(out + n - 3, "/..") != 0);
        CHECK(!memchr(out, '\n', n));
        char *again = NULL;
        CHECK(path_normalise(out, n, &again, &e) && strcmp(again, out) == 0);
        free(again);
        free(out);
    }
    if (env_name_allowed((const char *)data, size, &e)) {
        CHECK(size > 0 && (data[0] == '_' || ((data[0] | 32) >= 'a' && (data[0] | 32) <= 'z')));
        for (size_t i = 0; i < size; i++)
            CHECK(data[i] == '_' || ((data[i] | 32) >= 'a' && (data[i] | 32) <= 'z') ||
                  (data[i] >= '0' && data[i] <= '9'));
        CHECK(!(size >= 3 && memcmp(data, "LD_", 3) == 0));
    }
    return 0;
}
