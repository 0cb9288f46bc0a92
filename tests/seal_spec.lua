-- Sealed policy: an administrator's layer fixes part of the policy so later
-- layers, --policy scripts, --policy-json and the REPL can only narrow it.
-- Breaking a seal names both the breaking and the sealing line; exit 125.
local H = require("helpers")

local SEAL = H.TEST_SYSTEM_DIR .. "/00-site.lua"

local reset = H.system_layer

-- run the test build (its system layer is ours) with a marker command
local function attempt(args, stdin)
  local work = H.tmpdir()
  local full = { "run", "--work", work }
  for _, a in ipairs(args) do full[#full + 1] = a end
  for _, a in ipairs({ "--", "sh", "-c", "touch /work/marker" }) do full[#full + 1] = a end
  local r = H.run(full, { bin = "testconf", stdin = stdin })
  r.ran = H.exists(work .. "/marker")
  return r
end

local function broken(r, breaker, sealer_line)
  assert.are.equal(125, r.code, r.err)
  assert.is_false(r.ran, "the command ran")
  assert.is_truthy(r.err:find(breaker, 1, true), "names the breaking line: " .. r.err)
  assert.is_truthy(r.err:find(SEAL .. ":" .. sealer_line, 1, true), "names the seal: " .. r.err)
end

describe("seals", function()
  after_each(function() reset(nil) end)

  it("let a stage run when it asks for nothing sealed", function()
    reset('policy:seal("network")\npolicy:seal_paths("/home", "/root")\n'
          .. 'policy:seal_env("AWS_*", "GITHUB_TOKEN")\n')
    local r = attempt({ "-e", "fs-read:/usr/share" })
    assert.are.equal(0, r.code, r.err)
    assert.is_true(r.ran)
  end)

  it("keep the network off: the network effect breaks the seal", function()
    reset('policy:seal("network")\n')
    broken(attempt({ "-e", "network" }), "policies.d/20-network.lua:", 1)
  end)

  it("hold against a --policy script", function()
    reset('\npolicy:seal("network")\n')
    local script = H.script("policy.network = true\n")
    broken(attempt({ "-p", script }), script .. ":1", 2)
  end)

  it("hold against --policy-json", function()
    reset('policy:seal("network")\n')
    local json = H.script('{"ro_binds":[],"network":true,"env_allowlist":[]}', "p.json")
    local r = attempt({ "--policy-json", json })
    assert.are.equal(125, r.code)
    assert.is_false(r.ran)
    -- the JSON came first here, so the seal itself is refused, naming the JSON
    assert.is_truthy(r.err:find(SEAL .. ":1: cannot seal the network off: it is on already "
                                .. "(set by policy-json:" .. json .. ")", 1, true), r.err)
  end)

  it("forbid binding a sealed path, also through a symlink", function()
    local dir = H.tmpdir()
    os.execute(("mkdir %s/secret && ln -s %s/secret %s/alias"):format(H.q(dir), H.q(dir), H.q(dir)))
    reset(('policy:seal_paths(%q)\n'):format(dir .. "/secret"))
    broken(attempt({ "-e", "fs-read:" .. dir .. "/secret" }), "policies.d/30-filesystem.lua:", 1)
    local script = H.script(('policy:ro_bind_try(%q, "/x")\n'):format(dir .. "/alias"))
    broken(attempt({ "-p", script }), script .. ":1", 1)
    -- --work comes before the layers: the seal itself is refused, naming it
    broken(attempt({ "--work", dir .. "/secret" }), "(set by --work) is under it", 1)
  end)

  it("forbid binding what a sealed symlink points to", function()
    local dir = H.tmpdir()
    os.execute(("mkdir %s/secret && ln -s %s/secret %s/alias"):format(H.q(dir), H.q(dir), H.q(dir)))
    -- the probe: without the seal the same bind runs the command
    local ok = attempt({ "-e", "fs-read:" .. dir .. "/secret" })
    assert.are.equal(0, ok.code, ok.err)
    assert.is_true(ok.ran)
    reset(('policy:seal_paths(%q)\n'):format(dir .. "/alias"))
    broken(attempt({ "-e", "fs-read:" .. dir .. "/secret" }), "policies.d/30-filesystem.lua:", 1)
    local script = H.script(('policy:ro_bind_try(%q, "/x")\n'):format(dir .. "/secret/inner"))
    os.execute(("mkdir %s/secret/inner"):format(H.q(dir)))
    broken(attempt({ "-p", script }), script .. ":1", 1)
    broken(attempt({ "--work", dir .. "/secret" }), "(set by --work) is under it", 1)
  end)

  it("forbid letting a sealed variable in, by name or prefix", function()
    reset('policy:seal_env("AWS_*", "GITHUB_TOKEN")\n')
    local a = H.script('policy:allow_env("AWS_SECRET_ACCESS_KEY")\n')
    broken(attempt({ "-p", a }), a .. ":1", 1)
    local b = H.script('policy:setenv("GITHUB_TOKEN", "x")\n')
    broken(attempt({ "-p", b }), b .. ":1", 1)
  end)

  it("hold at the REPL prompt", function()
    reset('policy:seal("network")\n')
    local r = H.run({ "repl" }, { bin = "testconf", stdin = "policy.network = true\n" })
    assert.are.equal(1, r.code)
    assert.is_truthy(r.err:find("repl:1: turning the network on breaks the seal placed by "
                                .. SEAL .. ":1", 1, true), r.err)
  end)

  it("cannot be placed over what is already granted", function()
    local dir = H.tmpdir()
    local script = H.script(('policy:seal_paths(%q)\n'):format(dir))
    local r = attempt({ "-e", "fs-read:" .. dir, "-p", script })
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find(script .. ":1: cannot seal " .. dir
                                .. ": policies.d/30-filesystem.lua:", 1, true), r.err)
  end)

  it("are listed by policy:seals()", function()
    reset('policy:seal("network")\npolicy:seal_env("AWS_*")\n')
    local r = H.run({ "repl" }, { bin = "testconf",
                                  stdin = "for _, s in ipairs(policy:seals()) do "
                                          .. "if not s.kind:find('protect') then "
                                          .. "print(s.kind, s.arg, s.origin) end end\n" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(("network\tnil\t%s:1\nenv\tAWS_*\t%s:2\n"):format(SEAL, SEAL), r.out)
  end)

  it("refuse an unknown seal", function()
    reset('policy:seal("everything")\n')
    local r = attempt({})
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find(SEAL .. ':1: unknown seal "everything"', 1, true), r.err)
  end)
end)

-- A sealed path stays unreachable when an ancestor of it is bound, however
-- it is bound: the sandbox sees an empty read-only placeholder there.
local function mask_in(groups, path)
  for _, g in ipairs(groups) do
    local w = g.words
    if (w[1] == "--perms" or w[1] == "mask-dir" or w[1] == "mask-file") and w[#w] == path then
      return g
    end
  end
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil
  describe("seals through a bound ancestor, as " .. who, function()
    after_each(function() reset(nil) end)

    it("show an empty read-only placeholder instead of a sealed directory or file", function()
      local dir = H.tmpdir()
      os.execute(("mkdir -p %s/x/secrets && echo KEY-IN-DIR > %s/x/secrets/key && "
                  .. "echo TOKEN-IN-FILE > %s/x/token && echo plain-ok > %s/x/plain && "
                  .. "chmod -R a+rwX %s"):format(H.q(dir), H.q(dir), H.q(dir), H.q(dir), H.q(dir)))
      reset(('policy:seal_paths(%q, %q)\n'):format(dir .. "/x/secrets", dir .. "/x/token"))
      local bind_elsewhere = H.script(('policy:ro_bind(%q, "/data")\n'):format(dir .. "/x"))
      -- the same tree bound three ways: at its path, at another target, as
      -- --work (writable: there only the masks refuse the writes; the tree
      -- is writable for any uid)
      for _, case in ipairs({
        { args = { "-e", "fs-read:" .. dir .. "/x" }, at = dir .. "/x" },
        { args = { "-p", bind_elsewhere }, at = "/data" },
        { args = { "--work", dir .. "/x" }, at = "/work", writable = true },
      }) do
        local at = case.at
        local cmd = ('cat %s/plain; echo "dir=[$(ls -A %s/secrets)]"; cat %s/secrets/key; '
                     .. 'echo "file=[$(cat %s/token)]"; (: > %s/token) 2>/dev/null && echo wrote; '
                     .. 'touch %s/secrets/new 2>/dev/null && echo made; '
                     .. 'touch %s/unsealed 2>/dev/null && echo control-written-ok; echo done')
                    :format(at, at, at, at, at, at, at)
        local args = { "run" }
        for _, a in ipairs(case.args) do args[#args + 1] = a end
        for _, a in ipairs({ "--", "sh", "-c", cmd }) do args[#args + 1] = a end
        local r = H.run(args, { bin = "testconf", user = user })
        assert.matches("^plain%-ok\n", r.out, r.err) -- the probe ran and saw the tree
        assert.matches("done\n$", r.out, r.err)
        assert.matches("dir=%[%]\n", r.out, at)
        assert.matches("file=%[%]\n", r.out, at)
        assert.is_nil(r.out:find("KEY-IN-DIR", 1, true), at)
        assert.is_nil(r.out:find("TOKEN-IN-FILE", 1, true), at)
        assert.is_nil(r.out:find("wrote", 1, true), at)
        assert.is_nil(r.out:find("made", 1, true), at)
        if case.writable then -- the write probes could write: the masks refused them
          assert.matches("control%-written%-ok\n", r.out, at)
        end
      end
      assert.are.equal("TOKEN-IN-FILE\n", H.read(dir .. "/x/token")) -- the host's is intact
      -- explain shows each mask, with the seal's origin
      local r = H.run({ "explain", "--isolate", H.BACKEND, "-e", "fs-read:" .. dir .. "/x" },
                      { bin = "testconf", user = user })
      assert.are.equal(0, r.code, r.err)
      local g = H.groups(r.out)
      for _, p in ipairs({ dir .. "/x/secrets", dir .. "/x/token" }) do
        local m = mask_in(g, p)
        assert.is_truthy(m, "no mask for " .. p .. " in\n" .. r.out)
        assert.are.equal(SEAL .. ":1", m.origin)
      end
    end)

    it("keep a sealed variable out of later scripts: no smuggling under another name", function()
      local script = H.script('policy:setenv("SMUGGLED", os.getenv("SANDLOT_SPEC_SECRET") '
                              .. 'or "unset")\n')
      local env = { SANDLOT_SPEC_SECRET = "s3cret-spec-value" }
      local function attempt_env()
        local r = H.run({ "run", "-p", script, "--", "sh", "-c", 'echo "X=$SMUGGLED"' },
                        { bin = "testconf", user = user, env = env })
        local e = H.run({ "explain", "-p", script, "--", "true" },
                        { bin = "testconf", user = user, env = env })
        local j = H.run({ "explain", "--json", "-p", script },
                        { bin = "testconf", user = user, env = env })
        return r, e.out .. e.err .. j.out .. j.err
      end
      -- control: without the seal the script reads it (the probe works)
      reset(nil)
      local r = attempt_env()
      assert.are.equal("X=s3cret-spec-value\n", r.out, r.err)
      for _, seal in ipairs({ '"SANDLOT_SPEC_SECRET"', '"SANDLOT_SPEC_*"' }) do
        reset("policy:seal_env(" .. seal .. ")\n")
        local shown
        r, shown = attempt_env()
        assert.are.equal(0, r.code, r.err)
        assert.are.equal("X=unset\n", r.out, seal)
        assert.is_nil(shown:find("s3cret", 1, true), shown)
      end
    end)
  end)
end
