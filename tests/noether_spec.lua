-- noether as a drop-in: the IsolationPolicy JSON noether really emits (its
-- serde derive: binds as {"host","sandbox"} objects, rw_binds and work_host
-- left out when empty), read by --policy-json and by the noether-sandbox
-- personality, on the backend of this run (tools/run-tests.sh runs both).
local H = require("helpers")
local cjson = require("cjson")

local FIXTURES = H.ROOT .. "/tests/fixtures/noether/"
local NOETHER_FIELDS = { "ro_binds", "rw_binds", "work_host", "network", "env_allowlist" }

-- A fixture's text, with @NAME@ placeholders replaced from vars.
local function fixture(name, vars)
  local text = assert(H.read(FIXTURES .. name), "missing fixture " .. name)
  return (text:gsub("@(%u+)@", function(k) return assert(vars and vars[k], k) end))
end

-- The fixture written where the user running sandlot can read it.
local function fixture_file(name, vars)
  return H.script(fixture(name, vars), name)
end

-- The v0.8.2 fixture with fresh directories for its rw bind and /work.
local function full_policy()
  local out, work = H.tmpdir(), H.tmpdir()
  return fixture_file("v0.8.2.json", { OUT = out, WORK = work }), out, work
end

-- noether's fields of a decoded IsolationPolicy (the keys present only).
local function noether_fields(doc)
  local t = {}
  for _, k in ipairs(NOETHER_FIELDS) do t[k] = doc[k] end
  return t
end

-- A noether-sandbox symlink to the binary under test, as `make install` makes.
local symlink
local function noether_symlink()
  if not symlink then
    symlink = H.tmpdir() .. "/noether-sandbox"
    assert(os.execute(("ln -s %s %s"):format(H.q(H.bin_dir() .. "/sandlot"), H.q(symlink))))
  end
  return symlink
end

-- Run the personality: spelling "sandlot" (sandlot noether-sandbox ...) or
-- "symlink" (argv[0] noether-sandbox); the backend from NOETHER_ISOLATION.
local function personality(spelling, args, opts)
  opts = opts or {}
  local env = { NOETHER_ISOLATION = H.BACKEND }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local run_opts = { user = opts.user, stdin = opts.stdin, env = env }
  if spelling == "symlink" then
    run_opts.exe = noether_symlink()
    return H.run(args, run_opts)
  end
  local full = { "noether-sandbox" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  return H.run(full, run_opts)
end

for _, user in ipairs(H.users()) do
  describe("noether IsolationPolicy JSON as " .. user, function()
    it("runs a policy with object binds, rw_binds and work_host", function()
      local f, out, work = full_policy()
      local r = H.run({ "run", "--policy-json", f, "--", "/bin/sh", "-c",
                        "echo rw > /out/f && pwd > /work/w && echo ran" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("ran\n", r.out)
      assert.are.equal("rw\n", H.read(out .. "/f"))
      assert.are.equal("/work\n", H.read(work .. "/w"))
    end)

    it("runs noether v0.7.1's payload (no rw_binds, no work_host)", function()
      local f = fixture_file("v0.7.1.json")
      local r = H.run({ "run", "--policy-json", f, "--", "/bin/sh", "-c", "echo ran; pwd" },
                      { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("ran\n/work\n", r.out)
    end)

    it("recreates the host's merged-usr links bound at their own path", function()
      local links = {}
      for _, p in ipairs({ "/bin", "/lib", "/lib64" }) do
        local h = io.popen("readlink " .. p)
        links[p] = h:read("l")
        h:close()
      end
      local f = fixture_file("v0.7.1.json")
      local r = H.run({ "run", "--policy-json", f, "--", "/bin/sh", "-c",
                        "for p in /bin /lib /lib64; do readlink $p || echo dir; done" },
                      { user = user })
      assert.are.equal(0, r.code, r.err)
      local want = {}
      for _, p in ipairs({ "/bin", "/lib", "/lib64" }) do want[#want + 1] = links[p] or "dir" end
      assert.are.equal(table.concat(want, "\n") .. "\n", r.out)
    end)

    it("refuses any other symlinked bind source, saying why", function()
      local d = H.tmpdir()
      assert(os.execute(("mkdir %s/real && ln -s real %s/link"):format(H.q(d), H.q(d))))
      local function policy(source)
        local doc = cjson.decode(fixture("v0.7.1.json"))
        doc.ro_binds[#doc.ro_binds + 1] = { host = source, sandbox = "/data" }
        return H.script(cjson.encode(doc), "policy.json")
      end
      local work = H.tmpdir()
      local cmd = { "/bin/sh", "-c", "touch /work/m" }
      local function run(f)
        return H.run({ "run", "--work", work, "--policy-json", f, "--", table.unpack(cmd) },
                     { user = user })
      end
      -- the probe: with the real directory the same policy runs it
      local r = run(policy(d .. "/real"))
      assert.are.equal(0, r.code, r.err)
      assert.is_true(H.exists(work .. "/m"), "the probe ran")
      os.remove(work .. "/m")
      r = run(policy(d .. "/link"))
      assert.are.equal(125, r.code, r.err)
      assert.is_truthy(r.err:find("goes through the symlink " .. d .. "/link", 1, true), r.err)
      assert.is_truthy(r.err:find("binds never follow links", 1, true), r.err)
      assert.is_truthy(r.err:find("merged-usr", 1, true), r.err)
      assert.is_false(H.exists(work .. "/m"), "the command ran")
    end)

    it("names the missing ELF interpreter of a file that exists", function()
      local f = fixture_file("usr-only.json")
      local r = H.run({ "run", "--policy-json", f, "--", "/usr/bin/true" }, { user = user })
      assert.are.equal(127, r.code, r.err)
      local interp = r.err:match("/usr/bin/true is in the sandbox but its ELF interpreter (%S+) "
                                 .. "is not")
      assert.is_truthy(interp, r.err)
      assert.is_true(H.exists(interp), "the named interpreter is the host's: " .. interp)
      -- with the runtime bound, the same command runs
      r = H.run({ "run", "--policy-json", fixture_file("v0.7.1.json"), "--", "/usr/bin/true" },
                { user = user })
      assert.are.equal(0, r.code, r.err)
    end)

    it("names the missing #! interpreter of a script that exists", function()
      local d = H.tmpdir()
      H.write(d .. "/stage", "#!/nonexistent/python3\nprint(1)\n", "0755")
      local f = H.script(cjson.encode({
        ro_binds = { { host = "/usr", sandbox = "/usr" }, { host = d, sandbox = "/stage" } },
        network = false, env_allowlist = {} }), "policy.json")
      local r = H.run({ "run", "--policy-json", f, "--", "/stage/stage" }, { user = user })
      assert.are.equal(127, r.code, r.err)
      assert.is_truthy(r.err:find("/stage/stage is in the sandbox but its #! interpreter "
                                  .. "/nonexistent/python3 is not", 1, true), r.err)
      r = H.run({ "run", "--policy-json", f, "--", "/stage/none" }, { user = user })
      assert.are.equal(127, r.code, r.err)
      assert.is_truthy(r.err:find("/stage/none: command not found in the sandbox", 1, true), r.err)
    end)

    it("refuses an unknown field, naming it and sandlot's version", function()
      local cases = { { "unknown-field.json", '"deny_write"' },
                      { "unknown-bind-field.json", '"readonly" in "ro_binds" entry #1' } }
      for _, case in ipairs(cases) do
        local work = H.tmpdir()
        -- the probe: without the field the same policy runs it
        local doc = cjson.decode(fixture(case[1]))
        doc.deny_write = nil
        doc.ro_binds[1].readonly = nil
        local good = H.script(cjson.encode(doc), "policy.json")
        local r = H.run({ "run", "--work", work, "--policy-json", good, "--", "/bin/sh", "-c",
                          "touch /work/m" }, { user = user })
        assert.are.equal(0, r.code, r.err)
        assert.is_true(H.exists(work .. "/m"), "the probe ran")
        os.remove(work .. "/m")
        local f = fixture_file(case[1])
        r = H.run({ "run", "--work", work, "--policy-json", f, "--", "/bin/sh", "-c",
                    "touch /work/m" }, { user = user })
        assert.are.equal(125, r.code, r.err)
        assert.is_truthy(r.err:find("unknown field " .. case[2], 1, true), r.err)
        assert.matches("sandlot %d+%.%d+%.%d+ refuses fields it does not know", r.err)
        assert.is_false(H.exists(work .. "/m"), "the command ran")
      end
    end)
  end)

  describe("the noether-sandbox personality as " .. user, function()
    for _, spelling in ipairs({ "sandlot", "symlink" }) do
      describe("spelt " .. (spelling == "sandlot" and "sandlot noether-sandbox" or
                            "noether-sandbox (a symlink)"), function()
        it("reads the policy from stdin: -- /bin/true, and the command's own status", function()
          local policy = fixture("v0.7.1.json")
          local r = personality(spelling, { "--", "/bin/true" }, { stdin = policy, user = user })
          assert.are.equal(0, r.code, r.err)
          r = personality(spelling, { "--", "/bin/sh", "-c", "echo ran; cat; echo end; exit 7" },
                          { stdin = policy, user = user })
          assert.are.equal(7, r.code, r.err)
          -- the command inherits the drained stdin, as from noether's binary
          assert.are.equal("ran\nend\n", r.out)
          r = personality(spelling, { "--", "/bin/sh", "-c", "kill -9 $$" },
                          { stdin = policy, user = user })
          assert.are.equal(137, r.code, r.err)
          r = personality(spelling, { "--", "/nonexistent" }, { stdin = policy, user = user })
          assert.are.equal(127, r.code, r.err)
        end)

        it("takes noether's documented example on stdin", function()
          -- it binds only /nix/store: where that is missing the bind fails
          -- (exit 2, nothing ran); where it exists /bin/true is not inside
          local r = personality(spelling, { "--", "/bin/true" },
                                { stdin = fixture("documented.json"), user = user })
          if H.exists("/nix/store") then
            assert.are.equal(127, r.code, r.err)
          else
            assert.are.equal(2, r.code, r.err)
            assert.is_truthy(r.err:find("bind source /nix/store", 1, true), r.err)
          end
        end)

        it("takes --policy-file; the command then reads its own stdin", function()
          local f = fixture_file("v0.7.1.json")
          for _, args in ipairs({ { "--policy-file", f }, { "--policy-file=" .. f } }) do
            args[#args + 1] = "--"
            for _, w in ipairs({ "/bin/sh", "-c", "read line; echo got $line" }) do
              args[#args + 1] = w
            end
            local r = personality(spelling, args, { stdin = "input\n", user = user })
            assert.are.equal(0, r.code, r.err)
            assert.are.equal("got input\n", r.out)
          end
        end)

        it("runs noether's default (pure) policy when stdin is empty", function()
          local r = personality(spelling, { "--", "/bin/sh", "-c", "echo ran; pwd" },
                                { stdin = " \n", user = user })
          assert.are.equal(0, r.code, r.err)
          assert.are.equal("ran\n/work\n", r.out)
        end)

        it("accepts --isolate=MODE, --isolate MODE and NOETHER_ISOLATION", function()
          local policy = fixture("v0.7.1.json")
          for _, args in ipairs({ { "--isolate=" .. H.BACKEND }, { "--isolate", H.BACKEND },
                                  { "--isolate=auto" } }) do
            args[#args + 1] = "--"
            args[#args + 1] = "/bin/true"
            local r = personality(spelling, args, { stdin = policy, user = user })
            assert.are.equal(0, r.code, r.err)
          end
        end)

        it("exits 2 for its own argument and policy errors, running nothing", function()
          local f, out = full_policy()
          local cmd = { "/bin/sh", "-c", "touch /out/m" }
          local function with(args)
            for _, w in ipairs(cmd) do args[#args + 1] = w end
            return args
          end
          -- the probe: this runs and leaves the marker
          local r = personality(spelling, with({ "--policy-file", f, "--" }), { user = user })
          assert.are.equal(0, r.code, r.err)
          assert.is_true(H.exists(out .. "/m"), "the probe ran")
          os.remove(out .. "/m")
          local bad = {
            { { "--policy-file", f }, "missing `--`" },
            { with({ "--policy-file", f }), "unknown argument `/bin/sh` before `--`" },
            { with({ "--policy-file", f, "--bogus", "--" }), "unknown argument `--bogus`" },
            { with({ "--policy-file", f, "--isolate=docker", "--" }),
              'unknown isolation mode "docker"' },
            { { "--policy-file", f, "--" }, "empty inner command" },
            { with({ "--policy-file", fixture_file("unknown-field.json"), "--" }),
              'unknown field "deny_write"' },
            { with({ "--policy-file", "/nonexistent/policy.json", "--" }),
              "/nonexistent/policy.json" },
            { with({ "--policy-file", f, "--isolate=none", "--require-isolation", "--" }),
              "refusing to run unsandboxed" },
          }
          for _, case in ipairs(bad) do
            r = personality(spelling, case[1], { user = user })
            assert.are.equal(2, r.code, table.concat(case[1], " ") .. ": " .. r.err)
            assert.is_truthy(r.err:find(case[2], 1, true), r.err)
            assert.is_false(H.exists(out .. "/m"), "ran: " .. table.concat(case[1], " "))
          end
          r = personality(spelling, with({ "--policy-file", f, "--isolate=none", "--" }),
                          { user = user, env = { NOETHER_REQUIRE_ISOLATION = "1" } })
          assert.are.equal(2, r.code, r.err)
          assert.is_false(H.exists(out .. "/m"), "ran unsandboxed")
          r = personality(spelling, with({ "--" }), { user = user,
                                                       stdin = string.rep(" ", (1 << 20) + 1) })
          assert.are.equal(2, r.code, r.err)
          assert.is_truthy(r.err:find("larger than 1 MiB", 1, true), r.err)
        end)
      end)
    end
  end)
end

describe("noether JSON round trip", function()
  local function export(f)
    local r = H.run({ "explain", "--json", "--policy-json", f })
    assert.are.equal(0, r.code, r.err)
    return r.out
  end

  local cases = {
    { "the documented example", function() return fixture_file("documented.json") end },
    { "v0.7.1's payload", function() return fixture_file("v0.7.1.json") end },
    { "v0.8.2 with rw_binds and work_host", function() return (full_policy()) end },
  }
  for _, case in ipairs(cases) do
    it(case[1] .. ": --policy-json then explain --json gives noether's fields back", function()
      local f = case[2]()
      local given = cjson.decode(H.read(f))
      local out = export(f)
      local got = cjson.decode(out)
      assert.are.same(noether_fields(given), noether_fields(got))
      assert.is_nil(out:find('"rw_binds"', 1, true) and not given.rw_binds or nil,
                    "empty rw_binds left out")
      assert.is_nil(out:find('"work_host"', 1, true) and not given.work_host or nil,
                    "unset work_host left out")
      -- and sandlot's own output reads back to the same text
      local again = export(H.script(out, "policy.json"))
      assert.are.equal(out, again)
    end)
  end

  it("writes binds read as [host, sandbox] pairs back as noether's objects", function()
    local f = H.script('{"ro_binds":[["/usr","/usr"]],"rw_binds":[],"network":false,'
                       .. '"env_allowlist":[]}', "policy.json")
    local out = export(f)
    assert.is_truthy(out:find('^{"ro_binds":%[{"host":"/usr","sandbox":"/usr"}%],"network"'), out)
  end)
end)

describe("make install", function()
  it("creates the noether-sandbox symlink beside sandlot", function()
    local dest = H.tmpdir()
    local ok = os.execute(("make -s -C %s install DESTDIR=%s PREFIX=/usr >/dev/null 2>&1")
                          :format(H.q(H.ROOT), H.q(dest)))
    assert.is_true(ok == true, "make install failed")
    local h = io.popen("readlink " .. H.q(dest .. "/usr/bin/noether-sandbox"))
    local target = h:read("l")
    h:close()
    assert.are.equal("sandlot", target)
    assert.is_true(H.exists(dest .. "/usr/bin/sandlot"))
  end)
end)
