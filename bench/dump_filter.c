/*
 * dump_filter FILE: write the default policy's seccomp BPF program to FILE,
 * so the benchmark's raw-bwrap row can load exactly the filter sandlot
 * loads (bwrap --seccomp 3 3<FILE).
 */
#include "filter.h"
#include "policy.h"

#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sl_err e;
    if (argc != 2)
        return 2;
    struct policy *p = policy_new();
    int fd = seccomp_program_fd(p, &e);
    FILE *out = fopen(argv[1], "wb");
    if (fd < 0 || !out) {
        fprintf(stderr, "dump_filter: %s\n", fd < 0 ? e.msg : "cannot open output");
        return 1;
    }
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
        fwrite(buf, 1, (size_t)n, out);
    fclose(out);
    policy_free(p);
    return 0;
}
