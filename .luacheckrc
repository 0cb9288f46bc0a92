-- luacheck configuration: Lua 5.4, strict about globals.
std = "lua54"
max_line_length = 100

files["policies.d"] = {
  -- the globals a policy script sees (lua/sandlot/loader.lua)
  std = "lua54",
  read_globals = { "policy", "stage", "host", "sandlot", "lfs" },
  globals = {},
}
files["policies.d"].read_globals.policy = { other_fields = true, read_only = false }
files["tests"] = { std = "+busted" }
