--- Deterministic JSON output: lua-cjson decodes, but encodes tables in hash
-- order and cannot tell an empty array from an empty object.  Values built
-- with json.array() and json.object() encode in the order given; scalars
-- go through cjson.encode.  "/" is not escaped.
--
-- json.decode() is cjson.decode with exact integers: cjson (2.1, Debian's)
-- reads every number as a double, so an integer above 2^53 would silently
-- change.  Integer tokens of 16 digits or more are read exactly instead: a
-- Lua integer when they fit in one (|n| < 2^63), else json.big(n) (see
-- json.is_big), whatever the caller then makes of it.
local cjson = require("cjson")

local M = {}

local ARRAY = {}
local OBJECT = {}

--- Mark t (a sequence) as a JSON array.
function M.array(t) return setmetatable(t or {}, ARRAY) end

--- A JSON object with keys in the order given: json.object({"k", v}, {"k2", v2}, ...).
-- Pairs whose value is nil are left out.
function M.object(...)
  return setmetatable({ n = select("#", ...), ... }, OBJECT)
end

local function scalar(v)
  -- cjson escapes "/" as "\/"; no other escape ends in "/", so undo it.
  return (cjson.encode(v):gsub("\\/", "/"))
end

local function encode(v, out)
  local mt = getmetatable(v)
  if mt == ARRAY then
    out[#out + 1] = "["
    for i, item in ipairs(v) do
      if i > 1 then out[#out + 1] = "," end
      encode(item, out)
    end
    out[#out + 1] = "]"
  elseif mt == OBJECT then
    out[#out + 1] = "{"
    local first = true
    for i = 1, v.n do
      local kv = v[i]
      if kv[2] ~= nil then
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = scalar(kv[1]) .. ":"
        encode(kv[2], out)
      end
    end
    out[#out + 1] = "}"
  elseif type(v) == "table" then
    error("json: table is neither json.array nor json.object", 2)
  else
    out[#out + 1] = scalar(v)
  end
end

local BIG = {}
BIG.__index = BIG
BIG.__tostring = function(b) return b.digits end

--- Is v an integer too large for a Lua integer ({digits = "-?[0-9]+"})?
function M.is_big(v) return getmetatable(v) == BIG end

-- cjson decodes this string; its NUL cannot come from our replacements'
-- digits, and a document spelling it itself is refused (see decode).
local MARK_JSON, MARK = "\\u0000sandlot-json-integer:", "\0sandlot-json-integer:"
local I64_MAX = "9223372036854775807"

-- Does the decimal digit string d (no sign, no leading zeros) fit in 63 bits
-- (limit: "9223372036854775807", or 1 more for a negative number)?
local function fits_i64(d, negative)
  local limit = negative and "9223372036854775808" or I64_MAX
  return #d < #limit or (#d == #limit and d <= limit)
end

local function exact(tok)
  local sign, d = tok:match("^(%-?)0*(%d+)$")
  if fits_i64(d, sign == "-") then return math.tointeger(tonumber(sign .. d)) end
  return setmetatable({ digits = sign .. d }, BIG)
end

-- Replace the marked strings in the decoded tree t; returns how many.
local function restore(t, depth)
  local n = 0
  for k, v in pairs(t) do
    if type(v) == "string" and v:sub(1, #MARK) == MARK then
      t[k] = exact(v:sub(#MARK + 1))
      n = n + 1
    elseif type(v) == "table" and depth < 1000 then
      n = n + restore(v, depth + 1)
    end
  end
  return n
end

--- cjson.decode(text), with integers of 16 digits or more read exactly.
-- Raises cjson's error for malformed JSON.
function M.decode(text)
  local out, count, pos, n = {}, 0, 1, #text
  while pos <= n do
    local q = text:find('"', pos, true) or n + 1
    -- outside strings a digit or '-' can only start a number token
    out[#out + 1] = text:sub(pos, q - 1):gsub("%-?%d[%d%.eE%+%-]*", function(tok)
      local digits = tok:match("^%-?(%d+)$")
      if digits and #digits >= 16 then
        count = count + 1
        return '"' .. MARK_JSON .. tok .. '"'
      end
    end)
    if q > n then break end
    local i = q + 1 -- the string, up to its unescaped closing quote
    while true do
      local c = text:find('["\\]', i)
      if not c then i = n + 1 break end
      i = c + (text:byte(c) == 92 and 2 or 1)
      if text:byte(c) == 34 then break end
    end
    out[#out + 1] = text:sub(q, i - 1)
    pos = i
  end
  local ok, doc = pcall(cjson.decode, count > 0 and table.concat(out) or text)
  if not ok then
    -- cjson's message for the text as written (its positions are the caller's)
    local _, err = pcall(cjson.decode, text)
    error(err or doc, 0)
  end
  if count > 0 or (type(doc) == "table" and text:find("u0000", 1, true)) then
    local found = 0
    if type(doc) == "table" then
      found = restore(doc, 0)
    elseif type(doc) == "string" and doc:sub(1, #MARK) == MARK then
      doc, found = exact(doc:sub(#MARK + 1)), 1
    end
    if found ~= count then
      error("a string begins with NUL followed by sandlot's internal integer marker", 0)
    end
  end
  return doc
end

--- Encode a value built from json.array, json.object and scalars.
function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

return M
