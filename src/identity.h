/*
 * identity.h: the host identity a sandbox runs as.
 *
 * An ordinary invoker's sandbox runs as the invoker: the user namespace
 * maps the policy's uid/gid onto the invoker's ids, and nothing of it can
 * be more than the invoker already is.  Host uid 0 is different: the
 * kernel grants it things that need no capability (writing /proc/sys,
 * changing root-owned device nodes and files, unix-socket peers that
 * trust uid 0, no RLIMIT_NPROC).  So when root invokes sandlot, no
 * process of the sandbox runs as host root: the sandbox runs as an
 * unprivileged host identity (65534:65534 unless --host-id says
 * otherwise), and the binds reach root-owned files through idmapped
 * mounts (host uid/gid 0 on disk appear as that identity, and what it
 * creates is root's on disk), so root invokers keep their access to the
 * paths their policy grants.
 */
#ifndef SANDLOT_IDENTITY_H
#define SANDLOT_IDENTITY_H

#include "policy.h"

#include <stdbool.h>

#define IDENTITY_DEFAULT_ID 65534u

struct identity {
    bool root;         /* invoked as host root: drop to uid/gid below */
    unsigned uid, gid; /* the sandbox's host ids */
    int idmap_fd;      /* root: a user namespace mapping 0 -> uid/gid, or -1 */
};

/*
 * Decide the host identity for this invoker.  want_uid/want_gid: the ids
 * a root invoker asked for (--host-id), 0 for the default.  An ordinary
 * invoker who still carries gid 0 (egid, rgid or a supplementary group)
 * is refused: the sandbox would keep it, and only root can drop it.
 * Returns false with e set.
 */
bool identity_init(struct identity *id, unsigned want_uid, unsigned want_gid, struct sl_err *e);
void identity_release(struct identity *id);

/*
 * Root only: the tree at the bind source descriptor srcfd, cloned and
 * detached, with attrs set (MOUNT_ATTR_*) and idmapped so that host root's
 * files are the sandbox identity's.  Where no idmapped mount can be made,
 * the plain tree if the sandbox identity may read it (and write it, for a
 * writable bind) as it is.  Returns the tree's descriptor, or -1 with e
 * set; errno is EPERM when even the clone was refused (root without its
 * privilege: inside a user namespace).
 */
int identity_tree(struct identity *id, int srcfd, const char *path, bool writable,
                  unsigned long long attrs, struct sl_err *e);

/*
 * Write the id maps of the user namespace of the process whose /proc
 * directory is proc_dir ("/proc/self", "/proc/PID"): setgroups "deny"
 * first when asked (needed to map one's own gid unprivileged), then
 * uid_map and gid_map.  Returns false with errno and, in *failed, the file
 * that could not be written.
 */
bool identity_write_maps(const char *proc_dir, const char *uid_map, const char *gid_map,
                         bool deny_setgroups, const char **failed);

/*
 * In a child, before it creates the sandbox's user namespace (bwrap) or
 * runs anything of the command: become the sandbox identity for good
 * (no supplementary groups, real, effective and saved ids).  With
 * keep_caps the permitted capabilities stay effective (the native pid 1,
 * which still mounts in its own namespace).  Returns false with errno.
 */
bool identity_become(unsigned uid, unsigned gid, bool keep_caps);

#endif
