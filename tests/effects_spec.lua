-- Effects in both forms, good and bad; noether JSON in and out.
local H = require("helpers")

local function explain(args)
  local full = { "explain", "--no-system-policies" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  return H.run(full)
end

local function header_effects(out)
  return out:match("# stage [^,]*, effects: ([^\n]*)")
end

describe("CLI effects", function()
  it("parses every kind, comma-separated and repeated", function()
    local d = H.tmpdir()
    local r = explain({ "-e", "pure,fallible,network", "-e", "fs-read:" .. d,
                        "-e", "fs-write:" .. d .. ",llm:claude,llm,non-deterministic",
                        "-e", "process,cost:5,cost,unknown" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(("pure, fallible, network, fs-read:%s, fs-write:%s, llm:claude, llm, "
                      .. "non-deterministic, process, cost:5, cost, unknown"):format(d, d),
                     header_effects(r.out))
  end)

  it("defaults to unknown, as noether does", function()
    local r = explain({})
    assert.are.equal("unknown", header_effects(r.out))
  end)

  it("drops duplicates and a trailing slash", function()
    local d = H.tmpdir()
    local r = explain({ "-e", "network,network", "-e", "fs-read:" .. d .. "/" })
    assert.are.equal("network, fs-read:" .. d, header_effects(r.out))
  end)

  it("reads \\, as a comma inside a path, and says so when one was cut", function()
    local d = H.tmpdir() .. "/a,b"
    assert(os.execute("mkdir " .. H.q(d)))
    local escaped = d:gsub(",", "\\,")
    local r = H.run({ "run", "-e", "fs-read:" .. escaped .. ",pure", "--", "ls", "-d", d })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(d .. "\n", r.out)
    local cut = explain({ "-e", "fs-read:" .. d })
    assert.are.equal(125, cut.code)
    assert.is_truthy(cut.err:find('unknown effect "b"', 1, true), cut.err)
    assert.is_truthy(cut.err:find("a comma inside a path is written \\,", 1, true), cut.err)
  end)

  local bad = {
    { "fs-read:/a\\b", 'a backslash escapes only ","' },
    { "bogus", 'unknown effect "bogus"' },
    { "netwrk", 'did you mean "network"' },
    { "fs-read", 'effect "fs%-read" needs a path' },
    { "fs-read:", 'effect "fs%-read" needs a path' },
    { "fs-write:relative/x", 'path must be absolute: "relative/x"' },
    { "fs-read:/a/../b", "not normalised" },
    { "fs-read:/a//b", "not normalised" },
    { "network:yes", 'effect "network" takes no argument' },
    { "cost:-1", "whole number of cents" },
    { "cost:1.5", "whole number of cents" },
    { "llm:", "model name is empty" },
    { "pure,,network", "empty effect" },
    { "", "empty effect list" },
    { "Network", 'unknown effect "Network"' },
  }
  for _, case in ipairs(bad) do
    it("refuses -e '" .. case[1] .. "'", function()
      local r = explain({ "-e", case[1] })
      assert.are.equal(125, r.code)
      assert.matches(case[2], r.err)
      assert.are.equal("", r.out)
    end)
  end
end)

describe("noether EffectSet JSON", function()
  local function json_file(text)
    return H.script(text, "effects.json")
  end

  it("reads serde's {\"effects\": [...]} shape", function()
    local d = H.tmpdir()
    local f = json_file(([[{"effects":[{"effect":"Pure"},{"effect":"Network"},
      {"effect":"FsRead","path":"%s"},{"effect":"FsWrite","path":"%s"},
      {"effect":"Cost","cents":5},{"effect":"Llm","model":"m"},{"effect":"Fallible"},
      {"effect":"NonDeterministic"},{"effect":"Process"},{"effect":"Unknown"}]}]]):format(d, d))
    local r = explain({ "--effects-json", f })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(("pure, network, fs-read:%s, fs-write:%s, cost:5, llm:m, fallible, "
                      .. "non-deterministic, process, unknown"):format(d, d), header_effects(r.out))
    assert.is_truthy(H.find(H.groups(r.out), "--share-net"))
    assert.is_truthy(H.find(H.groups(r.out), "--ro-bind", d, d))
  end)

  it("reads a bare array, and from stdin", function()
    local r = H.run({ "explain", "--effects-json", "-" },
                    { stdin = '[{"effect":"Network"}]' })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("network", header_effects(r.out))
  end)

  it("keeps Cost.cents exact over noether's whole u64 range", function()
    for _, cents in ipairs({ "9007199254740993", "9223372036854775807", "9223372036854775808",
                             "18446744073709551615" }) do
      local r = explain({ "--effects-json", json_file(('[{"effect":"Cost","cents":%s}]')
                                                       :format(cents)) })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("cost:" .. cents, header_effects(r.out))
      r = explain({ "-e", "cost:" .. cents })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("cost:" .. cents, header_effects(r.out))
    end
  end)

  it("refuses cents beyond u64, saying so", function()
    local big = "18446744073709551616"
    local r = explain({ "--effects-json", json_file('[{"effect":"Cost","cents":' .. big .. '}]') })
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find("cents " .. big .. " is above 18446744073709551615", 1, true),
                     r.err)
    r = explain({ "-e", "cost:" .. big })
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find("cents " .. big .. " is above 18446744073709551615", 1, true),
                     r.err)
  end)

  it("refuses an Effect with an unknown field, naming it and sandlot's version", function()
    local work = H.tmpdir()
    local function run(text)
      return H.run({ "run", "--work", work, "--effects-json", json_file(text), "--",
                     "sh", "-c", "touch /work/m" })
    end
    local r = run('[{"effect":"Cost","cents":5}]')
    assert.are.equal(0, r.code, r.err)
    assert.is_true(H.exists(work .. "/m"), "the probe ran")
    os.remove(work .. "/m")
    r = run('[{"effect":"Cost","cents":5,"note":"budget"}]')
    assert.are.equal(125, r.code)
    assert.is_truthy(r.err:find('unknown field "note" in Cost', 1, true), r.err)
    assert.matches("sandlot %d+%.%d+%.%d+ refuses fields it does not know", r.err)
    assert.is_false(H.exists(work .. "/m"), "the command ran")
  end)

  it("merges with -e", function()
    local f = json_file('[{"effect":"Network"}]')
    local r = explain({ "-e", "pure", "--effects-json", f })
    assert.are.equal("pure, network", header_effects(r.out))
  end)

  local bad = {
    { "{", "malformed JSON" },
    { '[{"effect":"Netwrok"}]', 'unknown effect "Netwrok"' },
    { '[{"effect":"FsRead"}]', 'FsRead needs "path"' },
    { '[{"effect":"FsRead","path":"rel"}]', "path must be absolute" },
    { '[{"effect":"Cost","cents":-2}]', "non%-negative integer" },
    { '[{"effect":"Cost","cents":1.5}]', "non%-negative integer" },
    { '[{"effect":"Network","extra":1}]', 'unknown field "extra"' },
    { '[{"path":"/x"}]', 'missing "effect" tag' },
    { '{"effects":[],"other":1}', 'unknown field "other"' },
    { '"network"', "expected an array" },
    { "[1]", "expected an object" },
    { "false", "expected an array" }, -- found by fuzz/fuzz_effects.c
    { "null", "expected an array" },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1], function()
      local f = json_file(case[1])
      local r = explain({ "--effects-json", f })
      assert.are.equal(125, r.code)
      assert.matches(case[2], r.err)
      assert.is_truthy(r.err:find("--effects-json " .. f, 1, true), "names the file")
    end)
  end

  it("refuses a missing file, naming it", function()
    local r = explain({ "--effects-json", "/nonexistent/effects.json" })
    assert.are.equal(125, r.code)
    assert.matches("/nonexistent/effects.json: cannot read", r.err)
  end)
end)

describe("noether IsolationPolicy JSON", function()
  local function export(args)
    local full = { "explain", "--json" }
    for _, a in ipairs(args) do full[#full + 1] = a end
    local r = H.run(full)
    assert.are.equal(0, r.code, r.err)
    return r.out
  end

  it("prints noether's field names", function()
    local d = H.tmpdir()
    local out = export({ "-e", "network,fs-write:" .. d, "--work", d })
    local cjson = require("cjson")
    local doc = cjson.decode(out)
    assert.is_true(doc.network)
    assert.are.same({ host = "/usr", sandbox = "/usr" }, doc.ro_binds[1])
    assert.are.same({ { host = d, sandbox = d } }, doc.rw_binds)
    assert.are.equal(d, doc.work_host)
    assert.is_truthy(out:find('"env_allowlist":["PATH","HOME","USER"', 1, true))
    assert.is_nil(out:find("\\/", 1, true), "slashes are not escaped")
  end)

  it("round-trips through --policy-json", function()
    local d = H.tmpdir()
    local first = export({ "-e", "network,fs-read:" .. d })
    local f = H.script(first, "policy.json")
    local second = export({ "--policy-json", f })
    assert.are.equal(first, second)
    -- and the bwrap command is the same too
    local a = H.run({ "explain", "-e", "network,fs-read:" .. d, "--", "true" })
    local b = H.run({ "explain", "--policy-json", f, "--", "true" })
    local function flags(out)
      local t = {}
      for _, g in ipairs(H.groups(out)) do t[#t + 1] = g.text end
      return t
    end
    assert.are.same(flags(a.out), flags(b.out))
  end)

  it("reads a plain noether policy and adds what noether's bwrap builder adds", function()
    local f = H.script('{"ro_binds":[["/usr","/usr"]],"network":true,'
                       .. '"env_allowlist":["PATH","HOME","USER"]}', "noether.json")
    local r = H.run({ "explain", "--policy-json", f, "--", "true" })
    assert.are.equal(0, r.code, r.err)
    local g = H.groups(r.out)
    assert.is_truthy(H.find(g, "--share-net"))
    assert.is_truthy(H.find(g, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"))
    assert.is_truthy(H.find(g, "--setenv", "HOME", "/work"))
    assert.is_truthy(H.find(g, "--tmpfs", "/work"))
    local _, usr = H.find(g, "--ro-bind", "/usr", "/usr")
    assert.are.equal("policy-json:" .. f, usr.origin)
  end)

  it("runs a command under an imported policy", function()
    local f = H.script('{"ro_binds":[["/usr","/usr"]],"network":false,"env_allowlist":[],'
                       .. '"sandlot":{"mounts":[{"kind":"ro","source":"/usr","target":"/usr"},'
                       .. '{"kind":"symlink","source":"usr/bin",'
                       .. '"target":"/bin"},{"kind":"symlink","source":"usr/lib","target":"/lib"},'
                       .. '{"kind":"symlink","source":"usr/lib64","target":"/lib64"}]}}',
                       "policy.json")
    local r = H.run({ "run", "--policy-json", f, "--", "/bin/sh", "-c", "echo imported" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("imported\n", r.out)
  end)

  local bad = {
    { "[", "malformed JSON" },
    { '{"network":false,"env_allowlist":[]}', 'missing field "ro_binds"' },
    { '{"ro_binds":[],"network":"no","env_allowlist":[]}', '"network" must be true or false' },
    { '{"ro_binds":[["/usr"]],"network":false,"env_allowlist":[]}', "pair of strings" },
    { '{"ro_binds":[],"network":false,"env_allowlist":[],"rw_bind":[]}',
      'unknown field "rw_bind"' },
    { '{"ro_binds":[["/usr","/usr"]],"network":false,"env_allowlist":[],'
      .. '"sandlot":{"mounts":[]}}', "ro_binds disagree with sandlot.mounts" },
    { '{"ro_binds":[],"network":false,"env_allowlist":[],"sandlot":{"seal":1}}',
      'unknown field "seal" in "sandlot"' },
    { '{"ro_binds":[],"network":false,"env_allowlist":[],"sandlot":{"mounts":'
      .. '[{"kind":"tmpfs","target":"/x","mode":"rw"}]}}',
      'unknown field "mode" in sandlot.mounts entry #1' },
    { '{"ro_binds":[],"network":false,"env_allowlist":[],"sandlot":{"seccomp":{"allow":[]}}}',
      'unknown field "allow" in sandlot.seccomp' },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1], function()
      local f = H.script(case[1], "policy.json")
      local r = H.run({ "explain", "--policy-json", f })
      assert.are.equal(125, r.code)
      assert.matches(case[2], r.err)
      assert.is_truthy(r.err:find("policy-json:" .. f, 1, true), "names the file: " .. r.err)
    end)
  end
end)
