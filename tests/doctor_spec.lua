-- sandlot doctor: what the host offers, with the fix for each gap.
local H = require("helpers")
local cjson = require("cjson")

local function sh(cmd)
  local dir = H.tmpdir()
  local _, _, code = os.execute(("%s >%s/out 2>%s/err"):format(cmd, H.q(dir), H.q(dir)))
  return code, H.read(dir .. "/out"), H.read(dir .. "/err")
end

-- What auto picks here: native where Landlock is there (the other layers
-- native needs, user namespaces, seccomp and the mount API, are checked by
-- the tests that run it), else bwrap.
local function landlock_here()
  local code = os.execute(H.q(H.bin_dir() .. "/sandlot") .. " doctor | grep -q '^ok *landlock'")
  return code == true
end

describe("doctor", function()
  it("reports this host's sandbox support and exits 0", function()
    local r = H.run({ "doctor" })
    assert.are.equal(0, r.code, r.err)
    assert.matches("ok%s+bwrap%s+/%S+bwrap %(bubblewrap %d", r.out)
    assert.matches("ok%s+userns", r.out)
    assert.matches("ok%s+seccomp", r.out)
    assert.matches("%s+landlock%s+", r.out)
    assert.matches("%s+cgroup%s+", r.out)
    assert.matches("auto backend: " .. (landlock_here() and "native" or "bwrap"), r.out)
  end)

  it("prints the same as JSON", function()
    local r = H.run({ "doctor", "--json" })
    assert.are.equal(0, r.code, r.err)
    local doc = cjson.decode(r.out)
    assert.is_true(doc.usable)
    assert.are.equal(landlock_here() and "native" or "bwrap", doc.auto_backend)
    assert.matches("^auto picked " .. doc.auto_backend, doc.auto_reason)
    local names = {}
    for _, c in ipairs(doc.checks) do names[#names + 1] = c.name end
    assert.are.same({ "bwrap", "userns", "seccomp", "landlock", "cgroup", "helper" }, names)
  end)

  it("fails, with the fix, where user namespaces are refused", function()
    local code, out = sh(("bwrap --ro-bind / / --dev /dev --proc /proc --unshare-user "
                          .. "--unshare-pid --disable-userns -- %s doctor")
                         :format(H.q(H.bin_dir() .. "/sandlot")))
    assert.are.equal(1, code, out)
    assert.matches("FAIL%s+userns", out)
    assert.matches("fix: allow unprivileged user namespaces", out)
    assert.matches("auto backend: none available", out)
  end)

  it("reports a missing bwrap, with the fix; fails unless native can stand in", function()
    local code, out = sh(("unshare -rm sh -c %s"):format(H.q(
      "mount --bind /dev/null /usr/bin/bwrap && exec env PATH=/usr/bin:/bin "
      .. H.q(H.bin_dir() .. "/sandlot") .. " doctor")))
    if landlock_here() then
      -- the native backend needs no bwrap: a gap, and auto uses native
      assert.are.equal(0, code, out)
      assert.matches("gap%s+bwrap", out)
      assert.matches("auto backend: native", out)
    else
      assert.are.equal(1, code, out)
      assert.matches("FAIL%s+bwrap", out)
    end
    assert.matches("fix: install bubblewrap", out)
  end)

  it("gives policy scripts the same facts as host.checks", function()
    local script = H.script([[
      assert(host.checks.userns.ok == true)
      assert(host.checks.bwrap.detail:find("bubblewrap"))
      assert(math.type(host.checks.landlock_abi) == "integer")
      policy:setenv("LANDLOCK_ABI", tostring(host.checks.landlock_abi))
    ]])
    local r = H.run({ "explain", "-p", script })
    assert.are.equal(0, r.code, r.err)
    assert.matches("%-%-setenv LANDLOCK_ABI %d+", r.out)
  end)

  it("refuses unknown arguments", function()
    local r = H.run({ "doctor", "--frobnicate" })
    assert.are.equal(125, r.code)
    assert.matches('unknown argument "%-%-frobnicate"', r.err)
  end)
end)

-- `make install` into a staging tree (DESTDIR), with other paths than the
-- defaults; the staged binary runs from there.  Returns the binary.
local function staged_install(vars)
  local dest = H.tmpdir()
  local ok = os.execute(("make -s -C %s install DESTDIR=%s %s >/dev/null 2>&1")
                        :format(H.q(H.ROOT), H.q(dest), vars))
  assert.is_true(ok == true, "make install failed")
  return dest
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("an installed sandlot, as " .. who, function()
    for _, case in ipairs({ { "PREFIX=/usr LIBEXECDIR=/usr/lib", "/usr/bin", "/usr/lib" },
                            { "PREFIX=/opt/sl", "/opt/sl/bin", "/opt/sl/libexec" } }) do
      it("finds its exec helper and runs bwrap stages: " .. case[1], function()
        local dest = staged_install(case[1])
        local bin = dest .. case[2] .. "/sandlot"
        local helper = dest .. case[3] .. "/sandlot/sandlot-exec"
        assert.is_true(H.exists(helper), "make install put no helper at " .. helper)
        local d = H.run({ "doctor" }, { exe = bin, user = user })
        assert.are.equal(0, d.code, d.out .. d.err)
        assert.matches("ok%s+helper%s+" .. helper:gsub("%p", "%%%0"), d.out)
        local r = H.run({ "run", "--isolate", "bwrap", "--", "sh", "-c", "echo ran" },
                        { exe = bin, user = user })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal("ran\n", r.out)
        -- without its helper: doctor fails on that row, run says so (125)
        os.remove(helper)
        local gone = H.run({ "doctor" }, { exe = bin, user = user })
        assert.are.equal(1, gone.code, gone.out)
        assert.matches("FAIL%s+helper%s+sandlot%-exec not found", gone.out)
        assert.matches("fix: sandlot%-exec belongs in LIBEXECDIR/sandlot", gone.out)
        local refused = H.run({ "run", "--isolate", "bwrap", "--", "true" },
                              { exe = bin, user = user })
        assert.are.equal(125, refused.code)
        assert.matches("the exec helper sandlot%-exec was not found", refused.err)
      end)
    end
  end)
end
