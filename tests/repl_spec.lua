-- sandlot repl: through a pipe (non-tty mode) and on a real pseudo-terminal
-- (tests/ptydrive types keys and waits for what a person would see).
local H = require("helpers")

local PTYDRIVE = H.ROOT .. "/tests/ptydrive"

local function pipe(text, args, env)
  local full = { "repl" }
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  return H.run(full, { stdin = text, env = env })
end

-- Drive the REPL on a pty with a list of actions; returns status and screen.
local function drive(actions, args, state)
  local dir = H.tmpdir()
  H.write(dir .. "/script", table.concat(actions, "\n") .. "\n")
  local words = { "env", "HOME=" .. state, "XDG_STATE_HOME=" .. state, "TERM=xterm",
                  PTYDRIVE, dir .. "/script", dir .. "/screen", "--", H.SANDLOT, "repl" }
  for _, a in ipairs(args or {}) do words[#words + 1] = a end
  for i, w in ipairs(words) do words[i] = H.q(w) end
  local _, _, code = os.execute(table.concat(words, " ") .. " 2>" .. H.q(dir .. "/err"))
  return code, (H.read(dir .. "/screen") or ""):gsub("\r", ""), H.read(dir .. "/err")
end

describe("repl without a terminal", function()
  it("prints expression values and runs statements", function()
    local r = pipe('1 + 1\nlocal x = 3\nfunction twice(a) return a * 2 end\ntwice(21)\n'
                   .. 'policy.network\nstage.name\n', { "--stage", "ingest" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("2\n42\nfalse\ningest\n", r.out)
    assert.are.equal("", r.err)
  end)

  it("continues an unfinished chunk on the next lines", function()
    local r = pipe("function f()\n  local t = {\n    1, 2,\n  }\n  return #t\nend\nf()\n")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("2\n", r.out)
  end)

  it("reports errors with a traceback, carries on, and exits 1", function()
    local r = pipe('error("boom")\nundefined_name\n"still here"\n')
    assert.are.equal(1, r.code)
    assert.matches("repl:1: boom\nstack traceback:", r.err)
    assert.matches("undefined global 'undefined_name'", r.err)
    assert.are.equal("still here\n", r.out)
  end)

  it("fails on input that ends inside a chunk", function()
    local r = pipe("function f()\n")
    assert.are.equal(1, r.code)
    assert.matches("input ended inside an unfinished chunk", r.err)
  end)

  it("starts from the policy of the options, and changes it with provenance", function()
    local r = pipe('policy.network\npolicy:ro_bind("/usr/share", "/data")\n'
                   .. 'for _, m in ipairs(policy:mounts()) do '
                   .. 'if m.target == "/data" then print(m.origin) end end\n',
                   { "-e", "network" })
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("true\nrepl:2\n", r.out) -- the input's own line
  end)

  it("prints a readable summary of the policy", function()
    local r = pipe("policy\n", { "-e", "network" })
    assert.matches("^policy: network shared, /work private tmpfs, uid:gid 65534:65534\n", r.out)
    assert.matches("ro%s+/usr %-> /usr%s+policies%.d/10%-runtime%.lua:%d+", r.out)
    assert.matches("HOME=/work%s+policies%.d/40%-environment%.lua:%d+", r.out)
  end)

  it("rebuilds for other effects, reloads and applies scripts", function()
    local script = H.script('policy:setenv("APPLIED", "yes")\n', "extra.lua")
    local r = pipe(table.concat({
      "policy.network",
      'effects("network")',
      "policy.network",
      ("apply(%q)"):format(script),
      "policy:env()[#policy:env()].name",
      "reload()",
      "policy.network",
    }, "\n") .. "\n")
    assert.are.equal(0, r.code, r.err)
    local lines = {}
    for l in r.out:gmatch("[^\n]+") do
      if not l:match("^%s") and not l:match("^mounts") and not l:match("^environment") then
        lines[#lines + 1] = l
      end
    end
    assert.are.equal("false", lines[1])
    assert.matches("^policy: network shared", lines[2])
    assert.are.equal("true", lines[3])
    assert.are.equal("APPLIED", lines[5])
    assert.are.equal("true", lines[#lines]) -- reload keeps the effects of effects()
  end)

  it("refuses an invariant breach from the prompt, naming it", function()
    local r = pipe('policy:allow_env("LD_PRELOAD")\n"after"\n')
    assert.are.equal(1, r.code)
    assert.matches("repl:1: environment variable LD_PRELOAD is refused", r.err)
    assert.are.equal("after\n", r.out)
  end)

  it("explains and prints JSON", function()
    local r = pipe("explain()\njson()\n", { "-e", "network" })
    assert.are.equal(0, r.code, r.err)
    -- bwrap's --share-net, or the native plan's share-net step
    assert.matches("%s%-?%-?share%-net%s+# policies%.d/20%-network%.lua:%d+", r.out)
    assert.matches('{"ro_binds":%[{"host":"/usr","sandbox":"/usr"}', r.out)
  end)

  it("names the input's own line in an error, also inside a longer chunk", function()
    local r = pipe('x = 1\ny = 2\nerror("boom")\nlocal t = {\n  a = nil + 1,\n}\n')
    assert.are.equal(1, r.code)
    assert.matches("^repl:3: boom\n", r.err)
    assert.matches("\nrepl:5: attempt to perform arithmetic on a nil value", r.err)
  end)

  it("explain() returns the text it prints, and prints it once", function()
    local r = pipe('explain()\nlocal t = explain(); print("returned", #t > 200)\n')
    assert.are.equal(0, r.code, r.err)
    local _, n = r.out:gsub("# sandlot: invariant\n", "")
    local one = select(2, pipe("explain()\n").out:gsub("# sandlot: invariant\n", ""))
    assert.is_true(one > 0)
    assert.are.equal(2 * one, n) -- once per call, not again as a result
    assert.matches("\nreturned\ttrue\n$", r.out)
  end)

  it("runs a command under the current policy and returns its status", function()
    local r = pipe('run{"getent", "hosts", "localhost"}\nrun{"sh", "-c", "exit 3"}\n',
                   { "-e", "network" })
    assert.are.equal(0, r.code, r.err)
    assert.matches("127%.0%.0%.1%s+localhost", r.out)
    assert.matches("\n0\n3\n$", r.out)
  end)

  it("runs commands in the real sandbox", function()
    local r = pipe('run{"sh", "-c", "id -u; cat /etc/shadow"}\n')
    assert.matches("^65534\n", r.out)
    assert.matches("\n1\n$", r.out)
  end)

  it("carries on when a bind source vanished before run{}: 125, the source named", function()
    local dir = H.tmpdir()
    assert.is_true(os.execute(("mkdir -p %s/sub/gone && chmod 0777 %s/sub"):format(H.q(dir),
                                                                                 H.q(dir))))
    local r = pipe(table.concat({
      ('policy:rw_bind(%q, "/d")'):format(dir),
      ('policy:ro_bind(%q, "/data")'):format(dir .. "/sub/gone"),
      'run{"mv", "/d/sub", "/d/moved"}', -- the source goes between building the policy and run{}
      'run{"true"}',
      '"still here"',
    }, "\n") .. "\n")
    assert.is_true(H.exists(dir .. "/moved/gone"), "the first run{} moved the source away")
    assert.are.equal(0, r.code, r.err)
    assert.are.equal("0\n125\nstill here\n", r.out)
    assert.is_truthy(r.err:find("bind source " .. dir .. "/sub/gone", 1, true), r.err)
  end)

  it("leaves on exit()", function()
    local r = pipe('exit()\n"never"\n')
    assert.are.equal(0, r.code)
    assert.are.equal("", r.out)
  end)

  it("has help", function()
    local r = pipe("help()\n")
    assert.matches("run{\"cmd\", \"arg\"}", r.out)
    assert.matches("reload%(%)", r.out)
  end)

  it("treats bad options like run does: one line, 125", function()
    local r = pipe("1\n", { "--frobnicate" })
    assert.are.equal(125, r.code)
    assert.matches('unknown option "%-%-frobnicate"', r.err)
    r = pipe("1\n", { "-p", "/nonexistent/policy.lua" })
    assert.are.equal(125, r.code)
    assert.matches("cannot read policy script /nonexistent/policy.lua", r.err)
    assert.are.equal("", r.out)
  end)
end)

describe("repl on a terminal", function()
  local state

  before_each(function() state = H.tmpdir() end)

  it("prints values, continues chunks, completes, interrupts, keeps history", function()
    local code, screen, err = drive({
      "expect sandlot> ",
      "send 1+1\\r", "expect \n2\n", "expect sandlot> ",
      "send function f()\\r", "expect >> ",
      "send return 7 end\\r", "expect sandlot> ",
      "send f()\\r", "expect \n7\n", "expect sandlot> ",
      "send policy:unm\\t", "expect policy:unmount",
      "send \\x03", "expect sandlot> ",
      "send while true do end\\r", "sleep 800",
      "send \\x03", "expect interrupted!", "expect sandlot> ",
      "send 1+2\\r", "expect \n3\n", "expect sandlot> ",
      "send \"history-marker-42\"\\r", "expect \nhistory-marker-42\n", "expect sandlot> ",
      "sleep 200", "send \\x04", -- after the prompt is really ready
    }, {}, state)
    assert.are.equal(0, code, (err or "") .. screen)
    assert.matches("sandlot %d+%.%d+%.%d+ repl", screen)
    local hist = H.read(state .. "/sandlot/history")
    assert.is_truthy(hist, "history file written")
    assert.matches("history%-marker%-42", hist)

    -- a new session recalls it with the Up arrow
    code, screen, err = drive({
      "expect sandlot> ",
      "send \\e[A\\r", "expect \nhistory-marker-42\n", "expect sandlot> ",
      "sleep 200", "send \\x04", -- after the prompt is really ready
    }, {}, state)
    assert.are.equal(0, code, (err or "") .. screen)
  end)

  it("drops an unfinished chunk on Ctrl-C", function()
    local code, screen, err = drive({
      "expect sandlot> ",
      "send function g()\\r", "expect >> ",
      "send \\x03", "expect sandlot> ",
      "send type(g)\\r", "expect \nnil\n", "expect sandlot> ",
      "sleep 200", "send \\x04", -- after the prompt is really ready
    }, {}, state)
    assert.are.equal(0, code, (err or "") .. screen)
  end)

  it("runs a command with the terminal passed through", function()
    local code, screen, err = drive({
      "expect sandlot> ",
      'send run{"sh", "-c", "test -t 0 && echo tty-inside; exit 4"}\\r',
      "expect tty-inside", "expect \n4\n", "expect sandlot> ",
      "send exit()\\r",
    }, { "-e", "network" }, state)
    assert.are.equal(0, code, (err or "") .. screen)
  end)
end)
