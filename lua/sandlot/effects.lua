--- Effects: parsing the CLI form and noether's EffectSet JSON.
--
-- An effect is a table {kind = "network"} or, for the kinds that carry
-- data, {kind = "fs-read", path = "/data"}, {kind = "llm", model = "m"},
-- {kind = "cost", cents = 5}.  Anything unknown or malformed is an error
-- (a string naming the culprit), never ignored: an unexpected field in an
-- Effect too, where noether's serde would skip it.
--
-- cents is noether's u64.  It is a Lua integer up to 2^63-1 (Lua's largest)
-- and, from 2^63 to 2^64-1, the exact decimal string; above that it is
-- refused (a script comparing costs checks type(cents) == "string" first).
local core = require("sandlot.core")
-- cjson and the JSON writer load on first use: most runs have no JSON.
local function cjson() return require("cjson") end
local function json() return require("sandlot.json") end

local M = {}

-- kind -> {tag = noether's JSON tag, field = data field, required = bool}
local KINDS = {
  ["pure"] = { tag = "Pure" },
  ["fallible"] = { tag = "Fallible" },
  ["network"] = { tag = "Network" },
  ["fs-read"] = { tag = "FsRead", field = "path", required = true },
  ["fs-write"] = { tag = "FsWrite", field = "path", required = true },
  ["llm"] = { tag = "Llm", field = "model" },
  ["non-deterministic"] = { tag = "NonDeterministic" },
  ["process"] = { tag = "Process" },
  ["cost"] = { tag = "Cost", field = "cents" },
  ["unknown"] = { tag = "Unknown" },
}
M.KINDS = KINDS

local BY_TAG = {}
for kind, k in pairs(KINDS) do BY_TAG[k.tag] = kind end

local function sorted_names(t)
  local names = {}
  for name in pairs(t) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- A suggestion for a misspelt name: the known name sharing the longest prefix.
local function suggest(word, known)
  local best, best_len = nil, 1
  for _, name in ipairs(known) do
    local n = 0
    while n < #word and n < #name and word:sub(n + 1, n + 1) == name:sub(n + 1, n + 1) do
      n = n + 1
    end
    if n > best_len then best, best_len = name, n end
  end
  return best and (" (did you mean \"" .. best .. "\"?)") or ""
end

local U64_MAX = "18446744073709551615"

-- cents from decimal digits (no sign): an integer, the decimal string above
-- 2^63-1, or nil and a message above 2^64-1.
local function cents_of(digits)
  local d = digits:match("^0*(%d+)$")
  if #d < #U64_MAX or (#d == #U64_MAX and d <= U64_MAX) then
    return math.tointeger(tonumber(d)) or d
  end
  return nil, ("cents %s is above %s, the largest Cost noether can hold (u64)"):format(
    digits, U64_MAX)
end

local function check_path(kind, path)
  local norm, err = core.check_path(path)
  if not norm then
    return nil, kind .. " path: " .. err
  end
  return norm
end

--- Canonical text of an effect ("fs-read:/data", "network").
function M.tostring(e)
  local k = KINDS[e.kind]
  if k.field and e[k.field] ~= nil then
    return e.kind .. ":" .. tostring(e[k.field])
  end
  return e.kind
end

--- Parse one CLI effect word such as "fs-read:/data" or "cost:5".
-- Returns the effect table and its canonical text, or nil and a message.
local function parse_word(word)
  local colon = word:find(":", 1, true)
  local kind, arg = word, nil
  if colon then kind, arg = word:sub(1, colon - 1), word:sub(colon + 1) end
  local k = KINDS[kind]
  if not k then
    return nil, ("unknown effect \"%s\"%s; known: %s"):format(word,
      suggest(kind, sorted_names(KINDS)), table.concat(sorted_names(KINDS), ", "))
  end
  if not arg then
    if k.required then
      return nil, ("effect \"%s\" needs a path: %s:/absolute/path"):format(kind, kind)
    end
    return { kind = kind }, kind
  end
  if not k.field then
    return nil, ("effect \"%s\" takes no argument (got \"%s\")"):format(kind, word)
  end
  if k.field == "path" then
    if arg == "" then
      return nil, ("effect \"%s\" needs a path: %s:/absolute/path"):format(kind, kind)
    end
    local p, err = check_path(kind, arg)
    if not p then return nil, err end
    return { kind = kind, path = p }, kind .. ":" .. p
  elseif k.field == "cents" then
    if not arg:find("^%d+$") then
      return nil, ("effect \"cost\" takes a whole number of cents (got \"%s\")"):format(arg)
    end
    local n, err = cents_of(arg)
    if not n then return nil, "effect \"cost\": " .. err end
    return { kind = kind, cents = n }, kind .. ":" .. n
  end
  if arg == "" then
    return nil, "effect \"llm\": model name is empty (write \"llm\" or \"llm:MODEL\")"
  end
  return { kind = kind, model = arg }, word
end

--- Parse one CLI effect word; returns the effect table, or nil and a message.
function M.parse_word(word)
  local e, err = parse_word(word)
  if not e then return nil, err end
  return e
end

local function add_unique(list, seen, e, key)
  key = key or M.tostring(e)
  if not seen[key] then
    seen[key] = true
    list[#list + 1] = e
  end
end

-- The items of one -e string: split on commas, where "\," is a comma inside
-- an item (a path) and "\\" a backslash.  Returns an array, or nil and a
-- message for a backslash before anything else.
local function split_items(s)
  if not s:find("\\", 1, true) then
    local items = {}
    for item in (s .. ","):gmatch("(.-),") do items[#items + 1] = item end
    return items
  end
  local items, cur, i = {}, {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == "\\" then
      local nxt = s:sub(i + 1, i + 1)
      if nxt ~= "," and nxt ~= "\\" then
        return nil, ("in \"%s\": a backslash escapes only \",\" or \"\\\""):format(s)
      end
      cur[#cur + 1] = nxt
      i = i + 2
    else
      if c == "," then
        items[#items + 1] = table.concat(cur)
        cur = {}
      else
        cur[#cur + 1] = c
      end
      i = i + 1
    end
  end
  items[#items + 1] = table.concat(cur)
  return items
end

--- Parse CLI effect lists: each string is comma-separated.
-- Returns an array of effects (duplicates dropped), or nil and a message.
function M.parse_cli(strings)
  local out, seen = {}, {}
  for _, s in ipairs(strings) do
    if s == "" then return nil, "empty effect list given to -e" end
    local items, why = split_items(s)
    if not items then return nil, why end
    local after_path = false
    -- an empty item is an error, not ignored
    for _, item in ipairs(items) do
      if item == "" then
        return nil, ("empty effect in \"%s\""):format(s)
      end
      local e, key = parse_word(item)
      if not e then
        if after_path and key:find("^unknown effect") then
          key = key .. "; a comma inside a path is written \\, (fs-read:/a\\,b)"
        end
        return nil, key
      end
      after_path = e.path ~= nil
      add_unique(out, seen, e, key)
    end
  end
  return out
end

--- Turn one decoded noether Effect object into an effect table.
local function from_json_object(obj, where)
  if type(obj) ~= "table" or obj[1] ~= nil then
    return nil, where .. ": expected an object like {\"effect\":\"Network\"}"
  end
  local tag = obj.effect
  if type(tag) ~= "string" then
    return nil, where .. ": missing \"effect\" tag"
  end
  local kind = BY_TAG[tag]
  if not kind then
    return nil, ("%s: unknown effect \"%s\"%s"):format(where, tag,
      suggest(tag, sorted_names(BY_TAG)))
  end
  local k = KINDS[kind]
  for key in pairs(obj) do
    if key ~= "effect" and key ~= k.field then
      return nil, ("%s: unknown field \"%s\" in %s: sandlot %s refuses fields it does not "
                   .. "know (%s has %s)"):format(where, tostring(key), tag, core.VERSION, tag,
                                                 k.field and ("\"effect\" and \"" .. k.field
                                                              .. "\"") or "only \"effect\"")
    end
  end
  local e = { kind = kind }
  if k.field then
    local v = obj[k.field]
    if v == nil or v == cjson().null then
      -- noether requires every data field (serde has no defaults there)
      return nil, ("%s: %s needs \"%s\""):format(where, tag, k.field)
    end
    if k.field == "path" then
      if type(v) ~= "string" then return nil, where .. ": path must be a string" end
      local p, err = check_path(kind, v)
      if not p then return nil, where .. ": " .. err end
      e.path = p
    elseif k.field == "cents" then
      -- json.decode reads long integers exactly (json.is_big beyond 2^63-1)
      local n, err
      if json().is_big(v) and v.digits:find("^%d+$") then
        n, err = cents_of(v.digits)
        if not n then return nil, where .. ": " .. err end
      else
        n = math.type(v) == "integer" and v or (type(v) == "number" and math.tointeger(v))
      end
      if not n or (type(n) == "number" and n < 0) then
        return nil, where .. ": cents must be a non-negative integer (noether's u64)"
      end
      e.cents = n
    else
      if type(v) ~= "string" then return nil, where .. ": model must be a string" end
      e.model = v ~= "" and v or nil
    end
  end
  return e
end

--- Parse noether EffectSet JSON: either {"effects":[...]} (serde's shape of
-- EffectSet) or a bare array of Effect objects.  `what` names the source.
function M.parse_json(text, what)
  what = what or "effects JSON"
  local ok, doc = pcall(json().decode, text)
  if not ok then
    return nil, ("%s: malformed JSON: %s"):format(what, tostring(doc))
  end
  local list = doc
  if type(doc) == "table" and doc.effects ~= nil then
    for key in pairs(doc) do
      if key ~= "effects" then
        return nil, ("%s: unknown field \"%s\": sandlot %s refuses fields it does not know "
                     .. "(an EffectSet has only \"effects\")"):format(what, tostring(key),
                                                                      core.VERSION)
      end
    end
    list = doc.effects
  end
  if type(list) ~= "table" or (next(list) ~= nil and list[1] == nil) then
    return nil, what .. ": expected an array of effects or {\"effects\": [...]}"
  end
  local out, seen = {}, {}
  for i, obj in ipairs(list) do
    local e, e_err = from_json_object(obj, ("%s: effect #%d"):format(what, i))
    if not e then return nil, e_err end
    add_unique(out, seen, e)
  end
  return out
end

return M
