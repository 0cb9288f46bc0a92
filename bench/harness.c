/*
 * harness: time commands side by side.
 *
 *   harness RUNS WARMUP REFERENCE SPECFILE
 *
 * SPECFILE has one row per line: a label, a TAB, then the command's words
 * separated by TABs; leading NAME=VALUE words set the environment of that
 * command, and leading N<PATH / N>PATH words open PATH on descriptor N
 * (for bwrap --seccomp N and sandlot's exec helper).  After WARMUP rounds, RUNS rounds run every row once each, in
 * round-robin order with the starting row rotating, so slow drift of a
 * noisy machine hits all rows alike.  Prints a markdown table: median wall
 * time, interquartile range, the ratio of medians to the REFERENCE row
 * (1-based), and the peak RSS of the command's own process tree (wait4).
 * Any run that does not exit 0 aborts the benchmark.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct redirect {
    int fd;
    int flags;
    char *path;
};

struct row {
    char *label;
    char **argv;
    char **env;
    struct redirect redir[8];
    int nredir;
    double *ms;
    long maxrss_kb;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    double f = pos - i;
    return i + 1 < n ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

static double run_once(struct row *r)
{
    struct timespec a, b;
    struct rusage ru;
    int status;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        for (int i = 0; i < r->nredir; i++) {
            int fd = open(r->redir[i].path, r->redir[i].flags, 0644);
            if (fd < 0 || dup2(fd, r->redir[i].fd) < 0)
                _exit(126);
            if (fd != r->redir[i].fd)
                close(fd);
        }
        execve(r->argv[0], r->argv, r->env);
        _exit(127);
    }
    if (wait4(pid, &status, 0, &ru) != pid) {
        perror("wait4");
        exit(2);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "harness: row \"%s\" failed (status %d); benchmark aborted\n", r->label,
                status);
        exit(1);
    }
    if (ru.ru_maxrss > r->maxrss_kb)
        r->maxrss_kb = ru.ru_maxrss;
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

extern char **environ;

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: harness RUNS WARMUP REFERENCE SPECFILE\n");
        return 2;
    }
    int runs = atoi(argv[1]), warmup = atoi(argv[2]), ref = atoi(argv[3]) - 1;
    FILE *f = fopen(argv[4], "r");
    if (!f || runs < 3) {
        fprintf(stderr, "harness: bad arguments\n");
        return 2;
    }
    struct row rows[64];
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (n < 64 && getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        struct row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        size_t nenv = 0;
        for (char **e = environ; *e; e++)
            nenv++;
        r->env = calloc(nenv + 64, sizeof *r->env);
        memcpy(r->env, environ, nenv * sizeof *r->env);
        r->argv = calloc(strlen(line) + 2, sizeof *r->argv);
        int na = 0;
        char *save = NULL;
        r->label = strdup(strtok_r(line, "\t", &save));
        for (char *w; (w = strtok_r(NULL, "\t", &save));) {
            char *end;
            long fd = strtol(w, &end, 10);
            if (na == 0 && end != w && (*end == '<' || *end == '>') && r->nredir < 8)
                r->redir[r->nredir++] = (struct redirect){
                    (int)fd, *end == '<' ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC,
                    strdup(end + 1)};
            else if (na == 0 && strchr(w, '=') && w[0] != '/')
                r->env[nenv++] = strdup(w);
            else
                r->argv[na++] = strdup(w);
        }
        r->ms = calloc((size_t)runs, sizeof *r->ms);
    }
    fclose(f);
    if (ref < 0 || ref >= n) {
        fprintf(stderr, "harness: no reference row %d\n", ref + 1);
        return 2;
    }
    for (int w = 0; w < warmup; w++)
        for (int i = 0; i < n; i++)
            run_once(&rows[i]);
    for (int k = 0; k < runs; k++)
        for (int j = 0; j < n; j++) {
            struct row *r = &rows[(j + k) % n];
            r->ms[k] = run_once(r);
        }
    double med[64];
    for (int i = 0; i < n; i++) {
        qsort(rows[i].ms, (size_t)runs, sizeof(double), cmp_double);
        med[i] = quantile(rows[i].ms, runs, 0.5);
    }
    printf("| # | command | median ms | IQR ms | × row %d | peak RSS KiB |\n", ref + 1);
    printf("|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++)
        printf("| %d | %s | %.2f | %.2f–%.2f | %.2f | %ld |\n", i + 1, rows[i].label, med[i],
               quantile(rows[i].ms, runs, 0.25), quantile(rows[i].ms, runs, 0.75),
               med[i] / med[ref], rows[i].maxrss_kb);
    return 0;
}
