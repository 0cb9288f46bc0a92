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
