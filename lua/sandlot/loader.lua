--- Policy layers and the confined environment scripts run in.
--
-- A policy script is a Lua chunk run once per stage, top to bottom.  It sees
-- the globals `policy`, `stage`, `host` and `sandlot`, and a small safe
-- standard library; it changes the policy through policy methods, each
-- checked by the C core at the call.  Nothing it returns is used.
local core = require("sandlot.core")
local lfs = require("lfs")

local M = {}

local function copy(t, deep)
  local c = {}
  for k, v in pairs(t) do
    c[k] = (deep and type(v) == "table") and copy(v, true) or v
  end
  return c
end

-- Globals of the base library that are safe: no loading, no I/O, no exit.
-- No getmetatable: it would reach metatables shared with the library and
-- other scripts (the string metatable, LuaFileSystem's dir objects, whose
-- __gc a script could replace to run code after its budget has ended).
local SAFE_BASE = {
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen",
  "rawset", "select", "tonumber", "tostring", "type", "_VERSION",
}

local function safe_string()
  local s = copy(string)
  s.dump = nil -- bytecode
  return s
end

--- setmetatable without __gc: a finalizer would run outside the budget.
local function safe_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not available to policy scripts", 2)
  end
  return setmetatable(t, mt)
end

--- Build the `stage` value a script sees: a fresh copy per script.
function M.stage_view(stage)
  local view = {
    name = stage.name,
    argv = copy(stage.argv),
    effects = copy(stage.effects, true),
  }
  --- stage:has(kind) -> true when an effect of that kind was declared
  function view.has(_, kind)
    for _, e in ipairs(view.effects) do
      if e.kind == kind then return true end
    end
    return false
  end
  --- stage:effects_of(kind) -> array of the effects of that kind
  function view.effects_of(_, kind)
    local out = {}
    for _, e in ipairs(view.effects) do
      if e.kind == kind then out[#out + 1] = e end
    end
    return out
  end
  return view
end

--- The `sandlot` helper table scripts see.
local function helpers(chunk, verbose)
  local h = {}
  --- sandlot.exists(path) -> true when path exists (following links)
  function h.exists(path) return lfs.attributes(path, "mode") ~= nil end
  --- sandlot.is_dir(path)
  function h.is_dir(path) return lfs.attributes(path, "mode") == "directory" end
  --- sandlot.readlink(path) -> link text, or nil when path is not a symlink
  function h.readlink(path)
    local a = lfs.symlinkattributes(path)
    return a and a.mode == "link" and a.target or nil
  end
  --- sandlot.log(...) -> message on stderr with -v
  function h.log(...)
    if verbose then
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      io.stderr:write("sandlot: ", chunk, ": ", table.concat(parts, "\t"), "\n")
    end
  end
  h.check_path = core.check_path
  return h
end

--- The environment of one script: a fresh table whose undefined globals
-- raise an error naming them.
function M.environment(chunk, ctx)
  local env = {}
  for _, name in ipairs(SAFE_BASE) do env[name] = _G[name] end
  env.setmetatable = safe_setmetatable
  env.pcall = core.pcall
  env.string = safe_string()
  env.table = copy(table)
  env.math = copy(math)
  env.utf8 = copy(utf8)
  env.os = { getenv = os.getenv, time = os.time, clock = os.clock, date = os.date,
             difftime = os.difftime }
  env.lfs = { attributes = lfs.attributes, symlinkattributes = lfs.symlinkattributes,
              dir = lfs.dir, currentdir = lfs.currentdir }
  env.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(chunk, ": ", table.concat(parts, "\t"), "\n")
  end
  env.policy = ctx.policy
  env.stage = M.stage_view(ctx.stage)
  env.host = copy(ctx.host, true)
  env.sandlot = helpers(chunk, ctx.verbose)
  env._G = env
  return setmetatable(env, {
    __index = function(_, name)
      error(("undefined global '%s'"):format(tostring(name)), 2)
    end,
  })
end

--- Run one script's source text in its own environment.
-- Raises a one-line message that names the script (and line when known).
function M.run(chunk, source, ctx)
  if source:sub(1, 4) == "\27Lua" then
    error(chunk .. ": precompiled bytecode is not accepted", 0)
  end
  local fn, err = load(source, "@" .. chunk, "t", M.environment(chunk, ctx))
  if not fn then
    error(err, 0)
  end
  local ok, run_err = pcall(fn)
  if not ok then
    if type(run_err) ~= "string" then
      run_err = ("%s: error object is a %s value"):format(chunk, type(run_err))
    elseif run_err == "not enough memory" then
      run_err = ("%s: not enough memory: policy scripts are capped at %d MiB")
        :format(chunk, core.MEMORY_LIMIT_MIB)
    end
    error(run_err, 0)
  end
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err
  end
  local text, rerr = f:read("a")
  f:close()
  if not text then
    return nil, ("%s: %s"):format(path, tostring(rerr))
  end
  return text
end
M.read_file = read_file

--- List the scripts of a directory layer: name -> entry or false (masked).
local function scan_dir(dir, into)
  if lfs.attributes(dir, "mode") ~= "directory" then
    return
  end
  for name in lfs.dir(dir) do
    if name:match("%.lua$") then
      local full = dir .. "/" .. name
      local link = lfs.symlinkattributes(full)
      if link and link.mode == "link" and link.target == "/dev/null" then
        into[name] = false -- masked, systemd style
      else
        into[name] = { chunk = full, path = full }
      end
    end
  end
end

--- The ordered list of scripts to run: built-in policies.d, then the
-- system and user directories (same name replaces, /dev/null masks), sorted
-- by name; then each --policy file in the order given.
function M.collect(layers)
  local byname = {}
  for _, f in ipairs(core.builtins("policies.d")) do
    byname[f.name:match("[^/]+$")] = { chunk = f.name, source = f.source }
  end
  for _, dir in ipairs(layers.dirs or {}) do
    scan_dir(dir, byname)
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
      source, err = read_file(entry.path)
      if not source then
        error(("cannot read policy script %s"):format(err), 0)
      end
      if lfs.attributes(entry.path, "mode") ~= "file" then
        error(("policy script %s is not a regular file"):format(entry.path), 0)
      end
    end
    M.run(entry.chunk, source, ctx)
  end
end

return M
