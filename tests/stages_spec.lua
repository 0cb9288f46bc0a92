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
      assert.are.equal("sandlot: the --timeout expired: the sandbox was killed (exit 124)\n", r.err)
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
