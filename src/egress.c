/*
 * egress.c: allowlist rules for network egress (issue 14): parse and
 * validate a rule, match a host name or literal against the rules, and
 * check a resolved address (DNS rebinding).  Plain C, no Lua, no I/O.
 *
 * A pattern is one of:
 *   - an exact host name: LDH labels (letters, digits, '-', and '_' which
 *     some real hosts carry) of 1..63 bytes, at most 253 bytes in all,
 *     compared case-insensitively, stored in lower case without a trailing
 *     dot; the last label must not be all digits, and the name must not be
 *     an address in inet_aton's legacy forms ("0x7f000001"): addresses are
 *     written as addresses;
 *   - "*.example.com": any name strictly below example.com.  The wildcard is
 *     the whole leftmost label and is refused over a single label ("*.com"),
 *     and anywhere else ("a*.example.com", "example.*");
 *   - an IPv4 or IPv6 literal (IPv6 possibly in brackets), stored in its
 *     canonical text;
 *   - a CIDR range, "10.0.0.0/8", "fd00::/8": host bits must be zero and the
 *     prefix at least 1 (a /0 would allow every address, like "*").
 */
#include "egress.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "util.h"

/* A cap that keeps a runaway script from growing the list without bound. */
#define EGRESS_MAX_RULES 4096
#define NAME_MAX_LEN 253

#define fail sl_fail

/*
 * The pattern as it can be printed in a one-line message: at most 80 bytes,
 * anything but printable ASCII as \xNN.
 */
static const char *shown(const char *s, char out[static 330])
{
    size_t o = 0, i = 0;
    for (; s[i] && i < 80; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x21 || c > 0x7e)
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (s[i])
        o += (size_t)snprintf(out + o, 4, "...");
    out[o] = '\0';
    return out;
}

/* A literal address: 4 or 16 bytes.  Brackets are accepted around IPv6 only. */
static bool parse_literal(const char *s, int *family, unsigned char addr[16])
{
    size_t len = strlen(s);
    if (len > 0 && len < 64 && s[0] == '[' && s[len - 1] == ']') {
        char inner[64];
        memcpy(inner, s + 1, len - 2);
        inner[len - 2] = '\0';
        *family = AF_INET6;
        return inet_pton(AF_INET6, inner, addr) == 1;
    }
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

/* Whether the first `prefix` bits of a and b are equal. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/*
 * Whether s (length len, no trailing dot) is a host name this module
 * accepts: LDH(+underscore) labels of 1..63 bytes, no label starting or
 * ending with '-', the last label not all digits.  On false, *why says what
 * is wrong.
 */
static bool name_valid(const char *s, size_t len, const char **why)
{
    if (len == 0) {
        *why = "empty name";
        return false;
    }
    if (len > NAME_MAX_LEN) {
        *why = "longer than 253 bytes";
        return false;
    }
    size_t start = 0;
    bool all_digits = true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t l = i - start;
            if (l == 0) {
                *why = "empty label";
                return false;
            }
            if (l > 63) {
                *why = "a label longer than 63 bytes";
                return false;
            }
            if (s[start] == '-' || s[i - 1] == '-') {
                *why = "a label starts or ends with '-'";
                return false;
            }
            if (i == len && all_digits) {
                *why = "the last label is all digits (not a name; write an address as a.b.c.d)";
                return false;
            }
            start = i + 1;
            all_digits = true;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '*') {
            *why = "a wildcard is allowed only as the whole leftmost label (\"*.example.com\")";
            return false;
        }
        if (!isascii(c) || !(isalnum(c) || c == '-' || c == '_')) {
            *why = "a character other than letters, digits, '-', '_' and '.'";
            return false;
        }
        if (!isdigit(c))
            all_digits = false;
    }
    return true;
}

/* Sorted, de-duplicated ports; {443} for none. */
static bool parse_ports(const char *pat, const uint16_t *ports, size_t nports,
                        struct egress_rule *out, struct sl_err *e)
{
    char buf[330];
    if (!ports || nports == 0) {
        out->ports[0] = 443;
        out->nports = 1;
        return true;
    }
    if (nports > EGRESS_MAX_PORTS)
        return fail(e, "egress rule \"%s\": %zu ports, at most %d", shown(pat, buf), nports,
                    EGRESS_MAX_PORTS);
    out->nports = 0;
    for (size_t i = 0; i < nports; i++) {
        if (ports[i] == 0)
            return fail(e, "egress rule \"%s\": port 0 is not a port", shown(pat, buf));
        size_t j = 0;
        while (j < out->nports && out->ports[j] < ports[i])
            j++;
        if (j < out->nports && out->ports[j] == ports[i])
            continue;
        memmove(out->ports + j + 1, out->ports + j, (out->nports - j) * sizeof out->ports[0]);
        out->ports[j] = ports[i];
        out->nports++;
    }
    return true;
}

/* The pattern's kind, normalised text and address; *out's strings are not set. */
static bool parse_pattern(const char *pattern, struct egress_rule *out, char norm[330],
                          struct sl_err *e)
{
    char buf[330];
    size_t len = strlen(pattern);
    if (len == 0)
        return fail(e, "egress rule: empty pattern");
    if (len > NAME_MAX_LEN + 1)
        return fail(e, "egress rule \"%s\": longer than %d bytes", shown(pattern, buf),
                    NAME_MAX_LEN);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pattern[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(e, "egress rule \"%s\": contains a space, control or non-ASCII byte",
                        shown(pattern, buf));
    }

    const char *slash = strchr(pattern, '/');
    if (slash) {
        char a[64];
        size_t alen = (size_t)(slash - pattern);
        const char *p = slash + 1;
        if (alen < sizeof a) {
            memcpy(a, pattern, alen);
            a[alen] = '\0';
        }
        if (alen >= sizeof a || !parse_literal(a, &out->family, out->addr))
            return fail(e, "egress rule \"%s\": not an address range (ADDRESS/PREFIX)",
                        shown(pattern, buf));
        unsigned max = out->family == AF_INET ? 32 : 128, prefix = 0;
        if (!*p || strlen(p) > 3)
            return fail(e, "egress rule \"%s\": prefix length must be 1..%u", shown(pattern, buf),
                        max);
        for (; *p; p++) {
            if (!isdigit((unsigned char)*p))
                return fail(e, "egress rule \"%s\": prefix length must be 1..%u",
                            shown(pattern, buf), max);
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix == 0 || prefix > max)
            return fail(e, "egress rule \"%s\": prefix length must be 1..%u%s",
                        shown(pattern, buf), max,
                        prefix == 0 ? " (a /0 would allow every address)" : "");
        unsigned char net[16] = {0};
        size_t alen_bytes = out->family == AF_INET ? 4 : 16;
        memcpy(net, out->addr, prefix / 8);
        if (prefix % 8)
            net[prefix / 8] = out->addr[prefix / 8] & (unsigned char)(0xff << (8 - prefix % 8));
        if (memcmp(net, out->addr, alen_bytes) != 0) {
            char t[INET6_ADDRSTRLEN];
            inet_ntop(out->family, net, t, sizeof t);
            return fail(e, "egress rule \"%s\": host bits are set; did you mean \"%s/%u\"?",
                        shown(pattern, buf), t, prefix);
        }
        out->kind = EGRESS_CIDR;
        out->prefix = prefix;
        char t[INET6_ADDRSTRLEN];
        inet_ntop(out->family, out->addr, t, sizeof t);
        snprintf(norm, 330, "%s/%u", t, prefix);
        return true;
    }

    if (parse_literal(pattern, &out->family, out->addr)) {
        out->kind = EGRESS_ADDR;
        out->prefix = out->family == AF_INET ? 32 : 128;
        inet_ntop(out->family, out->addr, norm, INET6_ADDRSTRLEN);
        return true;
    }

    /* A name or a wildcard: lower case, one trailing dot dropped. */
    for (size_t i = 0; i < len; i++)
        norm[i] = (char)tolower((unsigned char)pattern[i]);
    if (len > 1 && norm[len - 1] == '.')
        len--;
    norm[len] = '\0';
    const char *why = NULL;
    if (strcmp(norm, "*") == 0 || strcmp(norm, "*.") == 0)
        return fail(e, "egress rule \"%s\": a lone wildcard would allow every host; name the "
                       "hosts", shown(pattern, buf));
    if (norm[0] == '*' && norm[1] == '.') {
        if (!name_valid(norm + 2, len - 2, &why))
            return fail(e, "egress rule \"%s\": %s", shown(pattern, buf), why);
        if (!strchr(norm + 2, '.'))
            return fail(e, "egress rule \"%s\": a wildcard over a single label (a top-level "
                           "domain) would allow too much; write \"*.example.%s\"",
                        shown(pattern, buf), norm + 2);
        out->kind = EGRESS_WILDCARD;
        return true;
    }
    if (!name_valid(norm, len, &why))
        return fail(e, "egress rule \"%s\": not a host name, address or range: %s",
                    shown(pattern, buf), why);
    struct in_addr legacy;
    if (inet_aton(norm, &legacy))
        return fail(e, "egress rule \"%s\": an address in a legacy form (resolvers read it as "
                       "%s); write it as a.b.c.d", shown(pattern, buf), inet_ntoa(legacy));
    out->kind = EGRESS_NAME;
    return true;
}

bool egress_rule_parse(const char *pattern, const uint16_t *ports, size_t nports,
                       const char *origin, struct egress_rule *out, struct sl_err *e)
{
    char norm[330];
    memset(out, 0, sizeof *out);
    if (!pattern)
        return fail(e, "egress rule: no pattern");
    if (!parse_pattern(pattern, out, norm, e) || !parse_ports(pattern, ports, nports, out, e)) {
        memset(out, 0, sizeof *out);
        return false;
    }
    out->pattern = xstrdup(norm);
    out->origin = xstrdup(origin ? origin : "command line");
    return true;
}

bool egress_rules_add(struct egress_rules *r, const struct egress_rule *rule, struct sl_err *e)
{
    if (r->n >= EGRESS_MAX_RULES)
        return fail(e, "egress rule \"%s\": more than %d rules", rule->pattern, EGRESS_MAX_RULES);
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->v = xrealloc(r->v, r->cap * sizeof r->v[0]);
    }
    struct egress_rule *c = &r->v[r->n++];
    *c = *rule;
    c->pattern = xstrdup(rule->pattern);
    c->origin = xstrdup(rule->origin);
    return true;
}

void egress_rule_free(struct egress_rule *rule)
{
    if (!rule)
        return;
    free(rule->pattern);
    free(rule->origin);
    rule->pattern = rule->origin = NULL;
}

void egress_rules_free(struct egress_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        egress_rule_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

static bool has_port(const struct egress_rule *rule, uint16_t port)
{
    for (size_t i = 0; i < rule->nports; i++)
        if (rule->ports[i] == port)
            return true;
    return false;
}

/* Whether an ADDR/CIDR rule covers the address (same family). */
static bool rule_covers(const struct egress_rule *rule, int family, const unsigned char *addr)
{
    return (rule->kind == EGRESS_ADDR || rule->kind == EGRESS_CIDR) && rule->family == family &&
           prefix_equal(rule->addr, addr, rule->prefix);
}

const struct egress_rule *egress_match_name(const struct egress_rules *r, const char *host,
                                            uint16_t port)
{
    if (!r || !host)
        return NULL;
    int family;
    unsigned char addr[16];
    if (parse_literal(host, &family, addr)) {
        /* a literal matches only rules that name addresses */
        for (size_t i = 0; i < r->n; i++)
            if (has_port(&r->v[i], port) && rule_covers(&r->v[i], family, addr))
                return &r->v[i];
        return NULL;
    }
    size_t len = strlen(host);
    if (len > 1 && host[len - 1] == '.')
        len--;
    const char *why;
    struct in_addr legacy;
    if (!name_valid(host, len, &why))
        return NULL;
    /* an address in inet_aton's legacy forms ("5.1.0x2") is one to the
     * resolver, whatever wildcard it falls under: no name rule matches it */
    if (inet_aton(host, &legacy))
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct egress_rule *rule = &r->v[i];
        if (!has_port(rule, port))
            continue;
        if (rule->kind == EGRESS_NAME) {
            if (strlen(rule->pattern) == len && strncasecmp(rule->pattern, host, len) == 0)
                return rule;
        } else if (rule->kind == EGRESS_WILDCARD) {
            const char *suffix = rule->pattern + 1; /* ".example.com" */
            size_t sl = strlen(suffix);
            if (len > sl && strncasecmp(host + len - sl, suffix, sl) == 0)
                return rule;
        }
    }
    return NULL;
}

/* An IPv4 range that a name may not resolve into, with its class. */
struct special {
    unsigned char net[4];
    unsigned prefix;
    const char *what;
};

static const struct special special4[] = {
    {{0, 0, 0, 0}, 8, "an unspecified (\"this network\") address"},
    {{10, 0, 0, 0}, 8, "a private address"},
    {{100, 64, 0, 0}, 10, "a shared (CGNAT) address"},
    {{127, 0, 0, 0}, 8, "a loopback address"},
    {{169, 254, 0, 0}, 16, "a link-local address (cloud metadata lives there)"},
    {{172, 16, 0, 0}, 12, "a private address"},
    {{192, 0, 0, 0}, 24, "an IETF protocol address"},
    {{192, 0, 2, 0}, 24, "a documentation address"},
    {{192, 88, 99, 0}, 24, "a 6to4 relay address"},
    {{192, 168, 0, 0}, 16, "a private address"},
    {{198, 18, 0, 0}, 15, "a benchmarking address"},
    {{198, 51, 100, 0}, 24, "a documentation address"},
    {{203, 0, 113, 0}, 24, "a documentation address"},
    {{224, 0, 0, 0}, 4, "a multicast address"},
    {{240, 0, 0, 0}, 4, "a reserved or broadcast address"},
};

static const char *class4(const unsigned char *a)
{
    for (size_t i = 0; i < sizeof special4 / sizeof special4[0]; i++)
        if (prefix_equal(special4[i].net, a, special4[i].prefix))
            return special4[i].what;
    return NULL;
}

/*
 * IPv6: only global unicast (2000::/3) is public, minus its special
 * blocks; the forms that carry an IPv4 address (mapped, NAT64, 6to4) are
 * judged by that address.
 */
static const char *class6(const unsigned char *a)
{
    static const unsigned char zero[16], loop[16] = {[15] = 1};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(a, zero, 16) == 0)
        return "an unspecified address";
    if (memcmp(a, loop, 16) == 0)
        return "a loopback address";
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return class4(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16, 6to4 */
        return class4(a + 2);
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return "a link-local address";
    if ((a[0] & 0xfe) == 0xfc)
        return "a unique-local (private) address";
    if (a[0] == 0xff)
        return "a multicast address";
    if ((a[0] & 0xe0) != 0x20)
        return "a reserved IPv6 address";
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02)
        return "an IETF protocol address (Teredo and others)";
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
        return "a documentation address";
    if (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0)
        return "a documentation address";
    return NULL;
}

const char *egress_address_class(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return class4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return class6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return "not an internet address";
}

bool egress_address_allowed(const struct egress_rules *r, const struct egress_rule *by,
                            const struct sockaddr *sa, uint16_t port)
{
    int family = sa->sa_family;
    const unsigned char *addr;
    if (family == AF_INET)
        addr = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    else if (family == AF_INET6)
        addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    else
        return false;
    if (!by)
        return false; /* no rule matched what the client asked for */
    /* an explicit address rule for this port: allowed whatever the range */
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    for (size_t i = 0; r && i < r->n; i++) {
        if (!has_port(&r->v[i], port))
            continue;
        if (rule_covers(&r->v[i], family, addr))
            return true;
        if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0 &&
            rule_covers(&r->v[i], AF_INET, addr + 12))
            return true;
    }
    /* otherwise only a name the rules matched, resolving to a public address */
    if (!has_port(by, port) || (by->kind != EGRESS_NAME && by->kind != EGRESS_WILDCARD))
        return false;
    return egress_address_class(sa) == NULL;
}
