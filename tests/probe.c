/*
 * probe: a static program the tests run inside the sandbox.  Its first
 * line is always "PROBE <command>", so a test can tell "the probe ran and
 * was denied" from "the probe never ran".  One observation per call:
 *
 *   probe hello                 prints "hello"
 *   probe read PATH             "readable" or "denied <errno name>"
 *   probe write PATH            "written" or "denied <errno name>" (creates/appends)
 *   probe connect IP PORT       "connected" or "denied <errno name>"
 *   probe listen PORTFILE       listens on 127.0.0.1, writes the port to PORTFILE,
 *                               waits up to 20 s for one connection: "accepted"/"timeout"
 *   probe ids                   "uid=U gid=G euid=E egid=F"
 *   probe caps                  the Cap* lines of /proc/self/status
 *   probe env                   the environment, one NAME=VALUE per line
 *   probe fds                   "fd N" for each open descriptor above 2
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>



static const char *errname(int e)
{
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    default: return strerror(e);
    }
}

static int denied(int e)
{
    printf("denied %s\n", errname(e));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: probe COMMAND [ARG...]\n");
        return 2;
    }
    const char *c = argv[1];
    printf("PROBE %s\n", c);
    if (strcmp(c, "hello") == 0) {
        puts("hello");
    } else if (strcmp(c, "read") == 0 && argc == 3) {
        int fd = open(argv[2], O_RDONLY);
        char b[1];
        if (fd < 0 || read(fd, b, 1) < 0)
            return denied(errno);
        puts("readable");
    } else if (strcmp(c, "write") == 0 && argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || write(fd, "x\n", 2) != 2)
            return denied(errno);
        puts("written");
    } else if (strcmp(c, "connect") == 0 && argc == 4) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
        if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
            return 2;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0)
            return denied(errno);
        puts("connected");
    } else if (strcmp(c, "listen") == 0 && argc == 3) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s, 4) != 0 ||
            getsockname(s, (struct sockaddr *)&sa, &len) != 0)
            return denied(errno);
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
        FILE *f = fopen(tmp, "w");
        if (!f)
            return denied(errno);
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
        rename(tmp, argv[2]);
        fflush(stdout);
        struct pollfd p = {s, POLLIN, 0};
        if (poll(&p, 1, 20000) == 1 && accept(s, NULL, NULL) >= 0)
            puts("accepted");
        else
            puts("timeout");
    } else if (strcmp(c, "ids") == 0) {
        printf("uid=%u gid=%u euid=%u egid=%u\n", getuid(), getgid(), geteuid(), getegid());
    } else if (strcmp(c, "caps") == 0) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        if (!f)
            return denied(errno);
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "Cap", 3) == 0)
                fputs(line, stdout);
        fclose(f);
    } else if (strcmp(c, "env") == 0) {
        for (char **e = environ; *e; e++)
            puts(*e);
    } else if (strcmp(c, "fds") == 0) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
            return denied(errno);
        int self = dirfd(d);
        for (struct dirent *de; (de = readdir(d));) {
            int fd = atoi(de->d_name);
            if (de->d_name[0] != '.' && fd > 2 && fd != self)
                printf("fd %d\n", fd);
        }
        closedir(d);
    } else {
        fprintf(stderr, "probe: unknown command %s\n", c);
        return 2;
    }
    return 0;
}
