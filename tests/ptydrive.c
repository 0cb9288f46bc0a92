/*
 * ptydrive: run a command on a pseudo-terminal and drive it like a person.
 *
 *   ptydrive SCRIPT OUTPUT -- COMMAND [ARG...]
 *
 * SCRIPT has one action per line:
 *   send TEXT     type TEXT (escapes: \n \r \t \e \xHH, e.g. \x03 is Ctrl-C)
 *   expect TEXT   wait up to 30 s until TEXT appears in the output after
 *                 the previous expectation; otherwise fail
 *   sleep MS      wait
 *   resize R C    set the terminal's window size to R rows, C columns (the
 *                 kernel sends SIGWINCH to its foreground process group)
 *   hangup        close the terminal, as when the user's window goes away
 *                 (what follows only waits for the command)
 * Everything the command writes is copied to OUTPUT.  Exit status: the
 * command's (128+N if killed by signal N), or 3 when an expectation failed
 * (the command is then killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Seconds an expectation, and the command's exit, may take: generous, for a
 * loaded machine (a test that passes never waits this long). */
#define PATIENCE 30

static char *out;
static size_t nout, capout, seen;
static FILE *log_file;

/* Read what the command wrote within ms milliseconds. */
static void pump(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, ms) == 1) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return;
        if (nout + (size_t)n + 1 > capout) {
            capout = (capout + (size_t)n) * 2;
            out = realloc(out, capout);
        }
        memcpy(out + nout, buf, (size_t)n);
        nout += (size_t)n;
        out[nout] = '\0';
        fwrite(buf, 1, (size_t)n, log_file);
        fflush(log_file);
        ms = 0;
    }
}

static size_t unescape(const char *s, char *d)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            d[n++] = *s;
            continue;
        }
        s++;
        switch (*s) {
        case 'n': d[n++] = '\n'; break;
        case 'r': d[n++] = '\r'; break;
        case 't': d[n++] = '\t'; break;
        case 'e': d[n++] = 27; break;
        case 'x': {
            char hex[3] = {s[1], s[1] ? s[2] : 0, 0};
            d[n++] = (char)strtol(hex, NULL, 16);
            s += 2;
            break;
        }
        default: d[n++] = *s;
        }
    }
    return n;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: ptydrive SCRIPT OUTPUT -- COMMAND [ARG...]\n");
        return 2;
    }
    FILE *script = fopen(argv[1], "r");
    log_file = fopen(argv[2], "w");
    if (!script || !log_file) {
        perror("ptydrive");
        return 2;
    }
    struct winsize ws = {24, 120, 0, 0};
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    if (pid < 0) {
        perror("forkpty");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[4], argv + 4);
        perror("exec");
        _exit(127);
    }
    char *line = NULL;
    size_t cap = 0;
    int failed = 0;
    while (!failed && getline(&line, &cap, script) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char buf[4096];
        if (strncmp(line, "send ", 5) == 0) {
            size_t n = unescape(line + 5, buf);
            if (write(master, buf, n) != (ssize_t)n)
                failed = 1;
            pump(master, 50);
        } else if (strncmp(line, "expect ", 7) == 0) {
            size_t n = unescape(line + 7, buf);
            buf[n] = '\0';
            double deadline = now() + PATIENCE;
            char *hit;
            while (!(hit = out && nout > seen ? strstr(out + seen, buf) : NULL) && now() < deadline)
                pump(master, 100);
            if (hit) {
                seen = (size_t)(hit - out) + n;
            } else {
                fprintf(stderr, "ptydrive: expected \"%s\" within %d s\n", line + 7, PATIENCE);
                failed = 1;
            }
        } else if (strcmp(line, "hangup") == 0) {
            close(master);
            master = -1;
        } else if (strncmp(line, "resize ", 7) == 0) {
            struct winsize to = {0, 0, 0, 0};
            if (sscanf(line + 7, "%hu %hu", &to.ws_row, &to.ws_col) != 2 ||
                ioctl(master, TIOCSWINSZ, &to) != 0)
                failed = 1;
            pump(master, 50);
        } else if (strncmp(line, "sleep ", 6) == 0) {
            /* the whole time, however much the command writes meanwhile */
            double until = now() + atoi(line + 6) / 1000.0;
            for (double left; (left = until - now()) > 0;)
                pump(master, (int)(left * 1000) + 1);
        }
    }
    free(line);
    int status;
    if (failed) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return 3;
    }
    double deadline = now() + PATIENCE;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now() > deadline) {
            fprintf(stderr, "ptydrive: the command did not exit within %d s\n", PATIENCE);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return 3;
        }
        pump(master, 50);
    }
    pump(master, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
