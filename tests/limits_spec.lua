-- Resource limits, the timeout and signals: bounded bombs, teardown of
-- daemonized processes, and the bad inputs.  Real sandboxes.
local H = require("helpers")

local function run(args, user, script)
  local full = { "run" }
  if script then
    full[#full + 1] = "-p"
    full[#full + 1] = H.script(script)
  end
  for _, a in ipairs(args) do full[#full + 1] = a end
  return H.run(full, { user = user })
end

-- This run's pid: markers hold it, so that no other run of the suite shares them.
local RUN = assert(io.open("/proc/self/stat")):read("n")

-- The pids of host processes whose command line contains marker (the first
-- letter bracketed, so the pattern does not match the pgrep shell itself).
local function marked(marker)
  local p = io.popen("pgrep -f " .. H.q("[" .. marker:sub(1, 1) .. "]"
                                        .. marker:sub(2):gsub("%.", "[.]")))
  local pids = {}
  for pid in p:lines() do pids[#pids + 1] = pid end
  p:close()
  return pids
end

-- Waits up to 2 s for the processes marked so to go, kills by pid those
-- that stay (this spec started them: the marker holds RUN) and returns
-- how many stayed.
local function wait_gone(marker)
  for _ = 1, 20 do
    if #marked(marker) == 0 then return 0 end
    os.execute("sleep 0.1")
  end
  local left = marked(marker)
  for _, pid in ipairs(left) do os.execute("kill -KILL " .. pid) end
  return #left
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("limits as " .. who, function()
    -- "Max open files  64  64  files" -> soft, hard
    local function limit_of(text, what)
      return text:match(what .. "%s+(%S+)%s+(%S+)")
    end

    it("applies the defaults", function()
      local r = run({ "--", "cat", "/proc/self/limits" }, user)
      assert.are.equal(0, r.code, r.err)
      assert.are.same({ "1024", "1024" }, { limit_of(r.out, "Max open files") })
      assert.are.same({ "4096", "4096" }, { limit_of(r.out, "Max processes") })
      assert.are.same({ "0", "0" }, { limit_of(r.out, "Max core file size") })
    end)

    it("applies a script's limits, soft and hard", function()
      local r = run({ "--", "cat", "/proc/self/limits" }, user,
                    'policy:limit("nofile", 64)\npolicy:limit("nproc", 100)\n'
                    .. 'policy:limit("fsize", "1M")')
      assert.are.equal(0, r.code, r.err)
      assert.are.same({ "64", "64" }, { limit_of(r.out, "Max open files") })
      assert.are.same({ "100", "100" }, { limit_of(r.out, "Max processes") })
      assert.are.same({ "1048576", "1048576" }, { limit_of(r.out, "Max file size") })
    end)

    it("stops a write past fsize with SIGXFSZ", function()
      local r = run({ "--", "sh", "-c", "head -c 3000000 /dev/zero > /work/big" }, user,
                    'policy:limit("fsize", "1M")')
      assert.are.equal(128 + 25, r.code)
    end)

    it("sizes /tmp and /work and stops a tmpfs from filling", function()
      local r = run({ "--", "sh", "-c",
                      "df -k /tmp /work | tail -2 | awk '{print $2}'; "
                      .. "head -c 4000000 /dev/zero > /tmp/fill; echo status=$?" }, user,
                    'policy:limit("tmp", "2M")\npolicy:limit("work", "8M")')
      assert.matches("^2048\n8192\n", r.out)
      assert.matches("No space left on device", r.err)
      assert.matches("status=1", r.out)
    end)

    it("ends a memory bomb at the data limit", function()
      local r = run({ "--timeout", "20", "--", "sh", "-c",
                      'echo bomb-started; x=aaaaaaaaaaaaaaaa; while :; do x="$x$x"; done' }, user,
                    'policy:limit("data", "64M")')
      assert.are.equal("bomb-started\n", r.out, r.err) -- the bomb ran (a 125 is no pass)
      assert.are_not.equal(0, r.code)
      assert.are_not.equal(124, r.code, "the limit, not the timeout, must end it")
    end)

    it("ends a CPU hog at the cpu limit", function()
      local r = run({ "--timeout", "20", "--", "sh", "-c",
                      "echo hog-started; while :; do :; done" }, user, 'policy:limit("cpu", 1)')
      assert.are.equal("hog-started\n", r.out, r.err) -- the hog ran
      -- soft = hard: the kernel sends SIGXCPU and SIGKILL at the same tick
      assert.is_true(r.code == 128 + 24 or r.code == 128 + 9, "status " .. r.code)
    end)

    -- For a root invoker too: the sandbox runs as an unprivileged host
    -- identity, which RLIMIT_NPROC binds (the kernel exempts only root).
    it("ends a fork bomb at the nproc limit", function()
      local r = run({ "--timeout", "20", "--", "sh", "-c",
                      "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived" }, user,
                    'policy:limit("nproc", 64)')
      assert.are_not.equal(124, r.code, "the limit, not the timeout, must end it")
      assert.matches("fork", r.err) -- "Cannot fork" / "can't fork"
    end)

    it("tears down daemonized processes on --timeout", function()
      local marker = "3071." .. RUN .. (user and "1" or "2")
      local r = run({ "--timeout", "1", "--", "sh", "-c",
                      "setsid sh -c 'echo daemon-up; sleep " .. marker .. "' & sleep " .. marker },
                    user)
      assert.are.equal(124, r.code)
      assert.are.equal("daemon-up\n", r.out, r.err) -- the daemon started: there was one to end
      assert.are.equal(0, wait_gone("sleep " .. marker), "a daemonized process survived")
    end)
  end)
end

describe("signals to sandlot", function()
  -- sandlot on the suite's backend, as user (nil: the suite's own), in the
  -- background; its pid once both sleeps of the stage run
  local function start(marker, user)
    local dir = H.tmpdir()
    local pre = user and "setpriv --reuid 65534 --regid 65534 --clear-groups -- env "
                         .. "HOME=/nonexistent" or "env"
    os.execute(("%s SANDLOT_ISOLATION=%s %s run -- sh -c %s >/dev/null 2>&1 & echo $! > %s/pid")
               :format(pre, H.BACKEND, H.q(H.bin_dir() .. "/sandlot"),
                       H.q("setsid sh -c 'sleep " .. marker .. "' & sleep " .. marker), H.q(dir)))
    for _ = 1, 50 do
      if #marked("sleep " .. marker) >= 2 then break end
      os.execute("sleep 0.1")
    end
    local pid = H.read(dir .. "/pid"):match("%d+")
    if #marked("sleep " .. marker) < 2 then
      os.execute("kill -KILL " .. pid)
      wait_gone("sleep " .. marker)
      error("the sandbox did not start")
    end
    return pid
  end

  -- tools/sigrace.sh: n launches of `sandlot run`, each sent SIGHUP in its
  -- first moments (at once, after 0..20 ms, or as soon as sandlot has a
  -- child) while two busy loops load the machine; it counts the sandlots
  -- that never ended and the processes that outlived sandlot, and kills
  -- those by pid.  env: variables for it, such as SIGRACE_MODE.
  local function sigrace(sandlot, n, who, env)
    local p = io.popen(("%s sh %s %s %d %s %s 2>&1"):format(
      env or "", H.q(H.ROOT .. "/tools/sigrace.sh"), H.q(sandlot), n, H.BACKEND, who))
    local out = p:read("a")
    p:close()
    return out
  end

  it("the signal race check sees what outlives sandlot", function()
    -- control: a stand-in for sandlot that leaves its command behind
    local fake = H.tmpdir() .. "/fake-sandlot"
    H.write(fake, '#!/bin/sh\nshift 2\nexec setsid -f "$@"\n', "0755")
    local out = sigrace(fake, 1, "self", "SIGRACE_MODE=2")
    assert.matches("1 launches, 0 hung, 1 survivors", out)
  end)

  for _, who in ipairs(H.users()) do
    it("SIGHUP in the first moments leaves nothing behind, as " .. who
       .. " (60 tries on a loaded machine)", function()
      -- a signal that came while sandlot forked was lost (sandlot then
      -- waited for a command that ran on, ~10% under load), and bwrap's
      -- init sets die-with-parent only once it runs
      local out = sigrace(H.bin_dir() .. "/sandlot", 60, who)
      assert.matches("60 launches, 0 hung, 0 survivors", out)
    end)

    it("SIGKILL in the first moments leaves nothing behind, as " .. who
       .. " (60 tries on a loaded machine)", function()
      -- sandlot cannot act on SIGKILL: die-with-parent alone tears down.
      -- A root invoker's bwrap once got a parent-death signal of its own
      -- before exec, and died before its init had armed one (~2 in 100).
      local out = sigrace(H.bin_dir() .. "/sandlot", 60, who, "SIGRACE_SIGNAL=KILL")
      assert.matches("60 launches, 0 hung, 0 survivors", out)
    end)
  end

  for _, who in ipairs(H.users()) do
    local user = who == "nobody" and "nobody" or nil
    for _, sig in ipairs({ "TERM", "INT", "HUP", "KILL" }) do
      it("SIG" .. sig .. " ends the whole sandbox, as " .. who, function()
        local marker = "3072." .. RUN .. (user and "1" or "2") .. #sig .. sig:byte()
        local pid = start(marker, user)
        os.execute("kill -" .. sig .. " " .. pid)
        assert.are.equal(0, wait_gone("sleep " .. marker), "sandbox processes survived SIG" .. sig)
      end)
    end
  end
end)

describe("limit bad input", function()
  local bad = {
    { 'policy:limit("core", 1)', "limit core is always 0" },
    { 'policy:limit("stack", 1)', 'unknown limit "stack"' },
    { 'policy:limit("nofile", -5)', "limit nofile must not be negative" },
    { 'policy:limit("as", "lots")', 'limit as: expected a whole number, a size such as "64M"' },
    { 'policy:limit("tmp", 100)', "limit tmp (a tmpfs size) must be at least 4096 bytes" },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1], function()
      H.assert_refused_script(case[1], case[2])
    end)
  end

  it("explain shows the limits and their origins", function()
    local script = H.script('policy:limit("nproc", 64)\npolicy:limit("tmp", "16M")')
    local r = H.run({ "explain", "-p", script })
    assert.matches("# rlimits, set before bwrap starts %(soft = hard%): nofile 1024, nproc 64",
                   r.out)
    assert.matches("#   nproc 64%s+# " .. script:gsub("%p", "%%%0") .. ":1", r.out)
    assert.matches("%-%-size 16777216 %-%-tmpfs /tmp%s+# " .. script:gsub("%p", "%%%0") .. ":2",
                   r.out)
  end)
end)
