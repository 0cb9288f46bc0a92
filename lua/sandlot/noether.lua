--- noether's IsolationPolicy JSON, in and out.
--
-- noether's shape (its serde derive, v0.7.1 to v0.8.2):
--   {"ro_binds": [{"host": "/nix/store", "sandbox": "/nix/store"}, ...],
--    "rw_binds": [...]           (same shape; left out when empty),
--    "work_host": "/dir"         (left out when unset),
--    "network": bool, "env_allowlist": [names]}
-- Binds are read as objects or, for files sandlot wrote before, as
-- [host, sandbox] pairs; they are written as objects.
-- What noether cannot express (ro-bind-if-present, tmpfs, dirs, symlinks,
-- forced environment values, uid/gid, seccomp, limits, the egress
-- allowlist) travels in an extra
-- "sandlot" object that noether ignores and sandlot reads back, so explain
-- --json output round-trips through --policy-json exactly.  An allowlist
-- policy is "network": false plus "sandlot": {"egress": [{"host": PATTERN,
-- "ports": [443]}, ...]} (left out when there is no rule): noether, which
-- ignores the object, runs it with no network at all, which fails closed.
--
-- Unknown fields are refused, naming the field and sandlot's version: a
-- sandbox that ignored a field it does not understand (a newer noether's
-- restriction) could run looser than its caller meant.  serde ignores them;
-- sandlot fails closed.
local core = require("sandlot.core")
local cjson = require("cjson")
local json = require("sandlot.json")

local M = {}

local NOETHER_FIELDS = { ro_binds = true, rw_binds = true, work_host = true, network = true,
                         env_allowlist = true, sandlot = true }
local EXTRA_FIELDS = { mounts = true, env = true, uid = true, gid = true, seccomp = true,
                       limits = true, egress = true }
local EGRESS_FIELDS = { host = true, ports = true }
local BIND_FIELDS = { host = true, sandbox = true }
local MOUNT_FIELDS = { kind = true, source = true, target = true, noether = true }
local SECCOMP_FIELDS = { profile = true, deny = true }

-- noether always forces these (build_bwrap_command), whatever the allowlist.
local FORCED = { { "HOME", "/work" }, { "USER", "nobody" } }
-- and binds these read-only-if-present when the network is shared.
M.NETWORK_FILES = { "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl/certs" }

-- What an import knew that the policy object cannot hold, so export writes
-- noether's fields back as they were read (weak: one entry per policy):
--   declared  env_allowlist names as given (forced HOME/USER stay out unless listed)
--   links     targets of ro binds of the host's merged-usr links, made symlinks
--   implied   targets of the binds added so those symlinks lead somewhere
local imported = setmetatable({}, { __mode = "k" })

-- Limits sandlot derives from the host when no layer sets them (the data
-- limit: half the physical memory): facts, not policy.
local HOST_DERIVED = { data = true }

--- The policy as noether's IsolationPolicy JSON (one line).  With
-- opts.hash (the status report's policy_sha256) a host-derived default
-- limit is written as "host" instead of its value: the same policy hashes
-- the same on every host.
function M.export(policy, opts)
  local array, object = json.array, json.object
  local state = imported[policy] or {}
  local links, implied = state.links or {}, state.implied or {}
  local ro, rw, mounts = array(), array(), array()
  for _, m in ipairs(policy:mounts()) do
    -- masks are derived (the C core places them from the seals), never exported
    if m.kind == "mask-dir" or m.kind == "mask-file" then goto continue end
    local mark
    if m.kind == "symlink" and links[m.target] then
      mark = "ro_bind"
      ro[#ro + 1] = object({ "host", m.target }, { "sandbox", m.target })
    elseif m.kind == "ro" and implied[m.target] then
      mark = "implied"
    elseif m.kind == "ro" then
      ro[#ro + 1] = object({ "host", m.source }, { "sandbox", m.target })
    elseif m.kind == "rw" then
      rw[#rw + 1] = object({ "host", m.source }, { "sandbox", m.target })
    end
    mounts[#mounts + 1] = object({ "kind", m.kind }, { "source", m.source },
                                 { "target", m.target }, { "noether", mark })
    ::continue::
  end
  local names, forced = array(), array()
  for _, v in ipairs(policy:env()) do
    if not state.declared or not v.value or state.declared[v.name] then
      names[#names + 1] = v.name
    end
    if v.value then forced[#forced + 1] = array({ v.name, v.value }) end
  end
  local deny = array()
  for _, r in ipairs(policy:seccomp_rules()) do
    if r.source == "extra" then
      deny[#deny + 1] = array({ r.syscall, r.action })
    end
  end
  local egress = array()
  for _, r in ipairs(policy:egress().rules) do
    egress[#egress + 1] = object({ "host", r.pattern }, { "ports", array(r.ports) })
  end
  local limits = {}
  for _, l in ipairs(policy:limits()) do
    local host_fact = opts and opts.hash and HOST_DERIVED[l.name] and l.origin == "sandlot: default"
    limits[#limits + 1] = { l.name, host_fact and "host" or l.value }
  end
  return json.encode(object(
    { "ro_binds", ro },
    { "rw_binds", #rw > 0 and rw or nil },
    { "work_host", policy.work_host },
    { "network", policy.network },
    { "env_allowlist", names },
    { "sandlot", object({ "mounts", mounts }, { "env", forced }, { "uid", policy.uid },
                        { "gid", policy.gid },
                        { "seccomp", object({ "profile", policy.seccomp },
                                            { "deny", deny }) },
                        { "limits", object(table.unpack(limits)) },
                        { "egress", #egress > 0 and egress or nil }) }))
end

local function fail(what, fmt, ...)
  error(what .. ": " .. fmt:format(...), 0)
end

local function is_array(v)
  return type(v) == "table" and (next(v) == nil or v[1] ~= nil) and not json.is_big(v)
end

local function is_object(v)
  return type(v) == "table" and (next(v) == nil or v[1] == nil) and not json.is_big(v)
end

local function unknown_key(doc, known, what, where)
  for k in pairs(doc) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      fail(what, "unknown field \"%s\"%s: sandlot %s refuses fields it does not know rather "
                 .. "than run looser than meant (known: %s)", tostring(k), where or "",
           core.VERSION, table.concat(names, ", "))
    end
  end
end

-- fn(a, b) for each [a, b] pair of strings in list (nil: none); any other
-- entry fails, naming the list (label) and the pair's shape.
local function each_pair(what, list, label, shape, fn)
  if list ~= nil and not is_array(list) then fail(what, "%s must be an array", label) end
  for i, v in ipairs(list or {}) do
    if type(v) ~= "table" or type(v[1]) ~= "string" or type(v[2]) ~= "string" then
      fail(what, "%s entry #%d must be a [%s] pair", label, i, shape)
    end
    fn(v[1], v[2])
  end
end

-- doc[key] as a list of {host, sandbox}: noether's {"host","sandbox"}
-- objects, or the [host, sandbox] pairs sandlot wrote before.
local function check_binds(doc, key, what)
  local v = doc[key]
  if v == nil then return {} end
  if not is_array(v) then
    fail(what, "\"%s\" must be an array of {\"host\": ..., \"sandbox\": ...} objects", key)
  end
  local out = {}
  for i, b in ipairs(v) do
    local host, sandbox
    if is_object(b) and next(b) ~= nil then
      unknown_key(b, BIND_FIELDS, what, (" in \"%s\" entry #%d"):format(key, i))
      host, sandbox = b.host, b.sandbox
    elseif type(b) == "table" and #b == 2 and not json.is_big(b) then
      host, sandbox = b[1], b[2]
    end
    if type(host) ~= "string" or type(sandbox) ~= "string" then
      fail(what, "\"%s\" entry #%d must be {\"host\": \"/path\", \"sandbox\": \"/path\"} "
                 .. "(or a [host, sandbox] pair of strings)", key, i)
    end
    out[i] = { host, sandbox }
  end
  return out
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
-- A symlink marked "noether":"ro_bind" stands for the ro bind of a merged-usr
-- link at its target; a bind marked "implied" is not one of noether's.
local function agree(mounts, ro, rw, what)
  if not is_array(mounts) then fail(what, "sandlot.mounts must be an array") end
  local lists = { ro = {}, rw = {} }
  for i, m in ipairs(mounts) do
    if not is_object(m) or type(m.target) ~= "string" then
      fail(what, "sandlot.mounts entry #%d needs a \"target\"", i)
    end
    unknown_key(m, MOUNT_FIELDS, what, (" in sandlot.mounts entry #%d"):format(i))
    if m.noether ~= nil and not (m.noether == "ro_bind" and m.kind == "symlink")
        and not (m.noether == "implied" and m.kind == "ro") then
      fail(what, "sandlot.mounts entry #%d: \"noether\" is \"ro_bind\" on a symlink or "
                 .. "\"implied\" on a ro bind", i)
    end
    if m.noether == "ro_bind" then
      local l = lists.ro
      l[#l + 1] = m.target .. "\0" .. m.target
    elseif lists[m.kind] and m.noether == nil then
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

-- Is path (normalised) the same as or below one of the binds' targets?
local function covered(path, binds)
  for _, b in ipairs(binds) do
    local t = b[2]
    if path == t or t == "/" or path:sub(1, #t + 1) == t .. "/" then return true end
  end
  return false
end

-- A policy written for a merged-usr host binds /bin, /lib, /lib64 or /sbin,
-- which are symlinks into /usr there: bwrap follows them, sandlot's binds
-- never follow links (a link can be swapped under them).  Such a bind of a
-- link at its own path becomes the same symlink inside, as 10-runtime.lua
-- makes it, plus a read-only bind of what it leads to unless the policy binds
-- that already.  Returns true when it did.
local function link_bind(policy, state, host, b, all)
  local text = host and host.links and b[1] == b[2] and host.links[b[1]]
  if not text then return false end
  local dest = text:sub(1, 1) == "/" and text or "/" .. text
  local norm = core.check_path(dest)
  if not norm then return false end
  policy:symlink(text, b[2])
  state.links[b[2]] = true
  if not covered(norm, all) then
    policy:ro_bind(norm, norm)
    state.implied[norm] = true
  end
  return true
end

--- Fill `policy` from IsolationPolicy JSON text.  Every mutation goes
-- through the C core, so every invariant holds; errors name `what`.
-- host: the host facts (sandlot.host), for the merged-usr links.
function M.import(policy, text, what, host)
  local ok, doc = pcall(json.decode, text)
  if not ok then fail(what, "malformed JSON: %s", tostring(doc)) end
  if not is_object(doc) then fail(what, "expected a JSON object") end
  unknown_key(doc, NOETHER_FIELDS, what)
  for _, key in ipairs({ "ro_binds", "network", "env_allowlist" }) do
    if doc[key] == nil then fail(what, "missing field \"%s\"", key) end
  end
  if type(doc.network) ~= "boolean" then fail(what, "\"network\" must be true or false") end
  if not is_array(doc.env_allowlist) then fail(what, "\"env_allowlist\" must be an array") end
  local extra = doc.sandlot
  if extra ~= nil then
    if not is_object(extra) then fail(what, "\"sandlot\" must be an object") end
    unknown_key(extra, EXTRA_FIELDS, what, " in \"sandlot\"")
  end
  local ro, rw = check_binds(doc, "ro_binds", what), check_binds(doc, "rw_binds", what)
  if extra and extra.mounts ~= nil then
    agree(extra.mounts, ro, rw, what)
  end
  local state = { declared = {}, links = {}, implied = {} }
  imported[policy] = state
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
        if m.noether == "ro_bind" then state.links[m.target] = true end
        if m.noether == "implied" then state.implied[m.target] = true end
      end
    else
      local all = {}
      for _, b in ipairs(rw) do all[#all + 1] = b end
      for _, b in ipairs(ro) do all[#all + 1] = b end
      for _, b in ipairs(rw) do policy:rw_bind(b[1], b[2]) end
      for _, b in ipairs(ro) do
        if not link_bind(policy, state, host, b, all) then policy:ro_bind(b[1], b[2]) end
      end
    end
    if doc.work_host ~= nil and doc.work_host ~= cjson.null then
      if type(doc.work_host) ~= "string" then fail(what, "\"work_host\" must be a string") end
      policy.work_host = doc.work_host
    end
    policy.network = doc.network
    for i, name in ipairs(doc.env_allowlist) do
      if type(name) ~= "string" then fail(what, "env_allowlist entry #%d is not a string", i) end
      policy:allow_env(name)
      state.declared[name] = true
    end
    if extra then
      each_pair(what, extra.env, "sandlot.env", "name, value",
                function(name, value) policy:setenv(name, value) end)
      if extra.seccomp ~= nil then
        local sc = extra.seccomp
        if not is_object(sc) then fail(what, "sandlot.seccomp must be an object") end
        unknown_key(sc, SECCOMP_FIELDS, what, " in sandlot.seccomp")
        if sc.profile ~= nil then
          if type(sc.profile) ~= "string" then fail(what, "seccomp profile must be a string") end
          policy.seccomp = sc.profile
        end
        each_pair(what, sc.deny, "sandlot.seccomp.deny", "syscall, action",
                  function(syscall, action) policy:deny_syscall(syscall, action) end)
      end
      if extra.limits ~= nil then
        if not is_object(extra.limits) then fail(what, "sandlot.limits must be an object") end
        for name, v in pairs(extra.limits) do
          if json.is_big(v) then
            fail(what, "sandlot.limits.%s: %s is too large", name, v.digits)
          end
          local n = type(v) == "number" and math.tointeger(v)
          policy:limit(name, n or v)
        end
      end
      if extra.egress ~= nil then
        if not is_array(extra.egress) then fail(what, "sandlot.egress must be an array") end
        for i, r in ipairs(extra.egress) do
          if not is_object(r) then fail(what, "sandlot.egress entry #%d must be an object", i) end
          unknown_key(r, EGRESS_FIELDS, what, (" in sandlot.egress entry #%d"):format(i))
          if type(r.host) ~= "string" then
            fail(what, "sandlot.egress entry #%d needs a \"host\" string", i)
          end
          if r.ports ~= nil and not is_array(r.ports) then
            fail(what, "sandlot.egress entry #%d: \"ports\" must be an array of numbers", i)
          end
          policy:allow_host(r.host, r.ports)
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
  if not done then
    if tostring(err):find("goes through the symlink", 1, true) then
      err = tostring(err) .. "; only the host's merged-usr links (/bin, /lib, /lib64, /sbin "
            .. "into /usr) bound at their own path are recreated as links inside"
    end
    error(err, 0)
  end
end

return M
