-- Stages as people run them (issue 13): what real tools expect of their
-- environment works inside without extra policy.  Each runs the real
-- workload on the suite's backend, as root and as nobody.
local H = require("helpers")

local function host(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("time and locale, as " .. who, function()
    it("honour the invoker's TZ and every LC_* category", function()
      local r = H.run({ "run", "--", "sh", "-c",
                        "date -d @0 +%Z; echo \"$LC_COLLATE $LC_TIME $LANGUAGE\"" },
                      { user = user, env = { TZ = "Europe/Paris", LC_COLLATE = "C",
                                             LC_TIME = "C.UTF-8", LANGUAGE = "en" } })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("CET\nC C.UTF-8 en\n", r.out)
    end)

    it("see the host's time zone without TZ (/etc/localtime, read-only)", function()
      -- the zone file itself: glibc's fallback without it is UTC, like this host's zone
      local want = host("cksum < /etc/localtime")
      assert.is_true(#want > 0, "the host has no /etc/localtime")
      local r = H.run({ "run", "--", "sh", "-c",
                        "cksum < /etc/localtime; (: > /etc/localtime) 2>/dev/null && echo writable;"
                        .. " true" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(want, r.out)
    end)
  end)
end

-- A C source tree: hello.c prints its argument.
local function source_tree()
  local src = H.tmpdir()
  H.write(src .. "/hello.c",
          '#include <stdio.h>\nint main(void) { puts("built and ran"); return 0; }\n', "0644")
  return src
end

-- Run a shell command that tries to create each file; it says which it could create.
local function creates(files)
  local parts = {}
  for _, f in ipairs(files) do
    parts[#parts + 1] = ("if touch %s 2>/dev/null; then echo 'wrote %s'; else echo 'refused %s';"
                         .. " fi"):format(H.q(f), f, f)
  end
  return table.concat(parts, "; ")
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("mount precedence (the most specific path wins), as " .. who, function()
    it("makes an fs-write directory below an fs-read one writable, the rest read-only", function()
      local src = H.tmpdir()
      local build = src .. "/build"
      assert(os.execute("mkdir -m 0777 " .. H.q(build)))
      local r = H.run({ "run", "-e", "fs-read:" .. src, "-e", "fs-write:" .. build, "--",
                        "sh", "-c", creates({ build .. "/x", src .. "/y" }) }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(("wrote %s/x\nrefused %s/y\n"):format(build, src), r.out)
      assert.is_true(H.exists(build .. "/x"))
      assert.is_false(H.exists(src .. "/y"))
    end)

    it("keeps an fs-read directory below an fs-write one read-only", function()
      local top = H.tmpdir()
      local sub = top .. "/src"
      assert(os.execute("mkdir -m 0777 " .. H.q(sub)))
      local r = H.run({ "run", "-e", "fs-write:" .. top, "-e", "fs-read:" .. sub, "--",
                        "sh", "-c", creates({ top .. "/x", sub .. "/y" }) }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(("wrote %s/x\nrefused %s/y\n"):format(top, sub), r.out)
      assert.is_false(H.exists(sub .. "/y"))
    end)

    it("binds the same target twice read-only, and explain shows both origins", function()
      local dir = H.tmpdir()
      local args = { "-e", "fs-write:" .. dir, "-e", "fs-read:" .. dir, "--", "sh", "-c",
                     creates({ dir .. "/x" }) }
      local r = H.run({ "run", table.unpack(args) }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(("refused %s/x\n"):format(dir), r.out)
      local e = H.run({ "explain", "--isolate", H.BACKEND, table.unpack(args) }, { user = user })
      assert.are.equal(0, e.code, e.err)
      local g = H.groups(e.out)
      local rw_flag = H.BACKEND == "native" and "bind" or "--bind"
      local ro_flag = H.BACKEND == "native" and "ro-bind" or "--ro-bind"
      local rw, rwg = H.find(g, rw_flag, dir, dir)
      local ro, rog = H.find(g, ro_flag, dir, dir)
      assert.is_truthy(rw and ro, e.out)
      assert.is_true(rw < ro, "read-only comes last, so it wins")
      assert.matches("^policies%.d/30%-filesystem%.lua:%d+$", rwg.origin)
      assert.matches("^policies%.d/30%-filesystem%.lua:%d+$", rog.origin)
      assert.are_not.equal(rwg.origin, rog.origin)
    end)

    it("builds C out of tree: sources read-only, objects in a separate fs-write directory",
       function()
      local src, build = source_tree(), H.tmpdir()
      local cmd = ("cd %s && cc -c -o hello.o %s/hello.c && cc -o hello hello.o && ./hello")
                  :format(H.q(build), H.q(src))
      local r = H.run({ "run", "-e", "fs-read:" .. src, "-e", "fs-write:" .. build, "--",
                        "sh", "-c", cmd }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("built and ran\n", r.out)
      assert.is_true(H.exists(build .. "/hello"))
    end)

    it("builds C in tree: an fs-write build directory inside the fs-read source tree", function()
      local src = source_tree()
      local build = src .. "/build"
      assert(os.execute("mkdir -m 0777 " .. H.q(build)))
      local cmd = ("cd %s && cc -o hello ../hello.c && ./hello && touch ../stray 2>/dev/null"
                   .. " || echo 'sources read-only'"):format(H.q(build))
      local r = H.run({ "run", "-e", "fs-read:" .. src, "-e", "fs-write:" .. build, "--",
                        "sh", "-c", cmd }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("built and ran\nsources read-only\n", r.out)
      assert.is_true(H.exists(build .. "/hello"))
      assert.is_false(H.exists(src .. "/stray"))
    end)
  end)
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("the sandbox user's identity, as " .. who, function()
    local NAMES = "whoami; id -un; id -gn; getent passwd 65534; getent group 65534; "
                  .. "perl -e 'my @pw = getpwuid($<); print \"$pw[0] $pw[7]\\n\"'; echo ~"
    local WANT = "nobody\nnobody\nnogroup\nnobody:x:65534:65534:nobody:/work:/bin/sh\n"
                 .. "nogroup:x:65534:\nnobody /work\n/work\n"

    it("names the sandbox user without the network (whoami, id, getent, getpwuid, ~)", function()
      local r = H.run({ "run", "--", "sh", "-c", NAMES }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(WANT, r.out)
    end)

    it("names it the same way with the network, from the same files", function()
      local r = H.run({ "run", "-e", "network", "--", "sh", "-c",
                        NAMES .. "; cat /etc/nsswitch.conf" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(WANT .. "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
                       r.out)
    end)

    it("lists only root and the sandbox user, read-only, and explain shows the files", function()
      local r = H.run({ "run", "--", "sh", "-c", "getent passwd; getent group; for f in"
                        .. " /etc/passwd /etc/group /etc/nsswitch.conf; do"
                        .. " touch $f 2>/dev/null && echo $f; done; echo done" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/work:/bin/sh\n"
                       .. "root:x:0:\nnogroup:x:65534:\ndone\n", r.out)
      local e = H.run({ "explain", "--isolate", H.BACKEND, "--", "true" }, { user = user })
      assert.are.equal(0, e.code, e.err)
      for _, f in ipairs({ "/etc/passwd", "/etc/group", "/etc/nsswitch.conf" }) do
        local g = H.groups(e.out)
        local _, step = H.find(g, "--perms", "0444", "--ro-bind-data", "'<generated>'", f)
        if H.BACKEND == "native" then _, step = H.find(g, "file", f) end
        assert.is_truthy(step, f .. "\n" .. e.out)
        assert.are.equal("sandlot: baseline", step.origin)
      end
    end)

    it("follows the policy's ids and USER", function()
      local script = H.script('policy.uid = 1000\npolicy.gid = 1001\n'
                              .. 'policy:setenv("USER", "builder")\n')
      local r = H.run({ "run", "-p", script, "--", "sh", "-c",
                        "whoami; id -gn; getent passwd 1000" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("builder\nbuilder\nbuilder:x:1000:1001:builder:/work:/bin/sh\n", r.out)
    end)
  end)
end

describe("--timeout", function()
  it("takes timeout(1)'s durations and says when it fired", function()
    for _, d in ipairs({ "0.5", "0.5s", "0.01m" }) do
      local r = H.run({ "run", "--timeout", d, "--", "sleep", "30" })
      assert.are.equal(124, r.code, d .. ": " .. r.err)
      assert.are.equal("sandlot: the --timeout expired: the stage was sent SIGTERM (exit 124)\n",
                       r.err)
    end
    local quiet = H.run({ "run", "-q", "--timeout", "0.5s", "--", "sleep", "30" })
    assert.are.equal(124, quiet.code)
    assert.are.equal("", quiet.err)
    assert.are.equal(0, H.run({ "run", "--timeout", "1h", "--", "true" }).code)
  end)

  it("refuses what timeout(1) would not take", function()
    for _, d in ipairs({ "2x", "s", "-1", "0", "1ms", "nan", "inf", "400d" }) do
      local r = H.run({ "run", "--timeout", d, "--", "true" })
      assert.are.equal(125, r.code, d)
      assert.matches("^sandlot: %-%-timeout: expected a positive duration", r.err)
    end
  end)
end)

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("--env, as " .. who, function()
    it("gives git its identity: a real commit in /work", function()
      local work = H.tmpdir()
      local r = H.run({ "run", "--work", work,
                        "--env", "GIT_AUTHOR_NAME=Ann Author",
                        "--env", "GIT_AUTHOR_EMAIL=ann@example.org",
                        "--env", "GIT_COMMITTER_NAME", "--env", "GIT_COMMITTER_EMAIL",
                        "--", "sh", "-c", "git init -q && echo hi > f && git add f && "
                        .. "git commit -qm first && git log --format='%an <%ae>, %cn <%ce>: %s'" },
                      { user = user, env = { GIT_COMMITTER_NAME = "Cy Committer",
                                             GIT_COMMITTER_EMAIL = "cy@example.org" } })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("Ann Author <ann@example.org>, Cy Committer <cy@example.org>: first\n",
                       r.out)
      assert.is_true(H.exists(work .. "/.git/HEAD"))
    end)

    it("passes a host value only when asked, and sets the invoker's own", function()
      local r = H.run({ "run", "--env", "SPEC_HOST", "--env", "SPEC_SET=a=b c",
                        "--env", "SPEC_UNSET", "--", "sh", "-c",
                        "echo \"[$SPEC_HOST] [$SPEC_SET] [${SPEC_UNSET-unset}] "
                        .. "[${SPEC_OTHER-unset}]\"" },
                      { user = user, env = { SPEC_HOST = "from host", SPEC_OTHER = "x" } })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("[from host] [a=b c] [unset] [unset]\n", r.out)
    end)

    it("refuses loader and libc variables and bad names, exit 125, nothing runs", function()
      for _, arg in ipairs({ "LD_PRELOAD=x", "LD_LIBRARY_PATH", "GCONV_PATH=/tmp", "A B=1",
                             "=1" }) do
        local work = H.tmpdir()
        local r = H.run({ "run", "--work", work, "--env", arg, "--", "touch", "/work/m" },
                        { user = user })
        assert.are.equal(125, r.code, arg .. ": " .. r.err)
        assert.is_truthy(r.err:find("sandlot: --env " .. arg .. ": ", 1, true), r.err)
        assert.is_false(H.exists(work .. "/m"), arg .. ": the command ran")
      end
    end)
  end)
end

describe("--env", function()
  after_each(function() H.system_layer(nil) end)

  it("shows in explain with origin \"command line\", never a host value", function()
    local r = H.run({ "explain", "--env", "SPEC_SECRET", "--env", "SPEC_MINE=visible",
                      "--", "true" },
                    { env = { SPEC_SECRET = "hunter2" } })
    assert.are.equal(0, r.code, r.err)
    local g = H.groups(r.out)
    local _, passed = H.find(g, "--setenv", "SPEC_SECRET")
    local _, mine = H.find(g, "--setenv", "SPEC_MINE")
    assert.are.equal("--setenv SPEC_SECRET <value from host>", passed and passed.text)
    assert.are.equal("command line", passed.origin)
    assert.are.equal("--setenv SPEC_MINE visible", mine and mine.text)
    assert.are.equal("command line", mine.origin)
    assert.is_nil(r.out:find("hunter2", 1, true))
  end)

  for _, who in ipairs(H.users()) do
    local user = who == "nobody" and "nobody" or nil
    it("cannot break an administrator's seal: 125 naming it, as " .. who, function()
      H.system_layer('policy:seal_env("AWS_*", "GITHUB_TOKEN")\n')
      local seal = H.TEST_SYSTEM_DIR .. "/00-site.lua:1"
      for _, arg in ipairs({ "GITHUB_TOKEN=x", "AWS_SECRET_ACCESS_KEY" }) do
        local work = H.tmpdir()
        local r = H.run({ "run", "--work", work, "--env", arg, "--", "touch", "/work/m" },
                        { bin = "testconf", user = user,
                          env = { AWS_SECRET_ACCESS_KEY = "s3cr3t" } })
        assert.are.equal(125, r.code, r.err)
        assert.is_truthy(r.err:find("--env " .. arg .. ": ", 1, true), r.err)
        assert.is_truthy(r.err:find("breaks the seal placed by " .. seal, 1, true), r.err)
        assert.is_false(H.exists(work .. "/m"), "the command ran")
      end
      -- what the seal leaves alone still passes
      local ok = H.run({ "run", "--env", "SPEC_OK=1", "--", "sh", "-c", "echo $SPEC_OK" },
                       { bin = "testconf", user = user })
      assert.are.equal(0, ok.code, ok.err)
      assert.are.equal("1\n", ok.out)
    end)
  end
end)

-- Start sandlot in the background; returns {pid =, dir =} (dir/out, dir/err,
-- dir/rc once it ended).  The stage gets --work dir/work.
local function start(args, user)
  local dir = H.tmpdir()
  local work = dir .. "/work"
  os.execute("mkdir -m 0777 " .. H.q(work))
  local words = { "run", "--work", work }
  for _, a in ipairs(args) do words[#words + 1] = a end
  local cmd = {}
  for _, w in ipairs(words) do cmd[#cmd + 1] = H.q(w) end
  local pre = user and "setpriv --reuid 65534 --regid 65534 --clear-groups -- env HOME=/nonexistent"
              or "env"
  os.execute(("(sh -c 'echo $$ > %s/pid; exec \"$@\"' sh %s SANDLOT_ISOLATION=%s %s %s "
              .. "</dev/null >%s/out 2>%s/err; echo $? > %s/rc) &")
             :format(H.q(dir), pre, H.BACKEND, H.q(H.bin_dir() .. "/sandlot"),
                     table.concat(cmd, " "), H.q(dir), H.q(dir), H.q(dir)))
  local s = { dir = dir, work = work }
  finally(function() -- a failed test leaves no sandlot behind (it may be stopped)
    if s.pid and not H.exists(dir .. "/rc") then
      os.execute("kill -KILL " .. s.pid .. " 2>/dev/null")
    end
  end)
  for _ = 1, 100 do
    s.pid = (H.read(dir .. "/pid") or ""):match("%d+")
    if s.pid and H.exists(work .. "/ready") then break end
    os.execute("sleep 0.1")
  end
  assert(H.exists(work .. "/ready"), "the stage did not start: " .. (H.read(dir .. "/err") or ""))
  return s
end

-- Wait up to secs for sandlot to end; returns its exit status (nil: still runs).
local function ended(s, secs)
  for _ = 1, secs * 10 do
    local rc = (H.read(s.dir .. "/rc") or ""):match("%d+")
    if rc then return tonumber(rc) end
    os.execute("sleep 0.1")
  end
  os.execute("kill -KILL " .. s.pid .. " 2>/dev/null")
  return nil
end

local now = H.now

local TRAP = "trap 'echo trapped > /work/trapped; exit 3' TERM INT HUP; touch /work/ready; "
             .. "while :; do sleep 0.1; done"
local IGNORE = "trap '' TERM; touch /work/ready; sleep 30"

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("stopping a stage, as " .. who, function()
    for _, sig in ipairs({ "TERM", "INT", "HUP" }) do
      it("passes SIG" .. sig .. " to the command first: its trap runs", function()
        local s = start({ "--", "sh", "-c", TRAP }, user)
        os.execute("kill -" .. sig .. " " .. s.pid)
        assert.are.equal(3, ended(s, 5), H.read(s.dir .. "/err"))
        assert.are.equal("trapped\n", H.read(s.work .. "/trapped"))
      end)
    end

    it("kills a command that ignores the signal after --kill-after, 128+N", function()
      local s = start({ "--kill-after", "1.5s", "--", "sh", "-c", IGNORE }, user)
      local t0 = now()
      os.execute("kill -TERM " .. s.pid)
      assert.are.equal(143, ended(s, 8), H.read(s.dir .. "/err"))
      local took = now() - t0
      assert.is_true(took >= 1.4 and took < 5, "took " .. took .. " s")
    end)

    it("--timeout sends SIGTERM, then SIGKILL after the grace: 124 either way", function()
      local s = start({ "--timeout", "1", "--", "sh", "-c", TRAP }, user)
      assert.are.equal(124, ended(s, 6), H.read(s.dir .. "/err"))
      assert.are.equal("trapped\n", H.read(s.work .. "/trapped"))
      -- (the shell may say "Terminated" of its sleep first)
      assert.matches("sandlot: the %-%-timeout expired: the stage was sent SIGTERM %(exit 124%)\n$",
                     H.read(s.dir .. "/err"))
      local t0 = now()
      local k = start({ "--timeout", "1", "--kill-after", "1", "--", "sh", "-c", IGNORE }, user)
      assert.are.equal(124, ended(k, 8), H.read(k.dir .. "/err"))
      assert.is_true(now() - t0 >= 1.9, "the grace was not given")
      assert.are.equal("sandlot: the --timeout expired: the stage was sent SIGTERM, and SIGKILL "
                       .. "after the grace (exit 124)\n", H.read(k.dir .. "/err"))
    end)

    it("SIGTSTP stops the whole sandbox and SIGCONT continues it", function()
      local s = start({ "--", "sh", "-c", "i=0; touch /work/ready; while :; do i=$((i+1)); "
                        .. "echo $i > /work/count; sleep 0.05; done" }, user)
      local function count() return tonumber(H.read(s.work .. "/count") or "") end
      os.execute("kill -TSTP " .. s.pid .. "; sleep 0.5")
      local a = count()
      os.execute("sleep 1")
      assert.are.equal(a, count(), "the stage kept running while sandlot was stopped")
      assert.matches("^%S+ %b() T", H.read("/proc/" .. s.pid .. "/stat"))
      os.execute("kill -CONT " .. s.pid .. "; sleep 1")
      assert.is_true(count() > a, "the stage did not continue")
      os.execute("kill -TERM " .. s.pid)
      assert.are.equal(143, ended(s, 5))
    end)
  end)
end

describe("--kill-after", function()
  it("refuses what timeout(1) would not take", function()
    for _, d in ipairs({ "2x", "-1", "nan", "400d" }) do
      local r = H.run({ "run", "--kill-after", d, "--", "true" })
      assert.are.equal(125, r.code, d)
      assert.matches("^sandlot: %-%-kill%-after: expected a duration", r.err)
    end
  end)
end)

describe("-v", function()
  it("says which backend runs and why, the layers, the seals and the timings", function()
    local r = H.run({ "run", "-v", "--", "true" })
    assert.are.equal(0, r.code, r.err)
    local backend = H.BACKEND
    assert.matches("sandlot: backend " .. backend .. "[^\n]*: asked for with SANDLOT_ISOLATION\n",
                   r.err)
    assert.matches("sandlot: policy layers: built%-in %(%d+ scripts%)\n", r.err)
    assert.matches("sandlot: policy layers: system [^\n]+\n", r.err)
    assert.matches("sandlot: scripts, in order: policies.d/05%-protected.lua, ", r.err)
    assert.matches("sandlot: %d+ seals in force\n", r.err)
    assert.matches("sandlot:   protect by policies.d/05%-protected.lua:%d+: ", r.err)
    assert.matches("sandlot: policy built in [%d.]+ ms %(policy sha256 %x+%)\n", r.err)
    assert.matches("sandlot: sandbox set up in [%d.]+ ms; the command ran [%d.]+ s and ended: "
                   .. "exited, status 0\n", r.err)
    -- and none of it without -v
    r = H.run({ "run", "--", "true" })
    assert.are.equal("", r.err)
  end)

  it("says why auto picked its backend", function()
    local r = H.run({ "run", "-v", "--isolate", "auto", "--", "true" })
    assert.are.equal(0, r.code, r.err)
    assert.matches("sandlot: backend %a+[^\n]*: auto picked %a+", r.err)
  end)
end)
