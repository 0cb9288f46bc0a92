-- Stages as people run them (issue 13): what real tools expect of their
-- environment works inside without extra policy.  Each runs the real
-- workload on the suite's backend, as root and as nobody.
local H = require("helpers")

local function host(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("time and locale, as " .. who, function()
    it("honour the invoker's TZ and every LC_* category", function()
      local r = H.run({ "run", "--", "sh", "-c",
                        "date -d @0 +%Z; echo \"$LC_COLLATE $LC_TIME $LANGUAGE\"" },
                      { user = user, env = { TZ = "Europe/Paris", LC_COLLATE = "C",
                                             LC_TIME = "C.UTF-8", LANGUAGE = "en" } })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("CET\nC C.UTF-8 en\n", r.out)
    end)

    it("see the host's time zone without TZ (/etc/localtime, read-only)", function()
      -- the zone file itself: glibc's fallback without it is UTC, like this host's zone
      local want = host("cksum < /etc/localtime")
      assert.is_true(#want > 0, "the host has no /etc/localtime")
      local r = H.run({ "run", "--", "sh", "-c",
                        "cksum < /etc/localtime; (: > /etc/localtime) 2>/dev/null && echo writable;"
                        .. " true" }, { user = user })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(want, r.out)
    end)
  end)
end

describe("--timeout", function()
  it("takes timeout(1)'s durations and says when it fired", function()
    for _, d in ipairs({ "0.5", "0.5s", "0.01m" }) do
      local r = H.run({ "run", "--timeout", d, "--", "sleep", "30" })
      assert.are.equal(124, r.code, d .. ": " .. r.err)
      assert.are.equal("sandlot: the --timeout expired: the sandbox was killed (exit 124)\n", r.err)
    end
    local quiet = H.run({ "run", "-q", "--timeout", "0.5s", "--", "sleep", "30" })
    assert.are.equal(124, quiet.code)
    assert.are.equal("", quiet.err)
    assert.are.equal(0, H.run({ "run", "--timeout", "1h", "--", "true" }).code)
  end)

  it("refuses what timeout(1) would not take", function()
    for _, d in ipairs({ "2x", "s", "-1", "0", "1ms", "nan", "inf", "400d" }) do
      local r = H.run({ "run", "--timeout", d, "--", "true" })
      assert.are.equal(125, r.code, d)
      assert.matches("^sandlot: %-%-timeout: expected a positive duration", r.err)
    end
  end)
end)
