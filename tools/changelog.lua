-- Write debian/changelog (to stdout) from CHANGELOG.md, so the two never
-- disagree: lua5.4 tools/changelog.lua [CHANGELOG.md] > debian/changelog
-- Each "## VERSION (YYYY-MM-DD)" entry becomes one Debian entry whose "- "
-- items are its "  * " lines, wrapped at 78 columns; the maintainer is
-- debian/control's.  A malformed entry is an error naming its line.
local src = arg[1] or "CHANGELOG.md"
local control = arg[2] or "debian/control"

local function read(path)
  local f = assert(io.open(path, "r"))
  local t = f:read("a")
  f:close()
  return t
end

local maintainer = read(control):match("\nMaintainer:%s*([^\n]+)")
assert(maintainer, control .. ": no Maintainer field")

local function fail(n, msg)
  io.stderr:write(("%s:%d: %s\n"):format(src, n, msg))
  os.exit(1)
end

local entries, cur, item = {}, nil, nil
local n = 0
for line in (read(src) .. "\n"):gmatch("([^\n]*)\n") do
  n = n + 1
  local version, date = line:match("^## (%d+%.%d+%.%d+) %((%d%d%d%d%-%d%d%-%d%d)%)$")
  if version then
    cur = { version = version, date = date, items = {} }
    entries[#entries + 1] = cur
    item = nil
  elseif line:match("^## ") then
    fail(n, "expected \"## VERSION (YYYY-MM-DD)\"")
  elseif cur and line:match("^%- ") then
    item = { line:sub(3) }
    cur.items[#cur.items + 1] = item
  elseif cur and item and line:match("^  %S") then
    item[#item + 1] = line:sub(3)
  elseif cur and line ~= "" then
    fail(n, "expected a \"- \" item or its indented continuation")
  elseif line == "" then
    item = nil
  end
end
if #entries == 0 then fail(n, "no \"## VERSION (YYYY-MM-DD)\" entry") end

-- Words of text in lines of at most width columns, the first prefixed by
-- first and the others by rest.
local function wrap(text, first, rest, width)
  local out, line, empty = {}, first, true
  for word in text:gmatch("%S+") do
    if not empty and #line + 1 + #word > width then
      out[#out + 1] = line
      line = rest .. word
    else
      line = line .. (empty and "" or " ") .. word
    end
    empty = false
  end
  out[#out + 1] = line
  return table.concat(out, "\n")
end

-- CHANGELOG.md has days, Debian wants times that grow from entry to entry:
-- the entries of one day get 12:00, 12:01, ... oldest first (os.time and
-- os.date both in local time, so the fields come back as given, in any TZ).
local minute, seen = {}, {}
for i = #entries, 1, -1 do
  local e = entries[i]
  minute[i] = seen[e.date] or 0
  seen[e.date] = minute[i] + 1
end

local out = {}
for i, e in ipairs(entries) do
  local y, m, d = e.date:match("(%d+)%-(%d+)%-(%d+)")
  local t = os.time({ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12,
                      min = minute[i] })
  if i > 1 then out[#out + 1] = "" end
  out[#out + 1] = ("sandlot (%s) unstable; urgency=medium"):format(e.version)
  out[#out + 1] = ""
  for _, it in ipairs(e.items) do
    out[#out + 1] = wrap(table.concat(it, " "), "  * ", "    ", 78)
  end
  out[#out + 1] = ""
  out[#out + 1] = (" -- %s  %s"):format(maintainer, os.date("%a, %d %b %Y %H:%M:00 +0000", t))
end
io.write(table.concat(out, "\n"), "\n")
