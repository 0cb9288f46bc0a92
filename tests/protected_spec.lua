-- Protected host paths (policies.d/05-protected.lua): no effect, --policy
-- script or --policy-json binds them; a read-only bind of an ancestor masks
-- them, a read-write one is refused, "/" is refused; only the system layer
-- opens one, explicitly, and explain names that rule.
local H = require("helpers")

local SITE = H.TEST_SYSTEM_DIR .. "/00-site.lua"

local reset = H.system_layer

-- `sandlot run ARGS -- sh -c 'touch /work/marker'`: the result and whether it ran
local function attempt(args, user)
  local work = H.tmpdir()
  local full = { "run" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  for _, a in ipairs({ "--", "sh", "-c", "touch " .. work .. "/marker" }) do
    full[#full + 1] = a
  end
  -- the marker's directory is bound by a script, so a refused bind keeps it empty
  local bind = H.script(('policy:rw_bind(%q)\n'):format(work))
  table.insert(full, 2, "-p")
  table.insert(full, 3, bind)
  local r = H.run(full, { bin = "testconf", user = user })
  r.ran = H.exists(work .. "/marker")
  return r
end

local function refused(r, message)
  H.assert_refused(r, message)
  assert.are.equal(1, select(2, r.err:gsub("\n", "")), "one line: " .. r.err)
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil
  describe("protected host paths, as " .. who, function()
    before_each(function() reset(nil) end)
    after_each(function() reset(nil) end)

    it("let an ordinary stage run (control)", function()
      local r = attempt({ "-e", "fs-read:/usr/share" }, user)
      assert.are.equal(0, r.code, r.err)
      assert.is_true(r.ran)
    end)

    it("refuse a bind of the host root, read-only too", function()
      refused(attempt({ "-e", "fs-read:/" }, user), 'binding the host root "/" is refused')
      local json = H.script('{"ro_binds":[["/","/host"]],"network":false,"env_allowlist":[]}',
                            "p.json")
      refused(attempt({ "--policy-json", json }, user), 'binding the host root "/" is refused')
    end)

    it("refuse a protected path, naming it and the rule", function()
      refused(attempt({ "-e", "fs-read:/run" }, user),
              "binding /run is refused: /run is protected by policies.d/05-protected.lua:")
      refused(attempt({ "-e", "fs-read:/sys" }, user),
              "/sys is protected by policies.d/05-protected.lua:")
    end)

    it("refuse --policy-json writing host binaries through work_host", function()
      local json = H.script('{"ro_binds":[],"network":false,"env_allowlist":[],'
                            .. '"work_host":"/usr/local/bin"}', "p.json")
      refused(attempt({ "--policy-json", json }, user),
              "binding read-write /usr/local/bin is refused: /usr is protected for writing by "
              .. "policies.d/05-protected.lua:")
    end)

    it("refuse a read-write bind of an ancestor of protected paths", function()
      refused(attempt({ "-e", "fs-write:/var" }, user),
              "read-write bind of /var is refused: it holds ")
    end)

    it("mask /etc/shadow and friends when /etc is bound read-only", function()
      local cmd = 'stat -c "%n %s" /etc/passwd /etc/shadow; echo done'
      local r = H.run({ "run", "-e", "fs-read:/etc", "--", "sh", "-c", cmd },
                      { bin = "testconf", user = user })
      assert.matches("done\n$", r.out, r.err)
      local passwd = tonumber(r.out:match("/etc/passwd (%d+)"))
      assert.is_true(passwd > 0, r.out) -- the probe saw the host's /etc
      assert.matches("/etc/shadow 0\n", r.out)
      local e = H.run({ "explain", "--isolate", H.BACKEND, "-e", "fs-read:/etc" },
                      { bin = "testconf", user = user })
      assert.matches("/etc/shadow +# policies%.d/05%-protected%.lua:%d+\n", e.out)
    end)

    it("open only from the system layer, explicitly, and explain names the opening", function()
      local cmd = 'stat -c "%n %s" /etc/shadow; echo done'
      local script = H.script('policy:unprotect("/etc/shadow")\n')
      local r = H.run({ "run", "-p", script, "-e", "fs-read:/etc", "--", "sh", "-c", cmd },
                      { bin = "testconf", user = user })
      assert.are.equal(125, r.code)
      assert.are.equal("", r.out) -- nothing ran
      assert.is_truthy(r.err:find(script .. ":1: policy:unprotect is available only to the "
                                  .. "built-in layer and the system layer", 1, true), r.err)
      reset('policy:unprotect("/etc/shadow")\n')
      r = H.run({ "run", "-e", "fs-read:/etc", "--", "sh", "-c", cmd },
                { bin = "testconf", user = user })
      assert.matches("done\n$", r.out, r.err)
      local size = tonumber(r.out:match("/etc/shadow (%d+)"))
      assert.is_true(size > 0, r.out)
      local e = H.run({ "explain", "-e", "fs-read:/etc" }, { bin = "testconf", user = user })
      assert.matches("# protected path opened: /etc/shadow +# " .. SITE:gsub("%p", "%%%0")
                     .. ":1\n", e.out)
    end)

    it("cannot be replaced or masked by another layer", function()
      H.write(H.TEST_SYSTEM_DIR .. "/05-protected.lua", "-- nothing\n")
      local r = attempt({ "-e", "fs-read:/usr/share" }, user)
      refused(r, "/05-protected.lua would replace policies.d/05-protected.lua: the protected "
                 .. "host paths cannot be overridden")
    end)
  end)
end

-- Credentials in homes.  A fake home made for the test (only root can make
-- one in /home); /home/* is read at every run, so it is protected as any.
if H.is_root() then
  describe("protected credentials in a home", function()
    local home
    before_each(function()
      local p = io.popen("mktemp -d /home/sandlot-spec-XXXXXX")
      home = p:read("l")
      p:close()
      assert(os.execute(("mkdir %s/.ssh && echo PRIVATE-KEY > %s/.ssh/id_rsa && "
                         .. "echo visible > %s/notes && chmod -R a+rX %s")
                        :format(H.q(home), H.q(home), H.q(home), H.q(home))))
    end)
    after_each(function() os.execute("rm -rf " .. H.q(home)) end)

    for _, who in ipairs(H.users()) do
      local user = who == "nobody" and "nobody" or nil
      it("are masked when the home is bound read-only, as " .. who, function()
        local cmd = ('cat %s/notes; echo "ssh=[$(ls -A %s/.ssh)]"; cat %s/.ssh/id_rsa; echo done')
                    :format(home, home, home)
        local r = H.run({ "run", "-e", "fs-read:" .. home, "--", "sh", "-c", cmd },
                        { bin = "testconf", user = user })
        assert.matches("^visible\n", r.out, r.err)
        assert.matches("ssh=%[%]\n", r.out)
        assert.matches("done\n$", r.out)
        assert.is_nil(r.out:find("PRIVATE-KEY", 1, true))
      end)

      it("refuse a read-write bind of the home, as " .. who, function()
        local r = attempt({ "-e", "fs-write:" .. home }, user)
        refused(r, "read-write bind of " .. home .. " is refused: it holds " .. home .. "/.")
      end)
    end

    it("refuse fs-write into root's home (persistent writes run as root later)", function()
      local made = not H.exists("/root/.cargo")
      os.execute("mkdir -p /root/.cargo")
      local r = attempt({ "-e", "fs-write:/root/.cargo" })
      if made then os.execute("rmdir /root/.cargo") end
      refused(r, "binding read-write /root/.cargo is refused: /root is protected for writing by "
                 .. "policies.d/05-protected.lua:")
    end)
  end)
end

-- The built-in layer opens exactly what it binds itself: the target of
-- /etc/resolv.conf under /run (systemd-resolved).  Staged in a private
-- mount namespace (root only): an /etc whose resolv.conf points into /run.
if H.is_root() then
  describe("the built-in network layer", function()
    for _, who in ipairs(H.users()) do
      it("opens the resolver file under /run, and explain names it, as " .. who, function()
        local dir = H.tmpdir()
        local as = (who == "nobody" and "setpriv --reuid 65534 --regid 65534 --clear-groups -- "
                    or "") .. "env SANDLOT_ISOLATION=" .. H.BACKEND .. " "
        local bin = H.q(H.bin_dir() .. "/sandlot")
        local stage = ("mount --make-rprivate / && mount -t tmpfs t /run && "
                       .. "mkdir -p /run/systemd/resolve && "
                       .. "echo 'nameserver 192.0.2.53' > /run/systemd/resolve/stub-resolv.conf && "
                       .. "mount -t tmpfs t /etc && "
                       .. "ln -s ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf && "
                       .. "%s env HOME=/nonexistent %s run -e network -- cat /etc/resolv.conf && "
                       .. "%s env HOME=/nonexistent %s explain -e network && "
                       .. "%s env HOME=/nonexistent %s run -e fs-read:/run/systemd -- true")
                      :format(as, bin, as, bin, as, bin)
        os.execute(("unshare -m sh -c %s >%s/out 2>%s/err"):format(H.q(stage), H.q(dir), H.q(dir)))
        local out, err = H.read(dir .. "/out"), H.read(dir .. "/err")
        assert.matches("^nameserver 192%.0%.2%.53\n", out, err) -- the network stage resolved
        assert.matches("# protected path opened: /run/systemd/resolve/stub%-resolv%.conf +# "
                       .. "policies%.d/20%-network%.lua:%d+\n", out)
        -- the opening is that file only: the rest of /run stays protected
        assert.matches("binding /run/systemd is refused: /run is protected by "
                       .. "policies%.d/05%-protected%.lua:%d+\n$", err)
      end)
    end
  end)
end
