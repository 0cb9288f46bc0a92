-- The native backend against the bwrap backend: the same plan (mounts in
-- the same order with the same origins, the same environment), the same
-- view from inside, and the failures native has of its own.  The rest of
-- the suite runs once per backend (tools/run-tests.sh).
local H = require("helpers")

local function explain(backend, args)
  local full = { "explain", "--isolate", backend }
  for _, a in ipairs(args) do full[#full + 1] = a end
  local r = H.run(full)
  assert.are.equal(0, r.code, r.err)
  return H.groups(r.out), r.out
end

-- bwrap flags and native steps as one vocabulary: "what src dst # origin"
-- for every mount and variable, in order
local BWRAP = { ["--ro-bind"] = "ro-bind", ["--bind"] = "bind", ["--ro-bind-try"] = "ro-bind-try",
                ["--tmpfs"] = "tmpfs", ["--dir"] = "dir", ["--symlink"] = "symlink",
                ["--setenv"] = "setenv", ["mask-dir"] = "mask-dir", ["mask-file"] = "mask-file",
                file = "file" }
local KINDS = { ["ro-bind"] = true, bind = true, ["ro-bind-try"] = true, tmpfs = true,
                dir = true, symlink = true, setenv = true, ["mask-dir"] = true,
                ["mask-file"] = true, file = true }
local function entries(groups, native)
  local out = {}
  for _, g in ipairs(groups) do
    local w = g.words
    if w[1] == "--size" then w = { w[3], "--size", w[2], w[4] } end -- bwrap: --size N --tmpfs D
    -- bwrap's masks: --perms 0555 --tmpfs P --remount-ro P, --perms 0444 --ro-bind-data FD P;
    -- its generated files: --perms 0444 --ro-bind-data <generated> P
    if w[1] == "--perms" and w[3] == "--tmpfs" then w = { "mask-dir", w[4] } end
    if w[1] == "--perms" and w[3] == "--ro-bind-data" then
      w = { w[4]:find("<empty>", 1, true) and "mask-file" or "file", w[5] }
    end
    local what = native and w[1] or BWRAP[w[1]]
    if KINDS[what] then
      out[#out + 1] = what .. " " .. table.concat(w, " ", 2) .. " # " .. g.origin
    end
  end
  return out
end

describe("the native backend's plan", function()
  it("mounts what bwrap mounts, in the same order, with the same origins", function()
    local ro, rw = H.tmpdir(), H.tmpdir()
    os.execute(("mkdir %s/sealed && touch %s/sealed-file"):format(H.q(ro), H.q(ro)))
    local script = H.script('policy:tmpfs("/scratch"); policy:dir("/made"); '
                            .. 'policy:limit("tmp", "8M")\n'
                            .. ('policy:seal_paths(%q, %q)\n'):format(ro .. "/sealed",
                                                                     ro .. "/sealed-file"))
    local args = { "-e", "network,fs-read:" .. ro .. ",fs-write:" .. rw, "-p", script,
                   "--work", H.tmpdir(), "--", "true" }
    local b = entries(explain("bwrap", args), false)
    local n = entries(explain("native", args), true)
    assert.is_true(#b > 10, table.concat(b, "\n"))
    assert.is_truthy(table.concat(b, "\n"):find("mask-file " .. ro .. "/sealed-file # ", 1, true))
    assert.is_truthy(table.concat(b, "\n"):find("file /etc/passwd # sandlot: baseline", 1, true))
    assert.are.same(b, n)
  end)

  it("mirrors every bind in a Landlock rule: ro binds read-only, rw binds and /work writable",
     function()
    local ro, rw = H.tmpdir(), H.tmpdir()
    local g = explain("native", { "-e", "fs-read:" .. ro .. ",fs-write:" .. rw, "--", "true" })
    local _, bro = H.find(g, "ro-bind", ro, ro)
    local _, lro = H.find(g, "landlock-ro", ro)
    local _, lrw = H.find(g, "landlock-rw", rw)
    assert.is_truthy(bro and lro and lrw)
    assert.are.equal(bro.origin, lro.origin)
    assert.is_nil(H.find(g, "landlock-rw", ro))
    assert.is_nil(H.find(g, "landlock-ro", rw))
    for _, path in ipairs({ "/work", "/tmp", "/dev" }) do
      assert.is_truthy(H.find(g, "landlock-rw", path), path)
    end
    assert.is_truthy(H.find(g, "landlock-list", "/"))
    local _, ll = H.find(g, "landlock", "--abi")
    assert.are.equal("sandlot: invariant", ll.origin)
  end)

  it("enforces the Landlock rules bwrap's exec helper gets, in the same order, same origins",
     function()
    local ro, rw = H.tmpdir(), H.tmpdir()
    local script = H.script('policy:tmpfs("/scratch"); policy:dir("/made")\n')
    local args = { "-e", "fs-read:" .. ro .. ",fs-write:" .. rw, "-p", script, "--", "true" }
    local b, n = {}, {}
    for _, g in ipairs(explain("bwrap", args)) do
      local class, path = g.words[1]:match("^(%a+):(/.*)$")
      if class and #g.words == 1 then b[#b + 1] = class .. " " .. path .. " # " .. g.origin end
    end
    for _, g in ipairs(explain("native", args)) do
      local class = g.words[1]:match("^landlock%-(%a+)$")
      if class then n[#n + 1] = class .. " " .. g.words[2] .. " # " .. g.origin end
    end
    assert.is_truthy(b[1] == "list / # sandlot: baseline", table.concat(b, "\n"))
    assert.is_truthy(#b > 8 and table.concat(b, "\n"):find("ro " .. ro .. " #", 1, true))
    assert.is_truthy(table.concat(b, "\n"):find("rw /scratch # " .. script .. ":1", 1, true))
    assert.are.same(n, b)
  end)

  it("shows each hardening step as an invariant, in the order the command gets them", function()
    local g = explain("native", { "--", "true" })
    local last = 0
    for _, step in ipairs({ "new-session", "die-with-parent", "landlock", "no-new-privs",
                            "cap-drop", "landlock-restrict-self", "seccomp", "clearenv",
                            "exec" }) do
      local i, s = H.find(g, step)
      assert.is_truthy(i, step)
      assert.is_true(i > last, step .. " out of order")
      if step ~= "exec" then assert.are.equal("sandlot: invariant", s.origin, step) end
      last = i
    end
  end)

  it("says which backend auto uses and why", function()
    local r = H.run({ "explain", "--", "true" }, { env = { SANDLOT_ISOLATION = "auto" } })
    assert.are.equal(0, r.code, r.err)
    assert.matches("# auto picked (%a+): ", r.out)
    local picked = r.out:match("# auto picked (%a+): ")
    assert.matches("# backend: " .. (picked == "native" and "native" or "/%S*bwrap"), r.out)
  end)
end)

-- A shell script that prints what a command sees of its sandbox.
local VIEW = [[
echo "id: $(id)"; echo "pwd: $(pwd)"; echo "umask: $(umask)"
echo "root: $(ls -1A / | tr '\n' ' ')"
echo "dev: $(ls -1A /dev | tr '\n' ' ')"
echo "tmp, work: $(stat -c '%a %U %F' /tmp /work | tr '\n' ' ')"
echo "env: $(env | sort | tr '\n' ' ')"
for f in /work/w /tmp/t /dev/shm/s /x /usr/x /etc/x /proc/sys/kernel/x; do
  if (: > "$f") 2>/dev/null; then echo "write $f: yes"; else echo "write $f: no"; fi
done
if kill -0 1 2>/dev/null; then echo "signal pid 1: yes"; else echo "signal pid 1: no"; fi
# below /proc: both backends cover sys, irq, bus and sysrq-trigger (both explain
# them, compared above), native from its own procfs, bwrap from the host's (its
# binds' sources): the mount table differs there, so it is not compared.
# Device nodes: native binds them read-only; bwrap cannot (its remount adds
# nodev), so their flags are not compared either.
echo "mounts: $(awk '$2 !~ /^\/proc\// {
                       f = substr($4, 1, 2)
                       if ($2 ~ /^\/dev\/(null|zero|full|random|urandom|tty)$/) f = "node"
                       print $2, f }' /proc/self/mounts | sort | tr '\n' ' ')"
for f in /proc/sys/kernel/ns_last_pid /proc/sysrq-trigger; do
  if (: > "$f") 2>/dev/null; then echo "write $f: yes"; else echo "write $f: no"; fi
done
if (: > /proc/sysrq-trigger) 2>/dev/null; then echo "sysrq: yes"; else echo "sysrq: no"; fi
grep -E '^(NoNewPrivs|Seccomp|Cap(Inh|Prm|Eff|Bnd|Amb)):' /proc/self/status | tr -s '\t' ' '
]]

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil
  describe("the native backend as " .. who, function()
    it("gives the command the same view as bwrap", function()
      local views = {}
      for _, backend in ipairs({ "bwrap", "native" }) do
        local r = H.run({ "run", "--isolate", backend, "-e", "fs-read:" .. H.ROOT, "--", "sh",
                          "-c", VIEW }, { user = user, env = { SANDLOT_VIEW = "x" } })
        assert.are.equal(0, r.code, r.err)
        assert.matches("id: uid=65534", r.out) -- the view ran
        views[backend] = r.out
      end
      assert.are.equal(views.bwrap, views.native)
      assert.matches("write /work/w: yes\nwrite /tmp/t: yes\nwrite /dev/shm/s: yes\n"
                     .. "write /x: no\nwrite /usr/x: no\nwrite /etc/x: no\n"
                     .. "write /proc/sys/kernel/x: no\nsignal pid 1: no\n", views.native)
    end)

    it("shows nothing of sandlot in pid 1: no arguments, no environment", function()
      local r = H.run({ "run", "--isolate", "native", "--", "sh", "-c",
                        "cat /proc/1/cmdline; echo; cat /proc/1/environ; echo; echo done" },
                      { user = user, env = { SANDLOT_SECRET_PID1 = "s3cret-value" } })
      assert.matches("done\n$", r.out, r.err)
      assert.matches("^sandlot%-init", r.out)
      assert.is_nil(r.out:find("s3cret", 1, true))
      assert.is_nil(r.out:find("--isolate", 1, true))
    end)
  end)
end

describe("the native backend where the kernel refuses it", function()
  -- a nested sandbox without user namespaces
  local function nested(args)
    local dir = H.tmpdir()
    local work = H.tmpdir()
    local cmd = ("bwrap --ro-bind / / --dev /dev --proc /proc --bind %s %s --unshare-user "
                 .. "--unshare-pid --disable-userns -- env %s %s run --work %s %s -- sh -c "
                 .. "'touch /work/marker' >%s/out 2>%s/err"):format(
      H.q(work), H.q(work), "SANDLOT_ISOLATION=", H.q(H.bin_dir() .. "/sandlot"), H.q(work),
      table.concat(args, " "), H.q(dir), H.q(dir))
    local _, _, code = os.execute(cmd)
    return code, H.read(dir .. "/err"), H.exists(work .. "/marker")
  end

  it("--isolate native exits 125 with the reason, and nothing runs", function()
    local code, err, ran = nested({ "--isolate", "native" })
    assert.are.equal(125, code, err)
    assert.matches("user namespaces are unavailable here: .*; fix: ", err)
    assert.is_false(ran)
    assert.are.equal(1, select(2, err:gsub("\n", "")), err)
  end)

  it("auto falls back to bwrap, never to no sandbox", function()
    local code, err, ran = nested({ "-v" })
    assert.matches("auto: the kernel refused the native backend's namespaces; using bwrap", err)
    assert.are.equal(125, code, err) -- bwrap cannot create them either
    assert.is_false(ran)
  end)
end)

describe("the native backend without bwrap", function()
  it("runs where bwrap is not installed", function()
    local work, dir = H.tmpdir(), H.tmpdir()
    -- bwrap hidden by a mount in a namespace of the test's own; sandlot then
    -- runs as an ordinary uid (a nested user namespace maps it to 65534), as
    -- root inside a user namespace it could not map its sandbox identity
    local cmd = ("unshare -rm sh -c %s >%s/out 2>%s/err"):format(H.q(
      "mount --bind /dev/null /usr/bin/bwrap && exec unshare --user --map-user=65534 " ..
      "--map-group=65534 env PATH=/usr/bin:/bin " ..
      "SANDLOT_ISOLATION=native " .. H.q(H.bin_dir() .. "/sandlot") .. " run --work " ..
      H.q(work) .. " -- sh -c 'touch /work/marker'"), H.q(dir), H.q(dir))
    local _, _, code = os.execute(cmd)
    assert.are.equal(0, code, H.read(dir .. "/err"))
    assert.is_true(H.exists(work .. "/marker"))
  end)
end)
