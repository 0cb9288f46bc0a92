-- Every bad input: one line naming the culprit, exit 125, and the command
-- never runs (it would have written a marker file into --work).
local H = require("helpers")

local function attempt(args, opts)
  local work = H.tmpdir()
  local full = { "run", "--work", work }
  for _, a in ipairs(args) do full[#full + 1] = a end
  if not (opts and opts.no_command) then
    for _, a in ipairs({ "--", "sh", "-c", "touch /work/marker" }) do full[#full + 1] = a end
  end
  local r = H.run(full, opts)
  r.ran = H.exists(work .. "/marker")
  return r
end

local function refused(r, pattern)
  H.assert_refused(r, pattern)
  assert.are.equal("", r.out)
end

local function one_line(r)
  assert.are.equal(1, select(2, r.err:gsub("\n", "")), "one line: " .. r.err)
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("bad input as " .. who, function()
    it("control: a good run writes the marker", function()
      local r = attempt({}, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.is_true(r.ran)
    end)

    it("unknown effect", function()
      local r = attempt({ "-e", "network,telepathy" }, { user = user })
      refused(r, 'unknown effect "telepathy"')
      one_line(r)
    end)

    it("malformed effect path", function()
      local r = attempt({ "-e", "fs-read:data/in" }, { user = user })
      refused(r, 'path must be absolute: "data/in"')
      one_line(r)
    end)

    it("malformed effects JSON", function()
      local f = H.script("[{effect: Network}]", "effects.json")
      local r = attempt({ "--effects-json", f }, { user = user })
      refused(r, "--effects-json " .. f .. ": malformed JSON")
      one_line(r)
    end)

    it("malformed policy JSON", function()
      local f = H.script('{"ro_binds": [', "policy.json")
      local r = attempt({ "--policy-json", f }, { user = user })
      refused(r, "policy-json:" .. f .. ": malformed JSON")
      one_line(r)
    end)

    it("missing policy file", function()
      local r = attempt({ "-p", "/nonexistent/stage.lua" }, { user = user })
      refused(r, "cannot read policy script /nonexistent/stage.lua: No such file or directory")
      one_line(r)
    end)

    it("policy file that is a directory", function()
      local d = H.tmpdir()
      local r = attempt({ "-p", d }, { user = user })
      refused(r, d)
      one_line(r)
    end)

    it("syntax error, naming file and line", function()
      local f = H.script("policy.network = true\nlocal x = = 2\n")
      local r = attempt({ "-p", f }, { user = user })
      refused(r, f .. ":2:")
      one_line(r)
    end)

    it("runtime error, naming file and line", function()
      local f = H.script("\n\nlocal t = nil\nlocal y = t.field\n")
      local r = attempt({ "-p", f }, { user = user })
      refused(r, f .. ":4: attempt to index a nil value")
      one_line(r)
    end)

    it("names a script with a long path in full", function()
      local dir = H.tmpdir() .. "/a-rather-long-directory-name/another-level-of-depth/policies.d"
      os.execute("mkdir -p " .. H.q(dir))
      local f = dir .. "/50-a-policy-script-with-a-long-name.lua"
      H.write(f, '\nerror("refused here")\n')
      local r = attempt({ "-p", f }, { user = user })
      refused(r, f .. ":2: refuses stage with effects unknown: refused here")
      H.write(f, "\nlocal x = = 1\n")
      refused(attempt({ "-p", f }, { user = user }), f .. ":2:")
      H.write(f, "\nwhile true do end\n")
      refused(attempt({ "-p", f }, { user = user }), f .. ":2: policy evaluation exceeded its ")
    end)

    it("error() from a script", function()
      local f = H.script('error("this stage may not run here")')
      local r = attempt({ "-p", f }, { user = user })
      refused(r, f .. ":1: refuses stage with effects unknown: this stage may not run here")
      one_line(r)
    end)

    it("error with a non-string value", function()
      local f = H.script("error({ code = 1 })")
      local r = attempt({ "-p", f }, { user = user })
      refused(r, f .. ": error object is a table value")
    end)

    it("invariant breach from a script", function()
      local f = H.script('policy:allow_env("LD_PRELOAD")')
      local r = attempt({ "-p", f }, { user = user })
      refused(r, f .. ":1: environment variable LD_PRELOAD is refused")
      one_line(r)
    end)

    it("invariant breach from --policy-json", function()
      local f = H.script('{"ro_binds":[],"rw_binds":[["/","/x"]],"network":false,'
                         .. '"env_allowlist":[]}', "policy.json")
      local r = attempt({ "--policy-json", f }, { user = user })
      refused(r, "policy-json:" .. f .. ": read-write bind of the host root")
      one_line(r)
    end)

    it("unknown option", function()
      local r = attempt({ "--frobnicate" }, { user = user })
      refused(r, 'unknown option "--frobnicate"')
    end)

    it("missing command after --", function()
      local r = attempt({ "--" }, { user = user, no_command = true })
      refused(r, "missing command after --")
    end)

    it("bad --timeout", function()
      local r = attempt({ "--timeout", "soon" }, { user = user })
      refused(r, "--timeout: expected a positive duration up to a year, as timeout(1) takes "
                 .. 'it (2, 2s, 1.5m, 1h, 1d), got "soon"')
    end)

    it("unknown isolation mode", function()
      local r = attempt({ "--isolate", "chroot" }, { user = user })
      refused(r, 'unknown isolation mode "chroot"')
    end)

    it("--isolate none with --require-isolation", function()
      local r = attempt({ "--isolate", "none", "--require-isolation" }, { user = user })
      refused(r, "refusing to run unsandboxed")
      one_line(r)
    end)

    it("SANDLOT_ISOLATION=none with SANDLOT_REQUIRE_ISOLATION=1", function()
      local env = { SANDLOT_ISOLATION = "none", SANDLOT_REQUIRE_ISOLATION = "1" }
      local r = attempt({}, { user = user, env = env })
      refused(r, "refusing to run unsandboxed")
    end)

    it("fs-read of a path that does not exist", function()
      local r = attempt({ "-e", "fs-read:/nonexistent/data" }, { user = user })
      refused(r, "fs-read: /nonexistent/data does not exist on the host")
      one_line(r)
    end)

    it("bwrap not found", function()
      -- Hide bwrap in a private mount namespace: /dev/null over the binary.
      local work = H.tmpdir()
      local dir = H.tmpdir()
      local cmd = ("unshare -rm sh -c %s >%s/out 2>%s/err"):format(H.q(
        "mount --bind /dev/null /usr/bin/bwrap && exec env PATH=/usr/bin:/bin " ..
        H.q(H.bin_dir() .. "/sandlot") .. " run --isolate bwrap --work " .. H.q(work) ..
        " -- sh -c 'touch /work/marker'"), H.q(dir), H.q(dir))
      if user then
        cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- sh -c " .. H.q(cmd)
      end
      local _, _, code = os.execute(cmd)
      local err = H.read(dir .. "/err")
      assert.are.equal(125, code, err)
      assert.is_truthy(err:find("bwrap (bubblewrap) not found", 1, true), err)
      assert.is_truthy(err:find("apt-get install bubblewrap", 1, true), err)
      assert.is_false(H.exists(work .. "/marker"))
      one_line({ err = err })
    end)
  end)
end

describe("SANDLOT_SOURCE_DIR", function()
  it("loads the library and built-in policies from a checkout", function()
    local r = H.run({ "explain" }, { env = { SANDLOT_SOURCE_DIR = H.ROOT } })
    assert.are.equal(0, r.code, r.err)
    assert.matches("policies%.d/10%-runtime%.lua", r.out)
  end)

  -- needs a second user: defined when the suite runs as root (as CI does)
  if #H.users() > 1 then
    it("is refused for a binary in a directory the user cannot write", function()
      -- the copy in H.bin_dir() is root-owned and 0755: nobody cannot write there
      local r = H.run({ "run", "--", "true" },
                      { user = "nobody", env = { SANDLOT_SOURCE_DIR = H.ROOT } })
      assert.are.equal(125, r.code)
      assert.matches("SANDLOT_SOURCE_DIR is honoured only for a sandlot in a directory you "
                     .. "can write", r.err)
    end)
  end
end)

describe("--isolate none", function()
  it("warns loudly without --unsafe-no-isolation, and still filters the environment", function()
    local r = H.run({ "run", "--isolate", "none", "--", "sh", "-c", "echo ${SECRET_X:-unset}" },
                    { env = { SECRET_X = "leak" } })
    assert.are.equal(0, r.code, r.err)
    assert.matches("WARNING: %-%-isolate none: the command runs UNSANDBOXED", r.err)
    assert.are.equal("unset\n", r.out)
  end)

  it("is quiet with --unsafe-no-isolation", function()
    local r = H.run({ "run", "--isolate", "none", "--unsafe-no-isolation", "--", "true" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("", r.err)
  end)

  it("maps exit statuses like the sandbox does", function()
    assert.are.equal(3, H.run({ "run", "--isolate", "none", "--unsafe-no-isolation", "--",
                                "sh", "-c", "exit 3" }).code)
    -- a fixed PATH: an unreadable PATH entry would turn ENOENT into EACCES (126)
    local fixed = { env = { PATH = "/usr/bin:/bin" } }
    assert.are.equal(127, H.run({ "run", "--isolate", "none", "--unsafe-no-isolation", "--",
                                  "no-such-command-xyz" }, fixed).code)
    assert.are.equal(137, H.run({ "run", "--isolate", "none", "--unsafe-no-isolation", "--",
                                  "sh", "-c", "kill -KILL $$" }).code)
  end)
end)

describe("check", function()
  it("reports every failing script and exits 1", function()
    local good = H.script('policy:setenv("A", "1")', "good.lua")
    local bad = H.script('if stage:has("network") then policy:allow_env("LD_AUDIT") end',
                         "bad.lua")
    local broken = H.script("policy:ro_bind(", "broken.lua")
    local r = H.run({ "check", good, bad, broken })
    assert.are.equal(1, r.code)
    assert.is_truthy(r.err:find(bad .. ":1: environment variable LD_AUDIT is refused", 1, true))
    assert.is_truthy(r.err:find("stage effects: network", 1, true))
    assert.is_truthy(r.err:find(broken .. ":1:", 1, true))
    assert.is_nil(r.err:find(good, 1, true))
    assert.matches("3 scripts checked, 2 problems", r.out)
  end)

  it("exits 0 for clean scripts", function()
    local good = H.script('policy:setenv("A", "1")', "good.lua")
    local r = H.run({ "check", good })
    assert.are.equal(0, r.code, r.err)
  end)

  it("lists a script's own error() as a refusal of the stage, not a problem", function()
    local refuse = H.script('if stage:has("network") then error("no network here") end',
                            "refuse.lua")
    local r = H.run({ "check", refuse })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("", r.err)
    assert.is_truthy(r.out:find(refuse .. ":1: refuses stage with effects network: no network here",
                                1, true), r.out)
    assert.matches("1 script checked, 0 problems, 1 refusal", r.out)
    -- a runtime error in the same place is still a problem
    local buggy = H.script('if stage:has("network") then local x; return x.y end', "buggy.lua")
    r = H.run({ "check", buggy })
    assert.are.equal(1, r.code)
    assert.is_truthy(r.err:find(buggy .. ":1: attempt to index", 1, true), r.err)
    assert.is_nil(r.err:find("refuses", 1, true))
  end)

  it("run reports a deliberate refusal with the stage's name, and runs nothing", function()
    local refuse = H.script('if stage:has("network") then error("no network here") end',
                            "refuse.lua")
    local marker = H.tmpdir() .. "/ran"
    local r = H.run({ "run", "--stage", "fetch", "-e", "network", "-p", refuse, "--",
                      "/bin/sh", "-c", "echo > " .. marker })
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find(refuse .. ':1: refuses stage "fetch": no network here', 1, true),
                     r.err)
    assert.is_nil(io.open(marker))
  end)

  it("takes the stages to check from -e and --effects-json, one stage each", function()
    local s = H.script('if stage:has("fs-write") then local x; return x.y end', "fsw.lua")
    -- none of these stages writes: clean
    local r = H.run({ "check", "-e", "pure", "-e", "network,fs-read:/tmp", s })
    assert.are.equal(0, r.code, r.err)
    assert.matches("1 script checked, 0 problems", r.out)
    -- the default samples include a writing stage
    r = H.run({ "check", s })
    assert.are.equal(1, r.code)
    local json = H.tmpdir() .. "/effects.json"
    local f = assert(io.open(json, "w"))
    f:write('{"effects":[{"effect":"FsWrite","path":"/tmp"}]}')
    f:close()
    r = H.run({ "check", "--effects-json", json, s })
    assert.are.equal(1, r.code)
    assert.is_truthy(r.err:find("stage effects: --effects-json " .. json, 1, true), r.err)
    -- a malformed sample stage is bad usage
    r = H.run({ "check", "-e", "bogus", s })
    assert.are.equal(125, r.code)
    assert.matches('unknown effect "bogus"', r.err)
  end)
end)

describe("usage", function()
  it("prints help for each command and exits 0", function()
    for _, cmd in ipairs({ { "--help" }, { "run", "--help" }, { "explain", "--help" },
                           { "check", "--help" } }) do
      local r = H.run(cmd)
      assert.are.equal(0, r.code)
      assert.matches("usage: sandlot", r.out)
    end
  end)

  it("prints the version", function()
    local r = H.run({ "version" })
    assert.are.equal(0, r.code)
    assert.matches("^sandlot %d+%.%d+%.%d+", r.out)
  end)

  it("refuses an unknown command with 125", function()
    local r = H.run({ "frobnicate" })
    assert.are.equal(125, r.code)
    assert.matches('unknown command "frobnicate"', r.err)
  end)
end)
