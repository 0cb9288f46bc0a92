-- Inherited stdio stays what the invoker opened it as.  Reopening a
-- descriptor through /proc/self/fd gives a fresh open file description with
-- new access: read access on a log opened for append, O_TRUNC, a walk of a
-- directory passed as stdin.  Landlock refuses those on both backends (the
-- file behind the descriptor lies beneath none of the sandbox's rules),
-- while the descriptors themselves keep working.
local H = require("helpers")

local EARLIER = "earlier stage: token-4f1c9e\n"

-- The stage: attempts on the file behind its stdout, each reporting on
-- stderr, then a normal line on stdout (the control).  No attempt
-- redirects the shell's own stdout, so /proc/$$/fd/1 stays the log (dash
-- moves fd 1 for the duration of a redirected command).
local STAGE = [[
if got=$(head -c 100 /proc/$$/fd/1); then echo "read: yes $got" >&2; else echo "read: no" >&2; fi
if (: > /proc/$$/fd/1) 2>/dev/null; then echo "truncate: yes" >&2; else echo "truncate: no" >&2; fi
if (: >> /proc/$$/fd/1) 2>/dev/null; then echo "reopen: yes" >&2; else echo "reopen: no" >&2; fi
echo "stage output"
]]

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("inherited stdio as " .. who, function()
    it("cannot read or truncate the log its stdout appends to", function()
      local log = H.tmpdir() .. "/pipeline.log"
      H.write(log, EARLIER, "0666") -- writable for any uid: only the sandbox can refuse
      local r = H.run({ "run", "--", "sh", "-c", STAGE }, { user = user, stdout_append = log })
      assert.are.equal(0, r.code, r.err)
      assert.matches("read: %a+.*\ntruncate: %a+\nreopen: %a+\n$", r.err) -- the probe ran
      assert.is_nil(r.err:find("token-4f1c9e", 1, true), "read the earlier stages' output")
      assert.matches("read: no\n", r.err)
      assert.matches("truncate: no\n", r.err)
      assert.matches("reopen: no\n", r.err)
      -- the earlier contents are intact and the stage's own line was appended
      assert.are.equal(EARLIER .. "stage output\n", H.read(log))
    end)

    it("cannot list or read a directory passed as its stdin", function()
      local dir = H.tmpdir()
      H.write(dir .. "/secret-name-7d2a", "secret-content-7d2a\n", "0666")
      local r = H.run({ "run", "--", "sh", "-c", [[
        if ls -a /proc/self/fd/0/ 2>/dev/null; then echo "list: yes"; else echo "list: no"; fi
        if cat /proc/self/fd/0/secret-name-7d2a 2>/dev/null; then echo "read: yes"
        else echo "read: no"; fi
        echo "stdin is a directory: $(test -d /proc/self/fd/0 && echo yes)"
      ]] }, { user = user, stdin_path = dir })
      assert.are.equal(0, r.code, r.err)
      assert.matches("\nstdin is a directory: yes\n$", r.out) -- the probe ran, on that stdin
      assert.is_nil(r.out:find("7d2a", 1, true), "walked the directory")
      assert.are.equal("list: no\nread: no\nstdin is a directory: yes\n", r.out)
    end)

    it("still reads stdin and writes stdout and stderr through their descriptors", function()
      local r = H.run({ "run", "--", "sh", "-c", "tr a-z A-Z; echo to-stderr >&2" },
                      { user = user, stdin = "through stdin\n" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("THROUGH STDIN\n", r.out)
      assert.are.equal("to-stderr\n", r.err)
    end)
  end)
end
