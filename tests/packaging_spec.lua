--- Part of the system: the man pages, the shell completion, `sandlot
-- version`, the changelogs and what `make install` puts where.  None of it
-- depends on the backend; it runs in each backend's pass like the rest.
local H = require("tests.helpers")

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

local function lines(text)
  local t = {}
  for l in text:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- The long options a usage text names (--help's own lines).
local function long_options(text)
  local s = {}
  for o in text:gmatch("%-%-[a-z][a-z-]+") do s[o] = true end
  return s
end

local MAN1 = H.ROOT .. "/build/man/sandlot.1"
local MAN5 = H.ROOT .. "/build/man/sandlot-policy.5"

describe("the man pages", function()
  for _, page in ipairs({ MAN1, MAN5 }) do
    it("render without a warning: " .. page:match("[^/]+$"), function()
      assert.is_true(H.exists(page), page .. " was not built (make man)")
      local out, code = sh("groff -ww -man -z " .. H.q(page))
      assert.are.equal(0, code, out)
      assert.are.equal("", out)
      local text, mcode = sh("MANWIDTH=80 man -l " .. H.q(page))
      assert.are.equal(0, mcode, text)
      assert.matches("\nNAME\n", text)
      assert.matches("\nSEE ALSO\n", text)
      -- no scdoc markup left unconverted
      assert.is_nil(text:find("%*%-%-"), "an unconverted *--option*")
    end)
  end

  it("sandlot(1) names every command and every option --help lists", function()
    local src = H.read(H.ROOT .. "/man/sandlot.1.scd")
    local usage = ""
    for _, args in ipairs({ { "--help" }, { "run", "--help" }, { "explain", "--help" },
                            { "repl", "--help" }, { "check", "--help" },
                            { "doctor", "--help" } }) do
      local r = H.run(args)
      assert.are.equal(0, r.code, r.err)
      usage = usage .. r.out
    end
    local missing = {}
    for o in pairs(long_options(usage)) do
      if not src:find("*" .. o, 1, true) then missing[#missing + 1] = o end
    end
    for cmd in usage:gmatch("\n  ([a-z-]+) ") do
      if not src:find("*" .. cmd .. "*", 1, true) then missing[#missing + 1] = cmd end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("sandlot-policy(5) documents every policy method", function()
    local src = H.read(H.ROOT .. "/man/sandlot-policy.5.scd")
    local core = H.read(H.ROOT .. "/src/lua_core.c")
    local methods = core:match("policy_methods%[%] = {(.-)NULL")
    assert.is_truthy(methods, "policy_methods not found in src/lua_core.c")
    local missing, n = {}, 0
    for name in methods:gmatch('{"([%w_]+)"') do
      n = n + 1
      if not src:find("*policy:" .. name .. "(", 1, true) and
         not src:find("policy:" .. name .. "(", 1, true) then
        missing[#missing + 1] = name
      end
    end
    assert.is_true(n > 20, "found only " .. n .. " methods")
    assert.are.same({}, missing)
  end)
end)

-- Complete a line as bash does at its end, from dir; the candidates.
local function complete(line, dir)
  local out, code = sh(("cd %s && bash %s %s %s"):format(
    H.q(dir or H.ROOT), H.q(H.ROOT .. "/tests/complete.bash"),
    H.q(H.ROOT .. "/completion/sandlot.bash"), H.q(line)))
  assert.are.equal(0, code, out)
  return lines(out)
end

describe("bash completion", function()
  it("completes commands", function()
    assert.are.same({ "run", "repl" }, complete("sandlot r"))
    assert.are.same({ "doctor" }, complete("sandlot do"))
  end)

  it("completes options, and the --isolate modes", function()
    assert.are.same({ "--json" }, complete("sandlot explain --js"))
    assert.are.same({ "--status-json", "--status-fd" }, complete("sandlot run --status-"))
    assert.are.same({ "auto", "native", "bwrap", "none" }, complete("sandlot run --isolate "))
    assert.are.same({ "native", "none" }, complete("sandlot run --isolate=n"))
  end)

  it("offers every long option each command's --help lists", function()
    for _, cmd in ipairs({ "run", "explain", "repl" }) do
      local r = H.run({ cmd, "--help" })
      assert.are.equal(0, r.code, r.err)
      local offered = set(complete("sandlot " .. cmd .. " --"))
      local missing = {}
      for o in pairs(long_options(r.out)) do
        -- the shared options text lists run's status report options too
        local run_only = o == "--status-json" or o == "--status-fd"
        if not offered[o] and (cmd == "run" or not run_only) then missing[#missing + 1] = o end
      end
      if cmd ~= "run" then
        -- offered only where accepted: explain and repl refuse them, naming them
        assert.is_nil(offered["--status-json"])
        local bad = H.run({ cmd, "--status-fd", "3" })
        assert.are.equal(125, bad.code)
        assert.matches("%-%-status%-fd is an option of 'sandlot run'", bad.err)
      end
      table.sort(missing)
      assert.are.same({}, missing, cmd)
    end
  end)

  it("completes effect names, item by item", function()
    assert.are.same({ "fs-read:" }, complete("sandlot run -e fs-re"))
    assert.are.same({ "network", "non-deterministic" }, complete("sandlot run -e n"))
    assert.are.same({ "pure,network" }, complete("sandlot run -e pure,netw"))
  end)

  it("completes host paths after fs-read: and fs-write:", function()
    local d = H.tmpdir()
    assert(os.execute("mkdir " .. H.q(d .. "/subdir") .. " && touch " .. H.q(d .. "/file")))
    -- readline replaces what follows the last ':' (a word break)
    assert.are.same({ d .. "/subdir/" }, complete("sandlot run -e fs-read:" .. d .. "/sub"))
    assert.are.same({ d .. "/file" }, complete("sandlot run -e network,fs-write:" .. d .. "/f"))
  end)

  it("offers .lua files and directories after -p, directories after --work", function()
    local d = H.tmpdir()
    assert(os.execute(("cd %s && mkdir sub && touch a.lua b.txt"):format(H.q(d))))
    local got = complete("sandlot run -p ", d)
    local p = set(got)
    assert.is_true(p["a.lua"] and p["sub"], "got: " .. table.concat(got, " "))
    assert.is_nil(p["b.txt"])
    assert.are.same({ "sub" }, complete("sandlot run --work ", d))
    assert.are.same({ "a.lua", "sub" }, (function()
      local t = complete("sandlot check ", d)
      table.sort(t)
      return t
    end)())
  end)

  it("completes the command after --", function()
    assert.is_true(set(complete("sandlot run -- ech")).echo)
  end)
end)

describe("sandlot version", function()
  for _, who in ipairs(H.users()) do
    it("names the version, Lua and the backends, as doctor sees them, as " .. who, function()
      local user = who == "nobody" and "nobody" or nil
      local r = H.run({ "version" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      local l = lines(r.out)
      local top = H.read(H.ROOT .. "/CHANGELOG.md"):match("\n## (%d+%.%d+%.%d+) ")
      assert.are.equal("sandlot " .. top, l[1])
      assert.matches("^Lua 5%.4%.%d+$", l[2])
      assert.matches("^native: (%a+) %(.+%)$", l[3])
      assert.matches("^bwrap:  (%a+): ", l[4])
      local d = H.run({ "doctor", "--json" }, { user = user })
      local auto = d.out:match('"auto_backend":"(%a+)"')
      assert.is_truthy(auto, d.out)
      assert.are.equal("auto:   " .. auto, l[5])
      assert.are.equal(auto == "native" and "available" or "unavailable",
                       l[3]:match("^native: (%a+)"))
      -- the bwrap line agrees with doctor's bwrap row
      local bw_ok = d.out:match('{"name":"bwrap","ok":(%a+)')
      assert.are.equal(bw_ok == "true" and "available" or "unavailable",
                       l[4]:match("^bwrap:  (%a+)"))
    end)
  end

  it("refuses an argument with 125", function()
    local r = H.run({ "version", "--frobnicate" })
    assert.are.equal(125, r.code)
    assert.matches('unknown argument "%-%-frobnicate"', r.err)
  end)
end)

describe("the changelogs", function()
  it("debian/changelog is what tools/changelog.lua writes from CHANGELOG.md", function()
    local out, code = sh(("cd %s && lua5.4 tools/changelog.lua"):format(H.q(H.ROOT)))
    assert.are.equal(0, code, out)
    assert.are.equal(H.read(H.ROOT .. "/debian/changelog"), out)
    assert.matches("^sandlot %(%d+%.%d+%.%d+%) unstable; urgency=medium\n", out)
  end)

  it("the generator refuses a malformed entry, naming its line", function()
    local d = H.tmpdir()
    H.write(d .. "/CHANGELOG.md", "# x\n\n## 1.0.0 (2026-01-01)\n\n- fine\nstray text\n")
    local out, code = sh(("cd %s && lua5.4 tools/changelog.lua %s debian/control")
                         :format(H.q(H.ROOT), H.q(d .. "/CHANGELOG.md")))
    assert.are_not.equal(0, code)
    assert.matches("CHANGELOG.md:6: expected a", out)
  end)
end)

describe("make install", function()
  it("installs man pages, completions, docs, examples and an empty policies.d; uninstalls",
     function()
    local dest = H.tmpdir()
    local out, code = sh(("make -s -C %s install DESTDIR=%s PREFIX=/usr LIBEXECDIR=/usr/libexec")
                         :format(H.q(H.ROOT), H.q(dest)))
    assert.are.equal(0, code, out)
    for _, f in ipairs({ "/usr/bin/sandlot", "/usr/libexec/sandlot/sandlot-exec",
                         "/usr/share/man/man1/sandlot.1", "/usr/share/man/man5/sandlot-policy.5",
                         "/usr/share/bash-completion/completions/sandlot",
                         "/usr/share/zsh/vendor-completions/_sandlot",
                         "/usr/share/doc/sandlot/README.md", "/usr/share/doc/sandlot/CHANGELOG.md",
                         "/usr/share/doc/sandlot/docs/security.md",
                         "/usr/share/doc/sandlot/examples/policies/llm.lua",
                         "/usr/share/doc/sandlot/examples/stage.sh" }) do
      assert.is_true(H.exists(dest .. f), "not installed: " .. f)
    end
    local ls = sh("ls -A " .. H.q(dest .. "/etc/sandlot/policies.d") .. " && echo listed")
    assert.are.equal("listed\n", ls)
    local r = H.run({ "doctor" }, { exe = dest .. "/usr/bin/sandlot" })
    local helper = dest .. "/usr/libexec/sandlot/sandlot-exec"
    assert.matches("ok%s+helper%s+" .. helper:gsub("%p", "%%%0"), r.out)
    local u, ucode = sh(("make -s -C %s uninstall DESTDIR=%s PREFIX=/usr LIBEXECDIR=/usr/libexec")
                        :format(H.q(H.ROOT), H.q(dest)))
    assert.are.equal(0, ucode, u)
    local left = sh("find " .. H.q(dest) .. " -type f -o -type l")
    assert.are.equal("", left)
  end)
end)
