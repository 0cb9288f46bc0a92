-- The confined environment of policy scripts: what is absent, what is
-- there, and budgets that stop runaway scripts.  Each case runs the real
-- binary; a refused script exits 125 and the command does not run.
local H = require("helpers")

local function with_script(code, extra)
  local path = H.script(code)
  local work = H.tmpdir()
  local args = { "run", "--no-system-policies", "--work", work, "-p", path }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  for _, a in ipairs({ "--", "sh", "-c", "touch /work/marker" }) do args[#args + 1] = a end
  local r = H.run(args)
  r.ran = H.exists(work .. "/marker")
  r.path = path
  return r
end

describe("policy script confinement", function()
  local absent_globals = { "io", "debug", "package", "require", "dofile", "loadfile", "load",
                           "loadstring", "collectgarbage", "coroutine", "getmetatable", "xpcall" }
  for _, name in ipairs(absent_globals) do
    it("has no global " .. name, function()
      local r = with_script(("local x = %s"):format(name))
      assert.are.equal(125, r.code)
      assert.matches(r.path:gsub("%p", "%%%0") .. ":1: undefined global '" .. name .. "'", r.err)
      assert.is_false(r.ran)
    end)
  end

  local absent_fields = { "os.execute", "os.exit", "os.remove", "os.rename", "os.tmpname",
                          "os.setlocale", "string.dump", "lfs.mkdir", "lfs.rmdir", "lfs.touch",
                          "lfs.lock", "lfs.link", "lfs.chdir" }
  for _, name in ipairs(absent_fields) do
    it("has no " .. name, function()
      local r = with_script(("assert(%s == nil, '%s is present')\n%s('x')"):format(name, name,
                                                                                     name))
      assert.are.equal(125, r.code)
      assert.matches("attempt to call a nil value", r.err)
      assert.is_false(r.ran)
    end)
  end

  it("has no dump through the string metatable", function()
    for _, expr in ipairs({ '("").dump', '("x").dump', 'string.dump' }) do
      local r = with_script(("assert(%s == nil, 'dump is reachable')\n"
                             .. "assert(('x'):upper() == 'X')\n"
                             .. "local f = %s; f(print)"):format(expr, expr))
      assert.are.equal(125, r.code, expr)
      assert.matches(":3: attempt to call a nil value", r.err, 1, false, expr)
      assert.is_false(r.ran)
    end
    local control = with_script('assert(("x"):upper() == "X" and ("ab"):sub(2) == "b")')
    assert.are.equal(0, control.code, control.err)
    assert.is_true(control.ran)
  end)

  it("offers string, table, math, utf8, os.getenv, os.time and read-only lfs", function()
    local r = with_script([[
      assert(string.format("%d", 3) == "3" and table.concat({ "a", "b" }) == "ab")
      assert(math.max(1, 2) == 2 and utf8.char(65) == "A")
      assert(type(os.time()) == "number" and os.getenv("HOME") ~= nil)
      assert(lfs.attributes("/usr", "mode") == "directory")
      assert(sandlot.exists("/usr") and sandlot.is_dir("/usr"))
      assert(("x"):rep(3) == "xxx")
    ]])
    assert.are.equal(0, r.code, r.err)
    assert.is_true(r.ran)
  end)

  it("cannot reach a shared metatable to plant a finalizer", function()
    local r = with_script([[
      for _ in lfs.dir("/") do end
      local _, d = lfs.dir("/")
      getmetatable(d).__gc = function() while true do end end
    ]])
    assert.are.equal(125, r.code)
    assert.matches(":3: undefined global 'getmetatable'", r.err)
    assert.is_false(r.ran)
  end)

  it("gives each script its own copy of the libraries", function()
    local a = H.script("string.upper = nil; table.insert = nil; NOTE = 1")
    local b = H.script('assert(string.upper("a") == "A"); assert(rawget(_G, "NOTE") == nil)')
    local r = H.run({ "explain", "--no-system-policies", "-p", a, "-p", b })
    assert.are.equal(0, r.code, r.err)
  end)

  it("refuses precompiled bytecode", function()
    local path = H.tmpdir() .. "/bytecode.lua"
    assert(os.execute(("echo 'local x = 1' | luac5.4 -o %s -"):format(H.q(path))))
    local r = H.run({ "run", "--no-system-policies", "-p", path, "--", "true" })
    assert.are.equal(125, r.code)
    assert.matches("precompiled bytecode is not accepted", r.err)
  end)

  it("refuses __gc metamethods, which would run outside the budget", function()
    local r = with_script("setmetatable({}, { __gc = function() end })")
    assert.are.equal(125, r.code)
    assert.matches("__gc metamethods are not available", r.err)
  end)

  it("stops a runaway loop, naming the script", function()
    local r = with_script("local n = 0\nwhile true do n = n + 1 end")
    assert.are.equal(125, r.code)
    -- the instruction budget or the wall-clock limit, whichever comes first
    assert.matches(r.path:gsub("%p", "%%%0") .. ":2: policy evaluation exceeded its ", r.err)
    assert.is_false(r.ran)
  end)

  it("does not let pcall swallow the budget", function()
    local r = with_script("while true do pcall(function() while true do end end) end")
    assert.are.equal(125, r.code)
    assert.matches("policy evaluation exceeded its ", r.err)
    assert.is_false(r.ran)
  end)

  it("stops an allocation bomb at the memory cap", function()
    local r = with_script("local t = {}\nfor i = 1, 1e9 do t[i] = ('x'):rep(1 << 20) .. i end")
    assert.are.equal(125, r.code)
    assert.matches(r.path:gsub("%p", "%%%0") .. ": not enough memory: policy scripts are capped",
                   r.err)
    assert.is_false(r.ran)
  end)

  it("stops a single huge allocation", function()
    local r = with_script("local s = string.rep('x', 1 << 30)")
    assert.are.equal(125, r.code)
    assert.matches("not enough memory", r.err)
  end)

  it("ends a script stuck inside a library call with the watchdog", function()
    local r = with_script('string.find(string.rep("a", 1e6), ".-.-.-.-.-.-b")')
    assert.are.equal(125, r.code)
    assert.matches("policy evaluation did not finish in time", r.err)
    assert.is_false(r.ran)
  end)

  it("names an undefined global", function()
    local r = with_script("polcy:ro_bind('/usr')")
    assert.are.equal(125, r.code)
    assert.matches("undefined global 'polcy'", r.err)
  end)
end)
