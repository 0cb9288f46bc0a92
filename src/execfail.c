/*
 * execfail.c: the message and status for a failed exec (execfail.h).
 * The kernel answers ENOENT both for a missing file and for a present
 * file whose interpreter is missing; only the second is worth a
 * different message, since the file is plainly there.
 */
#include "execfail.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where execvp found (or would have found) cmd: a regular file's path in
 * buf, or NULL.  PATH as execvp reads it, with its default. */
static const char *locate(const char *cmd, char *buf, size_t size)
{
    struct stat st;
    if (strchr(cmd, '/'))
        return stat(cmd, &st) == 0 && S_ISREG(st.st_mode) ? cmd : NULL;
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        int len = snprintf(buf, size, "%.*s%s%s", (int)n, n ? path : "", n ? "/" : "", cmd);
        if (len > 0 && (size_t)len < size && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
            return buf;
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* The interpreter the file at fd asks for (ELF PT_INTERP or #!) in out; its kind or NULL. */
static const char *interpreter(int fd, char *out, size_t size)
{
    unsigned char h[sizeof(Elf64_Ehdr)];
    ssize_t n = pread(fd, h, sizeof h, 0);
    if (n >= 2 && h[0] == '#' && h[1] == '!') {
        char line[256];
        ssize_t m = pread(fd, line, sizeof line - 1, 2);
        if (m <= 0)
            return NULL;
        line[m] = '\0';
        char *p = line + strspn(line, " \t");
        size_t len = strcspn(p, " \t\n");
        if (!len || len >= size)
            return NULL;
        memcpy(out, p, len);
        out[len] = '\0';
        return "#! interpreter";
    }
    if (n < (ssize_t)sizeof(Elf32_Ehdr) || memcmp(h, ELFMAG, SELFMAG) != 0)
        return NULL;
    bool is64 = h[EI_CLASS] == ELFCLASS64;
    if (is64 && n < (ssize_t)sizeof(Elf64_Ehdr))
        return NULL;
    const Elf64_Ehdr *e64 = (const void *)h;
    const Elf32_Ehdr *e32 = (const void *)h;
    unsigned long phoff = is64 ? e64->e_phoff : e32->e_phoff;
    unsigned phnum = is64 ? e64->e_phnum : e32->e_phnum;
    for (unsigned i = 0; i < phnum && i < 256; i++) {
        unsigned long type, off, sz;
        if (is64) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(phoff + i * sizeof ph)) != sizeof ph)
                return NULL;
            type = ph.p_type, off = ph.p_offset, sz = ph.p_filesz;
        } else {
            Elf32_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(phoff + i * sizeof ph)) != sizeof ph)
                return NULL;
            type = ph.p_type, off = ph.p_offset, sz = ph.p_filesz;
        }
        if (type != PT_INTERP)
            continue;
        if (sz < 2 || sz > size || pread(fd, out, sz, (off_t)off) != (ssize_t)sz)
            return NULL;
        out[sz - 1] = '\0';
        return "ELF interpreter";
    }
    return NULL;
}

int execfail_report(const char *cmd, int err)
{
    int status = (err == ENOENT || err == ENOTDIR) ? 127 : 126;
    if (err != ENOENT) {
        fprintf(stderr, "sandlot: %s: %s\n", cmd, strerror(err));
        return status;
    }
    char found[PATH_MAX], interp[PATH_MAX], via[PATH_MAX + 16] = "";
    const char *file = locate(cmd, found, sizeof found), *kind = NULL;
    /* the file's interpreter, or the interpreter's own (a #! line naming a
     * dynamic binary), up to a few levels: the first one missing */
    char cur[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", file ? file : "");
    for (int depth = 0; file && depth < 4; depth++) {
        int fd = open(cur, O_RDONLY | O_CLOEXEC);
        kind = fd >= 0 ? interpreter(fd, interp, sizeof interp) : NULL;
        if (fd >= 0)
            close(fd);
        if (!kind || access(interp, F_OK) != 0)
            break;
        snprintf(via, sizeof via, " (through %s)", interp);
        snprintf(cur, sizeof cur, "%s", interp);
        kind = NULL;
    }
    if (kind)
        fprintf(stderr, "sandlot: %s: %s is in the sandbox but its %s %s%s is not (bind it, "
                        "or the directory it is in)\n", cmd, file, kind, interp, via);
    else if (file)
        fprintf(stderr, "sandlot: %s: %s is in the sandbox but cannot be executed: %s\n", cmd,
                file, strerror(err));
    else
        fprintf(stderr, "sandlot: %s: command not found in the sandbox\n", cmd);
    return status;
}
