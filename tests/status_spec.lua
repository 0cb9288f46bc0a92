-- The status report: one JSON object when the stage ends, whatever ended it.
local H = require("helpers")
local cjson = require("cjson")

local function report(args, opts)
  local path = H.tmpdir() .. "/status.json"
  local full = { "run", "--status-json", path }
  for _, a in ipairs(args) do full[#full + 1] = a end
  local r = H.run(full, opts)
  local text = H.read(path)
  assert.is_truthy(text, "no status report written: " .. r.err)
  return cjson.decode(text), r, text
end

describe("status report", function()
  it("reports an exit code, the backend, the stage and timings", function()
    local s, r = report({ "--stage", "ingest", "--", "sh", "-c", "exit 3" })
    assert.are.equal(3, r.code)
    assert.are.equal("exited", s.class)
    assert.are.equal(3, s.status)
    assert.are.equal(3, s.exit_code)
    -- the backend this run of the suite exercises, really used (no silent fallback)
    assert.are.equal(H.BACKEND, s.backend)
    assert.are.equal("ingest", s.stage)
    assert.is_true(s.setup_seconds > 0 and s.setup_seconds < 30)
    assert.is_true(s.command_seconds >= 0 and s.command_seconds < 30)
  end)

  it("hashes the effective policy: sha256 of its explain --json text, host facts left out",
     function()
    local s = report({ "-e", "network", "--", "true" })
    local r = H.run({ "explain", "--json", "-e", "network" })
    local dir = H.tmpdir()
    -- the default data limit is half this host's memory: a fact, "host" in the hashed text
    local text, n = r.out:gsub("\n$", ""):gsub('"data":%d+', '"data":"host"')
    assert.are.equal(1, n, r.out)
    H.write(dir .. "/policy.json", text)
    local p = io.popen("sha256sum " .. H.q(dir .. "/policy.json"))
    local want = p:read("a"):match("^(%x+)")
    p:close()
    assert.are.equal(want, s.policy_sha256)
    local other = report({ "--", "true" })
    assert.are_not.equal(s.policy_sha256, other.policy_sha256)
  end)

  it("hashes the same policy the same whatever the host's memory", function()
    -- the default data limit's value never enters the hash: a script setting
    -- the very same value is another policy, the default stays "host"
    local r = H.run({ "explain", "--json" })
    local data = r.out:match('"data":(%d+)')
    assert.is_truthy(data, r.out)
    local default = report({ "--", "true" })
    local again = report({ "--", "true" })
    local script = H.script(('policy:limit("data", %s)\n'):format(data))
    local set = report({ "-p", script, "--", "true" })
    assert.are.equal(default.policy_sha256, again.policy_sha256)
    assert.are_not.equal(default.policy_sha256, set.policy_sha256)
  end)

  it("reports a signal", function()
    local s = report({ "--", "sh", "-c", "kill -TERM $$" })
    assert.are.equal("signaled", s.class)
    assert.are.equal(15, s.signal)
    assert.are.equal(143, s.status)
  end)

  it("reports a timeout", function()
    local s = report({ "--timeout", "0.5", "--", "sleep", "10" })
    assert.are.equal("timeout", s.class)
    assert.are.equal(124, s.status)
    assert.is_true(s.command_seconds >= 0.4, tostring(s.command_seconds))
  end)

  it("reports a setup error with its message, and nothing ran", function()
    local work = H.tmpdir()
    local s, r = report({ "--work", work, "-e", "telepathy", "--", "touch", "/work/m" })
    assert.are.equal(125, r.code)
    assert.are.equal("setup_error", s.class)
    assert.are.equal(125, s.status)
    assert.matches('unknown effect "telepathy"', s.message)
    assert.are.equal("unnamed", s.stage)
    assert.are.equal(cjson.null, s.policy_sha256)
    assert.is_false(H.exists(work .. "/m"))
  end)

  it("writes to a descriptor with --status-fd", function()
    local dir = H.tmpdir()
    local cmd = ("%s run --status-fd 7 -- true 7>%s"):format(
      H.q(H.bin_dir() .. "/sandlot"), H.q(dir .. "/s.json"))
    assert.is_true(os.execute(cmd) == true)
    local s = cjson.decode(H.read(dir .. "/s.json"))
    assert.are.equal("exited", s.class)
    assert.are.equal(0, s.exit_code)
  end)

  it("does not pass the status descriptor into the sandbox", function()
    local dir = H.tmpdir()
    local cmd = ("%s run --status-fd 7 -e fs-read:%s -- %s fds 7>%s/s.json >%s/out"):format(
      H.q(H.bin_dir() .. "/sandlot"), H.q(H.bin_dir()), H.q(H.bin_dir() .. "/probe"),
      H.q(dir), H.q(dir))
    assert.is_true(os.execute(cmd) == true)
    assert.are.equal("PROBE fds\n", H.read(dir .. "/out"))
  end)

  it("refuses a status file it cannot write, before anything runs", function()
    local work = H.tmpdir()
    local r = H.run({ "run", "--work", work, "--status-json", "/nonexistent/dir/s.json", "--",
                      "touch", "/work/m" })
    assert.are.equal(125, r.code)
    assert.matches("%-%-status%-json /nonexistent/dir/s.json: cannot open", r.err)
    assert.is_false(H.exists(work .. "/m"))
  end)

  it("refuses a --status-fd that is not open", function()
    local r = H.run({ "run", "--status-fd", "57", "--", "true" })
    assert.are.equal(125, r.code)
    assert.matches("%-%-status%-fd 57: not an open descriptor", r.err)
  end)

end)

-- A regular file, not a symlink or FIFO (so reading it cannot block).
local function regular(path)
  return os.execute(("test -f %s && ! test -L %s"):format(H.q(path), H.q(path))) == true
end

-- sandlot run ARGS as user, bounded by timeout(1) at `bound` seconds; the
-- exit status (124 when the bound was hit).
local function bounded(user, bound, args)
  local words = { "timeout", "-s", "KILL", tostring(bound) }
  if user == "nobody" then
    words[#words + 1] = "setpriv --reuid 65534 --regid 65534 --clear-groups --"
  end
  words[#words + 1] = "env SANDLOT_ISOLATION=" .. H.BACKEND
  words[#words + 1] = H.q(H.bin_dir() .. "/sandlot")
  for _, a in ipairs(args) do words[#words + 1] = H.q(a) end
  local _, how, code = os.execute(table.concat(words, " ") .. " </dev/null >/dev/null 2>&1")
  return how == "exit" and code or 128 + code
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("status report file as " .. who, function()
    -- a file the invoker could write, outside the report's directory
    local function victim()
      local path = H.tmpdir() .. "/victim"
      H.write(path, "precious\n", "0666")
      return path
    end

    it("replaces a symlink at its path instead of writing through it", function()
      local dir, v = H.tmpdir(), victim()
      local path = dir .. "/status.json"
      assert(os.execute(("ln -s %s %s"):format(H.q(v), H.q(path))))
      local r = H.run({ "run", "--status-json", path, "--", "sh", "-c", "exit 7" }, { user = user })
      assert.are.equal(7, r.code, r.err)
      assert.are.equal("precious\n", H.read(v))
      assert.is_true(regular(path))
      assert.are.equal(7, cjson.decode(H.read(path)).exit_code)
    end)

    it("does not block on a FIFO at its path, and leaves a regular file", function()
      local dir = H.tmpdir()
      local path = dir .. "/status.json"
      assert(os.execute("mkfifo -m 0666 " .. H.q(path)))
      local code = bounded(user, 15, { "run", "--timeout", "2", "--status-json", path, "--",
                                       "sh", "-c", "exit 5" })
      assert.are.equal(5, code)
      assert.is_true(regular(path))
      assert.are.equal(5, cjson.decode(H.read(path)).exit_code)
    end)

    it("is not redirected by a stage that plants a symlink or FIFO at its path", function()
      local work, v = H.tmpdir(), victim()
      local path = work .. "/status.json"
      for _, plant in ipairs({ "ln -sf " .. H.q(v) .. " /work/status.json",
                               "rm -f /work/status.json && mkfifo /work/status.json" }) do
        -- this run's stage plants it; the next run must not write through it
        for _ = 1, 2 do
          os.remove(work .. "/ran")
          local code = bounded(user, 15, { "run", "--timeout", "5", "--work", work,
                                           "--status-json", path, "--", "sh", "-c",
                                           plant .. " && touch /work/ran" })
          assert.are.equal(0, code, plant)
          assert.is_true(H.exists(work .. "/ran"), "the stage ran")
          assert.is_true(regular(path), plant)
          assert.are.equal("exited", cjson.decode(H.read(path)).class)
          assert.are.equal("precious\n", H.read(v))
        end
      end
    end)

    it("refuses a directory at its path before anything runs", function()
      local work = H.tmpdir()
      local path = H.tmpdir() .. "/status.json"
      assert(os.execute("mkdir -m 0777 " .. H.q(path)))
      local r = H.run({ "run", "--work", work, "--status-json", path, "--", "touch", "/work/m" },
                      { user = user })
      assert.are.equal(125, r.code)
      assert.matches("%-%-status%-json .*/status.json: is a directory", r.err)
      assert.is_false(H.exists(work .. "/m"))
    end)
  end)
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("status report, as " .. who, function()
    it("names the stage given even when the setup fails", function()
      local s, r = report({ "--stage", "ingest", "-e", "telepathy", "--", "true" }, { user = user })
      assert.are.equal(125, r.code)
      assert.are.equal("setup_error", s.class)
      assert.are.equal("ingest", s.stage)
      local p = report({ "--stage", "load", "-p", "/nonexistent/x.lua", "--", "true" },
                       { user = user })
      assert.are.equal("setup_error", p.class)
      assert.are.equal("load", p.stage)
    end)

    it("tells a failed exec in the sandbox from the command's own 126/127", function()
      local missing, r = report({ "--", "no-such-command-here" }, { user = user })
      assert.are.equal(127, r.code)
      assert.are.equal("exec_failed", missing.class)
      assert.are.equal(127, missing.exit_code)
      local dir = H.tmpdir()
      H.write(dir .. "/noexec", "#!/bin/sh\n", "0644")
      local noexec = report({ "--work", dir, "--", "/work/noexec" }, { user = user })
      assert.are.equal("exec_failed", noexec.class)
      assert.are.equal(126, noexec.exit_code)
      for _, code in ipairs({ 126, 127 }) do
        local own = report({ "--", "sh", "-c", "exit " .. code }, { user = user })
        assert.are.equal("exited", own.class)
        assert.are.equal(code, own.exit_code)
      end
    end)
  end)
end
