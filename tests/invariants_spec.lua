-- Each invariant refused with a clear message, from a script and from
-- --policy-json; exit 125 and the command never runs.
local H = require("helpers")

-- Run `sandlot run` with a marker command; assert 125, the message, no marker.
local function refused(args, pattern)
  local work = H.tmpdir()
  local full = { "run", "--no-system-policies", "--work", work }
  for _, a in ipairs(args) do full[#full + 1] = a end
  for _, a in ipairs({ "--", "sh", "-c", "touch /work/marker" }) do full[#full + 1] = a end
  local r = H.run(full)
  assert.are.equal(125, r.code, r.err)
  assert.matches(pattern, r.err)
  local lines = select(2, r.err:gsub("\n", ""))
  assert.are.equal(1, lines, "one line: " .. r.err)
  assert.is_false(H.exists(work .. "/marker"), "the command ran")
  return r
end

local function by_script(code, pattern)
  local path = H.script(code)
  local r = refused({ "-p", path }, pattern)
  assert.is_truthy(r.err:find(path .. ":1:", 1, true), "names script and line: " .. r.err)
end

describe("invariants", function()
  it("a control run writes the marker", function()
    local work = H.tmpdir()
    local r = H.run({ "run", "--work", work, "--", "sh", "-c", "touch /work/marker" })
    assert.are.equal(0, r.code, r.err)
    assert.is_true(H.exists(work .. "/marker"))
  end)

  it("refuses a read-write bind of /", function()
    by_script('policy:rw_bind("/", "/host")', 'read%-write bind of the host root "/" is refused')
  end)

  it("refuses a read-write bind that resolves to /", function()
    local link = H.tmpdir() .. "/root-link"
    os.execute("ln -s / " .. H.q(link))
    by_script(('policy:rw_bind(%q, "/host")'):format(link), "goes through the symlink .* %-> /;")
  end)

  it("refuses a bind source under /proc", function()
    by_script('policy:ro_bind("/proc/self/fd/0", "/in")',
              'bind source "/proc/self/fd/0" is under /proc')
    by_script('policy:ro_bind_try("/proc/1/root/etc", "/hostetc")',
              'bind source "/proc/1/root/etc" is under /proc')
  end)

  it("refuses a bind source that goes through a symlink in a parent", function()
    local dir = H.tmpdir()
    os.execute(("mkdir %s/real && ln -s real %s/link"):format(H.q(dir), H.q(dir)))
    by_script(('policy:ro_bind(%q, "/data")'):format(dir .. "/link/x"),
              "goes through the symlink " .. (dir .. "/link"):gsub("%p", "%%%0") .. " %-> real")
  end)

  it("refuses a bind source swapped for a symlink after the policy was built", function()
    -- the REPL builds the policy, the host swaps the directory, then run{}
    local dir = H.tmpdir()
    os.execute(("mkdir %s/data && touch %s/data/inside"):format(H.q(dir), H.q(dir)))
    local out = dir .. "/out"
    local p = io.popen(("%s repl > %s 2>&1; echo status=$? >> %s"):format(
      H.q(H.bin_dir() .. "/sandlot"), H.q(out), H.q(out)), "w")
    p:write(('policy:ro_bind(%q, "/data")\n'):format(dir .. "/data"))
    p:write('run{"ls", "/data"}\n')
    p:flush()
    os.execute("sleep 1")
    os.execute(("mv %s/data %s/moved && ln -s /etc %s/data"):format(H.q(dir), H.q(dir), H.q(dir)))
    p:write('run{"ls", "/data"}\n')
    p:close()
    local text = H.read(out)
    assert.matches("^inside\n0\n", text) -- the first run saw the real directory
    assert.matches("bind source " .. (dir .. "/data"):gsub("%p", "%%%0")
                   .. ": Too many levels of symbolic links", text)
    -- bwrap: the launcher refuses before bwrap starts and the REPL exits 125;
    -- native: the sandbox's pid 1 refuses, and run{} returns 125
    assert.is_truthy(text:find("status=125", 1, true) or text:find("\n125\nstatus=0", 1, true),
                     text)
    assert.is_nil(text:find("passwd", 1, true), "the swapped-in /etc was mounted")
  end)

  it("refuses a relative path", function()
    by_script('policy:ro_bind("usr", "/usr2")', 'path must be absolute: "usr"')
  end)

  it("refuses ..", function()
    by_script('policy:ro_bind("/usr/../etc", "/x")', 'not normalised %("%.%." component%)')
  end)

  it("refuses // and .", function()
    by_script('policy:ro_bind("/usr//lib", "/x")', 'not normalised %("//"%)')
    by_script('policy:ro_bind("/usr/./lib", "/x")', 'not normalised %("%." component%)')
  end)

  it("refuses a NUL byte", function()
    by_script('policy:ro_bind("/usr\\0/lib", "/x")', 'path contains a NUL byte')
  end)

  it("refuses a newline", function()
    by_script('policy:ro_bind("/usr\\n", "/x")', 'path contains a newline')
  end)

  it("refuses targets at / or under /proc and /dev", function()
    by_script('policy:ro_bind("/usr", "/proc/sys")', 'under /proc, which sandlot mounts itself')
    by_script('policy:tmpfs("/dev/shm")', 'under /dev, which sandlot mounts itself')
    by_script('policy:ro_bind("/usr", "/")', 'sandbox target must not be "/"')
  end)

  it("refuses a symlink that leads to /, or under /proc or /dev", function()
    -- a later step through the link would land there (native made /dev/evil)
    by_script('policy:symlink("/dev", "/x")\npolicy:symlink("pwned", "/x/evil")',
              'symlink /x %-> /dev leads to /dev: .*under /dev, which sandlot mounts itself')
    by_script('policy:symlink("../proc/sys", "/x")',
              'symlink /x %-> %.%./proc/sys leads to /proc/sys')
    by_script('policy:symlink("a/../../../dev/shm", "/y/x")', 'leads to /dev/shm')
    by_script('policy:symlink("..", "/x")', 'symlink /x %-> %.%. leads to /: .*must not be "/"')
    by_script('policy:symlink("/", "/x")', 'must not be "/"')
    -- control: a link elsewhere, relative or absolute, works and is there
    local work = H.tmpdir()
    local path = H.script('policy:symlink("usr/share", "/s")\npolicy:symlink("/dev/../tmp", "/t")')
    local r = H.run({ "run", "--no-system-policies", "--work", work, "-p", path, "--", "sh", "-c",
                      "readlink /s /t > /work/marker" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("usr/share\n/dev/../tmp\n", H.read(work .. "/marker"))
  end)

  it("refuses LD_PRELOAD and the other loader variables", function()
    by_script('policy:allow_env("LD_PRELOAD")', 'LD_PRELOAD is refused')
    by_script('policy:setenv("LD_LIBRARY_PATH", "/tmp")', 'LD_LIBRARY_PATH is refused')
    by_script('policy:allow_env("GLIBC_TUNABLES")', 'GLIBC_TUNABLES is refused')
    by_script('policy:allow_env("GCONV_PATH")', 'GCONV_PATH is refused')
  end)

  it("refuses malformed environment names", function()
    by_script('policy:setenv("A=B", "x")', 'invalid environment variable name "A=B"')
    by_script('policy:allow_env("1X")', 'invalid environment variable name "1X"')
  end)

  it("refuses uid or gid 0", function()
    by_script("policy.uid = 0", "must not be 0")
    by_script("policy.gid = 0", "must not be 0")
  end)

  it("refuses making the sandlot binary writable inside", function()
    local dir = H.bin_dir()
    by_script(('policy:rw_bind(%q)'):format(dir), "would make .* writable inside the sandbox")
  end)

  it("refuses making the exec helper writable inside, whatever the backend", function()
    -- the native backend does not use it, but a later bwrap run would
    local helper = H.bin_dir() .. "/sandlot-exec"
    for _, backend in ipairs({ "native", "bwrap" }) do
      local r = H.run_script(('policy:rw_bind(%q)'):format(helper),
                             { env = { SANDLOT_ISOLATION = backend } })
      assert.are.equal(125, r.code, backend .. ": " .. r.err)
      assert.matches("would make " .. helper:gsub("%p", "%%%0") .. " writable inside", r.err)
      local e = H.run({ "explain", "--isolate", backend, "-p", H.script(
        ('policy:rw_bind(%q)'):format(helper)) })
      assert.are.equal(125, e.code, "explain " .. backend .. ": " .. e.err)
    end
  end)

  it("refuses making a --policy script writable inside", function()
    local path = H.script('policy:rw_bind(POLICY_DIR)')
    local dir = path:gsub("/[^/]*$", "")
    H.write(path, ('policy:rw_bind(%q)'):format(dir))
    local r = refused({ "-p", path }, "would make " .. path:gsub("%p", "%%%0")
                      .. " writable inside the sandbox")
    assert.is_truthy(r.err:find(path .. ":1:", 1, true))
  end)

  it("refuses making a policies.d directory writable inside", function()
    by_script('policy:rw_bind("/etc")', "would make /etc/sandlot/policies.d writable")
  end)

  it("refuses unknown policy fields", function()
    by_script("policy.netwrk = true", "policy has no field 'netwrk'")
  end)

  describe("from --policy-json", function()
    local function json(text, pattern)
      local path = H.script(text, "policy.json")
      local r = refused({ "--policy-json", path }, pattern)
      assert.is_truthy(r.err:find("policy-json:" .. path, 1, true), r.err)
    end

    it("refuses a read-write bind of /", function()
      json('{"ro_binds":[],"rw_binds":[["/","/host"]],"network":false,"env_allowlist":[]}',
           'read%-write bind of the host root')
    end)

    it("refuses LD_PRELOAD in the allowlist", function()
      json('{"ro_binds":[],"network":false,"env_allowlist":["LD_PRELOAD"]}', "LD_PRELOAD")
    end)

    it("refuses a relative path and ..", function()
      json('{"ro_binds":[["usr","/usr"]],"network":false,"env_allowlist":[]}', "absolute")
      json('{"ro_binds":[["/usr/..","/x"]],"network":false,"env_allowlist":[]}', "normalised")
    end)

    it("refuses a target under /proc", function()
      json('{"ro_binds":[["/usr","/proc/x"]],"network":false,"env_allowlist":[]}', "/proc")
    end)

    it("refuses uid 0 in the sandlot extension", function()
      json('{"ro_binds":[],"network":false,"env_allowlist":[],"sandlot":{"uid":0}}', "not be 0")
    end)

    it("refuses the host root as work_host", function()
      json('{"ro_binds":[],"network":false,"env_allowlist":[],"work_host":"/"}', "host root")
    end)
  end)
end)
