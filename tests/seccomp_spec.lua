-- The seccomp filter, probed inside the real sandbox as root and as nobody.
-- Each syscall is called with harmless arguments (tests/probe.c): a bad fd
-- or pointer, or a no-op value.  Inside, it must get the filter's answer;
-- run by the same user outside the sandbox, most get EBADF/EFAULT/ESRCH or
-- succeed, which proves the call itself reaches the kernel.
local H = require("helpers")

-- syscall probe -> what the filter answers inside
local EXPECTED = {
  ["add_key"] = "errno=EPERM", ["keyctl"] = "errno=EPERM", ["request_key"] = "errno=EPERM",
  ["ptrace"] = "errno=EPERM", ["process_vm_readv"] = "errno=EPERM",
  ["process_vm_writev"] = "errno=EPERM", ["pidfd_getfd"] = "errno=EPERM",
  ["kcmp"] = "errno=EPERM", ["bpf"] = "errno=EPERM", ["perf_event_open"] = "errno=EPERM",
  ["userfaultfd"] = "errno=EPERM", ["io_uring_setup"] = "errno=EPERM",
  ["io_uring_enter"] = "errno=EPERM", ["io_uring_register"] = "errno=EPERM",
  ["fanotify_init"] = "errno=EPERM", ["kexec_load"] = "errno=EPERM",
  ["kexec_file_load"] = "errno=EPERM", ["init_module"] = "errno=EPERM",
  ["finit_module"] = "errno=EPERM", ["delete_module"] = "errno=EPERM",
  ["reboot"] = "errno=EPERM", ["swapon"] = "errno=EPERM", ["swapoff"] = "errno=EPERM",
  ["syslog"] = "errno=EPERM", ["acct"] = "errno=EPERM", ["quotactl"] = "errno=EPERM",
  ["iopl"] = "errno=EPERM", ["ioperm"] = "errno=EPERM",
  ["open_by_handle_at"] = "errno=EPERM", ["name_to_handle_at"] = "errno=EPERM",
  ["mbind"] = "errno=EPERM", ["migrate_pages"] = "errno=EPERM", ["move_pages"] = "errno=EPERM",
  ["set_mempolicy"] = "errno=EPERM", ["get_mempolicy"] = "errno=EPERM",
  ["personality"] = "errno=EPERM", ["modify_ldt"] = "errno=EPERM",
  ["mount"] = "errno=EPERM", ["umount2"] = "errno=EPERM", ["pivot_root"] = "errno=EPERM",
  ["chroot"] = "errno=EPERM",
  ["open_tree"] = "errno=ENOSYS", ["move_mount"] = "errno=ENOSYS", ["fsopen"] = "errno=ENOSYS",
  ["fsconfig"] = "errno=ENOSYS", ["fsmount"] = "errno=ENOSYS", ["fspick"] = "errno=ENOSYS",
  ["mount_setattr"] = "errno=ENOSYS",
  ["unshare-user"] = "errno=EPERM", ["unshare-net"] = "errno=EPERM",
  ["clone-newuser"] = "errno=EPERM", ["setns"] = "errno=EPERM", ["clone3"] = "errno=ENOSYS",
  ["ioctl-tiocsti"] = "errno=EPERM", ["ioctl-tiocsti-high"] = "errno=EPERM",
  ["ioctl-tioclinux"] = "errno=EPERM",
  ["socket-packet"] = "errno=EAFNOSUPPORT", ["socket-bluetooth"] = "errno=EAFNOSUPPORT",
  ["sethostname"] = "errno=EPERM", ["setdomainname"] = "errno=EPERM",
  ["settimeofday"] = "errno=EPERM", ["clock_settime"] = "errno=EPERM",
  ["clock_adjtime"] = "errno=EPERM", ["adjtimex"] = "errno=EPERM",
  ["chmod-suid"] = "errno=EPERM", ["chmod-sgid"] = "errno=EPERM",
  ["fchmod-suid"] = "errno=EPERM", ["fchmodat-sgid"] = "errno=EPERM",
  ["fchmodat2-suid"] = "errno=EPERM", ["open-suid"] = "errno=EPERM",
  ["openat-sgid"] = "errno=EPERM", ["creat-suid"] = "errno=EPERM",
  ["mknod-suid"] = "errno=EPERM", ["mknodat-sgid"] = "errno=EPERM",
  ["mkdir-sgid"] = "errno=EPERM", ["mkdirat-suid"] = "errno=EPERM",
  ["openat2"] = "errno=ENOSYS",
}
-- allowed calls: the filter must let them through
local ALLOWED = {
  ["unshare-files"] = "ret=0", ["personality-linux32"] = "^ret=",
  ["ioctl-fionread"] = "errno=EBADF",
  ["socket-unix"] = "^ret=", ["socket-inet"] = "^ret=",
  ["chmod-plain"] = "errno=EFAULT", ["openat-plain"] = "errno=EFAULT",
}

local function names()
  local out = {}
  for n in pairs(EXPECTED) do out[#out + 1] = n end
  for n in pairs(ALLOWED) do out[#out + 1] = n end
  table.sort(out)
  return out
end

local function parse(text)
  local got = {}
  for name, result in text:gmatch("([%w_%-]+) (%S+)\n") do got[name] = result end
  return got
end

-- probe results inside the sandbox (extra: more sandlot arguments)
local function inside(user, extra, list)
  local args = { "run", "-e", "fs-read:" .. H.bin_dir() }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  args[#args + 1] = "--"
  args[#args + 1] = H.bin_dir() .. "/probe"
  args[#args + 1] = "syscall"
  for _, n in ipairs(list or names()) do args[#args + 1] = n end
  local r = H.run(args, { user = user })
  assert.are.equal(0, r.code, r.err)
  assert.matches("^PROBE syscall\n", r.out, "the probe ran")
  return parse(r.out), r
end

-- the same probe outside the sandbox, as the same user
local function outside(user)
  local cmd = H.q(H.bin_dir() .. "/probe") .. " syscall " .. table.concat(names(), " ")
  if user then cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- " .. cmd end
  local p = io.popen(cmd)
  local text = p:read("a")
  p:close()
  assert.matches("^PROBE syscall\n", text)
  return parse(text)
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("seccomp as " .. who, function()
    it("is in filter mode inside", function()
      local r = H.run({ "run", "--", "sh", "-c",
                        "grep -E '^Seccomp(_filters)?:' /proc/self/status" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.matches("Seccomp:%s+2\nSeccomp_filters:%s+1", r.out)
    end)

    it("refuses every syscall class of the base list, and only those", function()
      local got = inside(user)
      local host = outside(user)
      local reached = 0
      for name, want in pairs(EXPECTED) do
        assert.are.equal(want, got[name], name)
        if host[name] ~= want then reached = reached + 1 end
      end
      for name, want in pairs(ALLOWED) do
        assert.matches(want, got[name] or "missing", 1, false, name)
      end
      -- most calls demonstrably reach the kernel outside (EBADF, EFAULT, a result)
      assert.is_true(reached >= 40, ("only %d calls differ outside the sandbox"):format(reached))
    end)

    it("kills a foreign-architecture (x32) syscall", function()
      local r = H.run({ "run", "-e", "fs-read:" .. H.bin_dir(), "--",
                        H.bin_dir() .. "/probe", "x32" }, { user = user })
      assert.matches("^PROBE x32\n", r.out)
      assert.are.equal(128 + 31, r.code) -- SIGSYS
    end)

    it("refuses setuid and setgid modes in /work and in an fs-write dir", function()
      local work, dir = H.tmpdir(), H.tmpdir()
      local probe = H.bin_dir() .. "/probe"
      local steps = {}
      for _, d in ipairs({ "/work", dir }) do
        for _, s in ipairs({
          { "create", d .. "/plain", "755" }, { "create", d .. "/suid", "4755" },
          { "create", d .. "/sgid", "2755" }, { "chmod", d .. "/plain", "4755" },
          { "chmod", d .. "/plain", "2755" }, { "chmod", d .. "/plain", "6755" },
          { "chmod", d .. "/plain", "700" },
        }) do
          steps[#steps + 1] = ("%s %s %s %s"):format(H.q(probe), s[1], H.q(s[2]), s[3])
        end
      end
      local r = H.run({ "run", "--work", work, "-e", "fs-read:" .. H.bin_dir(),
                        "-e", "fs-write:" .. dir, "--", "sh", "-c",
                        "umask 022; " .. table.concat(steps, "; ") }, { user = user })
      assert.are.equal(0, r.code, r.err)
      local got = {}
      for line in r.out:gmatch("PROBE %a+\n([^\n]*)") do got[#got + 1] = line end
      -- per directory: the control works, setuid/setgid creation and chmod are refused
      local want = { "mode=755", "errno=EPERM", "errno=EPERM", "errno=EPERM", "errno=EPERM",
                     "errno=EPERM", "ret=0" }
      assert.are.equal(14, #got, r.out)
      for i = 1, 14 do assert.are.equal(want[(i - 1) % 7 + 1], got[i], "step " .. i) end
      -- and on the host: no setuid/setgid file, the control's chmod took effect
      for _, d in ipairs({ work, dir }) do
        local p = io.popen("stat -c %a " .. H.q(d .. "/plain"))
        assert.are.equal("700", p:read("l"))
        p:close()
        assert.is_false(H.exists(d .. "/suid"))
        assert.is_false(H.exists(d .. "/sgid"))
        p = io.popen("find " .. H.q(d) .. " -perm /6000")
        assert.are.equal("", p:read("a"))
        p:close()
      end
    end)

    it("refuses network sockets under the strict profile", function()
      local script = H.script('policy.seccomp = "strict"')
      local got = inside(user, { "-p", script }, { "socket-inet", "socket-unix" })
      assert.are.equal("errno=EAFNOSUPPORT", got["socket-inet"])
      assert.matches("^ret=", got["socket-unix"])
    end)

    it("applies a script's extra denials, with an errno or kill", function()
      local script = H.script('policy:deny_syscall("mkdir", "EACCES")\n'
                              .. 'policy:deny_syscall("uname", "kill")')
      local r = H.run({ "run", "-p", script, "--", "mkdir", "/tmp/x" }, { user = user })
      assert.are.equal(1, r.code)
      assert.matches("Permission denied", r.err)
      r = H.run({ "run", "-p", script, "--", "uname" }, { user = user })
      assert.are.equal(128 + 31, r.code) -- SIGSYS
      r = H.run({ "run", "-p", script, "--", "true" }, { user = user })
      assert.are.equal(0, r.code, r.err)
    end)
  end)
end

describe("seccomp policy", function()
  it("is listed by explain, each rule with its origin", function()
    local script = H.script('policy:deny_syscall("chmod")')
    local r = H.run({ "explain", "-p", script })
    assert.are.equal(0, r.code, r.err)
    assert.matches("%-%-seccomp '<filter>'%s+# sandlot: invariant", r.out)
    assert.matches("#   ioctl%s+EPERM%s+TIOCSTI or TIOCLINUX%s+# sandlot: base list", r.out)
    assert.matches("#   chmod%s+EPERM%s+# " .. script:gsub("%p", "%%%0") .. ":1", r.out)
  end)

  local bad = {
    { 'policy.seccomp = "lenient"', 'unknown seccomp profile "lenient"' },
    { 'policy:deny_syscall("no_such_call")', 'unknown syscall "no_such_call"' },
    { 'policy:deny_syscall("chmod", "EWHATEVER")', 'unknown seccomp action "EWHATEVER"' },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1], function()
      H.assert_refused_script(case[1], case[2])
    end)
  end
end)
