/* status.c: the status report; see status.h. */
#include "status.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int status_fd = -1; /* --status-fd */
static bool written;

/*
 * --status-json: the report's directory, opened at startup, and the final
 * name in it.  The final path itself is never opened: the report is written
 * to a fresh temporary file (O_EXCL|O_NOFOLLOW) and renamed over the name, so
 * a symlink or FIFO planted there (by a stage with write access to the
 * directory) is replaced, never followed or opened.
 */
static int report_dir = -1;
static const char *report_path, *report_name;

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
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        die("--status-json %s: not a file name", path);
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        die("out of memory");
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int err = errno;
    if (fd >= 0 && faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
        err = errno;
        close(fd);
        fd = -1;
    }
    free(dir);
    if (fd < 0)
        die("--status-json %s: cannot open its directory: %s", path, strerror(err));
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        die("--status-json %s: is a directory", path);
    report_dir = fd;
    report_path = path;
    report_name = name;
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
    return status_fd >= 0 || report_dir >= 0;
}


/*
 * Replace report_name in report_dir with a regular file holding buf: a new
 * temporary file (never an existing one, never through a link) renamed over
 * the name.  On failure, says so on stderr and leaves no temporary behind.
 */
static void write_report_file(const char *buf, size_t len)
{
    char tmp[64];
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 16; tries++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
            r = (uint64_t)getpid() * 2654435761u + (uint64_t)tries;
        snprintf(tmp, sizeof tmp, ".sandlot-status.%016llx", (unsigned long long)r);
        fd = openat(report_dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        warnx_("--status-json %s: cannot create the report: %s", report_path, strerror(errno));
        return;
    }
    bool ok = write_all(fd, buf, len);
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && renameat(report_dir, tmp, report_dir, report_name) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        unlinkat(report_dir, tmp, 0);
        warnx_("--status-json %s: cannot write the report: %s", report_path, strerror(err));
    }
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
    if (!status_wanted() || written)
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
    if (strcmp(r->class, "exited") == 0 || strcmp(r->class, "exec_failed") == 0)
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
    if (r->egress)
        fprintf(f, ",\"egress\":%s", r->egress);
    fprintf(f, "}\n");
    fclose(f);
    if (status_fd >= 0)
        write_all(status_fd, buf, len);
    else
        write_report_file(buf, len);
    free(buf);
}
