-- The bwrap command line, as `sandlot explain` shows it: order, invariant
-- flags whatever a script did, "--" right before the command, --share-net
-- only with the network effect, provenance on every flag.
local H = require("helpers")

local function explain(args)
  local full = { "explain", "--no-system-policies" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  local r = H.run(full)
  assert.are.equal(0, r.code, r.err)
  return H.groups(r.out), r
end

local INVARIANT = {
  { "--unshare-user" }, { "--unshare-pid" }, { "--unshare-ipc" }, { "--unshare-uts" },
  { "--unshare-cgroup" }, { "--die-with-parent" }, { "--new-session" },
  { "--cap-drop", "ALL" }, { "--clearenv" }, { "--remount-ro", "/" },
}

describe("the bwrap command", function()
  local dir_rw, dir_ro

  before_each(function()
    dir_rw = H.tmpdir()
    dir_ro = H.tmpdir()
  end)

  it("mounts parents first: top-level binds, /work, then deeper targets", function()
    local g = explain({ "-e", "fs-read:" .. dir_ro .. ",fs-write:" .. dir_rw, "--", "true" })
    local rw = H.find(g, "--bind", dir_rw, dir_rw)
    local ro = H.find(g, "--ro-bind", dir_ro, dir_ro)
    local usr = H.find(g, "--ro-bind", "/usr", "/usr")
    local tmp = H.find(g, "--tmpfs", "/tmp")
    local work = H.find(g, "--tmpfs", "/work")
    assert.is_truthy(rw and ro and usr and tmp and work)
    assert.is_true(usr < work, "/work comes after the top-level binds")
    assert.is_true(tmp < rw and work < rw and work < ro, "deeper targets come after /work, /tmp")
  end)

  it("keeps a narrower ro bind after a broader rw parent", function()
    local sub = dir_rw .. "/sub"
    os.execute("mkdir " .. H.q(sub))
    local g = explain({ "-e", "fs-read:" .. sub, "-e", "fs-write:" .. dir_rw, "--", "true" })
    assert.is_true(H.find(g, "--bind", dir_rw, dir_rw) < H.find(g, "--ro-bind", sub, sub))
  end)

  it("keeps a narrower rw bind after a broader ro parent", function()
    local sub = dir_ro .. "/build"
    os.execute("mkdir " .. H.q(sub))
    local g = explain({ "-e", "fs-write:" .. sub, "-e", "fs-read:" .. dir_ro, "--", "true" })
    assert.is_true(H.find(g, "--ro-bind", dir_ro, dir_ro) < H.find(g, "--bind", sub, sub))
  end)

  it("binds --work DIR at /work, before the binds below it", function()
    local below = H.script('policy:ro_bind(' .. ('%q'):format(dir_ro) .. ', "/work/in")\n')
    local g = explain({ "--work", dir_rw, "-p", below, "--", "true" })
    local w = H.find(g, "--bind", dir_rw, "/work")
    assert.is_truthy(w)
    assert.is_true(H.find(g, "--ro-bind", "/usr", "/usr") < w)
    assert.is_true(w < H.find(g, "--ro-bind", dir_ro, "/work/in"))
    assert.is_nil(H.find(g, "--tmpfs", "/work"))
  end)

  it("puts -- right before the exec helper, and the helper's -- right before the command",
     function()
    local g = explain({ "--", "sh", "-c", "echo" })
    local i = H.find(g, "--")
    assert.is_truthy(i)
    assert.are.equal("sandlot: exec helper", g[i + 1].origin)
    assert.matches("^'?/proc/self/fd/", g[i + 1].words[1])
    local last = #g - 1
    assert.are.same({ "--" }, g[last].words)
    assert.are.equal("sandlot: exec helper", g[last].origin)
    for k = i + 2, last - 1 do -- between them, only the helper's Landlock rules
      assert.matches("^%a+:/", g[k].words[1])
    end
    assert.are.same({ "sh", "-c", "echo" }, g[#g].words)
    assert.are.equal("command", g[#g].origin)
  end)

  it("shares the network only with the network effect", function()
    local g = explain({ "-e", "pure", "--", "true" })
    assert.is_nil(H.find(g, "--share-net"))
    assert.is_truthy(H.find(g, "--unshare-net"))
    g = explain({ "-e", "network", "--", "true" })
    local i, share = H.find(g, "--share-net")
    assert.is_truthy(i)
    assert.matches("20%-network%.lua:%d+$", share.origin)
    assert.is_nil(H.find(g, "--unshare-net"))
    assert.is_truthy(H.find(g, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"))
  end)

  it("always carries every invariant flag, whatever a script does", function()
    local script = H.script([[
      policy.network = true
      for _, m in ipairs(policy:mounts()) do policy:unmount(m.target) end
      for _, v in ipairs(policy:env()) do policy:unsetenv(v.name) end
      policy.uid = 1000
      policy.gid = 1000
    ]])
    local g = explain({ "-p", script, "--", "true" })
    for _, flag in ipairs(INVARIANT) do
      local i, grp = H.find(g, table.unpack(flag))
      assert.is_truthy(i, "missing " .. table.concat(flag, " "))
      assert.are.equal("sandlot: invariant", grp.origin)
    end
    assert.is_truthy(H.find(g, "--uid", "1000"))
    assert.is_nil(H.find(g, "--ro-bind", "/usr", "/usr"))
  end)

  it("maps to uid and gid 65534 by default", function()
    local g = explain({ "--", "true" })
    assert.is_truthy(H.find(g, "--uid", "65534"))
    assert.is_truthy(H.find(g, "--gid", "65534"))
  end)

  it("names the script and line behind every policy-made flag", function()
    local script = H.script('policy:ro_bind("/usr/share", "/opt/share")\n' ..
                            'policy:setenv("STAGE_MODE", "fast")\n')
    local g = explain({ "-p", script, "--", "true" })
    local _, bind = H.find(g, "--ro-bind", "/usr/share", "/opt/share")
    assert.are.equal(script .. ":1", bind.origin)
    local _, env = H.find(g, "--setenv", "STAGE_MODE", "fast")
    assert.are.equal(script .. ":2", env.origin)
    for _, grp in ipairs(g) do
      assert.is_truthy(grp.origin:match("^sandlot: ") or grp.origin:match("%.lua:%d+$")
                       or grp.origin == "command", "flag without a cause: " .. grp.text)
    end
  end)

  it("does not print values that come from the host environment", function()
    local r = H.run({ "explain", "--", "true" }, { env = { LANG = "xx_SECRET.UTF-8" } })
    assert.are.equal(0, r.code)
    assert.is_nil(r.out:find("xx_SECRET", 1, true))
    assert.is_truthy(r.out:find("--setenv LANG <value from host>", 1, true))
  end)
end)
