-- A per-stage policy (sandlot run -p data-dir.lua ...): this stage reads a
-- reference data set, read-only, at a fixed place inside the sandbox.
local data = "/usr/share/zoneinfo"  -- any host directory the stage needs
if sandlot.is_dir(data) then
  policy:ro_bind(data, "/data/zoneinfo")
  policy:setenv("ZONEINFO_DIR", "/data/zoneinfo")
end
