/* status.c: the status report; see status.h. */
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int status_fd = -1;
static bool written;

bool sha256_hex(const void *data, size_t len, char out[65])
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, sizeof digest, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return true;
}

void status_open_file(const char *path)
{
    status_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (status_fd < 0)
        die("--status-json %s: cannot open: %s", path, strerror(errno));
}

void status_use_fd(const char *spec)
{
    char *end;
    long fd = strtol(spec, &end, 10);
    if (*end || end == spec || fd < 0 || fd > 1 << 20)
        die("--status-fd: expected a descriptor number, got \"%s\"", spec);
    int fl = fcntl((int)fd, F_GETFD);
    if (fl < 0)
        die("--status-fd %ld: not an open descriptor", fd);
    fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC); /* never into the sandbox */
    status_fd = (int)fd;
}

bool status_wanted(void)
{
    return status_fd >= 0;
}

void json_write_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; c && *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

void status_write(const struct status_report *r)
{
    if (status_fd < 0 || written)
        return;
    written = true;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    fprintf(f, "{\"class\":");
    json_write_str(f, r->class);
    fprintf(f, ",\"status\":%d", r->status);
    if (strcmp(r->class, "exited") == 0)
        fprintf(f, ",\"exit_code\":%d", r->exit_code);
    if (strcmp(r->class, "signaled") == 0)
        fprintf(f, ",\"signal\":%d", r->signal);
    fprintf(f, ",\"backend\":");
    json_write_str(f, r->backend ? r->backend : "none");
    fprintf(f, ",\"stage\":");
    json_write_str(f, r->stage ? r->stage : "unnamed");
    fprintf(f, ",\"policy_sha256\":");
    if (r->policy_sha256[0])
        json_write_str(f, r->policy_sha256);
    else
        fprintf(f, "null");
    fprintf(f, ",\"setup_seconds\":%.6f,\"command_seconds\":%.6f", r->setup_seconds,
            r->command_seconds);
    if (r->message) {
        fprintf(f, ",\"message\":");
        json_write_str(f, r->message);
    }
    fprintf(f, "}\n");
    fclose(f);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(status_fd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(buf);
}
