/*
 * proxyrun: the egress proxy and its rules outside any sandbox, for
 * tests/proxy_spec.lua and the benchmark.
 *
 *   proxyrun [OPTIONS] RULE...      serve on 127.0.0.1:0; print the port
 *   RULE: PATTERN[@PORT[,PORT...]]  (egress_rule_parse; no @: port 443)
 *   --audit FILE        the audit lines (JSON) go to FILE
 *   --log               refusals on stderr as they happen (sandlot -v)
 *   --idle N, --connect-timeout N, --max-conns N   the proxy_config fields
 *   --match HOST PORT   print the rule egress_match_name finds, or "none"
 *   --addr HOST PORT ADDR   print "allowed" or "refused: CLASS" for ADDR
 *                       (egress_address_allowed for a request that named HOST)
 * With --match or --addr nothing is served.  A bad rule: its error on
 * stderr, exit 125.  SIGTERM stops the proxy (exit 0).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "egress.h"
#include "policy.h"

static int usage(const char *why)
{
    fprintf(stderr, "proxyrun: %s\n", why);
    return 125;
}

static unsigned num(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > 1000000)
        exit(usage("bad number"));
    return (unsigned)v;
}

/* "PATTERN@80,443" -> the rule, or exit 125 with egress_rule_parse's message. */
static void add_rule(struct egress_rules *rules, const char *arg)
{
    char *pat = strdup(arg);
    uint16_t ports[64];
    size_t n = 0;
    char *at = strrchr(pat, '@');
    if (at) {
        *at = '\0';
        for (char *p = strtok(at + 1, ","); p; p = strtok(NULL, ",")) {
            char *end;
            long v = strtol(p, &end, 10);
            if (*end || v < 0 || v > 65535 || n == 64)
                exit(usage("bad port list"));
            ports[n++] = (uint16_t)v;
        }
    }
    struct egress_rule r;
    struct sl_err e;
    if (!egress_rule_parse(pat, ports, n, "command line", &r, &e) ||
        !egress_rules_add(rules, &r, &e)) {
        fprintf(stderr, "sandlot: %s\n", e.msg);
        exit(125);
    }
    egress_rule_free(&r);
    free(pat);
}

int main(int argc, char **argv)
{
    struct egress_rules rules = {0};
    struct proxy_config cfg = {.audit_fd = -1, .log_fd = -1};
    bool query = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--audit") == 0 && i + 1 < argc) {
            cfg.audit_fd = open(argv[++i], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
            if (cfg.audit_fd < 0)
                return usage("cannot open the audit file");
        } else if (strcmp(a, "--log") == 0) {
            cfg.log_fd = 2;
        } else if (strcmp(a, "--idle") == 0 && i + 1 < argc) {
            cfg.idle_timeout = num(argv[++i]);
        } else if (strcmp(a, "--connect-timeout") == 0 && i + 1 < argc) {
            cfg.connect_timeout = num(argv[++i]);
        } else if (strcmp(a, "--max-conns") == 0 && i + 1 < argc) {
            cfg.max_conns = num(argv[++i]);
        } else if (strcmp(a, "--match") == 0 && i + 2 < argc) {
            query = true;
            i += 2;
        } else if (strcmp(a, "--addr") == 0 && i + 3 < argc) {
            query = true;
            i += 3;
        } else if (a[0] == '-' && a[1] == '-') {
            return usage("unknown option");
        } else {
            add_rule(&rules, a);
        }
    }

    if (query) {
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--match") == 0 && i + 2 < argc) {
                const struct egress_rule *r =
                    egress_match_name(&rules, argv[i + 1], (uint16_t)num(argv[i + 2]));
                printf("%s\n", r ? r->pattern : "none");
                i += 2;
            } else if (strcmp(argv[i], "--addr") == 0 && i + 3 < argc) {
                uint16_t port = (uint16_t)num(argv[i + 2]);
                const struct egress_rule *by = egress_match_name(&rules, argv[i + 1], port);
                struct sockaddr_storage ss = {0};
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                if (inet_pton(AF_INET, argv[i + 3], &s4->sin_addr) == 1)
                    s4->sin_family = AF_INET;
                else if (inet_pton(AF_INET6, argv[i + 3], &s6->sin6_addr) == 1)
                    s6->sin6_family = AF_INET6;
                else
                    return usage("--addr: not an address");
                const struct sockaddr *sa = (const struct sockaddr *)&ss;
                if (egress_address_allowed(&rules, by, sa, port)) {
                    printf("allowed\n");
                } else {
                    const char *cls = egress_address_class(sa);
                    printf("refused: %s\n", cls ? cls : by ? "?" : "no rule");
                }
                i += 3;
            }
        }
        egress_rules_free(&rules);
        return 0;
    }

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        perror("proxyrun: listen");
        return 125;
    }
    printf("%u\n", ntohs(sin.sin_port));
    fflush(stdout);
    cfg.listen_fd = fd;
    cfg.rules = &rules;
    int status = proxy_serve(&cfg);
    egress_rules_free(&rules);
    close(fd);
    return status;
}
