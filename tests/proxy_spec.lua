-- The egress proxy and its allowlist rules on their own (issue 14), through
-- tests/proxyrun: the proxy sandlot forks for allowlist mode, serving a
-- socket on 127.0.0.1 with the rules from its argv.  Local servers on
-- 127.0.0.1 only (tests/fixtures/egress/origin.pl); curl for the clients a
-- user runs, tests/fixtures/egress/client.pl for exact bytes.  No sandbox is
-- involved, so the backends do not matter here; the proxy runs as root and
-- as nobody (it must not need privileges).
local H = require("helpers")
local cjson = require("cjson")

local FIX = H.ROOT .. "/tests/fixtures/egress/"

-- proxyrun and the fixtures where nobody can reach them
local bin
local function bindir()
  if not bin then
    bin = H.tmpdir()
    assert(os.execute("chmod 0755 " .. H.q(bin)))
    for _, f in ipairs({ H.ROOT .. "/tests/proxyrun", H.ROOT .. "/tests/slowdns.so",
                         FIX .. "origin.pl", FIX .. "client.pl" }) do
      assert(os.execute(("cp %s %s/"):format(H.q(f), H.q(bin))),
             "missing " .. f .. ": run make test")
    end
  end
  return bin
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok and 0 or code
end

-- Start cmd in the background with stdout to a file; returns its pid and
-- the first line it printed (a port).
local function background(cmd, dir, name)
  local out, err = dir .. "/" .. name .. ".out", dir .. "/" .. name .. ".err"
  local pid = sh(("%s >%s 2>%s & echo $!"):format(cmd, H.q(out), H.q(err))):match("%d+")
  for _ = 1, 200 do
    local t = H.read(out)
    if t and t:find("\n") then return tonumber(pid), t:match("^(%d+)"), err end
    os.execute("sleep 0.02")
  end
  error(name .. " did not start: " .. (H.read(err) or ""))
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

local function stop(pid)
  if pid then os.execute("kill -TERM " .. pid .. " 2>/dev/null") end
end

-- An origin server; returns pid, port.
local function origin(dir, delay)
  return background(("perl %s/origin.pl %s"):format(H.q(bindir()), delay or 0), dir, "origin")
end

-- The proxy with rules (and options), as who, with an environment
-- assignment if env; returns {pid, port, audit(), log()}.
local function proxy(dir, who, args, env)
  local words = {}
  if who == "nobody" then words[1] = "setpriv --reuid 65534 --regid 65534 --clear-groups --" end
  if env then
    words[#words + 1] = "env"
    for _, e in ipairs(env) do words[#words + 1] = H.q(e) end
  end
  words[#words + 1] = H.q(bindir() .. "/proxyrun")
  words[#words + 1] = "--audit " .. H.q(dir .. "/audit.jsonl") .. " --log"
  for _, a in ipairs(args) do words[#words + 1] = H.q(a) end
  local pid, port, err = background(table.concat(words, " "), dir, "proxy")
  local px = { pid = pid, port = port }
  function px.audit()
    local lines = {}
    for l in (H.read(dir .. "/audit.jsonl") or ""):gmatch("[^\n]+") do
      lines[#lines + 1] = cjson.decode(l)
    end
    return lines
  end
  function px.log() return H.read(err) or "" end
  return px
end

local function curl(args)
  local words = { "curl", "-s", "--max-time", "10" }
  for _, a in ipairs(args) do words[#words + 1] = H.q(a) end
  return sh(table.concat(words, " ") .. " 2>&1")
end

local function client(px, ...)
  local words = { "perl", H.q(bindir() .. "/client.pl"), px.port }
  for _, a in ipairs({ ... }) do words[#words + 1] = H.q(a) end
  return (sh(table.concat(words, " ") .. " 2>&1"))
end

-- Wait until the audit holds n lines (they are written when attempts end).
local function audit_lines(px, n)
  for _ = 1, 250 do
    local a = px.audit()
    if #a >= n then return a end
    os.execute("sleep 0.02")
  end
  return px.audit()
end

describe("egress rules, refused when written", function()
  local bad = {
    { "", "egress rule: empty pattern" },
    { "*", "egress rule \"*\": a lone wildcard would allow every host" },
    { "*.com", "egress rule \"*.com\": a wildcard over a single label" },
    { "a*.example.com", "a wildcard is allowed only as the whole leftmost label" },
    { "example.*", "a wildcard is allowed only as the whole leftmost label" },
    { "*.*.example.com", "a wildcard is allowed only as the whole leftmost label" },
    { "ex ample.com", "egress rule \"ex\\x20ample.com\": contains a space" },
    { "10.0.0.1/8", "host bits are set; did you mean \"10.0.0.0/8\"?" },
    { "10.0.0.0/33", "prefix length must be 1..32" },
    { "0.0.0.0/0", "a /0 would allow every address" },
    { "fd00::/129", "prefix length must be 1..128" },
    { "1.2.3", "the last label is all digits" },
    { "0x7f000001", "an address in a legacy form (resolvers read it as 127.0.0.1)" },
    { "-x.example.com", "a label starts or ends with '-'" },
    { "a..example.com", "empty label" },
    { "example.com@0", "egress rule \"example.com\": port 0 is not a port" },
    { "example.com@1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "17 ports, at most 16" },
  }
  for _, case in ipairs(bad) do
    it(("refuses %q: exit 125, one line naming it"):format(case[1]), function()
      local out, code = sh(("%s %s --match x 1 2>&1"):format(H.q(bindir() .. "/proxyrun"),
                                                             H.q(case[1])))
      assert.are.equal(125, code)
      assert.is_truthy(out:find("sandlot: " .. "egress rule", 1, true), out)
      assert.is_truthy(out:find(case[2], 1, true), out)
      assert.are.equal(1, select(2, out:gsub("\n", "")), "one line: " .. out)
    end)
  end

  it("accepts names, wildcards, literals and ranges, and matches them as documented", function()
    local out, code = sh(table.concat({
      H.q(bindir() .. "/proxyrun"), "Example.COM.", "'*.api.example.org@443,8443'",
      "10.0.0.0/8@80", "'[fd00::1]'",
      "--match example.com 443", "--match EXAMPLE.com. 443", "--match example.com 80",
      "--match api.example.org 443", "--match x.api.example.org 8443",
      "--match a.b.api.example.org 443", "--match xapi.example.org 443",
      "--match 10.1.2.3 80", "--match 10.1.2.3 443", "--match '[fd00::1]' 443",
      "--match 10.1.2.3.example.com 80", "--match example.com.evil.net 443",
    }, " ") .. " 2>&1")
    assert.are.equal(0, code, out)
    assert.are.same({ "example.com", "example.com", "none", -- the port is part of the rule
                      "none", "*.api.example.org", "*.api.example.org", "none", -- strictly below
                      "10.0.0.0/8", "none", "fd00::1",
                      "none", "none" }, -- an address-like name never matches a range
                    (function()
                      local t = {}
                      for l in out:gmatch("[^\n]+") do t[#t + 1] = l end
                      return t
                    end)())
  end)

  it("matches no name rule with a name resolvers read as an address (5.1.0x2 is 5.1.0.2)",
     function()
    local out, code = sh(table.concat({
      H.q(bindir() .. "/proxyrun"), "'*.1.0x2'", "'*.example.com'",
      "--match a.1.0x2 443", "--match 5.1.0x2 443", "--match 0x5.example.com 443",
    }, " ") .. " 2>&1")
    assert.are.equal(0, code, out)
    local t = {}
    for l in out:gmatch("[^\n]+") do t[#t + 1] = l end
    -- the first line proves the wildcard matches a name under it
    assert.are.same({ "*.1.0x2", "none", "*.example.com" }, t)
  end)

  it("refuses special addresses a matched name resolves to, unless a rule names them", function()
    local out, code = sh(table.concat({
      H.q(bindir() .. "/proxyrun"), "example.com", "localhost@8080", "127.0.0.1@8080",
      "--addr example.com 443 93.184.216.34", "--addr example.com 443 127.0.0.1",
      "--addr example.com 443 169.254.169.254", "--addr example.com 443 10.1.2.3",
      "--addr example.com 443 172.16.0.1", "--addr example.com 443 192.168.1.1",
      "--addr example.com 443 100.64.0.1", "--addr example.com 443 0.0.0.0",
      "--addr example.com 443 224.0.0.1", "--addr example.com 443 255.255.255.255",
      "--addr example.com 443 ::1", "--addr example.com 443 ::", "--addr example.com 443 fe80::1",
      "--addr example.com 443 fd12::1", "--addr example.com 443 ff02::1",
      "--addr example.com 443 ::ffff:127.0.0.1", "--addr example.com 443 64:ff9b::a9fe:a9fe",
      "--addr example.com 443 2002:7f00:1::", "--addr example.com 443 2606:4700::1111",
      "--addr localhost 8080 127.0.0.1", "--addr localhost 8080 ::1",
      "--addr evil.com 443 93.184.216.34",
    }, " ") .. " 2>&1")
    assert.are.equal(0, code, out)
    local t = {}
    for l in out:gmatch("[^\n]+") do t[#t + 1] = l end
    assert.are.same({
      "allowed",
      "refused: a loopback address",
      "refused: a link-local address (cloud metadata lives there)",
      "refused: a private address", "refused: a private address", "refused: a private address",
      "refused: a shared (CGNAT) address",
      "refused: an unspecified (\"this network\") address",
      "refused: a multicast address", "refused: a reserved or broadcast address",
      "refused: a loopback address", "refused: an unspecified address",
      "refused: a link-local address", "refused: a unique-local (private) address",
      "refused: a multicast address",
      "refused: a loopback address", -- IPv4-mapped: judged by the IPv4 address
      "refused: a link-local address (cloud metadata lives there)", -- NAT64, the same
      "refused: a loopback address", -- 6to4, the same
      "allowed",
      "allowed", -- named explicitly: 127.0.0.1 port 8080
      "refused: a loopback address", -- ::1 is not
      "refused: no rule", -- a public address, but no rule matched the name
    }, t)
  end)
end)

for _, who in ipairs(H.users()) do
  describe("the egress proxy, run as " .. who, function()
    local dir, opid, oport, px

    before_each(function()
      dir = H.tmpdir()
      opid, oport = origin(dir)
    end)

    after_each(function()
      stop(px and px.pid)
      stop(opid)
      px = nil
    end)

    it("forwards an allowed plain HTTP request in origin form, one per connection", function()
      px = proxy(dir, who, { "127.0.0.1@" .. oport })
      local out = curl({ "-x", "http://127.0.0.1:" .. px.port,
                             "-H", "Proxy-Connection: keep-alive",
                             ("http://127.0.0.1:%s/some/path?q=1"):format(oport) })
      assert.is_truthy(out:find("hello from origin", 1, true), out)
      assert.is_truthy(out:find("GET /some/path?q=1 HTTP/1.1\r\n", 1, true), out)
      assert.is_truthy(out:find("Host: 127.0.0.1:" .. oport .. "\r\n", 1, true), out)
      assert.is_truthy(out:find("Connection: close\r\n", 1, true), out)
      assert.is_falsy(out:lower():find("proxy%-connection"), out)
      local a = audit_lines(px, 1)
      assert.are.equal(1, #a)
      assert.are.same({ "127.0.0.1", tonumber(oport), true, "http" },
                      { a[1].host, a[1].port, a[1].allowed, a[1].protocol })
      assert.are.equal("127.0.0.1 (command line)", a[1].rule)
    end)

    it("opens a CONNECT tunnel to an allowed port and refuses another with a 403 naming it",
       function()
      px = proxy(dir, who, { "127.0.0.1@" .. oport })
      -- the probe: the same proxy lets the allowed port through
      local ok = client(px, "connect", "127.0.0.1:" .. oport, 1000)
      assert.are.equal("HTTP/1.1 200 Connection established\ngot 2000\n", ok)
      local other = tonumber(oport) == 65535 and 65534 or oport + 1
      local out = curl({ "-p", "-x", "http://127.0.0.1:" .. px.port, "-w", "\n%{http_connect}",
                             ("http://127.0.0.1:%d/"):format(other) })
      assert.is_truthy(out:find("\n403$"), out)
      local body = client(px, "send", ("CONNECT 127.0.0.1:%d HTTP/1.1\\r\\n\\r\\n"):format(other))
      assert.is_truthy(body:find("^HTTP/1.1 403 Forbidden\r\n"), body)
      assert.is_truthy(body:find(("\r\n\r\nsandlot: egress to 127.0.0.1:%d refused: no allow_host "
                                  .. "rule matches 127.0.0.1:%d\n$"):format(other, other)), body)
      -- -v: each refusal on the log as it happens
      assert.is_truthy(px.log():find(("sandlot: egress refused: 127.0.0.1:%d (no allow_host rule "
                                      .. "matches 127.0.0.1:%d)\n"):format(other, other), 1, true),
                       px.log())
    end)

    it("speaks SOCKS5 with remote name resolution, and refuses with reply 2", function()
      px = proxy(dir, who, { "localhost@" .. oport, "127.0.0.1@" .. oport })
      local out = curl({ "--socks5-hostname", "127.0.0.1:" .. px.port,
                             ("http://localhost:%s/socks"):format(oport) })
      assert.is_truthy(out:find("hello from origin", 1, true), out)
      assert.is_truthy(out:find("GET /socks HTTP/1.1", 1, true), out)
      assert.are.equal("method 0500\nreply 0\ngot 2000\n",
                       client(px, "socks", "localhost", oport, 1000))
      assert.are.equal("method 0500\nreply 2\n", client(px, "socks", "evil.example", oport, 10))
      local other = tonumber(oport) == 65535 and 65534 or oport + 1
      assert.are.equal("method 0500\nreply 2\n", client(px, "socks", "localhost", other, 10))
      local a = audit_lines(px, 4)
      assert.are.equal("socks5", a[#a].protocol)
      assert.is_false(a[#a].allowed)
    end)

    it("refuses a name that resolves to loopback unless the address is allowed explicitly",
       function()
      px = proxy(dir, who, { "localhost@" .. oport })
      local body = client(px, "send", ("CONNECT localhost:%s HTTP/1.1\\r\\n\\r\\n"):format(oport))
      assert.is_truthy(body:find("^HTTP/1.1 403 Forbidden\r\n"), body)
      assert.is_truthy(body:find("sandlot: egress to localhost:" .. oport .. " refused: localhost "
                                 .. "resolves to [0-9a-f.:]+, a loopback address; allow it "
                                 .. "explicitly with allow_host%(\"[0-9a-f.:]+\", {" .. oport
                                 .. "}%)\n$"), body)
      local a = audit_lines(px, 1)
      assert.is_false(a[1].allowed)
      assert.are.equal("localhost (command line)", a[1].rule)
      stop(px.pid)
      -- the probe: with the address allowed as well, the same request goes through
      px = proxy(dir, who, { "localhost@" .. oport, "127.0.0.1@" .. oport, "::1@" .. oport })
      assert.are.equal("HTTP/1.1 200 Connection established\ngot 2000\n",
                       client(px, "connect", "localhost:" .. oport, 1000))
    end)

    it("matches a wildcard strictly below its domain", function()
      px = proxy(dir, who, { "--connect-timeout", "3", "*.example.com@" .. oport,
                             "127.0.0.1@" .. oport })
      local body = client(px, "send", ("CONNECT example.com:%s HTTP/1.1\\r\\n\\r\\n"):format(oport))
      assert.is_truthy(body:find("refused: no allow_host rule matches example.com:" .. oport,
                                 1, true), body)
      -- a name below it is allowed by the rules (and then fails to resolve
      -- or to connect here, never with a 403 for the rules)
      body = client(px, "send", ("CONNECT nonexistent.invalid.example.com:%s HTTP/1.1"
                                 .. "\\r\\n\\r\\n"):format(oport))
      assert.is_truthy(body:find("^HTTP/1.1 50[24] "), body)
      local a = audit_lines(px, 2)
      assert.are.equal("*.example.com (command line)", a[2].rule)
    end)

    it("resolves names off its loop: one slow lookup holds up no other connection", function()
      px = proxy(dir, who, { "*.example.com@443", "127.0.0.1@" .. oport },
                 -- slow.example.com: 3 s, then fails; under ASan (make test SANITIZE=1)
                 -- the runtime must not insist on coming first in the preload list
                 { "LD_PRELOAD=" .. bindir() .. "/slowdns.so",
                   "ASAN_OPTIONS=" .. (os.getenv("ASAN_OPTIONS") or "")
                   .. ":verify_asan_link_order=0" })
      local slow = dir .. "/slow"
      local spid = sh(("perl %s %s send %s >%s 2>&1 & echo $!"):format(
        H.q(bindir() .. "/client.pl"), px.port,
        H.q("CONNECT slow.example.com:443 HTTP/1.1\\r\\n\\r\\n"), H.q(slow))):match("%d+")
      os.execute("sleep 0.3")
      local t0 = H.now()
      local out = client(px, "connect", "127.0.0.1:" .. oport, 10)
      local took = H.now() - t0
      local pending = H.read(slow)
      local answer
      for _ = 1, 300 do
        answer = H.read(slow)
        if answer and answer ~= "" then break end
        os.execute("sleep 0.02")
      end
      stop(tonumber(spid))
      assert.are.equal("HTTP/1.1 200 Connection established\ngot 20\n", out)
      assert.is_true(took < 2, "the other connection waited " .. took .. " s")
      assert.are.equal("", pending) -- the slow lookup was still under way meanwhile
      -- and it ends in a 502 that names the lookup
      assert.is_truthy(answer:find("^HTTP/1.1 502 Bad Gateway\r\n"), answer)
      assert.is_truthy(answer:find("sandlot: egress to slow.example.com:443 failed: cannot resolve "
                                   .. "slow.example.com: ", 1, true), answer)
    end)

    it("counts the bytes each way in one audit line per attempt", function()
      px = proxy(dir, who, { "127.0.0.1@" .. oport })
      assert.are.equal("HTTP/1.1 200 Connection established\ngot 24690\n",
                       client(px, "connect", "127.0.0.1:" .. oport, 12345))
      assert.are.equal("method 0500\nreply 0\ngot 200\n",
                       client(px, "socks", "127.0.0.1", oport, 100))
      client(px, "send", "CONNECT evil.example:443 HTTP/1.1\\r\\n\\r\\n")
      local a = audit_lines(px, 3)
      assert.are.equal(3, #a)
      assert.are.same({ host = "127.0.0.1", port = tonumber(oport), allowed = true,
                        rule = "127.0.0.1 (command line)", bytes_out = 12345, bytes_in = 24690,
                        protocol = "connect" }, a[1])
      assert.are.same({ host = "127.0.0.1", port = tonumber(oport), allowed = true,
                        rule = "127.0.0.1 (command line)", bytes_out = 100, bytes_in = 200,
                        protocol = "socks5" }, a[2])
      assert.are.same({ host = "evil.example", port = 443, allowed = false, rule = cjson.null,
                        reason = "no allow_host rule matches evil.example:443", bytes_out = 0,
                        bytes_in = 0, protocol = "connect" }, a[3])
    end)

    it("serves 100 parallel connections", function()
      stop(opid)
      opid, oport = origin(dir, 0.5) -- each answer held back: all 100 are open at once
      px = proxy(dir, who, { "127.0.0.1@" .. oport })
      local urls = {}
      for i = 1, 100 do urls[i] = ("http://127.0.0.1:%s/n%d"):format(oport, i) end
      -- (--parallel-immediate: open them all now rather than wait to reuse one)
      local args = { "-Z", "--parallel-immediate", "--parallel-max", "100",
                     "-x", "http://127.0.0.1:" .. px.port }
      for _, u in ipairs(urls) do args[#args + 1] = u end
      local t0 = H.now()
      local out = curl(args)
      local took = H.now() - t0
      local seen = {}
      for n in out:gmatch("GET /n(%d+) HTTP/1.1") do seen[#seen + 1] = n end
      assert.are.equal(100, #seen, out:sub(1, 500))
      -- held back 0.5 s each: in sequence this would take 50 s
      assert.is_true(took < 15, "took " .. took)
      local a = audit_lines(px, 100)
      assert.are.equal(100, #a)
      for _, l in ipairs(a) do assert.is_true(l.allowed) end
    end)

    it("leaves clients over the connection cap waiting in the backlog until a slot frees",
       function()
      px = proxy(dir, who, { "--max-conns", "2", "127.0.0.1@" .. oport })
      local held = {}
      for i = 1, 2 do
        held[i] = sh(("perl %s %s idle 127.0.0.1:%s >/dev/null 2>&1 & echo $!"):format(
          H.q(bindir() .. "/client.pl"), px.port, oport)):match("%d+")
      end
      os.execute("sleep 0.5")
      local third = dir .. "/third"
      local tpid = sh(("perl %s %s connect 127.0.0.1:%s 10 >%s 2>&1 & echo $!"):format(
        H.q(bindir() .. "/client.pl"), px.port, oport, H.q(third))):match("%d+")
      os.execute("sleep 1")
      local waited = H.read(third)
      stop(held[1])
      local out
      for _ = 1, 250 do
        out = H.read(third)
        if out and out:find("got") then break end
        os.execute("sleep 0.02")
      end
      stop(held[2])
      stop(tpid)
      assert.are.equal("", waited) -- not answered while both slots were taken
      assert.are.equal("HTTP/1.1 200 Connection established\ngot 20\n", out)
    end)

    it("answers malformed requests with 400 or 431 and keeps serving", function()
      px = proxy(dir, who, { "127.0.0.1@" .. oport })
      local cases = {
        { "garbage\\r\\n\\r\\n", "^HTTP/1.1 400 Bad Request\r\n.*malformed request line" },
        { "GET /local HTTP/1.1\\r\\n\\r\\n",
          "^HTTP/1.1 400 .*send CONNECT host:port or an absolute" },
        { "CONNECT nowhere HTTP/1.1\\r\\n\\r\\n", "^HTTP/1.1 400 .*CONNECT needs host:port" },
        { "CONNECT 127.0.0.1:99999 HTTP/1.1\\r\\n\\r\\n", "^HTTP/1.1 400 " },
        { "CONNECT ::1:443 HTTP/1.1\\r\\n\\r\\n", "^HTTP/1.1 400 " },
        { "GET http://user@127.0.0.1/ HTTP/1.1\\r\\n\\r\\n", "^HTTP/1.1 400 .*malformed URL" },
        { "GET http://127.0.0.1:" .. oport .. "/ HTTP/2.0\\r\\n\\r\\n",
          "^HTTP/1.1 400 .*HTTP/1.x" },
        { "GET http://127.0.0.1:" .. oport .. "/ HTTP/1.1\\r\\n folded\\r\\n\\r\\n",
          "^HTTP/1.1 400 .*malformed header" },
        { "GET http://127.0.0.1:" .. oport .. "/ HTTP/1.1\\r\\nX: " .. ("a"):rep(17000)
          .. "\\r\\n\\r\\n", "^HTTP/1.1 431 " },
        { "\\x05\\x00", "^\5\255$" }, -- SOCKS5 without the no-auth method
        -- BIND: command not supported
        { "\\x05\\x01\\x00\\x05\\x02\\x00\\x01\\x7f\\x00\\x00\\x01\\x00\\x50", "^\5\0\5\7" },
      }
      for _, c in ipairs(cases) do
        local out = client(px, "send", c[1])
        assert.is_truthy(out:find(c[2]), c[1]:sub(1, 60) .. " -> " .. out:sub(1, 300))
      end
      assert.are.equal("005b000000000000\n", client(px, "socks4"))
      assert.is_true(alive(px.pid))
      -- still serving, and none of those wrote an audit line: no host was named
      assert.are.equal("HTTP/1.1 200 Connection established\ngot 20\n",
                       client(px, "connect", "127.0.0.1:" .. oport, 10))
      local a = audit_lines(px, 1)
      assert.are.equal(1, #a)
    end)

    it("closes a connection idle for the idle timeout", function()
      px = proxy(dir, who, { "--idle", "1", "127.0.0.1@" .. oport })
      local out = client(px, "idle", "127.0.0.1:" .. oport)
      local secs = tonumber(out:match("closed after ([%d.]+)"))
      assert.is_truthy(secs, out)
      assert.is_true(secs >= 0.9 and secs < 4, out)
      local a = audit_lines(px, 1)
      assert.are.equal("idle for 1 s", a[1].reason)
    end)

    it("stops on SIGTERM with status 0, closing and auditing what is open", function()
      local pre = who == "nobody" and "setpriv --reuid 65534 --regid 65534 --clear-groups -- " or ""
      os.execute(("(%s%s --audit %s 127.0.0.1@%s >%s/p.out 2>&1 & echo $! >%s/pid; wait $!; "
                  .. "echo $? >%s/rc) >/dev/null 2>&1 &"):format(
        pre, H.q(bindir() .. "/proxyrun"), H.q(dir .. "/audit.jsonl"), oport, dir, dir, dir))
      local pid, port
      for _ = 1, 200 do
        pid, port = H.read(dir .. "/pid"), (H.read(dir .. "/p.out") or ""):match("^(%d+)\n")
        if pid and port then break end
        os.execute("sleep 0.02")
      end
      assert.is_truthy(port, "the proxy did not start")
      px = { pid = tonumber(pid), port = port }
      local cpid = sh(("perl %s %s idle 127.0.0.1:%s >/dev/null 2>&1 & echo $!"):format(
        H.q(bindir() .. "/client.pl"), port, oport)):match("%d+")
      os.execute("sleep 0.5")
      os.execute("kill -TERM " .. px.pid)
      for _ = 1, 200 do
        if H.read(dir .. "/rc") then break end
        os.execute("sleep 0.02")
      end
      px = nil
      stop(tonumber(cpid))
      assert.are.equal("0\n", H.read(dir .. "/rc"))
      local a = {}
      for l in (H.read(dir .. "/audit.jsonl") or ""):gmatch("[^\n]+") do
        a[#a + 1] = cjson.decode(l)
      end
      assert.are.equal(1, #a)
      assert.is_true(a[1].allowed)
      assert.are.equal(tonumber(oport), a[1].port)
    end)
  end)
end
