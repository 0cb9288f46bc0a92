/* Allowlist rules: parse, validate, match (issue 14).  Placeholder until
 * the rules land: every rule is refused, so allowlist mode fails closed. */
#include "egress.h"

#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

bool egress_rule_parse(const char *pattern, const uint16_t *ports, size_t nports,
                       const char *origin, struct egress_rule *out, struct sl_err *e)
{
    (void)ports, (void)nports, (void)origin, (void)out;
    snprintf(e->msg, sizeof e->msg, "egress rule \"%s\": allowlist rules are not implemented yet", pattern);
    return false;
}

bool egress_rules_add(struct egress_rules *r, const struct egress_rule *rule, struct sl_err *e)
{
    (void)r, (void)rule;
    snprintf(e->msg, sizeof e->msg, "egress rules are not implemented yet");
    return false;
}

void egress_rule_free(struct egress_rule *rule) { (void)rule; }
void egress_rules_free(struct egress_rules *r) { (void)r; }

const struct egress_rule *egress_match_name(const struct egress_rules *r, const char *host,
                                            uint16_t port)
{
    (void)r, (void)host, (void)port;
    return NULL;
}

bool egress_address_allowed(const struct egress_rules *r, const struct egress_rule *by,
                            const struct sockaddr *sa, uint16_t port)
{
    (void)r, (void)by, (void)sa, (void)port;
    return false;
}
