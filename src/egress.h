/*
 * Network egress in allowlist mode (issue 14, DESIGN.md "Network egress").
 *
 * The sandbox keeps its own network namespace.  A listening TCP socket is
 * created on 127.0.0.1:EGRESS_PORT inside that namespace and handed out to
 * sandlot; a proxy process that sandlot forks on the host side serves it
 * (HTTP CONNECT, absolute-URI plain HTTP and SOCKS5 with remote name
 * resolution, told apart by the first byte), resolves names itself and
 * connects only where a rule allows.
 *
 * Two halves share this header:
 *   - rules: parsed and validated when a script calls policy:allow_host,
 *     matched by the proxy (egress.c);
 *   - the proxy loop (proxy.c), run in a process launch.c forks.
 */
#ifndef SANDLOT_EGRESS_H
#define SANDLOT_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sl_err; /* policy.h */

/* The proxy's port on the sandbox's loopback (one port, both protocols). */
#define EGRESS_PORT 3128

enum egress_mode {
    EGRESS_NONE,      /* own namespace, loopback only (default) */
    EGRESS_HOST,      /* the host's namespace (noether's `network`) */
    EGRESS_ALLOWLIST, /* own namespace + the proxy */
};

enum egress_pattern_kind {
    EGRESS_NAME,     /* an exact host name, compared case-insensitively */
    EGRESS_WILDCARD, /* "*.example.com": any name below example.com (not itself) */
    EGRESS_ADDR,     /* an IPv4 or IPv6 literal */
    EGRESS_CIDR,     /* an IPv4 or IPv6 range, "10.0.0.0/8" */
};

#define EGRESS_MAX_PORTS 16

struct egress_rule {
    enum egress_pattern_kind kind;
    char *pattern;  /* as written, normalised (lower case) */
    uint16_t ports[EGRESS_MAX_PORTS];
    size_t nports;  /* at least 1; default {443} */
    /* EGRESS_ADDR / EGRESS_CIDR: family, address bytes, prefix length */
    int family;
    unsigned char addr[16];
    unsigned prefix;
    char *origin;   /* script:line, or "command line" */
};

struct egress_rules {
    struct egress_rule *v;
    size_t n, cap;
};

/*
 * Parse and validate one rule; on error fill e with a one-line message
 * naming the pattern (or port) and return false.  ports == NULL / nports
 * == 0 means {443}.  Port 0 and more than EGRESS_MAX_PORTS are errors.
 */
bool egress_rule_parse(const char *pattern, const uint16_t *ports, size_t nports,
                       const char *origin, struct egress_rule *out, struct sl_err *e);
bool egress_rules_add(struct egress_rules *r, const struct egress_rule *rule, struct sl_err *e);
void egress_rule_free(struct egress_rule *rule);
void egress_rules_free(struct egress_rules *r);

/*
 * Name check, before resolving: the rule that allows host:port (a name or
 * an address literal as the client wrote it), or NULL.
 */
const struct egress_rule *egress_match_name(const struct egress_rules *r, const char *host,
                                            uint16_t port);

/*
 * Address check, after resolving: true if sa may be connected to for a
 * request that name-matched `by`.  Loopback, link-local (cloud metadata),
 * private, unique-local, multicast, unspecified and other special ranges are
 * refused unless an EGRESS_ADDR/EGRESS_CIDR rule with that port covers the
 * address explicitly (DNS rebinding).
 */
bool egress_address_allowed(const struct egress_rules *r, const struct egress_rule *by,
                            const struct sockaddr *sa, uint16_t port);

/*
 * What kind of special address sa is ("a loopback address", "a private
 * address", ...), or NULL for a public one: the reason egress_address_allowed
 * gives for refusing a name-matched address.  (Added with the rules.)
 */
const char *egress_address_class(const struct sockaddr *sa);

struct proxy_config {
    int listen_fd;         /* listening, non-blocking TCP socket (in the sandbox's netns) */
    const struct egress_rules *rules;
    int audit_fd;          /* JSON lines, one per attempt, written when it ends (a memfd) */
    int log_fd;            /* -v: one line per refusal as it happens; -1 when quiet */
    unsigned max_conns;    /* concurrent connection cap (default 256) */
    unsigned idle_timeout; /* seconds without traffic before a connection is closed (default 300) */
    unsigned connect_timeout; /* seconds for resolve + connect (default 30) */
};

/*
 * Serve until SIGTERM (or the listening socket fails).  Returns 0 on a
 * clean stop.  Never blocks on one connection: names are resolved off the
 * event loop, data is relayed with bounded buffers.
 */
int proxy_serve(const struct proxy_config *cfg);

#endif
