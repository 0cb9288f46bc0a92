-- Policy layers: built-in, system (here the test build's own directory),
-- user ($XDG_CONFIG_HOME), then --policy files; same name replaces, a
-- symlink to /dev/null masks, --policy runs last.
local H = require("helpers")

local function reset_system_dir()
  os.execute("rm -rf " .. H.q(H.TEST_SYSTEM_DIR) .. " && mkdir -p " .. H.q(H.TEST_SYSTEM_DIR))
end

local function user_dir()
  local xdg = H.tmpdir()
  local dir = xdg .. "/sandlot/policies.d"
  os.execute("mkdir -p " .. H.q(dir))
  return xdg, dir
end

local function explain(xdg, args)
  local full = { "explain" }
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  full[#full + 1] = "--"
  full[#full + 1] = "true"
  local r = H.run(full, { bin = "testconf", env = { XDG_CONFIG_HOME = xdg } })
  assert.are.equal(0, r.code, r.err)
  return H.groups(r.out), r.out
end

describe("policy layers", function()
  before_each(reset_system_dir)
  after_each(function() os.execute("rm -rf " .. H.q(H.TEST_SYSTEM_DIR)) end)

  it("runs built-in, system, user, then --policy, sorted by name", function()
    local xdg, udir = user_dir()
    H.write(H.TEST_SYSTEM_DIR .. "/50-site.lua", 'policy:setenv("LAYER", "system")\n')
    H.write(udir .. "/60-mine.lua", 'policy:setenv("LAYER2", "user")\n')
    H.write(udir .. "/05-early.lua", 'policy:setenv("EARLY", "user")\n')
    local g, out = explain(xdg)
    local order = out:match("# policy scripts, in order: ([^\n]*)")
    assert.are.equal(table.concat({
      udir .. "/05-early.lua", "policies.d/05-protected.lua", "policies.d/10-runtime.lua",
      "policies.d/20-network.lua", "policies.d/25-llm.lua",
      "policies.d/30-filesystem.lua", "policies.d/40-environment.lua",
      H.TEST_SYSTEM_DIR .. "/50-site.lua", udir .. "/60-mine.lua" }, ", "), order)
    local _, sys = H.find(g, "--setenv", "LAYER", "system")
    assert.are.equal(H.TEST_SYSTEM_DIR .. "/50-site.lua:1", sys.origin)
  end)

  it("lets the user layer replace a built-in file of the same name", function()
    local xdg, udir = user_dir()
    H.write(udir .. "/40-environment.lua", 'policy:allow_env("PATH")\n')
    local g = explain(xdg)
    assert.is_nil(H.find(g, "--setenv", "HOME", "/work"))
    local _, path = H.find(g, "--setenv", "PATH")
    assert.are.equal(udir .. "/40-environment.lua:1", path.origin)
  end)

  it("does not let the user layer replace or mask a system-layer file", function()
    local xdg, udir = user_dir()
    H.write(H.TEST_SYSTEM_DIR .. "/00-site.lua", 'policy:seal("network")\n')
    H.write(udir .. "/00-site.lua", "-- nothing\n")
    local r = H.run({ "run", "--", "true" }, { bin = "testconf", env = { XDG_CONFIG_HOME = xdg } })
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find(udir .. "/00-site.lua would replace " .. H.TEST_SYSTEM_DIR
                                .. "/00-site.lua: files of the system layer cannot be "
                                .. "overridden", 1, true), r.err)
    os.remove(udir .. "/00-site.lua")
    os.execute("ln -s /dev/null " .. H.q(udir .. "/00-site.lua"))
    r = H.run({ "run", "--", "true" }, { bin = "testconf", env = { XDG_CONFIG_HOME = xdg } })
    assert.are.equal(125, r.code)
    assert.matches("would mask", r.err)
  end)

  it("replaces a built-in file by name", function()
    local xdg = user_dir()
    H.write(H.TEST_SYSTEM_DIR .. "/40-environment.lua", 'policy:allow_env("PATH")\n')
    local g = explain(xdg)
    assert.is_nil(H.find(g, "--setenv", "HOME", "/work"))
    assert.is_truthy(H.find(g, "--setenv", "PATH"))
  end)

  it("masks a file with a symlink to /dev/null", function()
    local xdg, udir = user_dir()
    os.execute("ln -s /dev/null " .. H.q(H.TEST_SYSTEM_DIR .. "/10-runtime.lua"))
    local g, out = explain(xdg)
    assert.is_nil(H.find(g, "--ro-bind", "/usr", "/usr"))
    assert.is_nil(out:find("10-runtime.lua", 1, true))
    -- the user layer masks a built-in file the same way
    os.remove(H.TEST_SYSTEM_DIR .. "/10-runtime.lua")
    os.execute("ln -s /dev/null " .. H.q(udir .. "/20-network.lua"))
    g, out = explain(xdg, { "-e", "network" })
    assert.is_nil(H.find(g, "--share-net"))
    assert.is_nil(out:find("20-network.lua", 1, true))
  end)

  it("runs --policy files last, in the order given", function()
    local xdg, udir = user_dir()
    H.write(udir .. "/99-last.lua", 'policy:setenv("WHO", "user")\n')
    local a = H.script('policy:setenv("WHO", "first")\n', "a.lua")
    local b = H.script('policy:setenv("WHO", "second")\n', "b.lua")
    local g, out = explain(xdg, { "-p", a, "-p", b })
    local _, who = H.find(g, "--setenv", "WHO")
    assert.are.same({ "--setenv", "WHO", "second" }, who.words)
    assert.are.equal(b .. ":1", who.origin)
    assert.is_truthy(out:find(udir .. "/99-last.lua, " .. a .. ", " .. b .. "\n", 1, true), out)
  end)

  it("skips the system and user layers with --no-system-policies", function()
    local xdg, udir = user_dir()
    H.write(H.TEST_SYSTEM_DIR .. "/50-site.lua", 'policy:setenv("LAYER", "system")\n')
    H.write(udir .. "/60-mine.lua", 'policy:setenv("LAYER2", "user")\n')
    local g = explain(xdg, { "--no-system-policies" })
    assert.is_nil(H.find(g, "--setenv", "LAYER"))
    assert.is_nil(H.find(g, "--setenv", "LAYER2"))
  end)

  it("ignores files that do not end in .lua", function()
    local xdg = user_dir()
    H.write(H.TEST_SYSTEM_DIR .. "/50-site.lua.disabled", 'error("must not run")\n')
    explain(xdg)
  end)

  it("fails closed on an error in a system layer, naming file and line", function()
    H.write(H.TEST_SYSTEM_DIR .. "/50-site.lua", '\nerror("site policy refuses")\n')
    local r = H.run({ "run", "--", "true" }, { bin = "testconf" })
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find(H.TEST_SYSTEM_DIR .. "/50-site.lua:2: refuses stage with effects "
                                .. "unknown: site policy refuses", 1, true), r.err)
  end)

  it("shows scripts the stage, its effects, its argv and host facts", function()
    local xdg, udir = user_dir()
    H.write(udir .. "/70-see.lua", [[
      assert(stage.name == "ingest", stage.name)
      assert(stage:has("network") and not stage:has("llm"))
      assert(stage:effects_of("cost")[1].cents == 7)
      assert(stage.argv[1] == "true")
      assert(type(host.merged_usr) == "boolean" and type(host.nix_store) == "boolean")
      policy:setenv("SEEN", "yes")
    ]])
    local g = explain(xdg, { "--stage", "ingest", "-e", "network,cost:7" })
    assert.is_truthy(H.find(g, "--setenv", "SEEN", "yes"))
  end)
end)
