--- Shared helpers for the specs: run the real sandlot binary and observe
-- its exit status, stdout and stderr; as root and as an unprivileged user.
local H = {}

local function dirname(p) return (p:gsub("/[^/]*$", "")) end

H.ROOT = dirname(dirname(debug.getinfo(1, "S").source:sub(2)))
if H.ROOT == "" or H.ROOT == "." then
  H.ROOT = os.getenv("PWD")
elseif H.ROOT:sub(1, 1) ~= "/" then
  H.ROOT = os.getenv("PWD") .. "/" .. H.ROOT:gsub("^%./", "")
end
H.SANDLOT = H.ROOT .. "/sandlot"
H.TESTCONF = H.ROOT .. "/build/sandlot-testconf"
H.TEST_SYSTEM_DIR = H.ROOT .. "/build/test-etc/sandlot/policies.d"

--- Empty the tests' system layer (build/test-etc), then write text, if
-- any, as its 00-site.lua: an administrator's file for the testconf build.
function H.system_layer(text)
  os.execute("rm -rf " .. H.q(H.TEST_SYSTEM_DIR) .. " && mkdir -p " .. H.q(H.TEST_SYSTEM_DIR))
  if text then H.write(H.TEST_SYSTEM_DIR .. "/00-site.lua", text) end
end

--- The backend this run of the suite exercises (tools/run-tests.sh runs it
-- once per backend): every sandlot call gets SANDLOT_ISOLATION from it
-- unless the spec names a backend itself.
H.BACKEND = os.getenv("SANDLOT_TEST_BACKEND") or "bwrap"
assert(H.BACKEND == "bwrap" or H.BACKEND == "native",
       "SANDLOT_TEST_BACKEND must be bwrap or native, not " .. H.BACKEND)

--- Quote a word for sh.
function H.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end
H.read = read

function H.write(path, text, mode)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  if mode then assert(os.execute("chmod " .. mode .. " " .. H.q(path))) end
end

function H.exists(path)
  return os.execute("test -e " .. H.q(path)) == true
end

local made = {}
--- A fresh temporary directory, mode 0777 so the sandbox's uid can write it.
function H.tmpdir()
  local p = io.popen("mktemp -d /tmp/sandlot-spec.XXXXXX")
  local dir = p:read("l")
  p:close()
  assert(os.execute("chmod 0777 " .. H.q(dir)))
  made[#made + 1] = dir
  return dir
end

-- Remove the temporary directories when the test process ends.
H._cleanup = setmetatable({}, { __gc = function()
  for _, d in ipairs(made) do os.execute("rm -rf " .. H.q(d)) end
end })

--- Binaries copied where an unprivileged user can reach them: sandlot, its
-- exec helper and the probe, in a world-readable directory.
local bin_dir
function H.bin_dir()
  if not bin_dir then
    bin_dir = H.tmpdir()
    assert(os.execute("chmod 0755 " .. H.q(bin_dir)))
    for _, f in ipairs({ "sandlot", "sandlot-exec", "tests/probe", "build/sandlot-testconf" }) do
      assert(os.execute(("cp %s %s/"):format(H.q(H.ROOT .. "/" .. f), H.q(bin_dir))),
             "missing " .. f .. ": run make test")
    end
  end
  return bin_dir
end

--- Whether the suite runs as root.
function H.is_root()
  local p = io.popen("id -u")
  local uid = p:read("l")
  p:close()
  return uid == "0"
end

--- Who the suite runs sandlot as: root and nobody when it runs as root.
function H.users()
  if H.is_root() then return { "root", "nobody" } end
  return { "self" }
end

--- Run sandlot with the argument list args.
-- opts.user    "nobody": through setpriv as uid/gid 65534
-- opts.env     extra environment variables {NAME = value}
-- opts.stdin   text fed to standard input
-- opts.stdin_path  a host path (a file or a directory) opened as standard input
-- opts.stdout_append  a host file standard output appends to (>>); out is then ""
-- opts.bin     "testconf" for the build whose system layer is the tests' own
-- opts.exe     the path to run instead (e.g. a noether-sandbox symlink)
-- Returns {code = exit status, out = stdout, err = stderr}.
function H.run(args, opts)
  opts = opts or {}
  local dir = H.tmpdir()
  local bin = (opts.bin == "testconf") and "sandlot-testconf" or "sandlot"
  local words = {}
  if opts.user == "nobody" then
    words[#words + 1] = "setpriv --reuid 65534 --regid 65534 --clear-groups --"
  end
  words[#words + 1] = "env"
  -- explain prints the bwrap command unless a spec names the backend: its
  -- flags are the vocabulary the policy specs assert in; native_spec checks
  -- the native plan against it.
  local env = { SANDLOT_ISOLATION = args[1] == "explain" and "bwrap" or H.BACKEND }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  for k, v in pairs(env) do words[#words + 1] = H.q(k .. "=" .. v) end
  if opts.user == "nobody" then words[#words + 1] = "HOME=/nonexistent" end
  words[#words + 1] = H.q(opts.exe or (H.bin_dir() .. "/" .. bin))
  for _, a in ipairs(args) do words[#words + 1] = H.q(a) end
  local stdin = opts.stdin_path or "/dev/null"
  if opts.stdin then
    stdin = dir .. "/stdin"
    H.write(stdin, opts.stdin)
  end
  local stdout = opts.stdout_append and ">>" .. H.q(opts.stdout_append) or ">" .. H.q(dir) .. "/out"
  local cmd = ("%s <%s %s 2>%s/err"):format(table.concat(words, " "), H.q(stdin), stdout,
                                            H.q(dir))
  local _, how, code = os.execute(cmd)
  local r = { out = read(dir .. "/out") or "", err = read(dir .. "/err") or "" }
  r.code = (how == "exit") and code or (128 + code)
  return r
end

--- Run `sandlot run` with a policy script and a command that would write a
-- marker into --work; returns the result and whether the command ran.
function H.run_script(code, opts)
  local work = H.tmpdir()
  local script = H.script(code)
  local r = H.run({ "run", "--work", work, "-p", script, "--", "sh", "-c", "touch /work/m" },
                  opts)
  return r, H.exists(work .. "/m"), script
end

--- Assert that a run was refused as every bad input is: exit 125, stderr
-- names the culprit (message, a plain string), and the command never ran
-- (r.ran: whether its marker exists).
function H.assert_refused(r, message)
  assert(r.code == 125, ("expected exit 125, got %d: %s"):format(r.code, r.err))
  assert(r.ran == false, "the command ran")
  assert(r.err:find(message, 1, true), "names the culprit: " .. r.err)
end

--- Assert that the script is refused: exit 125, the message after
-- "script:1: ", and the command never ran.
function H.assert_refused_script(code, message)
  local r, ran, script = H.run_script(code)
  assert(r.code == 125, ("expected exit 125, got %d: %s"):format(r.code, r.err))
  assert(r.err:find(script .. ":1: " .. message, 1, true), "message: " .. r.err)
  assert(not ran, "the command ran")
end

--- Parse `sandlot explain` output into groups {words = {...}, origin = "..."}.
-- (Test paths have no spaces, so splitting words on spaces is exact.)
function H.groups(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, 1) ~= "#" then
      local body, origin = line:match("^%s*(.-)%s+# (.*)$")
      if body then
        local words = {}
        for w in body:gmatch("%S+") do words[#words + 1] = w end
        out[#out + 1] = { words = words, origin = origin, text = body }
      end
    end
  end
  return out
end

--- Index of the first group whose words start with the given words.
function H.find(groups, ...)
  local want = { ... }
  for i, g in ipairs(groups) do
    local ok = true
    for j, w in ipairs(want) do
      if g.words[j] ~= w then ok = false break end
    end
    if ok then return i, g end
  end
  return nil
end

--- Seconds since the epoch, with sub-second precision.
function H.now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

--- A policy script file in a fresh directory; returns its path.
function H.script(text, name)
  local path = H.tmpdir() .. "/" .. (name or "policy.lua")
  H.write(path, text)
  os.execute("chmod 0644 " .. H.q(path))
  return path
end

return H
