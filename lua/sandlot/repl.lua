--- The REPL session: the environment typed chunks run in (the confined
-- script environment plus helpers), how results print, and completion.
-- src/repl.c owns the terminal: reading lines, history, Ctrl-C.
local core = require("sandlot.core")
local sandlot = require("sandlot")
local loader = require("sandlot.loader")

local M = {}

M.HELP = [[
sandlot repl: the policy for the options given is bound to `policy`, the
stage to `stage`; expressions print their value, statements run.

  policy                 the policy (methods: see README, or type policy: and Tab)
  stage                  the stage: name, argv, effects, :has(kind), :effects_of(kind)
  explain()              the sandbox (bwrap flags or native steps), each with its origin
  json()                 the policy as noether IsolationPolicy JSON
  effects("network,fs-read:/data")   rebuild the policy for other effects
  reload()               run all layers again (after editing a script on disk)
  apply("file.lua")      run one more policy script against the current policy
  run{"cmd", "arg"}      run a command under the current policy; returns its status
  help()                 this text
  exit()                 leave (or Ctrl-D); Ctrl-C interrupts a running chunk]]

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local is_policy = core.is_policy

--- A readable, multi-line summary of a policy.
function M.describe(p)
  local lines = {
    ("policy: network %s, /work %s, uid:gid %d:%d"):format(
      p.network and "shared" or "off", p.work_host and ("= " .. p.work_host) or "private tmpfs",
      p.uid, p.gid),
  }
  local eg = p:egress()
  if eg.mode == "allowlist" then
    lines[#lines + 1] = ("egress: allowlist (%d rules; policy:egress() lists them)"):format(
      #eg.rules)
  end
  local mounts = p:mounts()
  lines[#lines + 1] = ("mounts (%d):"):format(#mounts)
  for _, m in ipairs(mounts) do
    local what = m.source and (m.source .. " -> " .. m.target) or m.target
    lines[#lines + 1] = ("  %-7s %-44s %s"):format(m.kind, what, m.origin)
  end
  local env = p:env()
  lines[#lines + 1] = ("environment (%d):"):format(#env)
  for _, v in ipairs(env) do
    local what = v.value and (v.name .. "=" .. v.value) or (v.name .. " (from host)")
    lines[#lines + 1] = ("  %-52s %s"):format(what, v.origin)
  end
  return table.concat(lines, "\n")
end

--- One value as text: tables one level deep, sorted, shortened.
function M.format(v, depth)
  depth = depth or 0
  if is_policy(v) then return depth == 0 and M.describe(v) or tostring(v) end
  if type(v) == "string" then return depth == 0 and v or ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  if depth > 1 then return "{...}" end
  local parts, n = {}, 0
  for _, k in ipairs(sorted_keys(v)) do
    n = n + 1
    if n > 20 then parts[#parts + 1] = "..." break end
    local key = (math.type(k) == "integer") and "" or (tostring(k) .. " = ")
    parts[#parts + 1] = key .. M.format(v[k], depth + 1)
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

--- Print the results of one chunk (lua.c style: tab-separated).
function M.show(...)
  local n = select("#", ...)
  if n == 0 then return end
  local parts = {}
  for i = 1, n do parts[i] = M.format((select(i, ...))) end
  io.write(table.concat(parts, "\t"), "\n")
  io.flush()
end

-- Names a value offers for completion after "." or ":".
local function members(v)
  local out = {}
  if is_policy(v) then
    for _, name in ipairs(core.policy_names()) do out[name] = true end
  elseif type(v) == "table" then
    for k in pairs(v) do if type(k) == "string" then out[k] = true end end
    local mt = getmetatable(v)
    if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then
      for k in pairs(mt.__index) do if type(k) == "string" then out[k] = true end end
    end
  elseif type(v) == "string" then
    for k in pairs(string) do out[k] = true end
  end
  return out
end

--- Create a session for the policy the initial options built.
-- info: {bwrap = path or nil, run = function(policy, argv) -> status}
function M.session(opts, policy, report, info)
  local s = { opts = opts, policy = policy, report = report, info = info, exit = false }
  -- what explain() printed: shown once, not again as the chunk's result
  local printed
  function s.show(...)
    if select("#", ...) == 1 and printed ~= nil and (...) == printed then
      printed = nil
      return
    end
    printed = nil
    return M.show(...)
  end
  local env = loader.environment("repl", report.ctx)
  s.env = env

  local function install()
    rawset(env, "policy", s.policy)
    rawset(env, "stage", loader.stage_view(s.report.ctx.stage))
    rawset(env, "host", s.report.ctx.host_view or loader.frozen(s.report.ctx.host, "host"))
    s.report.ctx.stage_view = rawget(env, "stage")
  end

  local function rebuild(new_opts)
    local ok, p, r = pcall(sandlot.build, new_opts)
    if not ok then error(p, 0) end
    s.opts, s.policy, s.report = new_opts, p, r
    install()
    return s.policy
  end

  local helpers = {}
  function helpers.help() print(M.HELP) end
  --- Print the sandbox as `sandlot explain` does, and return that text.
  function helpers.explain()
    local text = sandlot.explain_text(s.policy, {}, { name = info.backend, bwrap = info.bwrap },
                                      s.report)
    io.write(text)
    printed = text
    return text
  end
  function helpers.json() print(require("sandlot.noether").export(s.policy)) end
  function helpers.effects(list)
    if type(list) ~= "string" then error("effects: expected a string such as \"network\"", 2) end
    local o = {}
    for k, v in pairs(s.opts) do o[k] = v end
    o.effects, o.effects_json = { list }, nil
    return rebuild(o)
  end
  function helpers.reload() return rebuild(s.opts) end
  function helpers.apply(file)
    if type(file) ~= "string" then error("apply: expected a file name", 2) end
    local source, err = core.read_script(file)
    if not source then error("cannot read policy script " .. err, 2) end
    loader.run(file, source, s.report.ctx)
    local ok, why = core.check_invariants(s.policy)
    if not ok then error("invariant: " .. why, 0) end
    return s.policy
  end
  function helpers.run(argv)
    if type(argv) ~= "table" or type(argv[1]) ~= "string" then
      error('run: expected a command such as run{"ls", "-l"}', 2)
    end
    for i, w in ipairs(argv) do
      if type(w) ~= "string" then error(("run: word #%d is not a string"):format(i), 2) end
    end
    local ok, why = core.check_invariants(s.policy)
    if not ok then error("invariant: " .. why, 0) end
    return info.run(s.policy, argv)
  end
  function helpers.exit() s.exit = true end
  for name, f in pairs(helpers) do rawset(env, name, f) end
  -- print goes to stdout at the REPL (scripts print to stderr)
  rawset(env, "print", function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.write(table.concat(parts, "\t"), "\n")
    io.flush()
  end)
  install()

  --- Completion candidates for the word being typed ("pol", "policy:ro_").
  function s.complete(word)
    local base, sep, partial = word:match("^(.*)([%.:])([%w_]*)$")
    local names
    if base then
      local v = env
      for part in base:gmatch("[^%.:]+") do
        if type(v) ~= "table" and not is_policy(v) then return {} end
        local ok, nv = pcall(function() return v[part] end)
        if not ok then return {} end
        v = nv
      end
      names = members(v)
    else
      partial, base, sep = word, "", ""
      names = {}
      for k in pairs(env) do names[k] = true end
      for _, k in ipairs({ "string", "table", "math", "utf8", "os", "lfs", "sandlot",
                           "pcall", "setmetatable" }) do names[k] = true end
    end
    local out = {}
    for _, name in ipairs(sorted_keys(names)) do
      if name:sub(1, #partial) == partial then out[#out + 1] = base .. sep .. name end
    end
    return out
  end

  return s
end

return M
