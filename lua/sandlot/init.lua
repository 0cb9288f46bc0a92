--- sandlot: builds a stage's policy from its effects and the policy layers.
--
-- The C command line calls build() for run and explain, explain_text()
-- and noether.export() for explain, and check() for `sandlot check`.
local core = require("sandlot.core")
local effects = require("sandlot.effects")
local host = require("sandlot.host")
local loader = require("sandlot.loader")
local lfs = require("lfs")

local M = { effects = effects, loader = loader }

--- Where the system and user layers live (the C core computes both).
function M.layer_dirs(opts)
  return { opts.system_dir or "/etc/sandlot/policies.d", opts.user_dir }
end

local function fail(msg) error(msg, 0) end

--- Parse the stage's effects from the CLI strings and/or JSON text.
-- With none given the stage is "unknown", noether's default EffectSet.
function M.stage_effects(opts)
  local list = {}
  if opts.effects and #opts.effects > 0 then
    local parsed, err = effects.parse_cli(opts.effects)
    if not parsed then fail(err) end
    list = parsed
  end
  if opts.effects_json then
    local parsed, err = effects.parse_json(opts.effects_json, opts.effects_json_name)
    if not parsed then fail(err) end
    local seen = {}
    for _, e in ipairs(list) do seen[effects.tostring(e)] = true end
    for _, e in ipairs(parsed) do
      if not seen[effects.tostring(e)] then list[#list + 1] = e end
    end
  end
  if #list == 0 then list = { { kind = "unknown" } } end
  return list
end

-- -v: what the layers hold, before the scripts run.
function M.say_layers(list, dirs, opts)
  local say = function(fmt, ...) io.stderr:write("sandlot: ", fmt:format(...), "\n") end
  local counts = {}
  for _, e in ipairs(list) do
    local from = e.builtin and "built-in" or "--policy"
    for _, d in ipairs(dirs) do
      if e.path and e.path:sub(1, #d + 1) == d .. "/" then from = d end
    end
    counts[from] = (counts[from] or 0) + 1
  end
  local replaced = opts.policy_json and ", replaced by --policy-json" or ""
  say("policy layers: built-in (%d script%s)%s", counts["built-in"] or 0,
      counts["built-in"] == 1 and "" or "s", replaced)
  for i, d in ipairs(dirs) do
    local n = counts[d] or 0
    say("policy layers: %s %s: %s", i == 1 and "system" or "user", d,
        n > 0 and ("%d script%s"):format(n, n == 1 and "" or "s")
        or (lfs.attributes(d, "mode") == "directory" and "no scripts" or "absent"))
  end
  if opts.system_policies == false then say("policy layers: system and user skipped "
                                            .. "(--no-system-policies)") end
  local chunks = {}
  for i, e in ipairs(list) do chunks[i] = e.chunk end
  say("scripts, in order: %s", table.concat(chunks, ", "))
end

-- -v: the seals in force, after every script.
function M.say_seals(policy)
  local seals = policy:seals()
  local by = {}
  for _, sl in ipairs(seals) do
    local key = sl.kind .. " by " .. sl.origin
    if not by[key] then by[key] = {}; by[#by + 1] = key end
    if sl.arg then table.insert(by[key], sl.arg) end
  end
  io.stderr:write(("sandlot: %d seal%s in force\n"):format(#seals, #seals == 1 and "" or "s"))
  for _, key in ipairs(by) do
    local args = by[key]
    local shown = #args > 4 and table.concat(args, " ", 1, 4) .. (" and %d more"):format(#args - 4)
      or table.concat(args, " ")
    io.stderr:write(("sandlot:   %s%s\n"):format(key, shown ~= "" and ": " .. shown or ""))
  end
end

--- Build the policy for one stage.
-- opts: effects (CLI strings), effects_json (+ _name), policy_files,
-- policy_json (+ _name), stage, work, env (--env strings), argv, system_policies (bool),
-- system_dir, user_dir, protected (host paths never writable inside, from
-- the C core), ids {uid, euid}, verbose.
-- Returns the policy userdata and a report {scripts = {...}, effects = {...}}.
function M.build(opts)
  local stage = {
    name = opts.stage or "unnamed",
    argv = opts.argv or {},
    effects = M.stage_effects(opts),
  }
  local dirs = (opts.system_policies ~= false) and M.layer_dirs(opts) or {}
  -- host paths never writable inside: the C core's list (main.c protected_list)
  core.set_protected(opts.protected or {})

  local policy = core.new_policy()
  if opts.work then
    core.set_origin("--work")
    local ok, err = pcall(function() policy.work_host = opts.work end)
    core.set_origin(nil)
    if not ok then fail(err) end
  end
  local named = {}
  for i, e in ipairs(stage.effects) do named[i] = effects.tostring(e) end
  local label = opts.stage and ('"%s"'):format(opts.stage)
    or ("with effects %s"):format(table.concat(named, ","))
  local ctx = { policy = policy, stage = stage, stage_label = label,
                host = host.facts(opts.ids, { system_dir = M.layer_dirs(opts)[1],
                                              user_dir = opts.user_dir }),
                verbose = opts.verbose }
  local list
  if opts.policy_json then
    -- The JSON replaces the built-in layer (the effect mapping); the system
    -- and user layers still run after it, so their seals and additions hold,
    -- then the --policy files.
    require("sandlot.noether").import(policy, opts.policy_json,
                                      opts.policy_json_name or "policy-json", ctx.host)
    -- It replaces 20-network.lua too, which opens the target of
    -- /etc/resolv.conf where that lies under the protected /run: so does
    -- sandlot for a JSON policy.
    local target = ctx.host.resolv_conf_target
    if target then
      core.set_origin("sandlot: resolv.conf")
      core.set_trusted(true)
      local ok, err = pcall(policy.unprotect, policy, target)
      core.set_trusted(false)
      core.set_origin(nil)
      if not ok then fail(err) end
    end
    list = loader.collect({ dirs = dirs, files = opts.policy_files, system_first = true })
    -- (the final built-in files, the protected paths, stay)
    for i = #list, 1, -1 do
      if list[i].builtin and not list[i].final then table.remove(list, i) end
    end
  else
    list = loader.collect({ dirs = dirs, files = opts.policy_files, system_first = true })
  end
  if opts.verbose then M.say_layers(list, dirs, opts) end
  loader.run_all(list, ctx)
  M.apply_cli_env(policy, opts.env)
  local ok, err = core.check_invariants(policy)
  if not ok then fail("invariant: " .. err) end
  if opts.verbose then M.say_seals(policy) end
  local scripts = {}
  for i, entry in ipairs(list) do scripts[i] = entry.chunk end
  return policy, { scripts = scripts, effects = stage.effects, stage = stage.name, ctx = ctx }
end

--- --env NAME (the host's value, when set) and --env NAME=VALUE, after
-- every policy layer, through the same checks and seals as a script's
-- allow_env/setenv.  NAME alone passes the host's value even over a value
-- a layer forced: the invoker asked for it by name.
function M.apply_cli_env(policy, list)
  if not list or #list == 0 then return end
  core.set_origin("command line")
  for _, arg in ipairs(list) do
    local name, value = arg:match("^([^=]*)=(.*)$")
    name = name or arg
    local ok, err = pcall(function()
      if value then
        policy:setenv(name, value)
      else
        local cur
        for _, v in ipairs(policy:env()) do
          if v.name == name then cur = v end
        end
        if cur and cur.value then policy:unsetenv(name) end
        policy:allow_env(name)
      end
    end)
    if not ok then
      core.set_origin(nil)
      fail(("--env %s: %s"):format(arg, (tostring(err):gsub("^command line: ", ""))))
    end
  end
  core.set_origin(nil)
end

-- Shell-quote one word for display.
local function quote(w)
  if w ~= "" and not w:find("[^%w%-%./_:=,+@%%]") then return w end
  return "'" .. w:gsub("'", "'\\''") .. "'"
end

-- "text   # origin", the origin in explain's column.
local function with_origin(text, origin)
  return text .. (" "):rep(math.max(1, 48 - #text)) .. "# " .. origin
end

--- explain's egress lines: the mode, each allowlist rule with its origin,
-- the proxy endpoint, the Landlock network rule, and the scripts' notes.
function M.egress_lines(policy)
  local eg, lines = policy:egress(), {}
  local function rule_text(r)
    local ports = {}
    for i, p in ipairs(r.ports) do ports[i] = tostring(p) end
    return r.pattern .. ":" .. table.concat(ports, ",")
  end
  if eg.mode == "host" then
    lines[#lines + 1] = with_origin("# egress: host (the host's network namespace)", eg.origin)
    for _, r in ipairs(eg.rules) do
      lines[#lines + 1] = with_origin("#   moot in host mode: allow " .. rule_text(r), r.origin)
    end
  elseif eg.mode == "allowlist" then
    lines[#lines + 1] = ("# egress: allowlist; own network namespace, a proxy on 127.0.0.1:%d "
                         .. "inside (HTTP CONNECT, plain HTTP, SOCKS5) served by sandlot from "
                         .. "the host; HTTP(S)_PROXY, ALL_PROXY, NO_PROXY set"):format(eg.port)
    for _, r in ipairs(eg.rules) do
      lines[#lines + 1] = with_origin("#   allow " .. rule_text(r), r.origin)
    end
    if eg.landlock_abi >= 4 then
      lines[#lines + 1] = ("# egress: Landlock ABI %d: TCP connect inside only to port %d")
                          :format(eg.landlock_abi, eg.port)
    else
      lines[#lines + 1] = ("# egress: Landlock ABI %d has no network rules (from 4): the "
                           .. "network namespace alone keeps connections in"):format(
                          eg.landlock_abi)
    end
  else
    lines[#lines + 1] = "# egress: none (own network namespace, loopback only)"
  end
  for _, n in ipairs(policy:notes()) do
    lines[#lines + 1] = with_origin("# note: " .. n.text, n.origin)
  end
  return lines
end

--- The sandbox, one flag (bwrap) or step (native) per line, each with the
-- origin that caused it.  Values passed through from the host environment
-- are not printed.  backend: {name = "bwrap" | "native", bwrap = path}.
function M.explain_text(policy, argv, backend, report)
  local words, groups
  if backend.name == "native" then
    words, groups = core.native_steps(policy, argv)
  else
    words, groups = core.bwrap_argv(policy, argv, backend.bwrap)
  end
  local from_host = {}
  for _, v in ipairs(policy:env()) do
    if not v.value then from_host[v.name] = true end
  end
  local lines = {}
  if report then
    local names = {}
    for i, e in ipairs(report.effects) do names[i] = effects.tostring(e) end
    lines[#lines + 1] = ("# stage %s, effects: %s"):format(report.stage, table.concat(names, ", "))
    lines[#lines + 1] = "# policy scripts, in order: " .. table.concat(report.scripts, ", ")
  end
  for gi, g in ipairs(groups) do
    local parts = {}
    for i = g.start, g.start + g.count - 1 do parts[#parts + 1] = quote(words[i]) end
    local w = words[g.start]
    if (w == "--setenv" or w == "setenv") and from_host[words[g.start + 1]] then
      parts[3] = "<value from host>"
    end
    local text = table.concat(parts, " ")
    if gi > 1 then text = "  " .. text end
    if g.count == 0 then text = "  (no command)" end
    local pad = math.max(1, 48 - #text)
    lines[#lines + 1] = text .. (" "):rep(pad) .. "# " .. g.origin
  end
  for _, line in ipairs(M.egress_lines(policy)) do lines[#lines + 1] = line end
  for _, sl in ipairs(policy:seals("open")) do
    local what = "# protected path opened: " .. sl.arg
    lines[#lines + 1] = what .. (" "):rep(math.max(1, 48 - #what)) .. "# " .. sl.origin
  end
  local limits = {}
  local tmpfs_size = { tmp = true, work = true, shm = true }
  for _, l in ipairs(policy:limits()) do
    if not tmpfs_size[l.name] then
      limits[#limits + 1] = ("%s %s"):format(l.name, tostring(l.value))
    end
  end
  lines[#lines + 1] = "# rlimits, set before " .. (backend.name == "native" and "the command starts"
                      or "bwrap starts") .. " (soft = hard): "
                      .. table.concat(limits, ", ")
  for _, l in ipairs(policy:limits()) do
    if l.origin ~= "sandlot: default" and not tmpfs_size[l.name] then
      lines[#lines + 1] = ("#   %s %s" .. (" "):rep(8)):format(l.name, tostring(l.value))
                          .. "# " .. l.origin
    end
  end
  lines[#lines + 1] = ("# seccomp filter, profile %s: native architecture only (any other "
                       .. "architecture's syscall kills); everything not listed is allowed")
                      :format(policy.seccomp)
  for _, r in ipairs(policy:seccomp_rules()) do
    local what = ("#   %-18s %-13s %s"):format(r.syscall, r.action, r.when)
    lines[#lines + 1] = what .. (" "):rep(math.max(1, 78 - #what)) .. "# " .. r.origin
  end
  return table.concat(lines, "\n") .. "\n"
end

-- Sample stages `check` runs every script against.
M.SAMPLE_STAGES = {
  { "pure" }, { "network" }, { "unknown" }, { "llm:sample-model", "cost:5", "fallible" },
  { "fs-read:/usr/share", "fs-write:/var/tmp", "process", "non-deterministic" },
}

--- `sandlot check [-e EFFECTS | --effects-json FILE]... FILE...`: load
-- each script against the sample stages, or against the stages given
-- (build_opts.stages: a list of {effects = {...}} or {effects_json = ...,
-- effects_json_name = ...}).
-- Returns an array of problems and an array of refusals (a script's own
-- error() call: the script refusing a stage is not a fault in it).
function M.check(files, build_opts, stages)
  if not stages or #stages == 0 then
    stages = {}
    for i, sample in ipairs(M.SAMPLE_STAGES) do
      stages[i] = { effects = { table.concat(sample, ",") } }
    end
  end
  -- a malformed sample stage is bad usage (125), not a problem of a script
  for _, sample in ipairs(stages) do M.stage_effects(sample) end
  local problems, refusals = {}, {}
  for _, file in ipairs(files) do
    local seen = {}
    for _, sample in ipairs(stages) do
      local opts = {}
      for k, v in pairs(build_opts or {}) do opts[k] = v end
      for k, v in pairs(sample) do opts[k] = v end
      opts.policy_files = { file }
      opts.system_policies = false
      opts.argv = { "true" }
      loader.refusal = nil
      local ok, err = pcall(M.build, opts)
      if not ok then
        err = tostring(err)
        local refused = err == loader.refusal
        if not seen[err] then
          seen[err] = true
          if refused then
            refusals[#refusals + 1] = err
          else
            local what = sample.effects and table.concat(sample.effects, ",")
              or sample.effects_json_name or "?"
            problems[#problems + 1] = ("%s (stage effects: %s)"):format(err, what)
          end
        end
      end
    end
  end
  return problems, refusals
end

return M
