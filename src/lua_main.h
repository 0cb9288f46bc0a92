/*
 * lua_main.h: the command line's one entry into the Lua layer.
 *
 * main.c parses options and picks the backend; everything that touches
 * the Lua VM (building the stage's policy through the layers, explain's
 * text, the noether JSON, the policy's hash, the REPL session and its
 * run{}, `check`) runs here inside one protected call, like lua.c's pmain,
 * so main.c makes no Lua API call and a Lua error comes back as a message.
 * The C side of a stage (launching it, the status report) is reached back
 * through with_policy.
 */
#ifndef SANDLOT_LUA_MAIN_H
#define SANDLOT_LUA_MAIN_H

#include "launch.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>

enum lua_task {
    LUA_TASK_POLICY,  /* build the policy and hand it to with_policy (run, explain --argv) */
    LUA_TASK_EXPLAIN, /* print explain_header, then the sandbox with each part's origin */
    LUA_TASK_JSON,    /* print the policy as noether's IsolationPolicy JSON */
    LUA_TASK_REPL,    /* the interactive session */
    LUA_TASK_CHECK    /* check check_files against the sample stages */
};

/* The stage as the command line describes it: the options of the Lua build(). */
struct lua_stage {
    const char *const *effects;
    size_t neffects;
    const char *effects_json, *effects_json_name; /* the text and its name; NULL: none */
    const char *policy_json, *policy_json_name;
    const char *const *policy_files;
    size_t npolicy_files;
    const char *stage, *work; /* NULL: none */
    const char *const *env;   /* --env NAME or NAME=VALUE, in order */
    size_t nenv;
    char *const *cmd;
    bool system_policies;
};

/* What the policy's caller gets (LUA_TASK_POLICY). */
struct lua_built {
    struct policy *policy;    /* owned by the VM: valid during the call */
    const char *stage;        /* the stage's name */
    const char *sha256;       /* of the policy's canonical JSON; NULL unless want_hash */
};

struct lua_front {
    enum lua_task task;
    const char *dev_dir;                 /* SANDLOT_SOURCE_DIR, or NULL */
    const char *system_dir, *user_dir;   /* the policy layers (user_dir may be NULL) */
    const char *const *protected_paths;  /* NULL-terminated: the invariants' list */
    struct lua_stage stage;              /* all tasks but CHECK */
    char *const *check_files;            /* CHECK: NULL-terminated */
    const struct lua_stage *check_stages; /* CHECK: the stages to try (effects or */
    size_t ncheck_stages;                 /* effects_json only); none: the samples */
    bool check_invariants;               /* after the build: policy_check_invariants and
                                            the masks in C (all but a run: launch does it) */
    /* EXPLAIN and REPL */
    const char *backend;                 /* whose rendering: "native" or "bwrap" */
    const char *bwrap_path;              /* NULL: not found */
    const char *explain_header;          /* EXPLAIN: printed first */
    const char *banner;                  /* REPL, on a terminal */
    const struct launch_opts *launch;    /* REPL: how run{} launches */
    /* POLICY */
    bool want_hash;
    int (*with_policy)(void *ctx, const struct lua_built *b); /* returns the exit status */
    void *ctx;
};

/*
 * Do the task; returns its exit status.  When the Lua layer failed
 * (a policy script's error, a budget, a refused invariant) returns -1
 * with *error set to the message (malloc'd) and nothing ran.
 */
int lua_main(const struct lua_front *f, char **error);

/* The embedded Lua's release ("Lua 5.4.6"). */
const char *lua_main_release(void);

#endif
