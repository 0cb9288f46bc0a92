/*
 * rules.h: the Landlock rules of a policy, one list in one order for both
 * backends.  The native backend turns them into its plan's N_RULE steps;
 * the bwrap backend hands them to the exec helper on its command line.
 * Both then build the ruleset with landlock.c, so the two sandboxes get
 * the same rules by construction.
 */
#ifndef SANDLOT_RULES_H
#define SANDLOT_RULES_H

#include "landlock.h"
#include "policy.h"

#include <stddef.h>

/*
 * The rules for policy p, in order: "/" may be listed, /proc read and
 * written, /dev and /tmp get every right, then each tmpfs and bind target
 * in policy_mount_order's order (/work where it falls), rw binds and tmpfs
 * with every right, read-only binds read and execute; in allowlist mode
 * last a tcp-connect rule for the proxy's port (EGRESS_PORT).  Landlock grants the
 * union of the rules on a path and its ancestors, so a rw bind below a
 * read-only one stays writable; a read-only bind below a rw one is
 * read-only by its mount.  Paths and origins are borrowed from the policy
 * (or static).  Returns a malloc'd array of *n rules, for the caller to
 * free.
 */
struct ll_rule *policy_rules(const struct policy *p, size_t *n);

#endif
