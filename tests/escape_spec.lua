-- Escape probes: the static probe runs inside the real sandbox, as root and
-- as nobody, and reports what it could reach.  Every check first asserts
-- that the probe ran (its "PROBE" line): a probe that never ran fails.
local H = require("helpers")

local PROBE

local function probe(user, args, sandlot_args)
  local full = { "run", "-e", "fs-read:" .. H.bin_dir() }
  for _, a in ipairs(sandlot_args or {}) do full[#full + 1] = a end
  full[#full + 1] = "--"
  full[#full + 1] = PROBE
  for _, a in ipairs(args) do full[#full + 1] = a end
  local r = H.run(full, { user = user })
  assert.matches("^PROBE " .. args[1]:gsub("%p", "%%%0") .. "\n", r.out, "the probe ran: " .. r.err)
  return r.out:gsub("^PROBE [^\n]*\n", ""), r
end

-- the probe run directly on the host, as the same user
local function on_host(user, args)
  local cmd = H.q(PROBE) .. " " .. table.concat(args, " ")
  if user then cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- " .. cmd end
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  assert.matches("^PROBE ", out)
  return (out:gsub("^PROBE [^\n]*\n", ""))
end

-- start a host-side unix listener for `secs` seconds; returns when it serves
local function serve_unix(path, secs)
  local dir = H.tmpdir()
  os.execute(("%s serve-unix %s %d > %s/log 2>&1 &"):format(H.q(PROBE), H.q(path), secs,
                                                              H.q(dir)))
  for _ = 1, 50 do
    if (H.read(dir .. "/log") or ""):find("serving") then return end
    os.execute("sleep 0.1")
  end
  error("the host listener did not start")
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("escape probes as " .. who, function()
    before_each(function() PROBE = H.bin_dir() .. "/probe" end)

    it("has NoNewPrivs, seccomp filtering and no capabilities", function()
      local out = probe(user, { "status" })
      assert.matches("NoNewPrivs:%s+1\n", out)
      assert.matches("Seccomp:%s+2\n", out)
      for _, set in ipairs({ "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" }) do
        assert.matches(set .. ":%s+0000000000000000\n", out)
      end
    end)

    it("lives in namespaces of its own", function()
      local inside, outside = probe(user, { "ns" }), on_host(user, { "ns" })
      for _, ns in ipairs({ "cgroup", "ipc", "mnt", "net", "pid", "user", "uts" }) do
        local a = inside:match(ns .. " (%S+)\n")
        local b = outside:match(ns .. " (%S+)\n")
        assert.is_truthy(a and b, ns)
        assert.are_not.equal(b, a, ns .. " namespace shared with the host")
      end
    end)

    it("sees no /sys and only harmless devices", function()
      for _, path in ipairs({ "/sys/kernel/notes", "/dev/mem", "/dev/kmsg", "/dev/sda",
                              "/dev/vda", "/dev/port", "/dev/kvm" }) do
        assert.matches("^denied ENOENT\n", probe(user, { "read", path }), path)
      end
      assert.matches("^readable\n", probe(user, { "read", "/dev/urandom" }))
    end)

    it("cannot ptrace pid 1 or signal host processes", function()
      assert.matches("^errno=EPERM\n", probe(user, { "ptrace-attach", "1" }))
      local p = io.popen("echo $PPID")
      local host_pid = p:read("l")
      p:close()
      assert.matches("^errno=ESRCH\n", probe(user, { "kill", host_pid }))
    end)

    it("does not see the host's /tmp or its unix sockets", function()
      local name = "/tmp/sandlot-host-only." .. os.time() .. (user or "root")
      H.write(name, "host\n")
      assert.matches("^denied ENOENT\n", probe(user, { "read", name }))
      os.remove(name)
      local sock = H.tmpdir() .. "/host.sock"
      serve_unix(sock, 3)
      assert.matches("^denied ENOENT\n", probe(user, { "connect-unix", sock }))
    end)

    it("cannot reach the host's abstract unix sockets, even with the network", function()
      local name = "@sandlot-escape-" .. os.time() .. (user or "root")
      serve_unix(name, 4)
      assert.matches("^connected\n", on_host(user, { "connect-unix", name }),
                     "the listener is reachable from the host")
      assert.matches("^denied ECONNREFUSED\n", probe(user, { "connect-unix", name }))
      -- the network namespace is the host's here: Landlock scoping blocks it
      assert.matches("^denied EPERM\n", probe(user, { "connect-unix", name }, { "-e", "network" }))
    end)

    it("cannot push input into its terminal (TIOCSTI) under a real pty", function()
      local dir = H.tmpdir()
      H.write(dir .. "/script", "expect PROBE tiocsti\nexpect errno=\nsleep 200\n")
      local cmd = ("%s %s %s -- %s run -e fs-read:%s -- %s tiocsti"):format(
        H.q(H.ROOT .. "/tests/ptydrive"), H.q(dir .. "/script"), H.q(dir .. "/screen"),
        H.q(H.bin_dir() .. "/sandlot"), H.q(H.bin_dir()), H.q(PROBE))
      if user then cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- " .. cmd end
      local _, _, code = os.execute(cmd)
      local screen = H.read(dir .. "/screen") or ""
      assert.are.equal(0, code, screen)
      assert.matches("errno=EPERM", screen)
    end)

    it("leaves its terminal's modes as they were, however the stage ended", function()
      local dir = H.tmpdir()
      local sandlot = H.q(H.bin_dir() .. "/sandlot")
      -- the modes the pty has after each stage, read by stty on the same pty
      local modes = "stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo -e icanon -e -icanon"
        .. " | tr '\\n' ' '"
      local inner = table.concat({
        "echo BEFORE $(" .. modes .. ")",
        sandlot .. " run -- stty -echo raw",
        "echo EXITED=$? $(" .. modes .. ")",
        sandlot .. " run --timeout 1 -- sh -c 'stty -echo raw; sleep 20'",
        "echo TIMEOUT=$? $(" .. modes .. ")",
      }, "; ")
      H.write(dir .. "/script", "expect TIMEOUT=\nsleep 200\n")
      local cmd = ("env SANDLOT_ISOLATION=%s %s %s %s -- sh -c %s"):format(H.BACKEND,
        H.q(H.ROOT .. "/tests/ptydrive"), H.q(dir .. "/script"), H.q(dir .. "/screen"),
        H.q(inner))
      if user then cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- " .. cmd end
      local _, _, code = os.execute(cmd)
      local screen = H.read(dir .. "/screen") or ""
      assert.are.equal(0, code, screen)
      assert.matches("BEFORE icanon echo", screen, 1, true)
      -- the stages ran (stty exited 0; the timeout killed the second) and the modes are back
      assert.matches("EXITED=0 icanon echo", screen, 1, true)
      assert.matches("TIMEOUT=124 icanon echo", screen, 1, true)
    end)
  end)
end
