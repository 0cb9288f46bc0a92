-- No process of the sandbox is ever host root, whoever invokes sandlot:
-- a root invoker's sandbox runs as an unprivileged host identity, and the
-- powers host uid 0 has without any capability stay out of reach.  Each
-- attack runs on the suite's backend, as root and as nobody, and first
-- proves that it ran.
local H = require("helpers")

-- A host directory only root can enter, with a secret only root can read.
local function root_only_dir()
  local dir = H.tmpdir()
  H.write(dir .. "/secret", "root-only-secret\n")
  assert(os.execute("chmod 0600 " .. H.q(dir .. "/secret") .. " && chmod 0700 " .. H.q(dir)))
  return dir
end

-- Host processes whose command line holds marker (a word of it: the words
-- are NUL-separated; a marker with a [ is a grep pattern): {pid=, name=,
-- uid=, gid=, ppid=}.
local function host_processes(marker)
  local found = {}
  local fixed = marker:find("[", 1, true) and "" or "-F "
  local p = io.popen("grep -l " .. fixed .. "-- " .. H.q(marker) .. " /proc/[0-9]*/cmdline "
                     .. "2>/dev/null")
  for path in p:lines() do
    local pid = path:match("^/proc/(%d+)/cmdline$")
    local status = pid and H.read("/proc/" .. pid .. "/status")
    if status then
      found[#found + 1] = { pid = pid, name = status:match("^Name:%s+(%S+)"),
                            uid = status:match("\nUid:%s+([%d%s]-)\n"),
                            gid = status:match("\nGid:%s+([%d%s]-)\n"),
                            ppid = status:match("\nPPid:%s+(%d+)") }
    end
  end
  p:close()
  return found
end

-- A unix-socket server on the host that writes the peer's host uid to out
-- (SO_PEERCRED), one connection, in the background; perl is essential on
-- Debian.  Returns the socket path.
local function peercred_server(dir)
  local sock, out = dir .. "/peer.sock", dir .. "/peer.uid"
  local perl = [[
    use IO::Socket::UNIX; use Socket;
    my ($path, $out) = @ARGV;
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 1) or die;
    chmod 0777, $path;
    alarm 20;
    my $c = $s->accept or die;
    my ($pid, $uid, $gid) = unpack("lll", getsockopt($c, SOL_SOCKET, SO_PEERCRED));
    open(my $fh, ">", "$out.tmp") or die; print $fh "$uid\n"; close $fh;
    rename("$out.tmp", $out);
    print $c "hello\n"; close $c;
  ]]
  assert(os.execute(("perl -e %s %s %s >/dev/null 2>&1 &"):format(H.q(perl), H.q(sock), H.q(out))))
  for _ = 1, 100 do
    if H.exists(sock) then break end
    os.execute("sleep 0.05")
  end
  assert(H.exists(sock), "the test's socket server did not start")
  return sock, out
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("the sandbox's host identity, invoked as " .. who, function()
    it("is never host uid or gid 0: every process of the sandbox", function()
      local marker = ("4017.%d%d"):format(user and 1 or 2, math.random(100000, 999999))
      local dir = H.tmpdir()
      local cmd = ("%s >%s/out 2>&1 &"):format(table.concat({
        user and "setpriv --reuid 65534 --regid 65534 --clear-groups --" or "",
        "env SANDLOT_ISOLATION=" .. H.BACKEND, H.q(H.bin_dir() .. "/sandlot"), "run", "--",
        "sh", "-c", H.q("sleep " .. marker .. " & sleep " .. marker .. "; wait") }, " "),
        H.q(dir))
      assert(os.execute(cmd))
      local sleeps
      for _ = 1, 100 do
        sleeps = {}
        for _, p in ipairs(host_processes(marker)) do
          if p.name == "sleep" then sleeps[#sleeps + 1] = p end
        end
        if #sleeps >= 2 then break end
        os.execute("sleep 0.05")
      end
      -- the sleeps and every ancestor up to the launcher (sandlot run): their
      -- shell, and the sandbox's pid 1 (bwrap's, or sandlot-init) and bwrap
      local seen, done = {}, {}
      for _, p in ipairs(sleeps) do
        local pid = p.pid
        while pid and not done[pid] do
          done[pid] = true
          local cmdline = H.read("/proc/" .. pid .. "/cmdline") or ""
          local status = H.read("/proc/" .. pid .. "/status")
          if not status or cmdline:find("sandlot\0run\0", 1, true) then break end
          seen[#seen + 1] = { pid = pid, uid = status:match("\nUid:%s+([%d%s]-)\n"),
                              gid = status:match("\nGid:%s+([%d%s]-)\n") }
          pid = status:match("\nPPid:%s+(%d+)")
        end
      end
      for _, p in ipairs(sleeps) do os.execute("kill -9 " .. p.pid .. " 2>/dev/null") end
      assert.is_true(#seen >= 4, "the sandbox's processes were not found: " .. #seen)
      for _, p in ipairs(seen) do
        for id in p.uid:gmatch("%d+") do assert.are_not.equal("0", id, "pid " .. p.pid) end
        for id in p.gid:gmatch("%d+") do assert.are_not.equal("0", id, "pid " .. p.pid) end
      end
    end)

    it("shows no allowlisted value on the host's process list", function()
      -- the value comes from the invoker's environment (--env NAME), read
      -- from a file so that no command line of the test's own holds it
      local secret = ("s3cret-%d-%d"):format(user and 1 or 2, math.random(100000, 999999))
      local marker = ("4017.5%d%d"):format(user and 1 or 2, math.random(100000, 999999))
      local dir, work = H.tmpdir(), H.tmpdir()
      H.write(dir .. "/secret", secret .. "\n", "0644")
      local cmd = ("%s SPEC_SECRET=\"$(cat %s)\" SANDLOT_ISOLATION=%s %s run --work %s "
                   .. "--env SPEC_SECRET -- sh -c %s >%s/out 2>&1 &"):format(
        user and "setpriv --reuid 65534 --regid 65534 --clear-groups -- env HOME=/nonexistent"
        or "env", H.q(dir .. "/secret"), H.BACKEND, H.q(H.bin_dir() .. "/sandlot"), H.q(work),
        H.q('echo "$SPEC_SECRET" > /work/seen; sleep ' .. marker), H.q(dir))
      assert(os.execute(cmd))
      local sleeps
      for _ = 1, 100 do
        sleeps = {}
        for _, p in ipairs(host_processes(marker)) do
          if p.name == "sleep" then sleeps[#sleeps + 1] = p end
        end
        if #sleeps > 0 and H.exists(work .. "/seen") then break end
        os.execute("sleep 0.05")
      end
      -- (the first letter bracketed: the search's own command line does not match)
      local holders = host_processes("[" .. secret:sub(1, 1) .. "]" .. secret:sub(2))
      for _, p in ipairs(sleeps) do os.execute("kill -9 " .. p.pid .. " 2>/dev/null") end
      assert.are.equal(1, #sleeps, "the stage's sleep was not found: " .. (H.read(dir .. "/out")
                                                                          or ""))
      assert.are.equal(secret .. "\n", H.read(work .. "/seen")) -- the value reached the stage
      local names = {}
      for _, p in ipairs(holders) do names[#names + 1] = p.pid .. " " .. tostring(p.name) end
      assert.are.same({}, names, "processes whose command line holds the value")
    end)

    -- a shell script that prints "ran", then a word for each attempt that worked
    local function none_work(script)
      local r = H.run({ "run", "--", "sh", "-c", "echo ran; " .. script .. "; true" },
                      { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("ran\n", r.out)
    end

    it("cannot write /proc/sys, nor the sysrq trigger", function()
      none_work("for f in /proc/sys/kernel/core_pattern /proc/sys/kernel/ns_last_pid "
                .. "/proc/sysrq-trigger; do (exec 3>$f) 2>/dev/null && echo writable $f; done")
    end)

    it("cannot change a host device node's metadata", function()
      none_work("for d in null zero urandom; do chmod 0666 /dev/$d 2>/dev/null && echo chmod $d; "
                .. "chown 65534 /dev/$d 2>/dev/null && echo chown $d; done")
    end)

    it("reaches a host unix socket as an unprivileged peer", function()
      local dir = H.tmpdir()
      local sock, out = peercred_server(dir)
      local r = H.run({ "run", "-e", "fs-read:" .. dir, "--", "perl", "-MIO::Socket::UNIX", "-e",
                        "my $c = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die \"connect: $!\";"
                        .. " print scalar <$c>", sock }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("hello\n", r.out) -- it connected
      for _ = 1, 100 do
        if H.exists(out) then break end
        os.execute("sleep 0.05")
      end
      local uid = (H.read(out) or ""):match("%d+")
      assert.is_truthy(uid, "the server saw no peer")
      assert.are_not.equal("0", uid)
    end)

    it("never plants a setuid or setgid file in a writable bind or --work", function()
      local out, work = H.tmpdir(), H.tmpdir()
      local r = H.run({ "run", "-e", "fs-write:" .. out, "--work", work, "--", "sh", "-c",
                        "echo ran; for d in " .. out .. " /work; do cp /bin/true $d/t && "
                        .. "chmod 4755 $d/t; chmod 2755 $d/t; true; done" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.matches("^ran\n", r.out)
      for _, f in ipairs({ out .. "/t", work .. "/t" }) do
        local p = io.popen("stat -c %a " .. H.q(f))
        local mode = p:read("l")
        p:close()
        assert.is_truthy(mode, f .. " was not made")
        assert.is_true(#mode <= 3 or mode:sub(1, 1) == "0", f .. " has mode " .. mode)
      end
    end)
  end)
end

describe("a root invoker", function()
  if H.users()[1] ~= "root" then
    it("is tested when the suite runs as root", function()
      -- an ordinary developer's run: --host-id is refused for a non-root invoker
      local r = H.run({ "run", "--host-id", "4242", "--", "true" })
      assert.are.equal(125, r.code)
      assert.matches("--host%-id needs a root invoker", r.err)
    end)
    return
  end

  it("keeps its access to root-only paths through idmapped binds", function()
    local ro, rw = root_only_dir(), root_only_dir()
    local r = H.run({ "run", "-e", "fs-read:" .. ro .. ",fs-write:" .. rw, "--", "sh", "-c",
                      "cat " .. ro .. "/secret; echo made > " .. rw .. "/new; id -u" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("root-only-secret\n65534\n", r.out)
    -- what the sandbox made is root's on disk, like everything else there
    local p = io.popen("stat -c '%u:%g %a' " .. H.q(rw .. "/new"))
    assert.are.equal("0:0 644", p:read("l"))
    p:close()
  end)

  it("runs the sandbox as the ids --host-id names", function()
    local rw = root_only_dir()
    local marker = "4017.3" .. math.random(100000, 999999)
    local r = H.run({ "run", "--host-id", "4242:4243", "-e", "fs-write:" .. rw, "--", "sh", "-c",
                      "sleep " .. marker .. " & echo x > " .. rw .. "/y; "
                      .. "sleep 0.3; cat /proc/$!/status | grep -E '^(Uid|Gid)'; kill $!" })
    assert.are.equal(0, r.code, r.err)
    assert.matches("Uid:%s+65534", r.out) -- inside, the policy's ids
    local p = io.popen("stat -c '%u:%g' " .. H.q(rw .. "/y"))
    assert.are.equal("0:0", p:read("l"))
    p:close()
  end)

  it("shows --host-id's ids on the host", function()
    local marker = "4017.4" .. math.random(100000, 999999)
    local dir = H.tmpdir()
    assert(os.execute(("env SANDLOT_ISOLATION=%s %s run --host-id 4242:4243 -- sleep %s "
                       .. ">%s/out 2>&1 &"):format(H.BACKEND, H.q(H.bin_dir() .. "/sandlot"),
                                                    marker, H.q(dir))))
    local procs = {}
    for _ = 1, 100 do
      for _, p in ipairs(host_processes(marker)) do
        if p.name == "sleep" then procs[#procs + 1] = p end
      end
      if #procs > 0 then break end
      os.execute("sleep 0.05")
    end
    for _, p in ipairs(procs) do os.execute("kill -9 " .. p.pid .. " 2>/dev/null") end
    assert.are.equal(1, #procs, "the sandbox's sleep was not found")
    assert.matches("^4242%s", procs[1].uid)
    assert.matches("^4243%s", procs[1].gid)
  end)

  it("says which user owns an fs-write dir it cannot write, and the fix", function()
    local dir = H.tmpdir()
    assert(os.execute("chown 1000:1000 " .. H.q(dir) .. " && chmod 0755 " .. H.q(dir)))
    local r = H.run({ "run", "-e", "fs-write:" .. dir, "--", "touch", dir .. "/x" })
    assert.are.equal(125, r.code)
    assert.are.equal(("sandlot: bind source %s is owned by uid 1000: the sandbox's host "
                      .. "identity (uid 65534) cannot write it; fix: run the stage with "
                      .. "--host-id 1000 (that user's ids), or make it writable by uid 65534\n")
                     :format(dir), r.err)
    -- the fix it names works: the file is that user's
    local ok = H.run({ "run", "--host-id", "1000", "-e", "fs-write:" .. dir, "--", "touch",
                       dir .. "/x" })
    assert.are.equal(0, ok.code, ok.err)
    local p = io.popen("stat -c %u " .. H.q(dir .. "/x"))
    assert.are.equal("1000", p:read("l"))
    p:close()
    -- another user's world-writable dir is bound as it is, and writable
    assert(os.execute("chmod 0777 " .. H.q(dir)))
    local open = H.run({ "run", "-e", "fs-write:" .. dir, "--", "touch", dir .. "/y" })
    assert.are.equal(0, open.code, open.err)
  end)

  it("refuses --host-id 0 and malformed ids", function()
    for _, bad in ipairs({ "0", "0:0", "4242:0", "x", "4242:", "-1", "4294967295" }) do
      local r = H.run({ "run", "--host-id", bad, "--", "true" })
      assert.are.equal(125, r.code, bad)
      assert.matches("^sandlot: %-%-host%-id: expected UID or UID:GID", r.err)
    end
  end)

  it("is refused as nobody: only a root invoker chooses the host identity", function()
    local r = H.run({ "run", "--host-id", "4242", "--", "true" }, { user = "nobody" })
    assert.are.equal(125, r.code)
    assert.matches("--host%-id needs a root invoker", r.err)
  end)

  it("refuses an ordinary invoker who still holds gid 0", function()
    local work = H.tmpdir()
    local cmd = ("setpriv --reuid 65534 --regid 0 --clear-groups -- env SANDLOT_ISOLATION=%s "
                 .. "%s run --work %s -- touch /work/m 2>&1"):format(H.BACKEND,
                 H.q(H.bin_dir() .. "/sandlot"), H.q(work))
    local p = io.popen(cmd)
    local err = p:read("a")
    local _, _, code = p:close()
    assert.are.equal(125, code, err)
    assert.matches("gid 0", err)
    assert.is_false(H.exists(work .. "/m"))
  end)
end)
