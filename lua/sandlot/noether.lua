--- noether's IsolationPolicy JSON, in and out.
--
-- noether's shape: {"ro_binds": [[host, sandbox], ...], "rw_binds": [...],
-- "work_host": "/dir" (optional), "network": bool, "env_allowlist": [names]}.
-- What noether cannot express (ro-bind-if-present, tmpfs, dirs, symlinks,
-- forced environment values, uid/gid) travels in an extra "sandlot" object
-- that noether ignores and sandlot reads back, so explain --json output
-- round-trips through --policy-json exactly.
local core = require("sandlot.core")
local cjson = require("cjson")
local json = require("sandlot.json")

local M = {}

local NOETHER_FIELDS = { ro_binds = true, rw_binds = true, work_host = true, network = true,
                         env_allowlist = true, sandlot = true }
local EXTRA_FIELDS = { mounts = true, env = true, uid = true, gid = true, seccomp = true,
                       limits = true }

-- noether always forces these (build_bwrap_command), whatever the allowlist.
local FORCED = { { "HOME", "/work" }, { "USER", "nobody" } }
-- and binds these read-only-if-present when the network is shared.
M.NETWORK_FILES = { "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs" }

--- The policy as noether's IsolationPolicy JSON (one line).
function M.export(policy)
  local array, object = json.array, json.object
  local ro, rw, mounts = array(), array(), array()
  for _, m in ipairs(policy:mounts()) do
    -- masks are derived (the C core places them from the seals), never exported
    if m.kind == "mask-dir" or m.kind == "mask-file" then goto continue end
    if m.kind == "ro" then ro[#ro + 1] = array({ m.source, m.target }) end
    if m.kind == "rw" then rw[#rw + 1] = array({ m.source, m.target }) end
    mounts[#mounts + 1] = object({ "kind", m.kind }, { "source", m.source },
                                 { "target", m.target })
    ::continue::
  end
  local names, forced = array(), array()
  for _, v in ipairs(policy:env()) do
    names[#names + 1] = v.name
    if v.value then forced[#forced + 1] = array({ v.name, v.value }) end
  end
  local deny = array()
  for _, r in ipairs(policy:seccomp_rules()) do
    if r.source == "extra" then
      deny[#deny + 1] = array({ r.syscall, r.action })
    end
  end
  local limits = {}
  for _, l in ipairs(policy:limits()) do limits[#limits + 1] = { l.name, l.value } end
  return json.encode(object(
    { "ro_binds", ro },
    { "rw_binds", rw },
    { "work_host", policy.work_host },
    { "network", policy.network },
    { "env_allowlist", names },
    { "sandlot", object({ "mounts", mounts }, { "env", forced }, { "uid", policy.uid },
                        { "gid", policy.gid },
                        { "seccomp", object({ "profile", policy.seccomp },
                                            { "deny", deny }) },
                        { "limits", object(table.unpack(limits)) }) }))
end

local function fail(what, fmt, ...)
  error(what .. ": " .. fmt:format(...), 0)
end

-- fn(a, b) for each [a, b] pair of strings in list (nil: none); any other
-- entry fails, naming the list (label) and the pair's shape.
local function each_pair(what, list, label, shape, fn)
  for i, v in ipairs(list or {}) do
    if type(v) ~= "table" or type(v[1]) ~= "string" or type(v[2]) ~= "string" then
      fail(what, "%s entry #%d must be a [%s] pair", label, i, shape)
    end
    fn(v[1], v[2])
  end
end

local function check_pairs(doc, key, what)
  local v = doc[key]
  if v == nil then return {} end
  if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then
    fail(what, "\"%s\" must be an array of [host, sandbox] pairs", key)
  end
  for i, pair in ipairs(v) do
    if type(pair) ~= "table" or #pair ~= 2 or type(pair[1]) ~= "string"
        or type(pair[2]) ~= "string" then
      fail(what, "\"%s\" entry #%d must be a [host, sandbox] pair of strings", key, i)
    end
  end
  return v
end

-- How each kind of sandlot.mounts entry is applied.
local ADD = {
  ["ro"] = function(p, m) p:ro_bind(m.source, m.target) end,
  ["rw"] = function(p, m) p:rw_bind(m.source, m.target) end,
  ["ro-try"] = function(p, m) p:ro_bind_try(m.source, m.target) end,
  ["tmpfs"] = function(p, m) p:tmpfs(m.target) end,
  ["dir"] = function(p, m) p:dir(m.target) end,
  ["symlink"] = function(p, m) p:symlink(m.source, m.target) end,
}

--- sandlot.mounts must list exactly ro_binds and rw_binds among its entries,
-- so a tool that edits only noether's fields cannot be silently ignored.
local function agree(mounts, ro, rw, what)
  if type(mounts) ~= "table" then fail(what, "sandlot.mounts must be an array") end
  local lists = { ro = {}, rw = {} }
  for i, m in ipairs(mounts) do
    if type(m) ~= "table" or type(m.target) ~= "string" then
      fail(what, "sandlot.mounts entry #%d needs a \"target\"", i)
    end
    if lists[m.kind] then
      local l = lists[m.kind]
      l[#l + 1] = tostring(m.source) .. "\0" .. m.target
    end
  end
  for kind, given in pairs({ ro = ro, rw = rw }) do
    local l = lists[kind]
    local same = #l == #given
    for i = 1, #given do
      same = same and l[i] == given[i][1] .. "\0" .. given[i][2]
    end
    if not same then
      fail(what, "%s_binds disagree with sandlot.mounts; edit both or drop the \"sandlot\" "
                 .. "object", kind)
    end
  end
end

local function unknown_key(doc, known, what, where)
  for k in pairs(doc) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      fail(what, "unknown field \"%s\"%s (known: %s)", tostring(k), where or "",
           table.concat(names, ", "))
    end
  end
end

--- Fill `policy` from IsolationPolicy JSON text.  Every mutation goes
-- through the C core, so every invariant holds; errors name `what`.
function M.import(policy, text, what)
  local ok, doc = pcall(cjson.decode, text)
  if not ok then fail(what, "malformed JSON: %s", tostring(doc)) end
  if type(doc) ~= "table" or doc[1] ~= nil then fail(what, "expected a JSON object") end
  unknown_key(doc, NOETHER_FIELDS, what)
  for _, key in ipairs({ "ro_binds", "network", "env_allowlist" }) do
    if doc[key] == nil then fail(what, "missing field \"%s\"", key) end
  end
  if type(doc.network) ~= "boolean" then fail(what, "\"network\" must be true or false") end
  if type(doc.env_allowlist) ~= "table" then fail(what, "\"env_allowlist\" must be an array") end
  local extra = doc.sandlot
  if extra ~= nil then
    if type(extra) ~= "table" then fail(what, "\"sandlot\" must be an object") end
    unknown_key(extra, EXTRA_FIELDS, what, " in \"sandlot\"")
  end
  local ro, rw = check_pairs(doc, "ro_binds", what), check_pairs(doc, "rw_binds", what)
  if extra and extra.mounts ~= nil then
    agree(extra.mounts, ro, rw, what)
  end
  core.set_origin(what)
  local done, err = pcall(function()
    if extra and extra.mounts ~= nil then
      -- the full list, in order: ro/rw binds and what noether cannot express
      for i, m in ipairs(extra.mounts) do
        local add = ADD[m.kind]
        if not add then
          fail(what, "sandlot.mounts entry #%d has unknown kind \"%s\"", i, tostring(m.kind))
        end
        add(policy, m)
      end
    else
      for _, p in ipairs(rw) do policy:rw_bind(p[1], p[2]) end
      for _, p in ipairs(ro) do policy:ro_bind(p[1], p[2]) end
    end
    if doc.work_host ~= nil and doc.work_host ~= cjson.null then
      if type(doc.work_host) ~= "string" then fail(what, "\"work_host\" must be a string") end
      policy.work_host = doc.work_host
    end
    policy.network = doc.network
    for i, name in ipairs(doc.env_allowlist) do
      if type(name) ~= "string" then fail(what, "env_allowlist entry #%d is not a string", i) end
      policy:allow_env(name)
    end
    if extra then
      each_pair(what, extra.env, "sandlot.env", "name, value",
                function(name, value) policy:setenv(name, value) end)
      if extra.seccomp ~= nil then
        local sc = extra.seccomp
        if type(sc) ~= "table" then fail(what, "sandlot.seccomp must be an object") end
        if sc.profile ~= nil then
          if type(sc.profile) ~= "string" then fail(what, "seccomp profile must be a string") end
          policy.seccomp = sc.profile
        end
        each_pair(what, sc.deny, "sandlot.seccomp.deny", "syscall, action",
                  function(syscall, action) policy:deny_syscall(syscall, action) end)
      end
      if extra.limits ~= nil then
        if type(extra.limits) ~= "table" then fail(what, "sandlot.limits must be an object") end
        for name, v in pairs(extra.limits) do
          local n = type(v) == "number" and math.tointeger(v)
          policy:limit(name, n or v)
        end
      end
      if extra.uid ~= nil then policy.uid = math.tointeger(extra.uid) or -1 end
      if extra.gid ~= nil then policy.gid = math.tointeger(extra.gid) or -1 end
    else
      -- A plain noether policy: add what noether's bwrap builder always adds.
      if doc.network then
        for _, f in ipairs(M.NETWORK_FILES) do policy:ro_bind_try(f) end
      end
      for _, kv in ipairs(FORCED) do policy:setenv(kv[1], kv[2]) end
    end
  end)
  core.set_origin(nil)
  if not done then error(err, 0) end
end

return M
