-- Interactive stages (issue 13, item 6): on a terminal, the command gets a
-- pseudo-terminal of its own, from the sandbox's devpts, which sandlot
-- relays; the host's terminal never reaches the sandbox.  tests/ptydrive
-- plays the person at the terminal: it types, and waits (generously) for
-- what a person would see, so nothing here depends on fixed sleeps.  Each
-- test runs on the suite's backend, as root and as nobody.
local H = require("helpers")

-- Run `sandlot run WORDS...` under ptydrive with the script lines; returns
-- ptydrive's exit status (sandlot's, or 3 when an expectation failed) and
-- the screen.  shell: a sh command line run on the terminal instead, with
-- $SANDLOT the binary (to look at the terminal around a stage).
local function drive(user, script, words, shell)
  local dir = H.tmpdir()
  H.write(dir .. "/script", table.concat(script, "\n") .. "\n")
  local sandlot = H.bin_dir() .. "/sandlot"
  local argv
  if shell then
    argv = { "sh", "-c", shell }
  else
    argv = { sandlot, "run", "--isolate", H.BACKEND }
    for _, w in ipairs(words) do argv[#argv + 1] = w end
  end
  local quoted = {}
  for i, w in ipairs(argv) do quoted[i] = H.q(w) end
  local cmd = ("env TERM=xterm SANDLOT_ISOLATION=%s SANDLOT=%s %s %s %s -- %s"):format(
    H.BACKEND, H.q(sandlot), H.q(H.ROOT .. "/tests/ptydrive"), H.q(dir .. "/script"),
    H.q(dir .. "/screen"), table.concat(quoted, " "))
  if user then cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups -- " .. cmd end
  local _, how, code = os.execute(cmd .. " 2>" .. H.q(dir .. "/err"))
  local screen = (H.read(dir .. "/screen") or "") .. (H.read(dir .. "/err") or "")
  return how == "exit" and code or 128 + code, screen
end

-- Inside: each terminal among the shell's standard descriptors (not those
-- of the $(...) that looks at them), /dev/console, and the sandbox's pid 1's
-- descriptors where they can be reached, named HOST when it is not on the
-- sandbox's own devpts; then how many were looked at.
local WHOSE = "pts=$(stat -c %d /dev/pts/ptmx); n=0; "
  .. "for f in /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 /dev/console /proc/1/fd/0 /proc/1/fd/1 "
  .. "/proc/1/fd/2; do "
  .. "[ -c \"$f\" ] || continue; n=$((n+1)); "
  .. "[ \"$(stat -L -c %d \"$f\")\" = \"$pts\" ] && echo \"OWN $f\" || echo \"HOST $f\"; done; "
  .. "echo \"LOOKED-AT-$n\""

for _, who in ipairs(H.users()) do
  local user = who == "nobody" and "nobody" or nil

  describe("an interactive stage, as " .. who, function()
    it("runs bash -i with job control on a terminal of its own", function()
      local code, screen = drive(user, {
        "expect $ ",
        -- markers computed by the shell, so the echo of the line never matches
        "send echo TTY-$(tty); [ -t 0 ] && echo STDIN-$((6*7))\\r",
        "expect TTY-/dev/pts/",
        "expect STDIN-42",
        "expect $ ",
        -- Ctrl-Z stops the foreground job inside (not sandlot); fg and Ctrl-C end it
        "send sh -c \"echo FG-READY | tr A-Z a-z; exec sleep 60\"\\r",
        "expect fg-ready",
        "send \\x1a",
        "expect Stopped",
        "expect $ ",
        "send jobs\\r",
        "expect Stopped",
        "expect $ ",
        "send fg\\r",
        "expect sleep 60",
        "sleep 300",
        "send \\x03",
        "expect $ ",
        "send echo RC-$?\\r",
        "expect RC-130",
        "expect $ ",
        -- a background job, listed and killed by job number
        "send sleep 70 &\\r",
        "expect $ ",
        "send jobs; kill %1; wait; echo KILLED-$((40+2))\\r",
        "expect Running",
        "expect KILLED-42",
        "expect $ ",
        "send exit 7\\r",
      }, { "--", "bash", "--norc", "--noprofile", "-i" })
      assert.matches("TTY%-/dev/pts/%d+\r\n", screen)
      assert.is_nil(screen:find("no job control", 1, true), screen)
      assert.are.equal(7, code, screen)
    end)

    it("passes TERM and the window size, at the start and on SIGWINCH", function()
      local code, screen = drive(user, {
        "expect SIZE-1 24 120",
        "resize 33 101",
        "send \\r",
        "expect SIZE-2 33 101",
      }, { "--", "sh", "-c", "echo \"TERM-$TERM\"; echo \"SIZE-1 $(stty size)\"; read x; "
                             .. "echo \"SIZE-2 $(stty size)\"" })
      assert.are.equal(0, code, screen)
      assert.matches("TERM%-xterm\r\n", screen)
    end)

    it("never hands the host's terminal to the sandbox", function()
      local code, screen = drive(user, { "expect LOOKED-AT-", "expect PROBE tiocsti",
                                         "expect errno=" },
        { "-e", "fs-read:" .. H.bin_dir(), "--", "sh", "-c",
          WHOSE .. "; exec " .. H.q(H.bin_dir() .. "/probe") .. " tiocsti" })
      assert.are.equal(0, code, screen)
      -- stdin, stdout and stderr were looked at, and each is the sandbox's own pty
      assert.matches("LOOKED%-AT%-[34]\r\n", screen)
      for _, fd in ipairs({ 0, 1, 2 }) do
        assert.matches("OWN /proc/%d+/fd/" .. fd, screen)
      end
      assert.is_nil(screen:find("HOST", 1, true), screen)
      -- and pushing input into it is still refused (seccomp)
      assert.matches("errno=EPERM", screen)
    end)

    it("puts the terminal's modes back, however the stage ended", function()
      local modes = "$(stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo -e icanon"
        .. " -e -icanon -e isig -e -isig | tr '\\n' ' ')"
      local code, screen = drive(user, { "expect TIMEOUT=" }, nil, table.concat({
        "echo BEFORE " .. modes,
        -- the stage ran on its own pty (sandlot's terminal was raw meanwhile)
        "$SANDLOT run -- sh -c 'echo INSIDE-$(tty)'",
        "echo EXITED=$? " .. modes,
        "$SANDLOT run --timeout 1 -- sh -c 'tty; stty raw -echo; sleep 20'",
        "echo TIMEOUT=$? " .. modes,
      }, "; "))
      assert.are.equal(0, code, screen)
      assert.matches("BEFORE isig icanon echo", screen, 1, true)
      assert.matches("INSIDE%-/dev/pts/%d", screen)
      assert.matches("EXITED=0 isig icanon echo", screen, 1, true)
      assert.matches("TIMEOUT=124 isig icanon echo", screen, 1, true)
    end)

    it("gives the terminal its modes back while sandlot is stopped (SIGTSTP)", function()
      local dir = H.tmpdir()
      -- a helper on the same terminal watches its modes, stops and continues sandlot
      local until_ = "i=0; while ! %s && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
      local raw = "[ \"$(m)\" = -icanon ]"
      local code, screen = drive(user, { "expect DONE" }, nil, table.concat({
        "t=$(tty); m() { stty -a < $t | grep -o -w -e -icanon -e icanon; }; (",
        until_:format(raw) .. "echo RUNNING $(m); kill -TSTP $$; ",
        until_:format("ps -o stat= -p $$ | grep -q T") .. "echo STOPPED $(m); kill -CONT $$; ",
        until_:format(raw) .. "echo CONTINUED $(m); touch " .. H.q(dir .. "/go"),
        ") & exec $SANDLOT run --work " .. H.q(dir) .. " -- sh -c "
          .. "'while [ ! -e /work/go ]; do sleep 0.1; done; echo DONE'",
      }))
      assert.are.equal(0, code, screen)
      -- (no \r where the terminal was raw)
      assert.matches("RUNNING %-icanon\r?\nSTOPPED icanon\r?\nCONTINUED %-icanon\r?\n", screen)
    end)

    it("sends the stage SIGHUP when the terminal goes away", function()
      local work = H.tmpdir()
      local code, screen = drive(user, { "expect READY-42", "hangup" },
        { "--work", work, "--", "sh", "-c", "trap 'echo hup > /work/hup; exit 5' HUP; "
          .. "echo READY-$((40+2)); while :; do sleep 0.1; done" })
      assert.are.equal(5, code, screen)
      assert.are.equal("hup\n", H.read(work .. "/hup"))
    end)

    it("says why when the sandbox cannot be set up, and runs nothing", function()
      local work = H.tmpdir()
      -- a bind below a file: bwrap's message comes through its standard-error pipe
      local script = H.script('policy:ro_bind("/etc/hostname", "/work/f")\n'
                              .. 'policy:ro_bind("/etc/hostname", "/work/f/x")\n')
      local code, screen = drive(user, {}, { "-p", script, "--work", work, "--", "sh", "-c",
                                             "touch /work/ran" })
      assert.are.equal(125, code, screen)
      assert.matches("/work/f/x: Not a directory\r?\n", screen)
      assert.is_false(H.exists(work .. "/ran"))
    end)

    it("with --no-pty, passes the terminal through as before", function()
      local code, screen = drive(user, { "expect LOOKED-AT-" },
                                 { "--no-pty", "--", "sh", "-c", WHOSE })
      assert.are.equal(0, code, screen)
      assert.matches("LOOKED%-AT%-[34]", screen)
      assert.matches("HOST /proc/%d+/fd/0", screen)
    end)

    it("streams a redirected output as before, with only the terminal on the pty", function()
      local out = H.tmpdir() .. "/out"
      local code, screen = drive(user, { "expect EXIT=" }, nil,
        "$SANDLOT run -- sh -c '[ -t 0 ] && echo stdin-on-a-tty; [ -t 1 ] || echo out-not; "
        .. "echo err >&2' > " .. H.q(out) .. "; echo EXIT=$?")
      assert.are.equal(0, code, screen)
      -- the file has the stage's bytes as written: no pty in between (no \r)
      assert.are.equal("stdin-on-a-tty\nout-not\n", H.read(out))
      assert.matches("err\r\nEXIT=0", screen)
    end)

    it("gives piped input no pty, and streams it unchanged", function()
      -- on a terminal (stderr, the controlling one), but standard input is a pipe
      local out = H.tmpdir() .. "/out"
      local code, screen = drive(user, { "expect EXIT=" }, nil,
        "printf 'one\\ntwo\\n' | $SANDLOT run -- sh -c '[ -t 0 ] || echo not-a-tty; cat' > "
        .. H.q(out) .. "; echo EXIT=$?")
      assert.are.equal(0, code, screen)
      assert.matches("EXIT=0", screen)
      assert.are.equal("not-a-tty\none\ntwo\n", H.read(out))
    end)

    it("with --pty, relays piped input to the end and then end-of-file", function()
      local r = H.run({ "run", "--pty", "--", "sh", "-c",
                        "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo ALL-ON-THE-PTY; "
                        .. "tr a-z A-Z; echo END-$?" },
                      { user = user, stdin = "one\ntwo\n" })
      assert.are.equal(0, r.code, r.err)
      assert.matches("ALL%-ON%-THE%-PTY\r\n", r.out)
      assert.matches("ONE\r\nTWO\r\n", r.out)
      assert.matches("END%-0\r\n$", r.out)
    end)
  end)
end

describe("--pty and --no-pty", function()
  it("are refused where no pty can be made, and nothing runs", function()
    local work = H.tmpdir()
    local r = H.run({ "run", "--isolate", "none", "--unsafe-no-isolation", "--pty", "--work", work,
                      "--", "sh", "-c", "touch " .. H.q(work .. "/ran") })
    assert.are.equal(125, r.code, r.err)
    assert.matches("sandlot: --pty needs a sandbox to make the terminal in", r.err, 1, true)
    assert.is_false(H.exists(work .. "/ran"))
    r = H.run({ "explain", "--no-pty" })
    assert.are.equal(125, r.code, r.err)
    assert.matches("sandlot: --no-pty is an option of 'sandlot run' and 'sandlot repl'\n", r.err,
                   1, true)
  end)
end)
