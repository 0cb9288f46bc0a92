--- Policy layers and the confined environment scripts run in.
--
-- A policy script is a Lua chunk run once per stage, top to bottom.  It sees
-- the globals `policy`, `stage`, `host` and `sandlot`, and a small safe
-- standard library; it changes the policy through policy methods, each
-- checked by the C core at the call.  Nothing it returns is used.
local core = require("sandlot.core")
local lfs = require("lfs")

local M = {}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- A read-only view of t: reads see t (nested tables as views too),
-- writes raise.  Shared by every script of a run, so it costs nothing per
-- script, and no script can change what the next one sees.
local function frozen(t, what)
  return setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if type(v) == "table" then return frozen(v, what) end
      return v
    end,
    __newindex = function(_, k)
      error(("%s is read-only (assigning '%s')"):format(what, tostring(k)), 2)
    end,
    __len = function() return #t end,
    __pairs = function()
      return function(_, k)
        local nk, nv = next(t, k)
        if type(nv) == "table" then nv = frozen(nv, what) end
        return nk, nv
      end, nil, nil
    end,
  })
end
M.frozen = frozen

-- Globals of the base library that are safe: no loading, no I/O, no exit.
-- No getmetatable: it would reach metatables shared with the library and
-- other scripts (the string metatable, LuaFileSystem's dir objects, whose
-- __gc a script could replace to run code after its budget has ended).
local SAFE_BASE = {
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen",
  "rawset", "select", "tonumber", "tostring", "type", "_VERSION",
}

-- The libraries scripts see.  Each script gets an empty table whose
-- __index is one of these: writes land in the script's own table, reads
-- fall through, so scripts cannot change the library or each other.
local SAFE_STRING = copy(string)
SAFE_STRING.dump = nil -- bytecode (vm_open also removes it from the VM, for ("").dump)
local LIB_MT = {
  string = { __index = SAFE_STRING },
  table = { __index = table },
  math = { __index = math },
  utf8 = { __index = utf8 },

  lfs = { __index = { attributes = lfs.attributes, symlinkattributes = lfs.symlinkattributes,
                      dir = lfs.dir, currentdir = lfs.currentdir } },
}

--- setmetatable without __gc: a finalizer would run outside the budget.
local function safe_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not available to policy scripts", 2)
  end
  return setmetatable(t, mt)
end

--- The `stage` value scripts see: one read-only view per run.
function M.stage_view(stage)
  local real = { name = stage.name, argv = stage.argv, effects = stage.effects }
  --- stage:has(kind) -> true when an effect of that kind was declared
  function real.has(_, kind)
    for _, e in ipairs(stage.effects) do
      if e.kind == kind then return true end
    end
    return false
  end
  --- stage:effects_of(kind) -> array of the effects of that kind
  function real.effects_of(_, kind)
    local out = {}
    for _, e in ipairs(stage.effects) do
      if e.kind == kind then out[#out + 1] = frozen(e, "stage") end
    end
    return out
  end
  return frozen(real, "stage")
end

-- Helpers every script shares; sandlot.log is per script (it names it).
local HELPERS = {
  --- sandlot.exists(path) -> true when path exists (following links)
  exists = function(path) return lfs.attributes(path, "mode") ~= nil end,
  --- sandlot.is_dir(path)
  is_dir = function(path) return lfs.attributes(path, "mode") == "directory" end,
  --- sandlot.readlink(path) -> link text, or nil when path is not a symlink
  readlink = function(path)
    local a = lfs.symlinkattributes(path)
    return a and a.mode == "link" and a.target or nil
  end,
  check_path = core.check_path,
}
local HELPERS_MT = { __index = HELPERS }

-- Per-script state the environment's __index needs: env -> {chunk, verbose}.
local SCRIPT_OF = setmetatable({}, { __mode = "k" })

local function joined(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  return table.concat(parts, "\t")
end

-- Globals made on first use, so a script pays only for what it touches.
local LAZY = {
  print = function(s)
    return function(...) io.stderr:write(s.chunk, ": ", joined(...), "\n") end
  end,
  sandlot = function(s)
    local h = setmetatable({}, HELPERS_MT)
    --- sandlot.log(...) -> message on stderr with -v
    function h.log(...)
      if s.verbose then io.stderr:write("sandlot: ", s.chunk, ": ", joined(...), "\n") end
    end
    return h
  end,
}
for name, mt in pairs(LIB_MT) do
  LAZY[name] = function() return setmetatable({}, mt) end
end
-- os.getenv hides what a seal keeps out (policy:seal_env): a script that
-- runs after the seal cannot carry the value in under another name.
local OS_MT = { __index = { time = os.time, clock = os.clock, date = os.date,
                            difftime = os.difftime } }
function LAZY.os(s)
  local policy = s.policy
  return setmetatable({ getenv = function(name)
    local v = os.getenv(name)
    if v ~= nil and policy and core.env_sealed(policy, name) then return nil end
    return v
  end }, OS_MT)
end

-- Undefined globals raise an error naming them; the lazy ones appear.
local ENV_MT = {
  __index = function(env, name)
    local make = LAZY[name]
    if make then
      local v = make(SCRIPT_OF[env])
      rawset(env, name, v)
      return v
    end
    error(("undefined global '%s'"):format(tostring(name)), 2)
  end,
}

-- A script that calls error("...") refuses the stage on purpose; anything
-- else that stops it (a runtime error, a refused operation) is a fault.
-- core.script_error is error() that remembers the positioned message of
-- the last call, so the loader can tell the two apart when a script stops.

-- What every environment starts with.
local BASE = {}
for _, name in ipairs(SAFE_BASE) do BASE[name] = _G[name] end
BASE.error = core.script_error
BASE.setmetatable = safe_setmetatable
BASE.pcall = core.pcall

--- The environment of one script: a fresh table whose undefined globals
-- raise an error naming them.  ctx.stage_view and ctx.host_view are the
-- run's shared read-only views (made here on first use).
function M.environment(chunk, ctx)
  ctx.stage_view = ctx.stage_view or M.stage_view(ctx.stage)
  ctx.host_view = ctx.host_view or frozen(ctx.host, "host")
  local env = core.copy(BASE, 4 + 8)
  env.policy = ctx.policy
  env.stage = ctx.stage_view
  env.host = ctx.host_view
  env._G = env
  SCRIPT_OF[env] = { chunk = chunk, verbose = ctx.verbose, policy = ctx.policy }
  return setmetatable(env, ENV_MT)
end

-- Lua shortens chunk names longer than LUA_IDSIZE to "...tail" in error
-- positions; a message must name the script in full.
local function full_name(msg, chunk)
  local tail, rest = msg:match("^%.%.%.(.-)(:%d+:.*)$")
  if tail and chunk:sub(-#tail) == tail then return chunk .. rest end
  return msg
end

--- Run one script's source in its own environment.  Only built-in scripts
-- (compiled into the binary by the build) may be bytecode.
-- Raises a one-line message that names the script (and line when known).
function M.run(chunk, source, ctx, builtin)
  if not builtin and source:sub(1, 4) == "\27Lua" then
    error(chunk .. ": precompiled bytecode is not accepted", 0)
  end
  local fn, err = load(source, "@" .. chunk, builtin and "bt" or "t", M.environment(chunk, ctx))
  if not fn then
    error(full_name(err, chunk), 0)
  end
  core.last_error_call(true)
  local ok, run_err = pcall(fn)
  if not ok then
    if run_err == core.last_error_call(true) then
      -- a deliberate refusal: "script:line: refuses stage NAME: reason"
      local where, why = full_name(run_err, chunk):match("^(.-:%d+): (.*)$")
      if not where then where, why = chunk, run_err end
      local msg = ("%s: refuses stage %s: %s"):format(where, ctx.stage_label or "?", why)
      M.refusal = msg
      error(msg, 0)
    end
    if type(run_err) ~= "string" then
      run_err = ("%s: error object is a %s value"):format(chunk, type(run_err))
    elseif run_err == "not enough memory" then
      run_err = ("%s: not enough memory: policy scripts are capped at %d MiB")
        :format(chunk, core.MEMORY_LIMIT_MIB)
    end
    error(full_name(run_err, chunk), 0)
  end
end

-- The built-in file no layer may replace or mask, and that --policy-json
-- does not replace either: the protected host paths.
M.FINAL_BUILTIN = "05-protected.lua"

--- Add the scripts of a directory layer: name -> entry, or false when a
-- symlink to /dev/null masks the name (systemd's convention).
-- `final` names (the system layer's) may not be replaced or masked by a
-- later directory: an administrator's file, and the seals it places, hold.
local function scan_dir(dir, into, final, is_final)
  local names = core.scan_dir(dir)
  for name, present in pairs(names or {}) do
    local full = dir .. "/" .. name
    if final[name] then
      error(("%s would %s %s: %s"):format(full, present and "replace" or "mask", final[name],
            name == M.FINAL_BUILTIN and "the protected host paths cannot be overridden (the "
              .. "system layer opens one with policy:unprotect)"
            or "files of the system layer cannot be overridden"), 0)
    end
    -- the system layer's scripts may open protected paths (policy:unprotect)
    into[name] = present and { chunk = full, path = full, trusted = is_final }
    if is_final then final[name] = full end
  end
end

--- The ordered list of scripts to run: built-in policies.d, then the
-- system and user directories (same name replaces, /dev/null masks; the
-- system layer's own files are final), sorted by name; then each --policy
-- file in the order given.
function M.collect(layers)
  local byname, final = {}, {}
  for _, f in ipairs(core.builtins("policies.d")) do
    local name = f.name:match("[^/]+$")
    byname[name] = { chunk = f.name, source = f.source, builtin = true, trusted = true,
                     final = name == M.FINAL_BUILTIN }
    if name == M.FINAL_BUILTIN then final[name] = f.name end
  end
  for i, dir in ipairs(layers.dirs or {}) do
    scan_dir(dir, byname, final, i == 1 and layers.system_first)
  end
  local names = {}
  for name, entry in pairs(byname) do
    if entry then names[#names + 1] = name end
  end
  table.sort(names)
  local list = {}
  for _, name in ipairs(names) do list[#list + 1] = byname[name] end
  for _, path in ipairs(layers.files or {}) do
    list[#list + 1] = { chunk = path, path = path }
  end
  return list
end

--- Run every script of the list against ctx.
function M.run_all(list, ctx)
  for _, entry in ipairs(list) do
    local source = entry.source
    if not source then
      local err
      source, err = core.read_script(entry.path)
      if not source then
        error(("cannot read policy script %s"):format(err), 0)
      end
    end
    -- only built-in and system scripts may open protected paths
    core.set_trusted(entry.trusted)
    local ok, err = pcall(M.run, entry.chunk, source, ctx, entry.builtin)
    core.set_trusted(false)
    if not ok then error(err, 0) end
  end
end

return M
