-- Egress allowlist (issue 14): a stage in allowlist mode keeps its own
-- network namespace; a proxy that sandlot serves from the host, on
-- 127.0.0.1:3128 inside, connects only where an allow_host rule says.
-- Servers run on the host's 127.0.0.1 only; curl runs inside the sandbox.
-- Inside, 127.0.0.1 is the sandbox's own loopback: only through the proxy
-- does a request reach the host's.  NO_PROXY names 127.0.0.1, so requests
-- that must go through the proxy say --noproxy ''.
local H = require("helpers")
local cjson = require("cjson")

local SEAL = H.TEST_SYSTEM_DIR .. "/00-site.lua"

-- An HTTP server on the host's 127.0.0.1 (an ephemeral port), in the
-- background: every request gets "hello from <port>".  Returns its port
-- and pid (the test kills it by pid).
local function http_server()
  local dir = H.tmpdir()
  local perl = [[
    use IO::Socket::INET;
    my ($out) = @ARGV;
    my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 512,
                                  ReuseAddr => 1, Proto => "tcp") or die;
    my $port = $s->sockport;
    open(my $fh, ">", "$out.tmp") or die; print $fh "$port\n"; close $fh;
    rename("$out.tmp", $out);
    alarm 120;
    while (my $c = $s->accept) {
      while (my $l = <$c>) { last if $l =~ /^\r?\n$/; }
      my $body = "hello from $port\n";
      print $c "HTTP/1.0 200 OK\r\nContent-Length: " . length($body)
             . "\r\nConnection: close\r\n\r\n$body";
      close $c;
    }
  ]]
  local out = dir .. "/port"
  local p = io.popen(("perl -e %s %s >/dev/null 2>&1 & echo $!"):format(H.q(perl), H.q(out)))
  local pid = p:read("l")
  p:close()
  for _ = 1, 100 do
    if H.exists(out) then break end
    os.execute("sleep 0.05")
  end
  local port = tonumber((H.read(out) or ""):match("%d+"))
  assert(port, "the test's HTTP server did not start")
  return port, pid
end

-- A port nothing listens on, on the host (bound, then released).
local function free_port()
  local p = io.popen([[perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr =>
    "127.0.0.1", LocalPort => 0, Listen => 1)->sockport']])
  local port = tonumber(p:read("a"))
  p:close()
  return port
end

local function script(text) return H.script(text) end

-- sandlot run with the policy script and a shell command inside.
local function run(policy_text, sh, opts)
  opts = opts or {}
  local args = { "run" }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  if policy_text then
    args[#args + 1] = "-p"
    args[#args + 1] = script(policy_text)
  end
  for _, a in ipairs({ "--", "sh", "-c", sh }) do args[#args + 1] = a end
  return H.run(args, opts)
end

local function allow(port) return ('policy:allow_host("127.0.0.1", {%d})\n'):format(port) end

describe("egress allowlist", function()
  local port, pid
  setup(function() port, pid = http_server() end)
  teardown(function() if pid then os.execute("kill " .. pid .. " 2>/dev/null") end end)
  after_each(function() H.system_layer(nil) end)

  for _, user in ipairs(H.users()) do
    describe("as " .. user, function()
      it("an allowed port works through the proxy, HTTP and CONNECT", function()
        local url = ("http://127.0.0.1:%d/"):format(port)
        local r = run(allow(port), ("echo probe-ran; curl -sS --noproxy '' %s; "
                                    .. "curl -sS --noproxy '' -p %s"):format(url, url),
                      { user = user })
        assert.are.equal(0, r.code, r.err)
        assert.is_truthy(r.out:find("probe-ran", 1, true), r.out)
        local _, n = r.out:gsub("hello from " .. port, "")
        assert.are.equal(2, n, r.out .. r.err)
      end)

      it("a refused port gets the 403 naming the missing rule", function()
        local other = free_port()
        local r = run(allow(port),
                      ("echo probe-ran; curl -s --noproxy '' -w '\\ncode %%{http_code}\\n' "
                       .. "http://127.0.0.1:%d/"):format(other), { user = user })
        assert.is_truthy(r.out:find("probe-ran", 1, true), r.out .. r.err)
        assert.is_truthy(r.out:find("code 403", 1, true), r.out .. r.err)
        assert.is_truthy(r.out:find(("no allow_host rule matches 127.0.0.1:%d"):format(other),
                                    1, true), r.out)
      end)

      it("a direct connect without the proxy fails", function()
        local url = ("http://127.0.0.1:%d/"):format(port)
        -- the same URL through the proxy is the control: it works
        local r = run(allow(port), ("curl -sS --noproxy '' %s; curl -sS -m 5 --noproxy '*' %s; "
                                    .. "echo direct=$?"):format(url, url), { user = user })
        assert.is_truthy(r.out:find("hello from " .. port, 1, true), r.out .. r.err)
        local rc = tonumber(r.out:match("direct=(%d+)"))
        assert.is_truthy(rc, "the direct probe ran: " .. r.out)
        assert.are_not.equal(0, rc, r.out)
        local _, n = r.out:gsub("hello from", "")
        assert.are.equal(1, n, "only the proxied request got through: " .. r.out)
      end)

      it("the SOCKS5 path works, and refuses what no rule allows", function()
        local other = free_port()
        local r = run(allow(port),
                      ("curl -sS --noproxy '' --socks5-hostname 127.0.0.1:3128 "
                       .. "http://127.0.0.1:%d/; curl -sS --noproxy '' --socks5-hostname "
                       .. "127.0.0.1:3128 http://127.0.0.1:%d/; echo refused=$?")
                      :format(port, other), { user = user })
        assert.is_truthy(r.out:find("hello from " .. port, 1, true), r.out .. r.err)
        local rc = tonumber(r.out:match("refused=(%d+)"))
        assert.is_truthy(rc, "the second probe ran: " .. r.out)
        assert.are_not.equal(0, rc, r.out)
      end)

      it("a name resolving to loopback is refused unless its address is allowed", function()
        local url = ("http://localhost:%d/"):format(port)
        local sh = ("echo probe-ran; curl -s --noproxy '' -w '\\ncode %%{http_code}\\n' %s")
                   :format(url)
        local r = run(('policy:allow_host("localhost", {%d})\n'):format(port), sh,
                      { user = user })
        assert.is_truthy(r.out:find("probe-ran", 1, true), r.out .. r.err)
        assert.is_truthy(r.out:find("code 403", 1, true), r.out .. r.err)
        assert.is_falsy(r.out:find("hello from", 1, true), r.out)
        r = run(('policy:allow_host("localhost", {%d})\n'):format(port) .. allow(port)
                .. ('policy:allow_host("::1", {%d})\n'):format(port), sh, { user = user })
        assert.is_truthy(r.out:find("hello from " .. port, 1, true), r.out .. r.err)
      end)

      it("100 parallel connections work", function()
        local r = run(allow(port), ([[
          i=0; while [ $i -lt 100 ]; do
            curl -sS --noproxy '' http://127.0.0.1:%d/ >/tmp/o.$i 2>&1 & i=$((i+1))
          done; wait; cat /tmp/o.* | grep -c "hello from"]]):format(port), { user = user })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal("100", r.out:match("%d+"), r.out .. r.err)
      end)

      it("the status report lists each attempt", function()
        local other = free_port()
        local status = H.tmpdir() .. "/status.json"
        local r = run(allow(port), ("curl -s --noproxy '' http://127.0.0.1:%d/; "
                                    .. "curl -s --noproxy '' http://127.0.0.1:%d/; true")
                                   :format(port, other),
                      { user = user, args = { "--status-json", status } })
        assert.are.equal(0, r.code, r.err)
        local text = assert(H.read(status), "no report")
        local doc = cjson.decode(text)
        assert.are.equal(2, #doc.egress, H.read(status))
        local ok, refused = doc.egress[1], doc.egress[2]
        if not ok.allowed then ok, refused = refused, ok end
        assert.are.equal("127.0.0.1", ok.host)
        assert.are.equal(port, ok.port)
        assert.is_true(ok.allowed)
        assert.is_true(ok.bytes_in > 0, H.read(status))
        assert.is_true(ok.bytes_out > 0, H.read(status))
        assert.are.equal(other, refused.port)
        assert.is_false(refused.allowed)
      end)

      it("-v prints refusals as they happen", function()
        local other = free_port()
        local r = run(allow(port), ("curl -s --noproxy '' http://127.0.0.1:%d/ >/dev/null; "
                                    .. "echo probe-ran"):format(other),
                      { user = user, args = { "-v" } })
        assert.is_truthy(r.out:find("probe-ran", 1, true), r.out .. r.err)
        assert.is_truthy(r.err:find(("egress refused: 127.0.0.1:%d"):format(other), 1, true),
                         r.err)
      end)

      it("no proxy survives the stage, whatever ended it", function()
        for _, case in ipairs({ { sh = "echo probe-ran", code = 0 },
                                { sh = "echo probe-ran; sleep 30", code = 124,
                                  args = { "--timeout", "1" } } }) do
          local args = { "-v" }
          for _, a in ipairs(case.args or {}) do args[#args + 1] = a end
          local r = run(allow(port), case.sh, { user = user, args = args })
          assert.are.equal(case.code, r.code, r.err)
          assert.is_truthy(r.out:find("probe-ran", 1, true), r.out)
          local proxy = r.err:match("egress: proxy pid (%d+)")
          assert.is_truthy(proxy, "the proxy started: " .. r.err)
          assert.is_false(os.execute("kill -0 " .. proxy .. " 2>/dev/null") == true,
                          "proxy " .. proxy .. " survived")
        end
      end)

      it("the command holds no listener", function()
        local r = run(allow(port), "ls /proc/self/fd | tr '\\n' ' '; echo", { user = user })
        assert.are.equal(0, r.code, r.err)
        assert.are.equal("0 1 2 3", r.out:match("^([%d ]-)%s*\n"), r.out)
      end)

      it("the proxy runs unprivileged, with nothing open but its own", function()
        local dir = H.tmpdir()
        local pre = user == "nobody" and "setpriv --reuid 65534 --regid 65534 --clear-groups -- "
                    or ""
        os.execute(("%senv SANDLOT_ISOLATION=%s %s/sandlot run -v -p %s -- sleep 3 "
                    .. ">/dev/null 2>%s/err </dev/null &"):format(pre, H.BACKEND, H.bin_dir(),
                   H.q(script(allow(port))), dir))
        local proxy
        for _ = 1, 100 do
          proxy = (H.read(dir .. "/err") or ""):match("egress: proxy pid (%d+)")
          if proxy then break end
          os.execute("sleep 0.05")
        end
        assert.is_truthy(proxy, "the proxy started: " .. (H.read(dir .. "/err") or ""))
        local st = H.read("/proc/" .. proxy .. "/status") or ""
        -- a root invoker's proxy runs as the sandbox's host identity, an
        -- ordinary invoker's as the invoker
        local id = io.popen("id -u; id -g")
        local uid, gid = id:read("l"), id:read("l")
        id:close()
        if user ~= "self" then uid, gid = "65534", "65534" end
        assert.are.equal(uid, st:match("\nUid:%s+(%d+)"), st)
        assert.are.equal(gid, st:match("\nGid:%s+(%d+)"), st)
        assert.are.equal("1", st:match("\nNoNewPrivs:%s+(%d+)"), st)
        if user == "self" then
          -- an ordinary suite runs as the proxy's own uid: not dumpable, its
          -- descriptors are root's to read, not even its own user's
          local ok = os.execute("ls /proc/" .. proxy .. "/fd >/dev/null 2>&1")
          assert.is_falsy(ok == true, "the proxy's descriptors are readable: it is dumpable")
        else
          -- above stderr: the listener, the audit memfd and the proxy's own (epoll, pipes)
          local p = io.popen("cd /proc/" .. proxy .. "/fd && for f in *; do [ $f -gt 2 ] && "
                             .. "readlink $f; done")
          local fds = p:read("a")
          p:close()
          assert.is_truthy(fds:find("socket:", 1, true), fds)
          assert.is_truthy(fds:find("/memfd:sandlot-egress-audit", 1, true), fds)
          for target in fds:gmatch("[^\n]+") do
            assert.is_truthy(target:find("^socket:") or target:find("^anon_inode:")
                             or target:find("^pipe:") or target:find("^/memfd:sandlot%-egress"),
                             "the proxy holds " .. target)
          end
        end
        for _ = 1, 100 do -- the stage ends, and the proxy with it
          if os.execute("kill -0 " .. proxy .. " 2>/dev/null") ~= true then break end
          os.execute("sleep 0.1")
        end
        assert.is_false(os.execute("kill -0 " .. proxy .. " 2>/dev/null") == true)
      end)

      it("TCP connect inside goes to the proxy's port only (Landlock ABI >= 4)", function()
        -- a server inside the sandbox, on its own loopback, and a direct connect to it
        local sh = [[
          perl -MIO::Socket::INET -e '$| = 1; $s = IO::Socket::INET->new(LocalAddr =>
            "127.0.0.1", LocalPort => 9999, Listen => 5, ReuseAddr => 1) or die "bind: $!";
            print "listening\n"; $c = $s->accept or exit; print $c "HTTP/1.0 200 OK\r\n" .
            "Content-Length: 7\r\n\r\ninside\n"; close $c' &
          sleep 0.5; curl -sS -m 5 --noproxy '*' http://127.0.0.1:9999/; echo rc=$?; kill $!]]
        local control = H.run({ "run", "-e", "pure", "--", "sh", "-c", sh }, { user = user })
        assert.is_truthy(control.out:find("inside", 1, true), control.out .. control.err)
        local r = run(allow(port), sh, { user = user })
        assert.is_truthy(r.out:find("listening", 1, true), "the server ran: " .. r.out .. r.err)
        local abi = tonumber(H.run({ "doctor" }).out:match("landlock%s+ABI (%d+)")) or 0
        if abi >= 4 then
          assert.is_falsy(r.out:find("inside", 1, true), r.out)
          local rc = r.out:match("rc=(%d+)")
          assert.is_truthy(rc, "the direct connect ran: " .. r.out .. r.err)
          assert.are_not.equal("0", rc, r.out)
        else
          local e = H.run({ "explain", "--isolate", "native", "-p", script(allow(port)) })
          assert.is_truthy(e.out:find("has no network rules", 1, true), e.out)
        end
      end)

      it("a sealed allowlist cannot be widened by a later script", function()
        H.system_layer(allow(port) .. 'policy:seal("egress")\n')
        local other = free_port()
        local r = run(allow(other), "echo ran", { user = user, bin = "testconf" })
        assert.are.equal(125, r.code, r.err)
        assert.is_falsy(r.out:find("ran", 1, true), r.out)
        assert.is_truthy(r.err:find("breaks the seal placed by " .. SEAL .. ":2", 1, true),
                         r.err)
        r = H.run({ "run", "-e", "network", "--", "true" }, { user = user, bin = "testconf" })
        assert.are.equal(125, r.code, r.err)
        assert.is_truthy(r.err:find(SEAL .. ":2", 1, true), r.err)
        -- the sealed rule itself still works
        r = run(nil, ("curl -sS --noproxy '' http://127.0.0.1:%d/"):format(port),
                { user = user, bin = "testconf" })
        assert.is_truthy(r.out:find("hello from " .. port, 1, true), r.out .. r.err)
      end)
    end)
  end

  it("explain shows llm:MODEL's API host with its origin", function()
    local r = H.run({ "explain", "-e", "llm:claude-sonnet-4-5" })
    assert.are.equal(0, r.code, r.err)
    assert.is_truthy(r.out:find("#   allow api.anthropic.com:443%s+# policies.d/25%-llm.lua:%d+"),
                     r.out)
    assert.is_truthy(r.out:find("# egress: allowlist", 1, true), r.out)
    assert.is_truthy(r.out:find("HTTPS_PROXY http://127.0.0.1:3128", 1, true), r.out)
  end)

  it("explain says why llm alone allows nothing", function()
    local r = H.run({ "explain", "-e", "llm" })
    assert.are.equal(0, r.code, r.err)
    assert.is_truthy(r.out:find("# egress: none", 1, true), r.out)
    assert.is_truthy(r.out:find("# note: llm without a model allows no API host.-# policies.d/"
                                .. "25%-llm.lua:%d+"), r.out)
    assert.is_falsy(r.out:find("HTTPS_PROXY", 1, true), r.out)
  end)

  it("llm with network is host mode", function()
    local r = H.run({ "explain", "-e", "llm:gpt-4o,network" })
    assert.are.equal(0, r.code, r.err)
    assert.is_truthy(r.out:find("# egress: host", 1, true), r.out)
    assert.is_falsy(r.out:find("HTTPS_PROXY", 1, true), r.out)
  end)

  it("rules are moot in host mode, and explain says so", function()
    local r = H.run({ "explain", "-e", "network", "-p", script('policy:allow_host("a.example")') })
    assert.are.equal(0, r.code, r.err)
    assert.is_truthy(r.out:find("# egress: host", 1, true), r.out)
    assert.is_truthy(r.out:find("#   moot in host mode: allow a.example:443", 1, true), r.out)
    assert.is_falsy(r.out:find("HTTPS_PROXY", 1, true), r.out)
  end)

  it("under an egress seal a rule the cap already covers is kept out, anything wider refused",
     function()
    H.system_layer('policy:allow_host("api.anthropic.com")\npolicy:allow_host("*.example.org")\n'
                   .. 'policy:seal("egress")\n')
    -- an llm stage within the cap builds, and shows only the administrator's rule
    local r = H.run({ "explain", "-e", "llm:claude-sonnet-4-5" }, { bin = "testconf" })
    assert.are.equal(0, r.code, r.err)
    assert.is_truthy(r.out:find("#   allow api.anthropic.com:443%s+# " .. SEAL:gsub("%p", "%%%0")
                                .. ":1"), r.out)
    assert.is_falsy(r.out:find("25-llm.lua:%d+\n"), r.out)
    -- a name below the capped wildcard is covered; another port, another name or
    -- a wider wildcard is not
    r = H.run({ "explain", "-p", script('policy:allow_host("a.example.org")') },
              { bin = "testconf" })
    assert.are.equal(0, r.code, r.err)
    for _, wider in ipairs({ 'policy:allow_host("api.anthropic.com", {443, 80})',
                             'policy:allow_host("api.openai.com")',
                             'policy:allow_host("*.example.org", 8443)',
                             'policy:allow_host("10.0.0.0/8")' }) do
      r = H.run({ "explain", "-p", script(wider) }, { bin = "testconf" })
      assert.are.equal(125, r.code, wider .. ": " .. r.err)
      assert.is_truthy(r.err:find("breaks the seal placed by " .. SEAL .. ":3", 1, true), r.err)
    end
    -- an llm stage outside the cap is refused, naming the seal
    r = H.run({ "run", "-e", "llm:gpt-4o", "--", "sh", "-c", "echo ran" }, { bin = "testconf" })
    assert.are.equal(125, r.code, r.err)
    assert.are.equal("", r.out)
    assert.is_truthy(r.err:find("allowing api.openai.com breaks the seal", 1, true), r.err)
  end)

  it("an environment seal holds against sandlot's own proxy variables", function()
    H.system_layer('policy:seal_env("HTTPS_PROXY", "https_proxy")\n')
    local r = H.run({ "run", "-e", "llm:claude-sonnet-4-5", "--", "sh", "-c",
                      "env | grep -i _proxy= | sort" }, { bin = "testconf" })
    assert.are.equal(0, r.code, r.err)
    assert.is_truthy(r.out:find("HTTP_PROXY=http://127.0.0.1:3128", 1, true), r.out)
    assert.is_falsy(r.out:lower():find("https_proxy", 1, true), r.out)
  end)

  it("a network seal refuses allowlist rules too", function()
    H.system_layer('policy:seal("network")\n')
    local r = H.run({ "run", "-e", "llm:claude-sonnet-4-5", "--", "sh", "-c", "echo ran" },
                    { bin = "testconf" })
    assert.are.equal(125, r.code, r.err)
    assert.is_falsy(r.out:find("ran", 1, true), r.out)
    assert.is_truthy(r.err:find("policies%.d/25%-llm%.lua:%d+: allowing api%.anthropic%.com breaks "
                                .. "the seal placed by " .. SEAL:gsub("%p", "%%%0") .. ":1"),
                     r.err)
    r = H.run({ "run", "-e", "pure", "-p", script('policy:allow_host("a.example")'), "--",
                "sh", "-c", "echo ran" }, { bin = "testconf" })
    assert.are.equal(125, r.code, r.err)
    assert.is_truthy(r.err:find("allowing a.example breaks the seal placed by " .. SEAL .. ":1",
                                1, true), r.err)
  end)

  it("explain --json carries the allowlist, and --policy-json reads it back", function()
    local r = H.run({ "explain", "--json", "-e", "llm:claude-sonnet-4-5" })
    assert.are.equal(0, r.code, r.err)
    local doc = cjson.decode(r.out)
    assert.is_false(doc.network)
    assert.are.equal("api.anthropic.com", doc.sandlot.egress[1].host)
    local file = H.tmpdir() .. "/p.json"
    H.write(file, r.out)
    local back = H.run({ "explain", "--json", "--policy-json", file })
    assert.are.equal(r.out, back.out, back.err)
  end)

  it("refuses the allowlist with the strict seccomp profile, which has no TCP", function()
    local r, ran, file = H.run_script('policy:allow_host("example.com")\n'
                                      .. 'policy.seccomp = "strict"\n')
    assert.are.equal(125, r.code, r.err)
    assert.is_false(ran, "the command ran")
    assert.is_truthy(r.err:find(file .. ":2: the egress allowlist (" .. file
                                .. ":1 allows example.com) needs TCP sockets", 1, true), r.err)
  end)

  for _, case in ipairs({
    { 'policy:allow_host("bad host!")', 'egress rule' },
    { 'policy:allow_host("example.com", 0)', 'allow_host example.com: ports are whole numbers' },
    { 'policy:allow_host("example.com", {443, 70000})',
      'allow_host example.com: ports are whole numbers' },
    { 'policy:allow_host("example.com", {})', 'allow_host example.com: from 1 to 16 ports' },
    { 'policy:allow_host("example.com", "443")', "bad argument #2 to 'allow_host'" },
  }) do
    it("refuses " .. case[1] .. " naming the script and line", function()
      H.assert_refused_script(case[1], case[2])
    end)
  end
end)
