--- The sandbox itself, observed from inside: filesystem, network, identity,
-- capabilities, environment, descriptors, exit statuses, pipes, timeout and
-- --work.  Every test runs the real sandlot binary under bubblewrap, as root
-- and as an unprivileged user (when the suite runs as root).
--
-- Security rule: every denial is asserted together with the probe's
-- "PROBE <cmd>" line, so a probe that never ran cannot pass as "denied".
local H = require("helpers")

local ZERO_CAPS = "0000000000000000"
local WRITE_DENIALS = { ["denied EROFS"] = true, ["denied EACCES"] = true,
                        ["denied ENOENT"] = true }

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

--- The lines of a text, without their newlines.
local function lines(text)
  local t = {}
  for l in text:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

--- True when some line of text is exactly line.
local function has_line(text, line)
  for _, l in ipairs(lines(text)) do
    if l == line then return true end
  end
  return false
end

--- Plain (non-pattern) substring test.
local function contains(text, s)
  return text:find(s, 1, true) ~= nil
end

--- H.run options for who ("root" or "nobody"), merged with extra.
local function opts_for(who, extra)
  local o = { user = (who == "nobody") and "nobody" or nil }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- sandlot run OPTIONS -- CMD..., as who.
local function sandbox(who, options, cmd, extra)
  local args = { "run" }
  for _, a in ipairs(options or {}) do args[#args + 1] = a end
  args[#args + 1] = "--"
  for _, a in ipairs(cmd) do args[#args + 1] = a end
  return H.run(args, opts_for(who, extra))
end

--- The probe inside the sandbox, its directory bound read-only, plus the
-- extra effects (a list, may be empty); the remaining words are its command.
local function probe(who, effects, ...)
  local bin = H.bin_dir()
  local list = { "fs-read:" .. bin }
  for _, e in ipairs(effects) do list[#list + 1] = e end
  local cmd = { bin .. "/probe", ... }
  return sandbox(who, { "-e", table.concat(list, ",") }, cmd)
end

--- Assert the probe ran `cmd` successfully; returns its result line(s).
local function assert_ran(r, cmd)
  local l = lines(r.out)
  assert.equals(0, r.code, "sandlot exit status; stderr: " .. r.err)
  assert.equals("PROBE " .. cmd, l[1], "the probe did not run; stdout: " .. r.out
                .. " stderr: " .. r.err)
  return l
end

--- Assert the probe ran `cmd` and reported exactly `result`.
local function assert_result(r, cmd, result)
  local l = assert_ran(r, cmd)
  assert.equals(result, l[2], "stdout: " .. r.out)
end

--- Assert the probe ran `cmd` and was denied; returns the denial line.
local function assert_denied(r, cmd)
  local l = assert_ran(r, cmd)
  assert.is_string(l[2], "no result line; stdout: " .. r.out)
  assert.matches("^denied .", l[2])
  return l[2]
end

--- Assert a write probe was denied with one of the acceptable errors.
local function assert_write_denied(r)
  local line = assert_denied(r, "write")
  assert.is_true(WRITE_DENIALS[line] == true, "unexpected denial: " .. line)
end

--- Poll pred every 50 ms for at most `seconds`; returns its last value.
local function wait_for(pred, seconds)
  for _ = 1, math.ceil(seconds / 0.05) do
    local v = pred()
    if v then return v end
    os.execute("sleep 0.05")
  end
  return pred()
end

local now = H.now

--- Start `probe listen` on the host loopback in the background; returns
-- {port = N, log = path}.  It waits at most 20 s for one connection.
local function start_listener()
  local dir = H.tmpdir()
  local portfile, log = dir .. "/port", dir .. "/log"
  assert(os.execute(("%s listen %s >%s 2>&1 </dev/null &"):format(
    H.q(H.bin_dir() .. "/probe"), H.q(portfile), H.q(log))))
  local port = wait_for(function()
    local t = H.read(portfile)
    return t and tonumber(t:match("^(%d+)\n"))
  end, 5)
  assert.is_number(port, "the host listener did not start")
  return { port = port, log = log }
end

--- The listener's final line ("accepted" or "timeout"), waiting at most
-- `seconds` for it; nil if it has not finished.
local function listener_result(l, seconds)
  return wait_for(function()
    local t = H.read(l.log) or ""
    return t:match("\n(accepted)\n") or t:match("\n(timeout)\n")
  end, seconds)
end

--- Run a shell script on the host as who; returns its exit status.
local function host_sh(who, script)
  local prefix = (who == "nobody") and "setpriv --reuid 65534 --regid 65534 --clear-groups -- "
                 or ""
  local _, how, code = os.execute(prefix .. "sh -c " .. H.q(script))
  return (how == "exit") and code or (128 + code)
end

---------------------------------------------------------------------------
-- Specs
---------------------------------------------------------------------------

for _, who in ipairs(H.users()) do
  describe("as " .. who, function()

    describe("filesystem", function()
      it("cannot read /etc/shadow", function()
        assert_denied(probe(who, {}, "read", "/etc/shadow"), "read")
      end)

      it("cannot write outside /work, /tmp and rw binds", function()
        for _, path in ipairs({ "/newfile", "/usr/x", "/etc/x" }) do
          assert_write_denied(probe(who, {}, "write", path))
        end
      end)

      it("can write /work and /tmp", function()
        assert_result(probe(who, {}, "write", "/work/x"), "write", "written")
        assert_result(probe(who, {}, "write", "/tmp/x"), "write", "written")
      end)

      it("fs-write:DIR binds DIR read-write: the write reaches the host", function()
        local dir = H.tmpdir()
        assert_result(probe(who, { "fs-write:" .. dir }, "write", dir .. "/x"),
                      "write", "written")
        assert.equals("x\n", H.read(dir .. "/x"))
      end)

      it("fs-read:DIR binds DIR read-only: readable, not writable", function()
        local dir = H.tmpdir()
        H.write(dir .. "/present", "data\n", "0644")
        assert_result(probe(who, { "fs-read:" .. dir }, "read", dir .. "/present"),
                      "read", "readable")
        assert_write_denied(probe(who, { "fs-read:" .. dir }, "write", dir .. "/y"))
        assert.is_false(H.exists(dir .. "/y"))
      end)

      it("has a read-only root and a writable /work", function()
        local r = sandbox(who, {}, { "sh", "-c", "echo hi > /work/x && cat /work/x" })
        assert.equals(0, r.code, r.err)
        assert.equals("hi\n", r.out)
      end)
    end)

    describe("network", function()
      it("cannot reach a host loopback listener without the network effect", function()
        local l = start_listener()
        assert_denied(probe(who, {}, "connect", "127.0.0.1", tostring(l.port)), "connect")
        -- The listener was really there: the host reaches it (and frees it).
        local p = io.popen(("%s connect 127.0.0.1 %d"):format(
          H.q(H.bin_dir() .. "/probe"), l.port))
        local host_out = p:read("a")
        p:close()
        assert.equals("PROBE connect\nconnected\n", host_out)
        assert.equals("accepted", listener_result(l, 5))
      end)

      it("reaches a host loopback listener with -e network", function()
        local l = start_listener()
        assert_result(probe(who, { "network" }, "connect", "127.0.0.1", tostring(l.port)),
                      "connect", "connected")
        assert.equals("accepted", listener_result(l, 5))
      end)

      it("resolves localhost with -e network", function()
        local r = sandbox(who, { "-e", "network" }, { "getent", "hosts", "localhost" })
        assert.equals(0, r.code, r.err)
        assert.is_true(contains(r.out, "127.0.0.1") or contains(r.out, "::1"),
                       "getent output: " .. r.out)
      end)
    end)

    describe("identity and privileges", function()
      it("runs as uid/gid 65534", function()
        assert_result(probe(who, {}, "ids"), "ids",
                      "uid=65534 gid=65534 euid=65534 egid=65534")
      end)

      it("id -u and id -g print 65534", function()
        local r = sandbox(who, {}, { "sh", "-c", "id -u; id -g" })
        assert.equals(0, r.code, r.err)
        assert.equals("65534\n65534\n", r.out)
      end)

      it("has no capabilities", function()
        local r = probe(who, {}, "caps")
        assert_ran(r, "caps")
        for _, name in ipairs({ "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" }) do
          assert.is_true(has_line(r.out, name .. ":\t" .. ZERO_CAPS),
                         name .. " not all zero; stdout: " .. r.out)
        end
      end)
    end)

    describe("environment", function()
      local env = { SANDLOT_TEST_SECRET = "s3cr3t", LANG = "C.UTF-8" }

      it("is cleared except the allowlist; HOME and USER are forced", function()
        local bin = H.bin_dir()
        local r = sandbox(who, { "-e", "fs-read:" .. bin }, { bin .. "/probe", "env" },
                          { env = env })
        assert_ran(r, "env")
        assert.is_false(contains(r.out, "s3cr3t"), r.out)
        assert.is_false(contains(r.out, "SANDLOT_TEST_SECRET"), r.out)
        assert.is_true(has_line(r.out, "LANG=C.UTF-8"), r.out)
        assert.is_true(has_line(r.out, "HOME=/work"), r.out)
        assert.is_true(has_line(r.out, "USER=nobody"), r.out)
      end)

      it("leaks no secret through /proc/*/environ or cmdline", function()
        local r = sandbox(who, {},
                          { "sh", "-c", "cat /proc/*/environ 2>/dev/null; cat /proc/*/cmdline" },
                          { env = env })
        -- The processes' environments were readable (the scan ran) ...
        assert.is_true(contains(r.out, "HOME=/work"), "stdout: " .. r.out .. " stderr: " .. r.err)
        -- ... and none holds the secret.
        assert.is_false(contains(r.out, "s3cr3t"))
        assert.is_false(contains(r.out, "SANDLOT_TEST_SECRET"))
      end)
    end)

    describe("file descriptors", function()
      it("the command inherits none above 2", function()
        local r = probe(who, {}, "fds")
        assert_ran(r, "fds")
        assert.is_nil(r.out:match("\nfd %d+"), r.out)
      end)

      it("an extra descriptor open in sandlot's caller does not reach the command", function()
        local bin, dir = H.bin_dir(), H.tmpdir()
        local file = dir .. "/open-me"
        H.write(file, "x\n", "0644")
        -- Control: the caller's shell really hands fd 7 to its children.
        local ctl = dir .. "/control"
        assert.equals(0, host_sh(who, ("exec 7<%s; exec %s fds >%s"):format(
          H.q(file), H.q(bin .. "/probe"), H.q(ctl))))
        assert.is_true(has_line(H.read(ctl) or "", "fd 7"), "control: " .. (H.read(ctl) or ""))
        -- Through sandlot: nothing above 2.
        local out, err = dir .. "/out", dir .. "/err"
        local code = host_sh(who, ("exec 7<%s; exec %s run -e %s -- %s fds >%s 2>%s </dev/null")
          :format(H.q(file), H.q(bin .. "/sandlot"), H.q("fs-read:" .. bin),
                  H.q(bin .. "/probe"), H.q(out), H.q(err)))
        local r = { code = code, out = H.read(out) or "", err = H.read(err) or "" }
        assert_ran(r, "fds")
        assert.is_false(has_line(r.out, "fd 7"), r.out)
        assert.is_nil(r.out:match("\nfd %d+"), r.out)
      end)
    end)

    describe("exit status", function()
      it("is the command's own", function()
        assert.equals(0, sandbox(who, {}, { "sh", "-c", "exit 0" }).code)
        assert.equals(3, sandbox(who, {}, { "sh", "-c", "exit 3" }).code)
      end)

      it("is 128+N when the command dies of signal N", function()
        assert.equals(137, sandbox(who, {}, { "sh", "-c", "kill -KILL $$" }).code)
        assert.equals(143, sandbox(who, {}, { "sh", "-c", "kill -TERM $$" }).code)
      end)

      it("is 127 for a command not found, naming it", function()
        local r = sandbox(who, {}, { "no-such-command-xyz" })
        assert.equals(127, r.code)
        assert.is_true(contains(r.err, "no-such-command-xyz"), "stderr: " .. r.err)
      end)

      it("is 126 for a file that is not executable", function()
        local dir = H.tmpdir()
        local script = dir .. "/not-executable"
        H.write(script, "#!/bin/sh\necho ran\n", "0644")
        local r = sandbox(who, { "-e", "fs-read:" .. dir }, { script })
        assert.equals(126, r.code, "stderr: " .. r.err)
        assert.is_false(contains(r.out, "ran"))
        assert.is_true(contains(r.err, script), "stderr: " .. r.err)
      end)

      it("is 125 for a bad effect, and nothing runs", function()
        local dir = H.tmpdir()
        local cmd = { "sh", "-c", "touch /work/marker" }
        local r = sandbox(who, { "-e", "bogus", "--work", dir }, cmd)
        assert.equals(125, r.code)
        assert.is_true(contains(r.err, "bogus"), "stderr: " .. r.err)
        assert.is_false(H.exists(dir .. "/marker"))
        -- Control: the same command with no bad effect does create it.
        assert.equals(0, sandbox(who, { "--work", dir }, cmd).code)
        assert.is_true(H.exists(dir .. "/marker"))
      end)
    end)

    describe("standard streams", function()
      it("pipes stdin to the command and its stdout back", function()
        local r = sandbox(who, {}, { "tr", "a-z", "A-Z" }, { stdin = "hello\n" })
        assert.equals(0, r.code, r.err)
        assert.equals("HELLO\n", r.out)
      end)
    end)

    describe("--timeout", function()
      it("kills the sandbox after the timeout and exits 124", function()
        -- A duration unique to this test, to find any survivor afterwards.
        local secs = (who == "nobody") and "30.4321" or "30.1234"
        local t0 = now()
        local r = sandbox(who, { "--timeout", "1" }, { "sh", "-c", "sleep " .. secs })
        local elapsed = now() - t0
        assert.equals(124, r.code, r.err)
        assert.is_true(elapsed >= 0.9 and elapsed < 10, "took " .. elapsed .. " s")
        -- No sleep outlives sandlot ("slee[p]" keeps pgrep's shell from matching).
        local gone = wait_for(function()
          return os.execute("pgrep -f " .. H.q("slee[p] " .. secs) .. " >/dev/null") ~= true
        end, 3)
        assert.is_true(gone, "the sandboxed sleep survived the timeout")
      end)
    end)

    describe("--work DIR", function()
      it("binds DIR at /work: a file written there appears on the host", function()
        local dir = H.tmpdir()
        local r = sandbox(who, { "--work", dir }, { "sh", "-c", "echo data > /work/out" })
        assert.equals(0, r.code, r.err)
        assert.equals("data\n", H.read(dir .. "/out"))
      end)
    end)
  end)
end
