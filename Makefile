# sandlot: build, test, lint, install.  `make demo` and `make test` install
# any missing Debian package first (tools/deps.sh).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
SYSCONFDIR ?= /etc
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/sandlot
# Where bash-completion looks (its own pkg-config variable, under DATADIR),
# and Debian's directory for packaged zsh completions.
BASHCOMPDIR ?= $(or $(shell pkg-config --define-variable=datadir=$(DATADIR) \
                    --variable=completionsdir bash-completion 2>/dev/null), \
                    $(DATADIR)/bash-completion/completions)
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
DESTDIR ?=
# The version: CHANGELOG.md's newest entry, which debian/changelog repeats
# (tools/changelog.lua writes that from this; tests/packaging_spec.lua checks).
VERSION := $(shell sed -n 's/^## \([0-9][0-9.]*\) .*/\1/p' CHANGELOG.md | head -n 1)

CC ?= cc
LUA ?= lua5.4
PKG_LUA := lua5.4
LUA_CFLAGS := $(shell pkg-config --cflags $(PKG_LUA) 2>/dev/null)
# Libraries linked statically (Debian's .a files from the -dev packages):
# relocating shared libraries cost the dynamic loader a third of a launch
# (callgrind: run 3.1M -> 2.2M instructions). -E exports the Lua API so the
# C modules sandlot loads (lfs, cjson) still find it.
# STATIC_LIBS=0 links the shared libraries instead: the Debian package does
# (debian/rules), so security fixes to libseccomp, nettle, readline, ncurses
# and Lua reach it through their own packages (Debian Policy 4.13).
STATIC_LIBS ?= 1
ifeq ($(STATIC_LIBS),0)
LUA_LIBS := -llua5.4 -Wl,-E -ldl -lreadline -lseccomp -lnettle
else
LUA_LIBS := -l:liblua5.4.a -Wl,-E -ldl -l:libreadline.a -l:libtinfo.a -l:libseccomp.a -l:libnettle.a
endif
LUA_CMOD := $(shell pkg-config --variable=INSTALL_CMOD $(PKG_LUA) 2>/dev/null)

# Lua's own stricter warning set on top of -Wall -Wextra.
WARN := -Wall -Wextra -Werror -Wshadow -Wsign-compare -Wundef -Wwrite-strings \
        -Wredundant-decls -Wdisabled-optimization -Wdouble-promotion \
        -Wmissing-declarations -Wmissing-prototypes -Wstrict-prototypes \
        -Wnested-externs -Wold-style-definition -Wpointer-arith -Wformat=2 \
        -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) $(LUA_CFLAGS) \
              -DSANDLOT_VERSION='"$(VERSION)"' -DLUA_CMOD_DIR='"$(LUA_CMOD)"'
ALL_LDFLAGS := $(LDFLAGS)
ifeq ($(SANITIZE),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=address,undefined
endif

SRCS := src/main.c src/util.c src/policy.c src/plan.c src/cmdline.c src/bwrap.c src/launch.c \
        src/child.c src/execfail.c src/lua_main.c src/lua_vm.c src/lua_core.c src/repl.c \
        src/filter.c src/status.c src/doctor.c src/native.c src/landlock.c src/rules.c \
        src/identity.c src/egress.c src/proxy.c src/pty.c
LUA_FILES := $(sort $(wildcard lua/sandlot/*.lua))
POLICY_FILES := $(sort $(wildcard policies.d/*.lua))
BUILD := build/$(if $(filter 1,$(SANITIZE)),asan,default)
OBJS := $(SRCS:src/%.c=$(BUILD)/%.o) $(BUILD)/embedded.o

.PHONY: all deps demo test bench fuzz lint clean install uninstall man FORCE
all: sandlot sandlot-exec man

# Man pages: scdoc sources in man/, roff in build/man (scdoc is a build
# dependency: tools/deps.sh installs it).
MAN_PAGES := build/man/sandlot.1 build/man/sandlot-policy.5
man: $(MAN_PAGES)

build/man/%: man/%.scd
	@mkdir -p build/man
	scdoc < $< > $@.tmp && mv -f $@.tmp $@

deps:
	@./tools/deps.sh

# Each flavour (default, asan) links in its own directory; the copy at the
# top is whichever flavour was asked for last.
$(BUILD)/sandlot: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(OBJS) $(LUA_LIBS) -lm

sandlot: $(BUILD)/sandlot FORCE
	@cmp -s $< $@ || cp -f $< $@

# The exec helper is static so it runs under any policy's mounts.  It
# applies Landlock with the same code as the native backend (landlock.c),
# and execs the command (a failure named, a missing interpreter too) the
# way the native backend does (child.c, execfail.c).
EXEC_SRCS := src/sandlot_exec.c src/landlock.c src/child.c src/execfail.c
sandlot-exec: $(EXEC_SRCS) src/landlock.h src/child.h src/execfail.h src/egress.h
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) -static -Isrc -o $@ $(EXEC_SRCS)

# The installation's paths are compiled in (main.c finds the exec helper
# and the system layer with them); the stamp changes when they do, so
# `make install PREFIX=... LIBEXECDIR=...` rebuilds what an earlier
# `make` built with other paths.
PATH_DEFS := -DSANDLOT_SYSCONFDIR='"$(SYSCONFDIR)"' -DSANDLOT_BINDIR='"$(BINDIR)"' \
             -DSANDLOT_LIBEXECDIR='"$(LIBEXECDIR)"'
$(BUILD)/paths.stamp: FORCE | $(BUILD)
	@echo "$(SYSCONFDIR) $(BINDIR) $(LIBEXECDIR)" | cmp -s - $@ || \
	    echo "$(SYSCONFDIR) $(BINDIR) $(LIBEXECDIR)" > $@

$(BUILD)/%.o: src/%.c src/*.h Makefile | $(BUILD)
	$(CC) $(ALL_CFLAGS) $(PATH_DEFS) -Isrc -c -o $@ $<

$(BUILD)/main.o: $(BUILD)/paths.stamp CHANGELOG.md

# The test suite's copy reads its "system" layer from a directory the tests
# own instead of /etc; everything else is the same objects.
TEST_SYSCONFDIR := $(CURDIR)/build/test-etc
$(BUILD)/main-testconf.o: src/main.c src/*.h Makefile $(BUILD)/paths.stamp CHANGELOG.md | $(BUILD)
	$(CC) $(ALL_CFLAGS) -DSANDLOT_SYSCONFDIR='"$(TEST_SYSCONFDIR)"' \
	      -DSANDLOT_BINDIR='"$(BINDIR)"' -DSANDLOT_LIBEXECDIR='"$(LIBEXECDIR)"' -Isrc -c -o $@ $<

$(BUILD)/sandlot-testconf: $(filter-out $(BUILD)/main.o,$(OBJS)) $(BUILD)/main-testconf.o
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LUA_LIBS) -lm

build/sandlot-testconf: $(BUILD)/sandlot-testconf FORCE
	@cmp -s $< $@ || cp -f $< $@

$(BUILD)/embedded.c: $(LUA_FILES) $(POLICY_FILES) tools/embed.lua | $(BUILD)
	$(LUA) tools/embed.lua $@ $(LUA_FILES) $(POLICY_FILES)

$(BUILD)/embedded.o: $(BUILD)/embedded.c src/embedded.h
	$(CC) $(ALL_CFLAGS) -Isrc -c -o $@ $<

$(BUILD):
	mkdir -p $@

FORCE:

# Probe programs run inside the sandbox by the tests; static for any policy.
tests/probe: tests/probe.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -static -o $@ $<

# The egress proxy and its rules alone, outside any sandbox (proxy_spec, bench).
PROXYRUN_OBJS := $(patsubst %,$(BUILD)/%.o,egress proxy status util)
tests/proxyrun: tests/proxyrun.c $(PROXYRUN_OBJS) src/egress.h
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Isrc -o $@ $< $(PROXYRUN_OBJS) -l:libnettle.a -lm -pthread

# An LD_PRELOAD shim with one slow name, for proxy_spec.
tests/slowdns.so: tests/slowdns.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -shared -fPIC -o $@ $< -ldl

# Drives the REPL on a pseudo-terminal in the tests.
tests/ptydrive: tests/ptydrive.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -O2 -o $@ $<

demo: deps
	@$(MAKE) --no-print-directory all
	@./tools/demo.sh

lint:
	luacheck -q lua policies.d tests tools

# libFuzzer targets (clang): path normalisation, the argv builder, effect
# parsing and noether policy JSON.  Each runs FUZZ_SECONDS from the seed
# corpus in fuzz/corpus (new inputs go to build/fuzz, not the repo).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := path argv effects policy_json
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=all $(LUA_CFLAGS) \
               -DLUA_CMOD_DIR='"$(LUA_CMOD)"' -Isrc
# Each target links what it needs: the pure core, the plan and bwrap's
# rendering of it, or the whole Lua layer.
fuzz_objs = $(patsubst %,build/fuzz/%.o,$(1))
FUZZ_OBJS_path := $(call fuzz_objs,util policy egress filter)
FUZZ_OBJS_argv := $(FUZZ_OBJS_path) $(call fuzz_objs,plan rules landlock cmdline bwrap)
FUZZ_OBJS_effects := $(FUZZ_OBJS_argv) $(call fuzz_objs,lua_vm lua_core doctor status native \
                     child execfail identity) build/fuzz/embedded.o
FUZZ_OBJS_policy_json := $(FUZZ_OBJS_effects)
.SECONDARY: $(FUZZ_OBJS_effects)

build/fuzz/%.o: src/%.c src/*.h Makefile
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/embedded.o: $(BUILD)/embedded.c
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
build/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/lua_harness.h $$(FUZZ_OBJS_$$*)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ifuzz -o $@ $< $(FUZZ_OBJS_$*) $(LUA_LIBS) -lm

fuzz:
	@./tools/deps.sh fuzz
	@$(MAKE) --no-print-directory $(BUILD)/embedded.c $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	    rm -rf build/fuzz/corpus-$$t && cp -r fuzz/corpus/$$t build/fuzz/corpus-$$t && \
	    echo "fuzz $$t: $(FUZZ_SECONDS) s" && \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 -artifact_prefix=build/fuzz/crash-$$t- \
	        build/fuzz/corpus-$$t 2>build/fuzz/$$t.log || \
	        { tail -40 build/fuzz/$$t.log; echo "fuzz $$t: FAILED (see build/fuzz/$$t.log)"; exit 1; }; \
	    grep -E "^stat::number_of_executed_units" build/fuzz/$$t.log; \
	done; echo "fuzz: nothing found"

# Launch-cost benchmark: not a test (nothing asserts a time); writes
# bench/RESULTS.md.  RUNS=N WARMUP=N tune it.
bench:
	@./tools/deps.sh bench
	@$(MAKE) --no-print-directory all tests/proxyrun
	@./bench/run.sh

test: deps
	@$(MAKE) --no-print-directory all tests/probe tests/ptydrive tests/proxyrun tests/slowdns.so build/sandlot-testconf
	@$(MAKE) --no-print-directory lint
	./tools/run-tests.sh

# Everything lands under DESTDIR; the paths compiled in (BINDIR,
# LIBEXECDIR, SYSCONFDIR) are the ones without it.  The system policy
# layer's directory is created empty: it is the administrator's.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/sandlot \
	    $(DESTDIR)$(SYSCONFDIR)/sandlot/policies.d \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
	    $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)/examples/policies \
	    $(DESTDIR)$(DOCDIR)/examples/data
	install -m 0755 sandlot $(DESTDIR)$(BINDIR)/sandlot
	install -m 0755 sandlot-exec $(DESTDIR)$(LIBEXECDIR)/sandlot/sandlot-exec
	ln -sf sandlot $(DESTDIR)$(BINDIR)/noether-sandbox
	install -m 0644 build/man/sandlot.1 $(DESTDIR)$(MANDIR)/man1/sandlot.1
	install -m 0644 build/man/sandlot-policy.5 $(DESTDIR)$(MANDIR)/man5/sandlot-policy.5
	ln -sf sandlot.1 $(DESTDIR)$(MANDIR)/man1/noether-sandbox.1
	install -m 0644 completion/sandlot.bash $(DESTDIR)$(BASHCOMPDIR)/sandlot
	ln -sf sandlot $(DESTDIR)$(BASHCOMPDIR)/noether-sandbox
	install -m 0644 completion/_sandlot $(DESTDIR)$(ZSHCOMPDIR)/_sandlot
	install -m 0644 README.md CHANGELOG.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	install -m 0644 examples/stage.sh $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 examples/policies/*.lua $(DESTDIR)$(DOCDIR)/examples/policies/
	install -m 0644 examples/data/* $(DESTDIR)$(DOCDIR)/examples/data/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sandlot $(DESTDIR)$(BINDIR)/noether-sandbox \
	      $(DESTDIR)$(LIBEXECDIR)/sandlot/sandlot-exec \
	      $(DESTDIR)$(MANDIR)/man1/sandlot.1 $(DESTDIR)$(MANDIR)/man5/sandlot-policy.5 \
	      $(DESTDIR)$(MANDIR)/man1/noether-sandbox.1 \
	      $(DESTDIR)$(BASHCOMPDIR)/sandlot $(DESTDIR)$(BASHCOMPDIR)/noether-sandbox \
	      $(DESTDIR)$(ZSHCOMPDIR)/_sandlot
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(LIBEXECDIR)/sandlot $(DESTDIR)$(SYSCONFDIR)/sandlot/policies.d \
	       $(DESTDIR)$(SYSCONFDIR)/sandlot 2>/dev/null

clean:
	rm -rf build sandlot sandlot-exec tests/probe tests/ptydrive tests/proxyrun tests/slowdns.so
