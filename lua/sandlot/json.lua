--- Deterministic JSON output: lua-cjson decodes, but encodes tables in hash
-- order and cannot tell an empty array from an empty object.  Values built
-- with json.array() and json.object() encode in the order given; scalars
-- go through cjson.encode.  "/" is not escaped.
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

--- Encode a value built from json.array, json.object and scalars.
function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

return M
