/* repl.c: the REPL's terminal side; see repl.h. */
#include "repl.h"
#include "lua_vm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROMPT "sandlot> "
#define PROMPT2 ">> "
#define HISTORY_MAX 1000

/* The signal handler needs the state, as in lua.c: it may only set a hook. */
static lua_State *repl_L;
static volatile sig_atomic_t at_prompt;
static volatile sig_atomic_t prompt_cancelled; /* set by SIGINT at the prompt */
static bool chunk_cancelled; /* the line (and any unfinished chunk) was dropped */
static const char SESSION_KEY = 's'; /* registry: the session table */

/* Hook set by Ctrl-C: raises at the next instruction of the running chunk. */
static void interrupted(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* SIGINT: at the prompt, cancel the line; while a chunk runs, stop it. */
static void on_sigint(int sig)
{
    (void)sig;
    if (at_prompt) {
        prompt_cancelled = 1;
        return;
    }
    lua_sethook(repl_L, interrupted, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void repl_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: readline's read sees EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* Ctrl-C at the prompt: drop the line and start again on a fresh prompt. */
static void cancel_line(void)
{
    prompt_cancelled = 0;
    chunk_cancelled = true;
    rl_replace_line("", 0);
    rl_crlf();
    rl_set_prompt(PROMPT);
    rl_on_new_line();
    rl_redisplay();
}

/*
 * readline's input function.  SIGINT is blocked while the flag is
 * checked and pselect unblocks it atomically while waiting, so a Ctrl-C
 * is seen whenever it comes: during a read, or while readline was busy
 * (completing, redisplaying) and not reading at all.
 */
static int repl_getc(FILE *stream)
{
    int fd = fileno(stream);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    for (;;) {
        sigprocmask(SIG_BLOCK, &block, &orig);
        if (prompt_cancelled) {
            sigprocmask(SIG_SETMASK, &orig, NULL);
            cancel_line();
            continue;
        }
        fd_set in;
        FD_ZERO(&in);
        FD_SET(fd, &in);
        /* wait with SIGINT deliverable, even if readline had blocked it */
        sigset_t waiting = orig;
        sigdelset(&waiting, SIGINT);
        int r = pselect(fd + 1, &in, NULL, NULL, NULL, &waiting);
        sigprocmask(SIG_SETMASK, &orig, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return EOF;
        unsigned char c;
        ssize_t n = read(fd, &c, 1);
        if (n == 1)
            return c;
        if (n < 0 && errno == EINTR)
            continue;
        return EOF;
    }
}

/* ---- completion ---------------------------------------------------------- */

static char **candidates;
static size_t ncandidates;

static void free_candidates(void)
{
    for (size_t i = 0; i < ncandidates; i++)
        free(candidates[i]);
    free(candidates);
    candidates = NULL;
    ncandidates = 0;
}

static char *next_candidate(const char *text, int state)
{
    static size_t i;
    (void)text;
    if (state == 0)
        i = 0;
    return i < ncandidates ? xstrdup(candidates[i++]) : NULL;
}

/* Ask the session for the names that complete `text`. */
static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    free_candidates();
    lua_State *L = repl_L;
    int top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SESSION_KEY);
    lua_getfield(L, -1, "complete");
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        size_t n = (size_t)luaL_len(L, -1);
        candidates = xcalloc(n + 1, sizeof *candidates);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i);
            const char *c = lua_tostring(L, -1);
            if (c)
                candidates[ncandidates++] = xstrdup(c);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
    return rl_completion_matches(text, next_candidate);
}

/* ---- history ------------------------------------------------------------- */

/* $XDG_STATE_HOME/sandlot/history, default ~/.local/state; NULL if neither. */
static char *history_path(void)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char *dir;
    if (state && state[0] == '/')
        dir = xasprintf("%s/sandlot", state);
    else if (home && home[0] == '/')
        dir = xasprintf("%s/.local/state/sandlot", home);
    else
        return NULL;
    /* mkdir -p, private: history may hold values typed at the prompt */
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    }
    mkdir(dir, 0700);
    char *path = xasprintf("%s/history", dir);
    free(dir);
    /* append_history needs the file to exist */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    return path;
}

/* ---- reading ------------------------------------------------------------- */

/* Lines read so far in the session: error messages name the real line. */
static unsigned long lines_read;

static char *read_line_raw(bool tty, const char *prompt);

/* One line without its newline (malloc'd), or NULL at end of input. */
static char *read_line(bool tty, const char *prompt)
{
    char *line = read_line_raw(tty, prompt);
    if (line)
        lines_read++;
    return line;
}

static char *read_line_raw(bool tty, const char *prompt)
{
    if (tty) {
        at_prompt = 1;
        char *line = readline(prompt);
        at_prompt = 0;
        /* readline blocks SIGINT around some of its work: never run a chunk so */
        sigset_t sigint;
        sigemptyset(&sigint);
        sigaddset(&sigint, SIGINT);
        sigprocmask(SIG_UNBLOCK, &sigint, NULL);
        /* A Ctrl-C that came after Enter, while readline was still returning,
         * means "stop what I just started": arm the interrupt for the chunk. */
        if (line && prompt_cancelled) {
            prompt_cancelled = 0;
            lua_sethook(repl_L, interrupted, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
        }
        return line;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

/* A syntax error that only says the chunk is not finished yet. */
static bool incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX)
        return false;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    return len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/*
 * What lua_load reads: first_line - 1 newlines, then the text, so the
 * chunk's line numbers are the session's (repl:7, not repl:1).
 */
struct chunk_reader {
    unsigned long pad;
    const char *text;
    size_t len;
};

static const char *read_padded(lua_State *L, void *data, size_t *size)
{
    static char newlines[256];
    struct chunk_reader *r = data;
    (void)L;
    if (!newlines[0])
        memset(newlines, '\n', sizeof newlines);
    if (r->pad) {
        *size = r->pad < sizeof newlines ? (size_t)r->pad : sizeof newlines;
        r->pad -= *size;
        return newlines;
    }
    *size = r->len;
    r->len = 0;
    return *size ? r->text : NULL;
}

/* Load text, which began on the session's line first_line, as a chunk of the session environment. */
static int load_chunk(lua_State *L, const char *text, size_t len, unsigned long first_line)
{
    struct chunk_reader r = {first_line > 1 ? first_line - 1 : 0, text, len};
    int st = lua_load(L, read_padded, &r, "@repl", "t");
    if (st == LUA_OK) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &SESSION_KEY);
        lua_getfield(L, -1, "env");
        lua_remove(L, -2);
        lua_setupvalue(L, -2, 1); /* _ENV of a main chunk */
    }
    return st;
}

/* Message handler for typed chunks: always a traceback. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

enum { READ_EOF = -1, READ_CANCELLED = -2 };

/*
 * Read one chunk: first as "return <line>" (an expression prints its
 * value), else as statements, reading more lines while the syntax error
 * says only that the chunk is unfinished.  Pushes the typed text, then
 * the function or the error message; returns the load status.  At end of
 * input pushes nothing and returns READ_EOF.
 */
static int read_chunk(lua_State *L, bool tty)
{
    char *line = read_line(tty, PROMPT);
    if (!line)
        return READ_EOF;
    unsigned long first;
restart:
    first = lines_read;
    chunk_cancelled = false;
    lua_pushstring(L, line); /* text */
    free(line);
    lua_pushfstring(L, "return %s;", lua_tostring(L, -1));
    int st = load_chunk(L, lua_tostring(L, -1), lua_rawlen(L, -1), first);
    lua_remove(L, -2); /* text, function|message */
    if (st == LUA_OK)
        return st;
    lua_pop(L, 1); /* text */
    for (;;) {
        st = load_chunk(L, lua_tostring(L, -1), lua_rawlen(L, -1), first);
        if (!incomplete(L, st))
            return st; /* text, function|message */
        lua_pop(L, 1);
        char *more = read_line(tty, PROMPT2);
        if (!more) {
            if (tty) {
                lua_pop(L, 1);
                return READ_EOF;
            }
            lua_pushliteral(L, "sandlot repl: input ended inside an unfinished chunk");
            return LUA_ERRSYNTAX;
        }
        if (chunk_cancelled) { /* Ctrl-C dropped the unfinished chunk */
            lua_pop(L, 1);
            line = more;
            goto restart;
        }
        lua_pushliteral(L, "\n");
        lua_pushstring(L, more);
        free(more);
        lua_concat(L, 3); /* text */
    }
}

/* Print the results between base and the top through session.show. */
static void show_results(lua_State *L, int base)
{
    int nres = lua_gettop(L) - base + 1;
    if (nres <= 0)
        return;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SESSION_KEY);
    lua_getfield(L, -1, "show");
    lua_remove(L, -2);
    lua_insert(L, base);
    if (lua_pcall(L, nres, 0, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static bool session_flag(lua_State *L, const char *field)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SESSION_KEY);
    lua_getfield(L, -1, field);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return v;
}

/*
 * The loop, run inside one protected call (as lua.c's pmain) so even a
 * memory error unwinds cleanly.  Upvalue 1: tty; 2: history path or nil.
 * Returns the number of failed chunks.
 */
static int loop(lua_State *L)
{
    bool tty = lua_toboolean(L, lua_upvalueindex(1));
    const char *hist = lua_tostring(L, lua_upvalueindex(2));
    int failures = 0;
    for (;;) {
        int top = lua_gettop(L);
        int st = read_chunk(L, tty);
        if (st == READ_EOF)
            break;
        /* stack: text, function|message */
        const char *text = lua_tostring(L, top + 1);
        if (tty && text[0]) {
            add_history(text);
            if (hist)
                append_history(1, hist);
        }
        if (st == LUA_OK) {
            int base = lua_gettop(L); /* the function */
            lua_pushcfunction(L, traceback);
            lua_insert(L, base);
            /* No hook reset before the call: a Ctrl-C that came after the line
             * was read must still stop this chunk.  A stale one is cleared after. */
            st = lua_pcall(L, 0, LUA_MULTRET, base);
            lua_sethook(L, NULL, 0, 0);
            lua_remove(L, base);
            if (st == LUA_OK)
                show_results(L, base);
        }
        if (st != LUA_OK) {
            fprintf(stderr, "%s\n", lua_tostring(L, -1));
            failures++;
        }
        fflush(stdout);
        fflush(stderr);
        lua_settop(L, top);
        if (session_flag(L, "exit"))
            break;
    }
    lua_pushinteger(L, failures);
    return 1;
}

int repl_main(lua_State *L, bool tty, const char *banner)
{
    repl_L = L;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &SESSION_KEY); /* pops the session */
    char *hist = NULL;
    if (tty) {
        rl_readline_name = "sandlot";
        rl_catch_signals = 0;
        rl_getc_function = repl_getc;
        rl_attempted_completion_function = complete;
        rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^~#[]";
        rl_completion_append_character = '\0';
        hist = history_path();
        if (hist) {
            read_history(hist);
            stifle_history(HISTORY_MAX);
        }
        printf("%s\n", banner);
        fflush(stdout);
    }
    repl_signals();
    lua_pushboolean(L, tty);
    if (hist)
        lua_pushstring(L, hist);
    else
        lua_pushnil(L);
    lua_pushcclosure(L, loop, 2);
    int failures = 0;
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "sandlot repl: %s\n", lua_tostring(L, -1));
        failures = 1;
    } else {
        failures = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    if (tty) {
        putchar('\n');
        if (hist)
            history_truncate_file(hist, HISTORY_MAX);
    }
    free(hist);
    free_candidates();
    signal(SIGINT, SIG_DFL);
    return (!tty && failures) ? 1 : 0;
}
